"""The exception tree and the sealed seams, checked over every module of the package."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import subagents
from subagents.errors import RunFailure, SubagentsError, ToolSignal

SRC = Path(subagents.__file__).parent


def _modules() -> list[str]:
    return [
        info.name
        for info in pkgutil.walk_packages(subagents.__path__, prefix="subagents.")
        if not info.name.endswith("_pb2") and not info.name.endswith("_pb2_grpc")
    ]


def _exception_classes() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for name in _modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


def test_every_exception_class_descends_from_subagents_error() -> None:
    classes = _exception_classes()
    assert len(classes) > 30  # the walk really found the package's classes
    outside = sorted(
        f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, SubagentsError)
    )
    assert outside == [], "exceptions outside the tree (document them in errors.py)"


def test_every_public_exception_is_in_the_documented_tree() -> None:
    tree = inspect.getdoc(importlib.import_module("subagents.errors")) or ""
    public = {c.__name__ for c in _exception_classes() if not c.__name__.startswith("_")}
    missing = sorted(name for name in public if name not in tree)
    assert missing == []


def test_signals_to_the_model_and_run_failures_are_apart() -> None:
    both = [
        c for c in _exception_classes() if issubclass(c, ToolSignal) and issubclass(c, RunFailure)
    ]
    assert both == []


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_the_loop_imports_no_transport_exception() -> None:
    for file in ("agents/loop.py", "agents/base.py", "tools/toolbox.py"):
        imported = _imports(SRC / file)
        transports = [n for n in imported if n.split(".")[0] in ("mcp", "mcp_types", "anyio")]
        assert transports == [], file
        assert "subagents.mcp" not in imported, file


def test_no_toolset_capability_is_probed_with_getattr() -> None:
    probes: list[str] = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in ("tools_version", "validates_arguments")
            ):
                probes.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert probes == []
