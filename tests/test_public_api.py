"""The public API is listed in one place (``subagents.PUBLIC_MODULES`` and the ``__all__``
of each), and the README's and the docs' Python examples import only from it."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import subagents

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def _example_imports() -> list[tuple[str, str, str]]:
    """(page:line, module, name) for every ``subagents`` import in a Python code block."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            first = text[: match.start(1)].count("\n") + 1
            tree = ast.parse(match.group(1))
            for node in ast.walk(tree):
                where = (
                    f"{page.relative_to(REPO)}:{first + node.lineno - 1}"
                    if hasattr(node, "lineno")
                    else str(page)
                )
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("subagents"):
                    found += [(where, node.module or "", a.name) for a in node.names]
                elif isinstance(node, ast.Import):
                    found += [
                        (where, a.name, "") for a in node.names if a.name.startswith("subagents")
                    ]
    return found


def _problem(module: str, name: str) -> str | None:
    if module not in subagents.PUBLIC_MODULES:
        return f"'{module}' is not a public module (subagents.PUBLIC_MODULES)"
    if not name:
        return None
    loaded = importlib.import_module(module)
    exported = getattr(loaded, "__all__", None)
    if exported is not None and name not in exported:
        return f"'{name}' is not in {module}.__all__"
    if name.startswith("_") and name != "__version__" or not hasattr(loaded, name):
        return f"{module} has no public name '{name}'"
    return None


def test_examples_import_only_public_names() -> None:
    imports = _example_imports()
    assert imports, "no Python example imports subagents: is the code block pattern stale?"
    bad = [f"{where}: {p}" for where, m, n in imports if (p := _problem(m, n))]
    assert not bad, "examples import internal names:\n" + "\n".join(bad)


@pytest.mark.parametrize("module", subagents.PUBLIC_MODULES)
def test_every_public_name_resolves(module: str) -> None:
    loaded = importlib.import_module(module)
    missing = [n for n in getattr(loaded, "__all__", []) if not hasattr(loaded, n)]
    assert not missing, f"{module}.__all__ names what it does not define: {missing}"


def test_the_public_modules_are_listed_in_the_architecture_page() -> None:
    page = (REPO / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = [m for m in subagents.PUBLIC_MODULES if f"`{m}`" not in page]
    assert not missing, f"docs/ARCHITECTURE.md does not list the public modules {missing}"
    for name in subagents.__all__:
        assert f"`{name}`" in (subagents.__doc__ or ""), f"subagents docstring misses {name}"
