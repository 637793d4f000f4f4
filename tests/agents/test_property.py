"""Property-based: random model output never crashes a run nor runs an excluded tool."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from subagents import AgentInput, AgentStatus, MCPOpenAgent, MCPTaskAgent
from subagents.config.models import SlotConfig
from subagents.llm.base import LLMResponse, ToolCall, ToolPayload
from subagents.testing import ScriptedModelServer
from subagents.tools.base import FilteredToolset, ToolContext, ToolOutcome

from .helpers import RecordingToolset, object_schema, scripted_llm

NAMES = ["get_weather", "admin_reset", "task_completed", "set_slot_city", "nope", "files.read"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
arguments = st.one_of(
    st.dictionaries(
        st.sampled_from(["city", "message", "slot_value", "x"]), json_values, max_size=3
    ),
    st.text(max_size=12),  # often not JSON
    st.lists(st.integers(), max_size=2),
)
calls = st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=6), arguments), max_size=4)
replies = st.lists(st.one_of(st.text(max_size=10), calls), min_size=1, max_size=6)


class FakeLLM:
    """In-process LLM replaying generated replies (fast); records what it was sent."""

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.sent: list[list[dict[str, Any]]] = []

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: ToolPayload | None = None,
        *,
        on_text: Any = None,
        tool_choice: Any = None,
    ) -> LLMResponse:
        self.sent.append(copy.deepcopy(messages))
        reply = self.script.pop(0) if self.script else "bye"
        if isinstance(reply, str):
            return LLMResponse(text=reply)
        return LLMResponse(tool_calls=[_call(i, n, a) for i, (n, a) in enumerate(reply)])

    async def aclose(self) -> None:
        return None


def _call(index: int, name: str, args: Any) -> ToolCall:
    raw = args if isinstance(args, str) else json.dumps(args)
    return ToolCall.parse(f"call_{index}", name, raw)


def make_tools() -> tuple[RecordingToolset, FilteredToolset]:
    async def weather(args: dict[str, Any], ctx: ToolContext | None) -> ToolOutcome:
        if args["city"] == "":
            raise ValueError("empty city")
        return ToolOutcome(text="sunny")

    inner = (
        RecordingToolset("weather")
        .add("get_weather", weather, schema=object_schema(city={"type": "string"}))
        .add("admin_reset")
        .add("files.read")
    )
    return inner, FilteredToolset(inner, exclude=["admin_reset"])


def check_transcript(messages: list[dict[str, Any]]) -> None:
    """Every tool call is answered by exactly one tool message, in call order."""
    for index, message in enumerate(messages):
        if message["role"] == "assistant" and message.get("tool_calls"):
            ids = [c["id"] for c in message["tool_calls"]]
            answers = messages[index + 1 : index + 1 + len(ids)]
            assert [m.get("tool_call_id") for m in answers] == ids
            assert all(m["role"] == "tool" and m["content"] for m in answers)


def check_run(inner: RecordingToolset, llm: FakeLLM, out: Any) -> None:
    assert out.status in (
        AgentStatus.COMPLETED,
        AgentStatus.INPUT_REQUIRED,
        AgentStatus.FATAL_ERROR,
        AgentStatus.RECOVERABLE_ERROR,
    )
    if out.status is AgentStatus.FATAL_ERROR:
        assert "iteration limit reached" in out.error_message
    if out.status is AgentStatus.RECOVERABLE_ERROR:  # two empty replies in a row
        assert out.error_message == "the model returned an empty reply twice in a row"
    assert all(name != "admin_reset" for name, _ in inner.calls)
    assert all(isinstance(a.get("city"), str) for n, a in inner.calls if n == "get_weather")
    for sent in llm.sent:
        check_transcript(sent)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replies)
def test_random_replies_open_agent(script: list[Any]) -> None:
    inner, filtered = make_tools()
    llm = FakeLLM(script)
    agent = MCPOpenAgent(name="p", llm=llm, toolsets=[filtered], max_iterations=4)
    out = asyncio.run(agent.run(AgentInput(user_message="hi")))
    check_run(inner, llm, out)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replies)
def test_random_replies_task_agent(script: list[Any]) -> None:
    inner, filtered = make_tools()
    llm = FakeLLM(script)
    agent = MCPTaskAgent(
        name="p",
        llm=llm,
        toolsets=[filtered],
        max_iterations=4,
        exit_if=["slots.city is not null"],
        slots={"city": SlotConfig(type="categorical", values=["Oslo", "Rome"])},
    )
    out = asyncio.run(agent.run(AgentInput(user_message="hi")))
    check_run(inner, llm, out)
    for event in out.events:
        assert event["value"] in ("Oslo", "Rome")


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(calls.filter(bool), min_size=1, max_size=2))
def test_random_tool_calls_over_http(script: list[Any]) -> None:
    steps = [
        {
            "tool_calls": [
                {
                    "name": name or "x",
                    "arguments": args if isinstance(args, str | dict) else json.dumps(args),
                }
                for name, args in reply
            ]
        }
        for reply in script
    ]
    steps.append({"text": "done"})

    async def main() -> None:
        inner, filtered = make_tools()
        async with ScriptedModelServer(steps) as server:
            agent = MCPOpenAgent(name="p", llm=scripted_llm(server.url), toolsets=[filtered])
            out = await agent.run(AgentInput(user_message="hi"))
            assert out.status in (AgentStatus.COMPLETED, AgentStatus.INPUT_REQUIRED)
            assert all(name != "admin_reset" for name, _ in inner.calls)
            for request in server.requests:
                check_transcript(request["messages"])

    asyncio.run(main())
