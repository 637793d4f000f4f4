"""Importing ``configuration.module``: a dotted path to an agent class.

The project directory goes first on ``sys.path`` (and stays there, so that the module can
import its siblings later), then ``package.module.ClassName`` is imported and must subclass
:class:`~subagents.agents.open_agent.MCPOpenAgent` or
:class:`~subagents.agents.task_agent.MCPTaskAgent`.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path


class AgentModuleError(ValueError):
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
    _put_first_on_path(Path(project_root).resolve())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any error in user code: report it, never crash validation
        where = _user_frame(exc)
        raise AgentModuleError(
            f"cannot import module '{module_name}': {type(exc).__name__}: {exc}{where}"
            " (modules are imported with the project directory first on sys.path)"
        ) from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise AgentModuleError(f"module '{module_name}' has no class '{class_name}'")
    from subagents.agents.open_agent import MCPOpenAgent
    from subagents.agents.task_agent import MCPTaskAgent

    if not isinstance(cls, type) or not issubclass(cls, MCPOpenAgent | MCPTaskAgent):
        raise AgentModuleError(
            f"'{dotted_path}' is not a subclass of MCPOpenAgent or MCPTaskAgent; subclass"
            " subagents.MCPOpenAgent (general-purpose) or subagents.MCPTaskAgent (task)"
        )
    return cls


def _user_frame(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" ({exc.filename}:{exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if "importlib" not in f.filename]
    if not user:
        return ""
    last = user[-1]
    return f" ({last.filename}:{last.lineno})"


def check_agent_module(project_root: str | Path, dotted_path: str) -> str | None:
    """The problem with ``configuration.module`` as text, or ``None`` if it is usable."""
    try:
        load_agent_class(project_root, dotted_path)
    except AgentModuleError as exc:
        return str(exc)
    except Exception as exc:  # the agent classes themselves failed to import
        return f"cannot check '{dotted_path}': {type(exc).__name__}: {exc}"
    return None
