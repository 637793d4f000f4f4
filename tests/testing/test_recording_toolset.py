"""RecordingToolset: results of every form, contexts, removal, unknown tools."""

from __future__ import annotations

from typing import Any

import pytest

from subagents import AgentToolResult
from subagents.errors import ToolExecutionError, UnknownToolError
from subagents.testing import RecordingToolset
from subagents.tools.base import ToolContext, ToolKind


async def test_results_of_every_form() -> None:
    async def async_fn(arguments: dict[str, Any]) -> str:
        return f"async {arguments['x']}"

    def with_context(arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        return {"conversation": context.conversation_id, "slots": context.slots}

    def raising(arguments: dict[str, Any]) -> str:
        raise ToolExecutionError("raising", "database down")

    tools = (
        RecordingToolset("srv")
        .add("plain")
        .add("text", "fixed")
        .add("async_fn", async_fn)
        .add("ctx", with_context)
        .add("agent_error", AgentToolResult(tool_name="x", is_error=True, error_message="no"))
        .add("raising", raising)
    )
    assert (await tools.call_tool("plain", {})).text == "plain ok"
    assert (await tools.call_tool("text", {})).text == "fixed"
    assert (await tools.call_tool("async_fn", {"x": 1})).text == "async 1"
    context = ToolContext(conversation_id="c-7", slots={"city": "Oslo"})
    answer = await tools.call_tool("ctx", {}, context)
    assert answer.text == '{"conversation": "c-7", "slots": {"city": "Oslo"}}'
    failed = await tools.call_tool("agent_error", {})
    assert failed.is_error and failed.text == "no"
    with pytest.raises(ToolExecutionError, match="database down"):
        await tools.call_tool("raising", {})
    assert [c.name for c in tools.calls] == [
        "plain",
        "text",
        "async_fn",
        "ctx",
        "agent_error",
        "raising",
    ]
    assert tools.contexts[3] is context and tools.contexts[0] is None


async def test_removing_a_tool_bumps_the_version_and_refuses_calls() -> None:
    tools = RecordingToolset(kind=ToolKind.CUSTOM).add("a").add("b")
    version = tools.tools_version
    tools.remove("a")
    assert tools.tools_version == version + 1
    assert [(t.name, t.kind) for t in await tools.list_tools()] == [("b", ToolKind.CUSTOM)]
    with pytest.raises(UnknownToolError):
        await tools.call_tool("a", {})
    assert tools.calls == [] and tools.list_count == 1
