"""subagents.config: loading and checking project files.

``load_project(root)`` returns a :class:`Project` or raises
:class:`~subagents.errors.ConfigErrors` naming file, line and field of every problem;
``collect_project(root)`` returns the project (or ``None``) and every problem found.
The package reads and checks files only; ``subagents validate`` with live MCP servers is
:func:`subagents.agents.validate.validate_project`.
"""

from __future__ import annotations

from subagents.config.agent_module import check_agent_module, load_agent_class
from subagents.config.loader import LoadedAgent, Project, collect_project, load_project
from subagents.config.secrets import redact

__all__ = [
    "LoadedAgent",
    "Project",
    "check_agent_module",
    "collect_project",
    "load_agent_class",
    "load_project",
    "redact",
]
