"""Importing ``configuration.module``: a dotted path to an agent class.

The project directory goes first on ``sys.path`` (and stays there, so that the module can
import its siblings later), then ``package.module.ClassName`` is imported and must subclass
:class:`~subagents.agents.open_agent.MCPOpenAgent` or
:class:`~subagents.agents.task_agent.MCPTaskAgent`.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import sys
import traceback
from pathlib import Path
from types import ModuleType

from subagents.errors import SubagentsError


class AgentModuleError(SubagentsError, ValueError):
    """``configuration.module`` cannot be used; the message says why and what to do."""


def _put_first_on_path(project_root: Path) -> None:
    root = str(project_root)
    if root in sys.path:
        sys.path.remove(root)
    sys.path.insert(0, root)


def load_agent_class(project_root: str | Path, dotted_path: str) -> type:
    """Import ``dotted_path`` (``module.Class``) from the project; raise AgentModuleError."""
    module_name, _, class_name = dotted_path.strip().rpartition(".")
    if not module_name or not class_name:
        raise AgentModuleError(
            f"'{dotted_path}' is not a dotted path to a class; write 'module.ClassName'"
            " (for example weather_agent.WeatherAgent)"
        )
    root = Path(project_root).resolve()
    _put_first_on_path(root)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any error in user code: report it, never crash validation
        raise AgentModuleError(_import_problem(root, module_name, exc)) from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        hint = _class_hint(module, class_name, root)
        raise AgentModuleError(f"module '{module_name}' has no class '{class_name}'{hint}")
    from subagents.config.a2a_checks import is_a2a_agent_class

    if not isinstance(cls, type) or not (any(agent_kinds(cls)) or is_a2a_agent_class(cls)):
        raise AgentModuleError(
            f"'{dotted_path}' ({defined_at(cls, root)}) is not a subclass of MCPOpenAgent,"
            " MCPTaskAgent or A2AAgent; subclass subagents.MCPOpenAgent (general-purpose),"
            " subagents.MCPTaskAgent (task) or subagents.A2AAgent (protocol: A2A)"
        )
    return cls


def agent_kinds(cls: type) -> tuple[bool, bool]:
    """Whether an agent class is general-purpose (MCPOpenAgent) and whether it is a task
    agent (MCPTaskAgent).

    Matched by class name and module along the MRO: config sits below the agents layer
    and must not import it (tests/test_architecture.py).
    """
    return _subclasses(cls, _OPEN_AGENT), _subclasses(cls, _TASK_AGENT)


_OPEN_AGENT = ("subagents.agents.open_agent", "MCPOpenAgent")
_TASK_AGENT = ("subagents.agents.task_agent", "MCPTaskAgent")


def _subclasses(cls: type, base: tuple[str, str]) -> bool:
    return any((c.__module__, c.__name__) == base for c in cls.__mro__)


def defined_at(obj: object, project_root: str | Path | None = None) -> str:
    """``path/to/file.py:LINE`` where a class is defined (relative to the project root)."""
    try:
        file = inspect.getsourcefile(obj)  # type: ignore[arg-type]
        line: int | None = inspect.getsourcelines(obj)[1]  # type: ignore[arg-type]
    except (TypeError, OSError):
        module = sys.modules.get(getattr(obj, "__module__", ""), None)
        file, line = getattr(module, "__file__", None), None
    where = _where(Path(project_root).resolve() if project_root else None, file)
    return f"{where}:{line}" if line else where


def _where(root: Path | None, file: str | None) -> str:
    """``file`` relative to the project root when it is inside it."""
    if not file:
        return "built in"
    path = Path(file)
    if root is not None:
        try:
            return path.resolve().relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)


def _class_hint(module: ModuleType, class_name: str, root: Path) -> str:
    """``; did you mean 'X'?`` among the module's classes, or the classes it defines."""
    file = _where(root, getattr(module, "__file__", None))
    classes = sorted(n for n, v in vars(module).items() if isinstance(v, type))
    close = difflib.get_close_matches(class_name, classes, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'? (in {file})"
    own = [n for n in classes if getattr(vars(module)[n], "__module__", None) == module.__name__]
    return f"; {file} defines: {', '.join(own)}" if own else f"; {file} defines no classes"


def _import_problem(root: Path, module_name: str, exc: Exception) -> str:
    # A SyntaxError's text already names file and line; the user frame below says it better.
    detail = exc.msg if isinstance(exc, SyntaxError) and exc.msg else exc
    text = f"cannot import module '{module_name}': {type(exc).__name__}: {detail}"
    missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    if missing and (module_name == missing or module_name.startswith(f"{missing}.")):
        # The configured module itself (or its package) does not exist: say where it was
        # looked for and what is there instead.
        return f"{text}; {_missing_module_hint(root, missing)}"
    where = _user_frame(exc, root)
    return f"{text}{where} (modules are imported with the project directory first on sys.path)"


def _missing_module_hint(root: Path, missing: str) -> str:
    parts = missing.split(".")
    folder = root.joinpath(*parts[:-1])
    expected = "/".join(parts) + ".py"
    if not folder.is_dir():
        return f"there is no {expected} in the project directory {root}; fix the path"
    names = sorted(
        {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
        | {p.name for p in folder.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    )
    close = difflib.get_close_matches(parts[-1], names, n=1, cutoff=0.6)
    if close:
        return f"there is no {expected}; did you mean '{'.'.join([*parts[:-1], close[0]])}'?"
    return f"there is no {expected} in {root}; fix the path"


def _user_frame(exc: BaseException, root: Path) -> str:
    """`` (file:line)`` of the innermost traceback frame in the user's code."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" ({_where(root, exc.filename)}:{exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if _is_user_file(f.filename)]
    if not user:
        return ""
    last = user[-1]
    return f" ({_where(root, last.filename)}:{last.lineno})"


_OWN_DIR = Path(__file__).resolve().parent.parent


def _is_user_file(filename: str) -> bool:
    """False for importlib's frozen frames and for this package's own files."""
    if filename.startswith("<") or "importlib" in filename:
        return False
    try:
        Path(filename).resolve().relative_to(_OWN_DIR)
    except ValueError:
        return True
    return False


def check_agent_module(project_root: str | Path, dotted_path: str) -> str | None:
    """The problem with ``configuration.module`` as text, or ``None`` if it is usable."""
    try:
        load_agent_class(project_root, dotted_path)
    except AgentModuleError as exc:
        return str(exc)
    except Exception as exc:  # the agent classes themselves failed to import
        return f"cannot check '{dotted_path}': {type(exc).__name__}: {exc}"
    return None
