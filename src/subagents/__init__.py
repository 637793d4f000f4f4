"""subagents: conversational assistants whose flows hand work to ReAct sub agents.

The public API is this module's ``__all__`` plus the modules in :data:`PUBLIC_MODULES`
(each with its ``__all__``); everything else is internal and may change. The same list is
in docs/ARCHITECTURE.md, and tests/test_public_api.py checks that the README's and the
docs' examples import only these names.

* ``subagents``: ``Assistant``, ``MCPOpenAgent``, ``MCPTaskAgent``, ``A2AAgent``,
  ``load_agents``,
  ``AgentInput``, ``AgentOutput``, ``AgentStatus``, ``AgentToolResult``,
  ``AgentToolSchema``, ``ToolContext``, ``SlotConfig`` (a slot's type and values, for
  building a task agent in Python), ``__version__``.
* ``subagents.actions`` and ``subagents.actions.events``: custom actions (the Rasa SDK's
  ``Action``, ``Tracker``, ``CollectingDispatcher``, events).
* ``subagents.stores``: tracker stores, lock stores, the event broker.
* ``subagents.errors``: the exceptions we raise.
* ``subagents.llm``: the ``LLMClient`` seam (bring your own client).
* ``subagents.server``: ``create_app``, ``create_project_app`` (ASGI apps).
* ``subagents.testing`` and ``subagents.testing.pytest_plugin``: ``ScriptedLLM``
  (in-process fake ``LLMClient``), ``ScriptedModelServer`` and the pytest fixtures.

Heavy modules (litellm, grpc, the server stack) are imported only when used, so
``import subagents`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from subagents._version import __version__ as __version__
from subagents.agents.schemas import AgentInput, AgentOutput, AgentStatus
from subagents.tools.schemas import AgentToolResult, AgentToolSchema

# Resolved lazily (PEP 562) so that importing the schemas does not pull in the loop,
# the MCP SDK or the dialogue engine.
_LAZY = {
    "A2AAgent": "subagents.agents.a2a",
    "MCPOpenAgent": "subagents.agents.open_agent",
    "MCPTaskAgent": "subagents.agents.task_agent",
    "Assistant": "subagents.dialogue.assistant",
    "load_agents": "subagents.agents.loader",
    "ToolContext": "subagents.tools.base",
    "SlotConfig": "subagents.config.models",
}

PUBLIC_MODULES = (
    "subagents",
    "subagents.actions",
    "subagents.actions.events",
    "subagents.errors",
    "subagents.llm",
    "subagents.server",
    "subagents.stores",
    "subagents.testing",
    "subagents.testing.pytest_plugin",
)
"""The public modules; see the module docstring."""

if TYPE_CHECKING:
    from subagents.agents.a2a import A2AAgent
    from subagents.agents.loader import load_agents
    from subagents.agents.open_agent import MCPOpenAgent
    from subagents.agents.task_agent import MCPTaskAgent
    from subagents.config.models import SlotConfig
    from subagents.dialogue.assistant import Assistant
    from subagents.tools.base import ToolContext


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'subagents' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "A2AAgent",
    "AgentInput",
    "AgentOutput",
    "AgentStatus",
    "AgentToolResult",
    "AgentToolSchema",
    "Assistant",
    "MCPOpenAgent",
    "MCPTaskAgent",
    "SlotConfig",
    "ToolContext",
    "__version__",
    "load_agents",
]
