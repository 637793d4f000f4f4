"""subagents.testing: the scripted model for tests, offline runs and benchmarks.

``ScriptedModelServer`` is a real OpenAI-compatible HTTP server on 127.0.0.1 that replays
a scenario; point a project at it with ``point_endpoints_at``. Pytest fixtures live in
``subagents.testing.pytest_plugin``.
"""

from __future__ import annotations

from subagents.testing.endpoints import point_endpoints_at, scripted_model_config
from subagents.testing.scenario import Script, Step, load_scenario, parse_scenario
from subagents.testing.server import ScriptedModelServer

__all__ = [
    "Script",
    "ScriptedModelServer",
    "Step",
    "load_scenario",
    "parse_scenario",
    "point_endpoints_at",
    "scripted_model_config",
]
