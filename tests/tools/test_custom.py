"""Custom tools from get_custom_tool_definitions()."""

from __future__ import annotations

from typing import Any

import pytest

from subagents import AgentToolResult
from subagents.errors import ConfigError, ToolExecutionError, ToolTimeoutError
from subagents.tools.base import ToolContext, ToolKind
from subagents.tools.custom import CustomToolset


def definition(name: str, executor: Any, **fn: Any) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": "d", **fn},
        "tool_executor": executor,
    }


async def test_executors_with_and_without_context() -> None:
    async def plain(arguments: dict[str, Any]) -> AgentToolResult:
        return AgentToolResult(tool_name="plain", result=str(arguments))

    async def with_context(arguments: dict[str, Any], context: ToolContext) -> AgentToolResult:
        return AgentToolResult(tool_name="ctx", result=context.conversation_id)

    async def failing(arguments: dict[str, Any]) -> AgentToolResult:
        return AgentToolResult(tool_name="f", is_error=True, error_message="no stock")

    tools = CustomToolset(
        [definition("plain", plain), definition("ctx", with_context), definition("f", failing)]
    )
    assert (await tools.call_tool("plain", {"a": 1})).text == "{'a': 1}"
    ctx = ToolContext(conversation_id="c-1")
    assert (await tools.call_tool("ctx", {}, ctx)).text == "c-1"
    failed = await tools.call_tool("f", {})
    assert failed.is_error and failed.text == "no stock"
    specs = await tools.list_tools()
    assert [s.source for s in specs] == ["custom"] * 3
    assert {s.kind for s in specs} == {ToolKind.CUSTOM}


async def test_an_executor_raising_is_a_tool_error_for_the_model() -> None:
    async def broken(arguments: dict[str, Any]) -> AgentToolResult:
        raise KeyError("city")

    async def slow(arguments: dict[str, Any]) -> AgentToolResult:
        raise ToolTimeoutError("slow", "no answer within 1s")

    tools = CustomToolset([definition("broken", broken), definition("slow", slow)])
    with pytest.raises(ToolExecutionError) as caught:
        await tools.call_tool("broken", {})
    assert caught.value.message == "KeyError: 'city'"
    with pytest.raises(ToolTimeoutError):  # already a signal: passed on as it is
        await tools.call_tool("slow", {})


def test_bad_definitions_are_config_errors() -> None:
    async def ok(arguments: dict[str, Any]) -> str:
        return "x"

    with pytest.raises(ConfigError, match="needs a callable 'tool_executor'"):
        CustomToolset([definition("a", None)])
    with pytest.raises(ConfigError, match="defined twice"):
        CustomToolset([definition("a", ok), definition("a", ok)])
    with pytest.raises(ConfigError, match="expected"):
        CustomToolset([{"name": "flat", "tool_executor": ok}])
