"""An agent over a real stdio MCP server (tests/servers/toolbox_server.py): timeouts,
a server dying mid-call, and a tool list that changes between runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from subagents import AgentInput, AgentStatus, MCPOpenAgent
from subagents.config.models import MCPServerConfig
from subagents.mcp import MCPManager
from subagents.testing import ScriptedModelServer
from subagents.tools.base import FilteredToolset

from .helpers import scripted_llm, tool_messages

TOOLBOX = Path(__file__).resolve().parents[1] / "servers" / "toolbox_server.py"


def toolbox_config(timeout: float) -> MCPServerConfig:
    return MCPServerConfig(
        name="toolbox",
        type="stdio",
        command=sys.executable,
        args=[str(TOOLBOX), "stdio"],
        timeout=timeout,
    )


def call(tool: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": tool, "arguments": arguments}]}


async def test_real_server_failures_go_back_to_the_model() -> None:
    steps = [
        call("slow", seconds=5),  # times out (server timeout 0.5 s)
        call("crash"),  # the server dies mid-call; not idempotent → not retried
        call("echo", text="still here"),  # reconnected on the next use
        call("add_tool", name="fresh_tool"),
        {"text": "Anything else?"},
        {"text": "Bye"},
    ]
    async with MCPManager([toolbox_config(0.5)]) as manager, ScriptedModelServer(steps) as model:
        await manager.start()
        agent = MCPOpenAgent(
            name="t",
            llm=scripted_llm(model.url),
            toolsets=[FilteredToolset(manager.toolset("toolbox"), exclude=["env", "cwd"])],
        )
        first = await agent.run(AgentInput(id="c", user_message="go"))
        second = await agent.run(AgentInput(id="c", user_message="more"))

    assert first.status is AgentStatus.INPUT_REQUIRED
    results = [m["content"] for m in tool_messages(model.requests[4]["messages"])]
    assert results[0].startswith("Error: tool 'slow' timed out")
    assert results[1].startswith("Error: tool 'crash' could not complete")
    assert results[2] == "still here"
    assert results[3] == "added fresh_tool"
    assert second.status is AgentStatus.INPUT_REQUIRED
    # The changed tool list reached the model on the next run; filtered tools never did.
    assert "fresh_tool" not in model.tools_offered(0)
    assert "fresh_tool" in model.tools_offered(5)
    assert "env" not in model.tools_offered(5)


async def test_tool_added_mid_run_reaches_the_model_in_the_same_run() -> None:
    steps = [
        call("add_tool", name="mid_run_tool"),
        call("echo", text="a"),
        call("mid_run_tool"),
        {"text": "done"},
    ]
    async with MCPManager([toolbox_config(5)]) as manager, ScriptedModelServer(steps) as model:
        await manager.start()
        agent = MCPOpenAgent(
            name="t",
            llm=scripted_llm(model.url),
            toolsets=[FilteredToolset(manager.toolset("toolbox"), exclude=["env", "cwd"])],
        )
        out = await agent.run(AgentInput(id="c", user_message="go"))

    assert out.status is AgentStatus.INPUT_REQUIRED
    assert "mid_run_tool" not in model.tools_offered(0)
    # The list_changed notification bumps tools_version; the loop re-lists before a step.
    assert "mid_run_tool" in model.tools_offered(2)
    results = [m["content"] for m in tool_messages(model.requests[3]["messages"])]
    assert results[-1] == "I am mid_run_tool"
