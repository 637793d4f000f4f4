"""Our driver for benchmark 1: an ``MCPOpenAgent`` over ``MCPManager`` and the LLM client.

The same work as the floor: K tool steps on the bench MCP server, then
``task_completed``, against the same model server, one connection reused across runs.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from typing import Any

from benchmarks._proc import BENCH_DIR
from benchmarks.floors import SYSTEM, USER


class OurAgentDriver:
    """Runs ``MCPOpenAgent.run`` (one agent per K, sharing one MCP connection)."""

    name = "ours: MCPOpenAgent"

    def __init__(
        self, transport: str, model_url: str, mcp_url: str | None, k_values: Sequence[int]
    ) -> None:
        self.transport = transport
        self.model_url = model_url
        self.mcp_url = mcp_url
        self.k_values = list(k_values)
        self.agents: dict[int, Any] = {}
        self.manager: Any = None
        self._ids = itertools.count()

    async def start(self) -> None:
        """Connect the MCP server and build one agent per K."""
        from subagents.agents.open_agent import MCPOpenAgent
        from subagents.config.models import MCPServerConfig, ModelConfig
        from subagents.llm import create_llm_client
        from subagents.mcp import MCPManager

        if self.transport == "stdio":
            server = MCPServerConfig(
                name="bench",
                type="stdio",
                command=sys.executable,
                args=[str(BENCH_DIR / "bench_mcp_server.py")],
            )
        else:
            server = MCPServerConfig(name="bench", type="http", url=self.mcp_url)
        self.manager = MCPManager([server])
        await self.manager.__aenter__()
        await self.manager.start()
        toolset = self.manager.toolset("bench")
        for k in self.k_values:
            model = ModelConfig(
                provider="openai", model=f"react-{k}", api_base=self.model_url, api_key="bench"
            )
            self.agents[k] = MCPOpenAgent(
                name="bench",
                description=SYSTEM,
                llm=create_llm_client(model),
                toolsets=[toolset],
                max_iterations=k + 5,
            )

    async def run(self, k: int) -> int:
        """One run of K tool steps then task_completed; returns LLM calls made."""
        from subagents.agents.schemas import AgentInput, AgentStatus

        output = await self.agents[k].run(
            AgentInput(id=f"bench-{next(self._ids)}", user_message=USER)
        )
        if output.status is not AgentStatus.COMPLETED:
            raise RuntimeError(f"run ended {output.status.value}: {output.error_message}")
        return k + 1

    async def aclose(self) -> None:
        """Close the LLM clients and the MCP connection."""
        for agent in self.agents.values():
            await agent.llm.aclose()
        if self.manager is not None:
            await self.manager.__aexit__(None, None, None)


def session_toolset(session: Any) -> Any:
    """A minimal Toolset over a bare ``ClientSession`` (no MCP layer of ours).

    Lets the breakdown separate the cost of the agent loop from the cost of MCPManager.
    Built in a function so that importing this module does not import subagents.
    """
    from subagents.tools.base import ToolContext, ToolOutcome, Toolset, ToolSpec

    class SessionToolset(Toolset):
        def __init__(self) -> None:
            self._specs: list[ToolSpec] | None = None

        async def list_tools(self) -> list[ToolSpec]:
            if self._specs is None:
                listed = await session.list_tools()
                self._specs = [
                    ToolSpec(t.name, t.description or "", t.input_schema, source="bench")
                    for t in listed.tools
                ]
            return self._specs

        async def call_tool(
            self, name: str, arguments: dict[str, Any], context: ToolContext | None = None
        ) -> ToolOutcome:
            result = await session.call_tool(name, arguments)
            text = "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")
            return ToolOutcome(text=text, is_error=bool(result.is_error))

    return SessionToolset()


def _model(model_url: str, k: int) -> Any:
    from subagents.config.models import ModelConfig

    return ModelConfig(provider="openai", model=f"react-{k}", api_base=model_url, api_key="bench")


class OurAgentOnSessionDriver(OurAgentDriver):
    """``MCPOpenAgent`` on a bare ``ClientSession`` toolset: the agent loop + LLM client."""

    name = "ours: MCPOpenAgent on bare ClientSession"

    def __init__(self, session: Any, model_url: str, k_values: Sequence[int]) -> None:
        super().__init__("session", model_url, None, k_values)
        self.session = session

    async def start(self) -> None:
        """Build one agent per K over the shared session."""
        from subagents.agents.open_agent import MCPOpenAgent
        from subagents.llm import create_llm_client

        toolset = session_toolset(self.session)
        for k in self.k_values:
            self.agents[k] = MCPOpenAgent(
                name="bench",
                description=SYSTEM,
                llm=create_llm_client(_model(self.model_url, k)),
                toolsets=[toolset],
                max_iterations=k + 5,
            )


class OurLLMClientDriver:
    """The floor's hand-written loop with our ``LLMClient`` instead of httpx."""

    name = "ours: LLMClient in the hand loop"

    def __init__(self, session: Any, model_url: str, tools: list[dict[str, Any]]) -> None:
        from subagents.llm import ToolPayload

        self.session = session
        self.model_url = model_url
        self.payload = ToolPayload(tools)
        self.clients: dict[int, Any] = {}

    async def run(self, k: int) -> int:
        """One run of K tool steps then task_completed; returns LLM calls made."""
        import json

        from subagents.llm import create_llm_client

        if k not in self.clients:
            self.clients[k] = create_llm_client(_model(self.model_url, k))
        client = self.clients[k]
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": USER},
        ]
        calls = 0
        while True:
            response = await client.complete(messages, self.payload)
            calls += 1
            wire = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.raw_arguments},
                }
                for c in response.tool_calls
            ]
            messages.append({"role": "assistant", "content": response.text, "tool_calls": wire})
            for call in response.tool_calls:
                if call.name == "task_completed":
                    return calls
                result = await self.session.call_tool(call.name, call.arguments or json.loads("{}"))
                text = "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")
                messages.append({"role": "tool", "tool_call_id": call.id, "content": text})
            if not response.tool_calls:
                return calls

    async def aclose(self) -> None:
        """Close the clients."""
        for client in self.clients.values():
            await client.aclose()
