"""Agent classes named by ``configuration.module``: imported from the project and checked.

The project directory goes first on ``sys.path`` (and stays there, so that the module can
import its siblings later), then ``package.module.ClassName`` is imported and must subclass
:class:`~subagents.agents.open_agent.MCPOpenAgent`,
:class:`~subagents.agents.task_agent.MCPTaskAgent` or :class:`~subagents.agents.a2a.A2AAgent`.

This is the one place where the user's agent code is imported: the config package only
reads and checks files. :func:`check_agent_classes` reports with file and line what the
classes imply (a task agent needs ``exit_if`` on every call, an open agent none); both
``subagents validate`` (:mod:`subagents.agents.validate`) and the agent registry at start
run it, so the same problems stop a run that ``validate`` shows.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import sys
import traceback
from pathlib import Path
from types import ModuleType

from subagents.agents.open_agent import MCPOpenAgent
from subagents.agents.task_agent import MCPTaskAgent
from subagents.config.a2a_checks import is_a2a_agent_class
from subagents.config.flow_graph import CallTarget
from subagents.config.loader import LoadedAgent, Project
from subagents.config.source import Problems, SourceFile, read_yaml
from subagents.errors import ConfigProblem, SubagentsError


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
    if not isinstance(cls, type) or not (any(agent_kinds(cls)) or is_a2a_agent_class(cls)):
        raise AgentModuleError(
            f"'{dotted_path}' ({defined_at(cls, root)}) is not a subclass of MCPOpenAgent,"
            " MCPTaskAgent or A2AAgent; subclass subagents.MCPOpenAgent (general-purpose),"
            " subagents.MCPTaskAgent (task) or subagents.A2AAgent (protocol: A2A)"
        )
    return cls


def agent_kinds(cls: type) -> tuple[bool, bool]:
    """Whether an agent class is general-purpose (MCPOpenAgent) and whether it is a task
    agent (MCPTaskAgent)."""
    return issubclass(cls, MCPOpenAgent), issubclass(cls, MCPTaskAgent)


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


# --------------------------------------------------------------------------- project checks


def check_agent_classes(project: Project) -> list[ConfigProblem]:
    """Import every ``configuration.module`` of the project and report, with file and line,
    a class that cannot be used and a flow call that does not fit its class."""
    problems = Problems()
    classes: dict[str, type] = {}
    for name, loaded in project.agents.items():
        if loaded.config.configuration.module:
            cls = _checked_class(project.root, loaded, problems)
            if cls is not None:
                classes[name] = cls
    if classes:
        _check_calls(project, classes, problems)
    return sorted(problems.items, key=lambda p: (p.file, p.line or 0))


def _source(path: Path, rel: str) -> SourceFile:
    """``path`` with its line numbers (the static pass already reported its problems)."""
    src = SourceFile(path, rel)
    fresh = read_yaml(path, rel, Problems(), env={}) if path.is_file() else None
    if fresh is not None:
        src.lines, src.data = fresh.lines, fresh.data
    return src


def _checked_class(root: Path, loaded: LoadedAgent, problems: Problems) -> type | None:
    dotted = loaded.config.configuration.module or ""
    src = _source(loaded.file, relative_to_root(loaded.file, root))
    where = ("configuration", "module")
    try:
        cls = load_agent_class(root, dotted)
    except AgentModuleError as exc:
        problems.error(src, where, str(exc))
        return None
    remote = loaded.config.agent.protocol == "A2A"
    if remote and not is_a2a_agent_class(cls):
        problems.error(
            src,
            where,
            f"'{dotted}' is not an A2AAgent; an A2A agent's class must subclass"
            " subagents.A2AAgent (override process_input / process_output)",
        )
        return None
    if not remote and is_a2a_agent_class(cls):
        problems.error(
            src,
            where,
            f"'{dotted}' is an A2AAgent: set agent.protocol: A2A"
            " (and configuration.agent_card), or subclass MCPOpenAgent / MCPTaskAgent",
        )
        return None
    return None if remote else cls


def _check_calls(project: Project, classes: dict[str, type], problems: Problems) -> None:
    """Each flow step calling an agent with a custom class: exit_if fits the class."""
    sources: dict[str, SourceFile] = {}
    for flow_id, flow in project.flow_graph.flows.items():
        rel = project.flow_files.get(flow_id, "flows.yml")
        for step in flow.steps.values():
            if step.call_target is not CallTarget.AGENT:
                continue  # a flow id wins over an agent (a call of a flow)
            cls = classes.get(step.config.call or "")
            if cls is None:
                continue
            src = sources.get(rel) or sources.setdefault(rel, _source(project.root / rel, rel))
            call = step.config.call or ""
            problem = _call_problem(call, cls, bool(step.config.exit_if), project.root)
            if problem is not None:
                field, message = problem
                problems.error(src, (*step.path, field), message)


def _call_problem(name: str, cls: type, with_exit_if: bool, root: Path) -> tuple[str, str] | None:
    is_open, is_task = agent_kinds(cls)
    where = f"{cls.__name__} ({defined_at(cls, root)})"
    if with_exit_if and not is_task:
        return "exit_if", (
            f"agent '{name}' uses {where}, a general-purpose agent (MCPOpenAgent);"
            " a call with exit_if needs an MCPTaskAgent subclass: subclass MCPTaskAgent"
            " there, or remove exit_if from this call"
        )
    if not with_exit_if and not is_open:
        return "call", (
            f"agent '{name}' uses {where}, a task agent (MCPTaskAgent); add exit_if"
            " conditions to this call or subclass MCPOpenAgent there"
        )
    return None


def relative_to_root(path: str | Path, root: str | Path) -> str:
    """``path`` relative to the project root when it is inside it (for messages)."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)
