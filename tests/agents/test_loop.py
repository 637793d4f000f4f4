"""The shared ReAct loop, driven through the scripted model server (real HTTP)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from subagents import AgentInput, AgentStatus, MCPOpenAgent
from subagents.errors import (
    ConfigError,
    MCPServerUnavailable,
    MCPTransportError,
    ToolTimeoutError,
)
from subagents.tools.base import ToolContext, ToolOutcome
from subagents.tools.builtin import TASK_COMPLETED_DESCRIPTION

from .helpers import RecordingToolset, object_schema, scripted_llm, sleep_then, tool_messages


def weather_toolset() -> RecordingToolset:
    async def get_weather(args: dict[str, Any], ctx: ToolContext | None) -> str:
        return f"{args['city']}: 17°C, sunny"

    return RecordingToolset("weather").add(
        "get_weather", get_weather, schema=object_schema(city={"type": "string"})
    )


def completed(message: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": "task_completed", "arguments": {"message": message}}]}


async def make_agent(scripted_model: Any, steps: list[Any], *toolsets: Any, **kwargs: Any):
    server = await scripted_model(steps)
    agent = MCPOpenAgent(
        name="helper",
        description="Answers weather questions.",
        llm=scripted_llm(server.url, retries=kwargs.pop("retries", 0)),
        toolsets=list(toolsets),
        **kwargs,
    )
    return server, agent


async def test_tool_call_then_task_completed(scripted_model: Any) -> None:
    tools = weather_toolset()
    server, agent = await make_agent(
        scripted_model,
        [
            {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
            completed("It is sunny in Paris."),
        ],
        tools,
    )
    out = await agent.run(AgentInput(id="c1", user_message="Weather in Paris?"))

    assert out.status is AgentStatus.COMPLETED
    assert out.response_message == "It is sunny in Paris."
    assert tools.calls == [("get_weather", {"city": "Paris"})]
    first = dict(out.structured_results[0])
    duration = first.pop("duration_ms")
    assert isinstance(duration, float) and duration >= 0
    assert first == {
        "name": "get_weather",
        "arguments": {"city": "Paris"},
        "result": "Paris: 17°C, sunny",
        "is_error": False,
        "iteration": 1,
        "server": "weather",
    }
    # One record per model response, for the inspector (agent_* tracker events).
    calls = out.metadata["model_calls"]
    assert [c["iteration"] for c in calls] == [1, 2]
    assert [c["tool_calls"] for c in calls] == [1, 1]
    assert calls[0]["finish_reason"] == "tool_calls"
    # What the model received: system prompt with the description, the user message,
    # both tools (MCP non-strict, task_completed strict as in the reference).
    first = server.requests[0]
    assert first["messages"][0]["role"] == "system"
    assert "### Task\nAnswers weather questions." in first["messages"][0]["content"]
    assert first["messages"][1] == {"role": "user", "content": "Weather in Paris?"}
    offered = {t["function"]["name"]: t for t in first["tools"]}
    assert offered["get_weather"]["function"]["strict"] is False
    assert offered["task_completed"] == {
        "type": "function",
        "function": {
            "name": "task_completed",
            "description": TASK_COMPLETED_DESCRIPTION,
            "parameters": {
                "type": "object",
                "properties": {
                    "message": {
                        "type": "string",
                        "description": "A message describing the completed task.",
                    }
                },
                "required": ["message"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }
    second = server.requests[1]["messages"]
    assert tool_messages(second)[0]["content"] == "Paris: 17°C, sunny"
    assert second[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert tool_messages(second)[0]["tool_call_id"] == second[-2]["tool_calls"][0]["id"]


async def test_bad_model_output_goes_back_as_tool_messages(scripted_model: Any) -> None:
    tools = weather_toolset()
    server, agent = await make_agent(
        scripted_model,
        [
            {
                "tool_calls": [
                    {"name": "get_weather", "arguments": {"city": "Paris"}},
                    {"name": "launch_rockets", "arguments": {}},
                    {"name": "get_weather", "arguments": "{not json"},
                    {"name": "get_weather", "arguments": {"city": 42}},
                    {"name": "get_weather", "arguments": "[1, 2]"},
                ]
            },
            completed("done"),
        ],
        tools,
    )
    out = await agent.run(AgentInput(user_message="go"))

    assert out.status is AgentStatus.COMPLETED
    assert tools.calls == [("get_weather", {"city": "Paris"})]  # only the valid call ran
    calls = server.requests[1]["messages"][-6]["tool_calls"]
    results = tool_messages(server.requests[1]["messages"])
    assert [m["tool_call_id"] for m in results] == [c["id"] for c in calls]
    assert results[0]["content"] == "Paris: 17°C, sunny"
    assert "no tool named 'launch_rockets'" in results[1]["content"]
    assert "get_weather, task_completed" in results[1]["content"]
    assert "invalid arguments for tool 'get_weather'" in results[2]["content"]
    assert "not valid JSON" in results[2]["content"]
    assert "42 is not of type 'string'" in results[3]["content"]
    assert "city" in results[3]["content"]
    assert "must be a JSON object" in results[4]["content"]
    flags = [r["is_error"] for r in out.structured_results]
    assert flags == [False, True, True, True, True, False]  # last: task_completed


async def test_tool_errors_exceptions_and_timeouts_go_back(scripted_model: Any) -> None:
    async def reports_error(args: dict[str, Any], ctx: ToolContext | None) -> ToolOutcome:
        return ToolOutcome(text="disk full", is_error=True)

    async def raises(args: dict[str, Any], ctx: ToolContext | None) -> ToolOutcome:
        raise RuntimeError("boom")

    async def times_out(args: dict[str, Any], ctx: ToolContext | None) -> ToolOutcome:
        raise ToolTimeoutError("slow", "no answer within 1s")

    async def transport(args: dict[str, Any], ctx: ToolContext | None) -> ToolOutcome:
        raise MCPTransportError("srv", "connection lost during the call")

    tools = (
        RecordingToolset()
        .add("save", reports_error)
        .add("crash", raises)
        .add("slow", times_out)
        .add("book", transport)
    )
    names = ["save", "crash", "slow", "book"]
    server, agent = await make_agent(
        scripted_model,
        [{"tool_calls": [{"name": n, "arguments": {}} for n in names]}, completed("ok")],
        tools,
    )
    out = await agent.run(AgentInput(user_message="go"))

    assert out.status is AgentStatus.COMPLETED
    contents = [m["content"] for m in tool_messages(server.requests[1]["messages"])]
    assert contents[0] == "Error: tool 'save' reported an error: disk full"
    assert contents[1] == "Error: tool 'crash' failed: RuntimeError: boom"
    assert contents[2] == "Error: tool 'slow' timed out: no answer within 1s"
    assert "Error: tool 'book' could not complete" in contents[3]
    assert "may or may not have run" in contents[3]


async def test_calls_of_one_response_run_concurrently_in_call_order(
    scripted_model: Any,
) -> None:
    # `a` can only finish once `b` has run: run one after the other, `a` would time out.
    b_ran = asyncio.Event()

    async def a(args: dict[str, Any], ctx: ToolContext | None) -> str:
        try:
            await asyncio.wait_for(b_ran.wait(), 5)
        except TimeoutError:
            return "A ran alone"
        return "A"

    async def b(args: dict[str, Any], ctx: ToolContext | None) -> str:
        b_ran.set()
        return "B"

    tools = RecordingToolset().add("a", a).add("b", b)
    server, agent = await make_agent(
        scripted_model,
        [
            {"tool_calls": [{"name": "a", "arguments": {}}, {"name": "b", "arguments": {}}]},
            completed("ok"),
        ],
        tools,
    )
    await agent.run(AgentInput(user_message="go"))
    assert [m["content"] for m in tool_messages(server.requests[1]["messages"])] == ["A", "B"]


async def test_calls_after_task_completed_are_not_executed(scripted_model: Any) -> None:
    tools = weather_toolset()
    server, agent = await make_agent(
        scripted_model,
        [
            {
                "tool_calls": [
                    {"name": "get_weather", "arguments": {"city": "Rome"}},
                    {"name": "task_completed", "arguments": {"message": "All done."}},
                    {"name": "get_weather", "arguments": {"city": "Oslo"}},
                ]
            }
        ],
        tools,
    )
    out = await agent.run(AgentInput(user_message="go"))
    assert out.status is AgentStatus.COMPLETED
    assert out.response_message == "All done."
    assert tools.calls == [("get_weather", {"city": "Rome"})]
    assert [r["name"] for r in out.structured_results] == ["get_weather", "task_completed"]


async def test_task_completed_with_empty_message_is_refused(scripted_model: Any) -> None:
    server, agent = await make_agent(
        scripted_model,
        [
            {"tool_calls": [{"name": "task_completed", "arguments": {"message": "  "}}]},
            {"tool_calls": [{"name": "task_completed", "arguments": {}}]},
            completed("Finally done."),
        ],
    )
    out = await agent.run(AgentInput(user_message="go"))
    assert out.status is AgentStatus.COMPLETED
    assert out.response_message == "Finally done."
    first_error = tool_messages(server.requests[1]["messages"])[0]["content"]
    assert "'message' must be a non-empty string" in first_error
    second_error = tool_messages(server.requests[2]["messages"])[1]["content"]
    assert "'message' is a required property" in second_error


async def test_text_reply_asks_user_and_next_run_continues(scripted_model: Any) -> None:
    tools = weather_toolset()
    server, agent = await make_agent(
        scripted_model,
        [
            {"text": "Which city?"},
            {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
            completed("Oslo is sunny."),
        ],
        tools,
    )
    first = await agent.run(AgentInput(id="conv", user_message="What's the weather?"))
    assert first.status is AgentStatus.INPUT_REQUIRED
    assert first.response_message == "Which city?"
    state = first.metadata["state"]
    assert json.loads(json.dumps(state)) == state  # JSON-serialisable

    second = await agent.run(AgentInput(id="conv", user_message="Oslo"))
    assert second.status is AgentStatus.COMPLETED
    msgs = server.requests[1]["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[2]["content"] == "Which city?"
    assert msgs[3]["content"] == "Oslo"
    assert second.metadata["state"] is None


async def test_exported_state_resumes_in_a_fresh_agent(scripted_model: Any) -> None:
    server = await scripted_model([{"text": "Which city?"}, completed("Done.")])
    agent1 = MCPOpenAgent(name="helper", llm=scripted_llm(server.url))
    out = await agent1.run(AgentInput(id="c9", user_message="weather"))
    saved = json.dumps(out.metadata["state"])

    agent2 = MCPOpenAgent(name="helper", llm=scripted_llm(server.url))  # "after a restart"
    state = json.loads(saved)
    out2 = await agent2.run(AgentInput(id="c9", user_message="Oslo", metadata={"state": state}))
    assert out2.status is AgentStatus.COMPLETED
    roles = [m["role"] for m in server.requests[1]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


async def test_state_none_starts_afresh(scripted_model: Any) -> None:
    server, agent = await make_agent(scripted_model, [{"text": "Which city?"}, {"text": "Hi"}])
    await agent.run(AgentInput(id="c", user_message="weather"))
    await agent.run(AgentInput(id="c", user_message="hello", metadata={"state": None}))
    assert [m["role"] for m in server.requests[1]["messages"]] == ["system", "user"]


async def test_iteration_limit(scripted_model: Any) -> None:
    tools = weather_toolset()
    step = {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}
    server, agent = await make_agent(scripted_model, [step] * 5, tools, max_iterations=3)
    out = await agent.run(AgentInput(user_message="loop forever"))
    assert out.status is AgentStatus.FATAL_ERROR
    assert "iteration limit reached" in (out.error_message or "")
    assert len(server.requests) == 3
    assert out.metadata["iterations"] == 3


async def test_deadline_ends_run_with_fatal_error(scripted_model: Any) -> None:
    tools = RecordingToolset().add("slow", sleep_then("late", 5))
    server, agent = await make_agent(
        scripted_model, [{"tool_calls": [{"name": "slow", "arguments": {}}]}], tools, timeout=0.3
    )
    started = time.perf_counter()
    out = await agent.run(AgentInput(user_message="go"))
    assert time.perf_counter() - started < 2
    assert out.status is AgentStatus.FATAL_ERROR
    assert "timed out after 0.3 seconds" in (out.error_message or "")


async def test_llm_unavailable_is_fatal(scripted_model: Any) -> None:
    server, agent = await make_agent(
        scripted_model,
        [{"error": {"status": 500}}, {"error": {"status": 503}}],
        retries=1,
    )
    out = await agent.run(AgentInput(user_message="go"))
    assert out.status is AgentStatus.FATAL_ERROR
    assert out.error_message
    assert len(server.requests) == 2  # one retry, then give up


async def test_mcp_server_unavailable_is_fatal(scripted_model: Any) -> None:
    async def gone(args: dict[str, Any], ctx: ToolContext | None) -> ToolOutcome:
        raise MCPServerUnavailable("weather", "could not reconnect after 3 attempts")

    tools = RecordingToolset().add("get_weather", gone).add("other", sleep_then("x", 5))
    server, agent = await make_agent(
        scripted_model,
        [
            {
                "tool_calls": [
                    {"name": "get_weather", "arguments": {}},
                    {"name": "other", "arguments": {}},
                ]
            }
        ],
        tools,
    )
    started = time.perf_counter()
    out = await agent.run(AgentInput(user_message="go"))
    assert time.perf_counter() - started < 2  # the sibling call was cancelled
    assert out.status is AgentStatus.FATAL_ERROR
    assert "MCP server 'weather'" in (out.error_message or "")


async def test_cancellation_cancels_tools_and_keeps_previous_state(scripted_model: Any) -> None:
    cancelled = asyncio.Event()
    entered = asyncio.Event()

    async def hangs(args: dict[str, Any], ctx: ToolContext | None) -> ToolOutcome:
        entered.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return ToolOutcome(text="never")

    tools = RecordingToolset().add("hang", hangs).add("hang2", hangs)
    step = {"tool_calls": [{"name": "hang", "arguments": {}}, {"name": "hang2", "arguments": {}}]}
    server, agent = await make_agent(scripted_model, [{"text": "Which?"}, step], tools)
    await agent.run(AgentInput(id="c", user_message="hi"))
    task = asyncio.create_task(agent.run(AgentInput(id="c", user_message="go")))
    await asyncio.wait_for(entered.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert cancelled.is_set()
    # The waiting state from before the cancelled run is intact.
    assert len(agent._states["c"]) == 2


async def test_streaming_sends_text_as_produced(scripted_model: Any) -> None:
    tools = weather_toolset()
    server, agent = await make_agent(
        scripted_model,
        [
            {
                "text": "Let me check.",
                "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}],
            },
            completed("Oslo is sunny."),
        ],
        tools,
    )
    pieces: list[str] = []

    async def on_text(delta: str) -> None:
        pieces.append(delta)

    out = await agent.run(AgentInput(user_message="weather in Oslo"), on_text=on_text)
    assert out.response_message == "Let me check.\n\nOslo is sunny."
    assert "".join(pieces) == out.response_message
    assert server.requests[0].get("stream") is True


async def test_tool_payload_is_built_once_and_reused(scripted_model: Any) -> None:
    tools = weather_toolset()
    step = {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}
    server, agent = await make_agent(
        scripted_model, [step, step, {"text": "?"}, step, completed("x")], tools
    )
    await agent.run(AgentInput(id="a", user_message="1"))
    payload = agent.toolbox.payload
    await agent.run(AgentInput(id="a", user_message="2"))
    assert agent.toolbox.payload is payload
    assert len({json.dumps(r["tools"]) for r in server.requests}) == 1


async def test_changed_tool_list_rebuilds_the_payload(scripted_model: Any) -> None:
    tools = weather_toolset()
    server, agent = await make_agent(scripted_model, [{"text": "a"}, {"text": "b"}], tools)
    await agent.run(AgentInput(id="1", user_message="x"))
    tools.add("get_time")
    await agent.run(AgentInput(id="2", user_message="y"))
    names = [[t["function"]["name"] for t in r["tools"]] for r in server.requests]
    assert names == [
        ["get_weather", "task_completed"],
        ["get_weather", "get_time", "task_completed"],
    ]


async def test_empty_reply_is_nudged(scripted_model: Any) -> None:
    server, agent = await make_agent(scripted_model, [{"text": ""}, {"text": "Hello!"}])
    out = await agent.run(AgentInput(user_message="hi"))
    assert out.status is AgentStatus.INPUT_REQUIRED
    assert out.response_message == "Hello!"
    assert server.requests[1]["messages"][-1]["role"] == "user"


async def test_tool_names_outside_the_provider_pattern_are_mapped(scripted_model: Any) -> None:
    tools = RecordingToolset().add("files.read_v2", sleep_then("content", 0))
    server, agent = await make_agent(
        scripted_model,
        [{"tool_calls": [{"name": "files_read_v2", "arguments": {}}]}, completed("ok")],
        tools,
    )
    out = await agent.run(AgentInput(user_message="read"))
    assert [t["function"]["name"] for t in server.requests[0]["tools"]][0] == "files_read_v2"
    assert tools.calls == [("files.read_v2", {})]  # called by its own name
    assert out.structured_results[0]["name"] == "files.read_v2"


async def test_custom_prompt_template_variables(scripted_model: Any) -> None:
    template = (
        "{{ description }}|{{ user_message }}|{{ slots.city }}|{{ slots.missing }}|"
        "{{ conversation_history }}|{{ current_date }}"
    )
    server, agent = await make_agent(scripted_model, [{"text": "ok"}], prompt_template=template)
    await agent.run(
        AgentInput(
            user_message="hi",
            slots=[{"name": "city", "value": "Oslo"}],
            conversation_history="USER: hi",
        )
    )
    system = server.requests[0]["messages"][0]["content"]
    description, message, city, missing, history, date = system.split("|")
    assert (description, message, city, missing, history) == (
        "Answers weather questions.",
        "hi",
        "Oslo",
        "",
        "USER: hi",
    )
    assert len(date) == 10 and date[4] == "-"


def test_template_syntax_error_is_a_config_error() -> None:
    llm: Any = object()
    with pytest.raises(ConfigError, match="prompt.jinja2:2: Jinja2 syntax error"):
        MCPOpenAgent(
            name="x",
            llm=llm,
            prompt_template="ok\n{% if %}",
            prompt_template_source="prompt.jinja2",
        )


class FailingHooks(MCPOpenAgent):
    async def process_input(self, input: AgentInput) -> AgentInput:
        if input.user_message == "bad input":
            raise ValueError("cannot process")
        return input

    async def process_output(self, output: Any) -> Any:
        if output.response_message == "bad output":
            raise ValueError("cannot post-process")
        return output


async def test_failing_hooks_end_the_run_cleanly(scripted_model: Any) -> None:
    server = await scripted_model([{"text": "bad output"}])
    agent = FailingHooks(name="h", llm=scripted_llm(server.url))
    out = await agent.run(AgentInput(user_message="bad input"))
    assert out.status is AgentStatus.FATAL_ERROR
    assert "ValueError: cannot process" in (out.error_message or "")
    out = await agent.run(AgentInput(user_message="fine"))
    assert out.status is AgentStatus.FATAL_ERROR
    assert "process_output failed" in (out.error_message or "")


async def test_custom_tool_clashing_with_a_builtin_is_reported(scripted_model: Any) -> None:
    class Clash(MCPOpenAgent):
        def get_custom_tool_definitions(self) -> list[dict[str, Any]]:
            async def run(arguments: dict[str, Any]) -> str:
                return "x"

            return [
                {"type": "function", "function": {"name": "task_completed"}, "tool_executor": run}
            ]

    server = await scripted_model([])
    agent = Clash(name="c", llm=scripted_llm(server.url))
    with pytest.raises(ConfigError, match="custom tool names must be unique"):
        await agent.prepare()
    out = await agent.run(AgentInput(user_message="x"))
    assert out.status is AgentStatus.FATAL_ERROR
    assert "offered by both 'custom' and 'builtin'" in (out.error_message or "")


async def test_a_crash_mid_run_is_one_fatal_error_output(scripted_model: Any) -> None:
    """A bug during the run (here the streaming callback raising) never reaches the caller."""
    tools = weather_toolset()
    server, agent = await make_agent(
        scripted_model,
        [
            {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
            {"text": "It is sunny."},
            {"text": "Hello again."},
        ],
        tools,
    )

    async def broken_terminal(delta: str) -> None:
        raise RuntimeError("terminal went away")

    out = await agent.run(AgentInput(id="c", user_message="Weather?"), on_text=broken_terminal)
    assert out.status is AgentStatus.FATAL_ERROR
    assert out.error_message == "internal error: RuntimeError: terminal went away"
    # What the run did before the crash is kept, and the next message starts afresh.
    assert [r["name"] for r in out.structured_results] == ["get_weather"]
    assert (
        out.metadata["state"] is None and out.metadata["iterations"] == 1
    )  # the second call crashed
    again = await agent.run(AgentInput(id="c", user_message="Hi"))
    assert again.response_message == "Hello again."
    assert [m["role"] for m in server.requests[-1]["messages"]] == ["system", "user"]


async def test_an_empty_reply_after_the_nudge_is_a_recoverable_error(scripted_model: Any) -> None:
    server, agent = await make_agent(scripted_model, [{"text": ""}, {"text": "  "}])
    out = await agent.run(AgentInput(user_message="hi"))
    assert out.status is AgentStatus.RECOVERABLE_ERROR
    assert out.error_message == "the model returned an empty reply twice in a row"
    assert out.metadata["state"] is None and len(server.requests) == 2
