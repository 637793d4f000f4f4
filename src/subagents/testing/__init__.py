"""subagents.testing: the scripted model and in-process fakes for tests.

``ScriptedLLM`` is an in-process ``LLMClient`` that plays a scenario: unit-test an agent
without a port (``MCPOpenAgent(..., llm=ScriptedLLM(["Hello!"]))``).
``ScriptedModelServer`` is a real OpenAI-compatible HTTP server on 127.0.0.1 that replays
a scenario through the production client; point a project at it with
``point_endpoints_at``. ``RecordingToolset`` is an in-process toolset (tools defined by
Python functions or fixed results) that records every call, for unit tests of agents
without any server (docs/testing-agents.md). ``serve_asgi`` serves an ASGI app (such as
``subagents.server.create_app(assistant)``) on 127.0.0.1 for tests over real HTTP.
Pytest fixtures live in ``subagents.testing.pytest_plugin``. Nothing in the runtime
imports this package (``subagents run --scripted`` uses ``ScriptedLLM`` from
:mod:`subagents.llm.scripted`).
"""

from __future__ import annotations

from subagents.llm.scripted import ScriptedLLM, ScriptPlayer
from subagents.testing.asgi import serve_asgi
from subagents.testing.endpoints import point_endpoints_at, scripted_model_config
from subagents.testing.scenario import Script, Step, load_scenario, parse_scenario
from subagents.testing.server import ScriptedModelServer
from subagents.testing.toolset import RecordedCall, RecordingToolset

__all__ = [
    "RecordedCall",
    "RecordingToolset",
    "Script",
    "ScriptPlayer",
    "ScriptedLLM",
    "ScriptedModelServer",
    "Step",
    "load_scenario",
    "parse_scenario",
    "point_endpoints_at",
    "scripted_model_config",
    "serve_asgi",
]
