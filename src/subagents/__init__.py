"""subagents: conversational assistants whose flows hand work to ReAct sub agents.

Users import from here; everything else is internal. Heavy modules (litellm, grpc, the
server stack) are imported only when used, so ``import subagents`` stays fast.
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
}

if TYPE_CHECKING:
    from subagents.agents.a2a import A2AAgent
    from subagents.agents.loader import load_agents
    from subagents.agents.open_agent import MCPOpenAgent
    from subagents.agents.task_agent import MCPTaskAgent
    from subagents.dialogue.assistant import Assistant


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
    "load_agents",
]
