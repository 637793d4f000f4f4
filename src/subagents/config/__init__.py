"""subagents.config: loading and checking project files.

``load_project(root)`` returns a :class:`Project` or raises
:class:`~subagents.errors.ConfigErrors` naming file, line and field of every problem;
``validate_project(root, connect=False)`` returns the problems (errors and warnings).
"""

from __future__ import annotations

from subagents.config.agent_module import check_agent_module, load_agent_class
from subagents.config.loader import LoadedAgent, Project, collect_project, load_project
from subagents.config.secrets import redact
from subagents.config.validate import validate_project

__all__ = [
    "LoadedAgent",
    "Project",
    "check_agent_module",
    "collect_project",
    "load_agent_class",
    "load_project",
    "redact",
    "validate_project",
]
