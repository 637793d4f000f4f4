"""``subagents init``: write a new, working project from the template in ``project/``.

Template files are package data. Python files are stored as ``*.py.tmpl`` (so linters and
test collectors of this package leave them alone) and ``gitignore.tmpl`` becomes
``.gitignore``; everything else is copied as is.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from subagents.errors import SubagentsError

_SKIP = {"__pycache__", ".DS_Store"}


class ScaffoldError(SubagentsError):
    """The project cannot be written there; the message says why and what to do."""


def _target_name(name: str) -> str:
    if name == "gitignore.tmpl":
        return ".gitignore"
    return name.removesuffix(".tmpl")


def _walk(node: Traversable, prefix: Path) -> list[tuple[Path, Traversable]]:
    files: list[tuple[Path, Traversable]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name in _SKIP or child.name.endswith(".pyc"):
            continue
        if child.is_dir():
            files.extend(_walk(child, prefix / child.name))
        else:
            files.append((prefix / _target_name(child.name), child))
    return files


def template_files() -> list[tuple[Path, Traversable]]:
    """``(relative target path, template file)`` for every file of the template."""
    return _walk(resources.files(__name__) / "project", Path())


def write_project(directory: str | Path) -> list[Path]:
    """Write the template project into ``directory``; return the files written.

    ``directory`` may not exist yet; an existing one must be an empty directory.
    """
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise ScaffoldError(f"{target} is a file; give a new or empty directory")
    if target.is_dir() and any(target.iterdir()):
        raise ScaffoldError(
            f"{target} is not empty; `subagents init` only writes into a new or empty "
            "directory so it never overwrites your files"
        )
    written: list[Path] = []
    try:
        target.mkdir(parents=True, exist_ok=True)
        for relative, source in template_files():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(source.read_bytes())
            written.append(path)
    except OSError as exc:
        raise ScaffoldError(f"cannot write the project into {target}: {exc}") from None
    return written
