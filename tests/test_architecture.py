"""The layer order of docs/ARCHITECTURE.md, checked on every module's imports.

Every ``import`` and ``from ... import`` in ``src/subagents`` counts: at module level, inside
functions and inside ``if TYPE_CHECKING:`` blocks. TYPE_CHECKING imports count because a type
annotation that names an upper layer is a dependency on it all the same (and the next
refactoring turns it into a runtime import). A module may import its own layer or any layer
below; never above, and no two modules may import each other, directly or round a loop.

``from pkg import name`` counts as an import of ``pkg`` (its ``__init__``, where ``name`` is
looked up) and also of ``pkg.name`` when that is a module; ``import a.b`` and
``from a.b import name`` (``name`` not a module) count as imports of ``a.b`` only: the implicit
import of a parent package is not counted. So inside a package, import siblings by their full
dotted path (``from subagents.config.checks import x``), not through the package's ``__init__``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "subagents"

# Lowest first. A module belongs to the layer of its top-level package (or module) below
# ``subagents``. Keep in step with docs/ARCHITECTURE.md.
LAYERS: list[tuple[str, set[str]]] = [
    ("foundation", {"errors", "retry", "telemetry", "serving", "_version"}),
    # The condition language is typed against the domain and checked when files are read.
    ("config", {"config", "conditions"}),
    ("services", {"llm", "tools", "stores"}),
    ("mcp", {"mcp"}),
    ("agents", {"agents"}),
    ("actions", {"actions"}),
    ("dialogue", {"dialogue"}),
    ("surfaces", {"channels", "inspector"}),
    ("server", {"server", "server_http", "server_openapi"}),
    ("cli", {"cli", "agent_command", "workers", "scaffold", "__main__"}),
    # The public facade re-exports names from every layer; nothing in the runtime imports it.
    ("api", {"__init__"}),
]
# Beside the top: may import any layer; only ``cli`` (the --scripted path) may import it.
TESTING = "testing"
MAY_IMPORT_TESTING = {"cli", TESTING}

# Today's violations, to be removed as they are fixed. This list only shrinks: an entry that
# is no longer a violation fails the test until it is deleted here.
ALLOWED_UPWARD: set[tuple[str, str]] = set()
ALLOWED_CYCLES: list[set[str]] = []


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted((SRC / ROOT).rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if "protos" in parts:
            continue  # generated gRPC code
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _resolve_from(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if _is_package(module) else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _known(name: str) -> str | None:
    """The innermost module of ours that ``name`` (a dotted path) denotes, if any."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> Iterator[tuple[str, int]]:
    """(imported module of ours, line) for every import statement anywhere in ``module``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known(alias.name)
                if target:
                    yield target, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(module, node)
            for alias in node.names:
                for target in (_known(f"{base}.{alias.name}"), _known(base)):
                    if target:
                        yield target, node.lineno


def graph() -> dict[str, dict[str, int]]:
    edges: dict[str, dict[str, int]] = {}
    for module in MODULES:
        out = edges.setdefault(module, {})
        for target, line in imports_of(module):
            if target != module:
                out.setdefault(target, line)
    return edges


def part_of(module: str) -> str:
    """The top-level part of ``subagents`` a module belongs to (``__init__`` for the root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(module: str) -> int | None:
    part = part_of(module)
    for index, (_name, members) in enumerate(LAYERS):
        if part in members:
            return index
    return None


def upward_imports() -> dict[tuple[str, str], int]:
    """(importer, imported) -> line, for each import that points up (or into ``testing``)."""
    found: dict[tuple[str, str], int] = {}
    for module, targets in graph().items():
        for target, line in targets.items():
            if part_of(target) == TESTING:
                if part_of(module) not in MAY_IMPORT_TESTING:
                    found[(module, target)] = line
                continue
            if part_of(module) == TESTING:
                continue
            low, high = layer_of(module), layer_of(target)
            if low is not None and high is not None and high > low:
                found[(module, target)] = line
    return found


def cycles() -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(SRC.parent)}:{line}"


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {part_of(m) for m in MODULES} - {TESTING}
    unplaced = sorted(p for p in parts if layer_of(f"{ROOT}.{p}") is None and p != "__init__")
    assert not unplaced, f"put these in a layer in tests/test_architecture.py: {unplaced}"


def test_no_module_imports_a_layer_above_it() -> None:
    found = upward_imports()
    new = {pair: line for pair, line in found.items() if pair not in ALLOWED_UPWARD}
    lines = [
        f"{_where(src, line)}: {src} imports {dst} "
        f"({LAYERS[layer_of(src) or 0][0]} -> {part_of(dst)})"
        for (src, dst), line in sorted(new.items())
    ]
    assert not lines, "imports that point up the layers:\n" + "\n".join(lines)
    fixed = sorted(ALLOWED_UPWARD - set(found))
    assert not fixed, f"fixed, delete from ALLOWED_UPWARD: {fixed}"


def test_no_import_cycles() -> None:
    found = cycles()
    edges = graph()
    new = [c for c in found if not any(c <= allowed for allowed in ALLOWED_CYCLES)]
    lines = []
    for component in new:
        inner = [
            f"  {_where(src, line)}: {src} -> {dst}"
            for src in sorted(component)
            for dst, line in sorted(edges[src].items())
            if dst in component
        ]
        lines.append(f"cycle of {len(component)} modules:\n" + "\n".join(inner))
    assert not lines, "import cycles:\n" + "\n".join(lines)
    stale = [sorted(a) for a in ALLOWED_CYCLES if not any(c & a for c in found)]
    assert not stale, f"fixed, delete from ALLOWED_CYCLES: {stale}"
