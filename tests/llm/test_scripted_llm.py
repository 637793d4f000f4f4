"""The in-process scripted model: an LLMClient that plays a scenario without a port."""

from __future__ import annotations

import logging

import pytest

from subagents import AgentInput, MCPOpenAgent
from subagents.errors import LLMUnavailableError
from subagents.llm.base import ToolPayload, current_conversation
from subagents.testing import ScriptedLLM

USER = [{"role": "user", "content": "hi"}]


async def test_an_agent_runs_on_the_scripted_llm_without_a_port() -> None:
    llm = ScriptedLLM(["Hello! How can I help?"])
    agent = MCPOpenAgent(name="greeter", description="Greets.", llm=llm, toolsets=[])
    out = await agent.run(AgentInput(user_message="hi"))
    assert out.response_message == "Hello! How can I help?"
    assert llm.player.requests[0]["messages"][-1]["content"] == "hi"


async def test_text_is_streamed_and_tool_calls_are_parsed() -> None:
    llm = ScriptedLLM(
        [
            {"text": "Sunny in Paris.", "chunks": ["Sunny ", "in Paris."]},
            {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        ]
    )
    pieces: list[str] = []

    async def on_text(delta: str) -> None:
        pieces.append(delta)

    first = await llm.complete(USER, on_text=on_text)
    assert pieces == ["Sunny ", "in Paris."] and first.text == "Sunny in Paris."
    tools = ToolPayload([{"type": "function", "function": {"name": "get_weather"}}])
    second = await llm.complete(USER, tools)
    assert [(c.name, c.arguments) for c in second.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert second.finish_reason == "tool_calls"
    assert llm.player.tools_offered(1) == ["get_weather"]


async def test_each_conversation_plays_the_scenario_from_its_start() -> None:
    llm = ScriptedLLM(["first", "second"])
    replies = []
    for conversation in ("ann", "bob", "ann"):
        token = current_conversation.set(conversation)
        try:
            replies.append((await llm.complete(USER)).text)
        finally:
            current_conversation.reset(token)
    assert replies == ["first", "first", "second"]
    assert llm.player.remaining() == 0  # every reply was reached by some conversation


async def test_running_out_raises_by_default() -> None:
    llm = ScriptedLLM(["only"])
    await llm.complete(USER)
    with pytest.raises(LLMUnavailableError, match="scripted scenario exhausted after 1 replies"):
        await llm.complete(USER)


async def test_running_out_in_reply_mode_answers_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    llm = ScriptedLLM(["only"], exhausted="reply", source="demo.yml")
    token = current_conversation.set("ann")
    try:
        await llm.complete(USER)
        with caplog.at_level(logging.WARNING, logger="subagents.llm.scripted"):
            texts = [(await llm.complete(USER)).text for _ in range(3)]
    finally:
        current_conversation.reset(token)
    assert all(t and "The scenario in demo.yml has no more model replies" in t for t in texts)
    assert [r.getMessage() for r in caplog.records] == ["scripted.exhausted"]


async def test_error_steps_raise_without_retrying() -> None:
    llm = ScriptedLLM([{"error": {"status": 503}}, "after"])
    with pytest.raises(LLMUnavailableError, match="HTTP 503"):
        await llm.complete(USER)
    assert (await llm.complete(USER)).text == "after"
