"""Failures on spans: a failing MCP tool, a 429 the client retried, an LLM that stays down."""

from __future__ import annotations

from typing import Any

from telemetry_helpers import Recorded, stdio_toolbox

FLOWS = {"ask": {"description": "Answer a question.", "steps": [{"call": "helper"}]}}
AGENTS = {
    "helper": {
        "agent": {"name": "helper", "description": "Helps with anything."},
        "connections": {"mcp_servers": [{"name": "toolbox", "include_tools": ["fail", "echo"]}]},
    }
}
START = {"tool_calls": [{"id": "r", "name": "start_flow", "arguments": {"flow": "ask"}}]}


def endpoints(retries: int) -> dict[str, Any]:
    return {
        "model_groups": [
            {"id": "main", "models": [{"provider": "openai", "model": "m1", "retries": retries}]}
        ],
        "mcp_servers": [stdio_toolbox()],
    }


def named(spans: list[Any], name: str) -> list[Any]:
    return sorted((s for s in spans if s.name == name), key=lambda s: s.start_time)


async def test_failing_mcp_tool_marks_its_span_and_counts_an_error(
    recorded: Recorded, make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    server = await scripted_model(
        [
            START,
            {"tool_calls": [{"id": "t1", "name": "fail", "arguments": {"reason": "s3cret-ish"}}]},
            {"text": "That did not work."},
        ]
    )
    root = make_project(flows=FLOWS, agents=AGENTS, endpoints=endpoints(0))
    assistant = await load_assistant(root, llm_url=server.url)
    await assistant.handle_message("u", "please fail")

    spans = recorded.finished()
    failed = named(spans, "execute_tool fail")[0]
    assert failed.status.status_code.name == "ERROR"
    assert failed.attributes["error.type"] == "tool_error"
    # The error's text (which may hold data) is not on the span: only its type.
    assert failed.status.description == "tool_error"
    assert "s3cret" not in str(dict(failed.attributes))
    # The run itself went on: the model saw the error and answered.
    run = named(spans, "agent.run")[0]
    assert run.status.status_code.name == "UNSET"
    assert run.attributes["subagents.agent.status"] == "input_required"

    points = recorded.metric_points()
    errors = points["subagents.tool.errors"]
    assert [(dict(p.attributes), p.value) for p in errors] == [
        ({"tool": "fail", "server": "toolbox", "error.type": "tool_error"}, 1)
    ]


async def test_429_then_success_is_a_retry_event_on_the_chat_span(
    recorded: Recorded, make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    server = await scripted_model(
        [
            START,
            {"error": {"status": 429, "retry_after": 0}},
            {"text": "Here you are."},
        ]
    )
    root = make_project(flows=FLOWS, agents=AGENTS, endpoints=endpoints(2))
    assistant = await load_assistant(root, llm_url=server.url)
    await assistant.handle_message("u", "hello")

    chat = named(recorded.finished(), "chat scripted")[0]  # the agent's (the router's: m1)
    assert chat.status.status_code.name == "UNSET"
    assert [(e.name, dict(e.attributes)) for e in chat.events] == [
        (
            "gen_ai.request.retry",
            {"attempt": 1, "wait_s": 0.0, "http.response.status_code": 429},
        )
    ]
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("stop",)


async def test_llm_down_fails_the_chat_and_agent_spans_with_the_error_type(
    recorded: Recorded, make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    server = await scripted_model([START, {"error": {"status": 500, "body": "key=sk-123"}}])
    root = make_project(flows=FLOWS, agents=AGENTS, endpoints=endpoints(0))
    assistant = await load_assistant(root, llm_url=server.url)
    await assistant.handle_message("u", "hello")

    spans = recorded.finished()
    chat = named(spans, "chat scripted")[0]
    assert chat.status.status_code.name == "ERROR"
    assert chat.attributes["error.type"] == "LLMUnavailableError"
    run = named(spans, "agent.run")[0]
    assert run.attributes["error.type"] == "LLMUnavailableError"
    assert run.attributes["subagents.agent.status"] == "fatal_error"
    assert "sk-123" not in str([dict(s.attributes) for s in spans])
    durations = recorded.metric_points()["gen_ai.client.operation.duration"]
    assert any(p.attributes.get("error.type") == "LLMUnavailableError" for p in durations)
