"""subagents.config: loading and checking project files.

``load_project(root)`` returns a :class:`Project` or raises
:class:`~subagents.errors.ConfigErrors` naming file, line and field of every problem;
``collect_project(root)`` returns the project (or ``None``) and every problem found.
The package reads and checks files only: the agent classes of ``configuration.module``
are imported and checked by :mod:`subagents.agents.classes`, and ``subagents validate``
(both, plus live MCP checks) is :func:`subagents.agents.validate.validate_project`.
"""

from __future__ import annotations

from subagents.config.loader import LoadedAgent, Project, collect_project, load_project
from subagents.config.secrets import redact

__all__ = [
    "LoadedAgent",
    "Project",
    "collect_project",
    "load_project",
    "redact",
]
