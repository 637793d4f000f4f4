"""How a flow treats its agents' ends: a task agent's silent completion, recoverable errors
(run again, at most three runs), and cancellation of a running agent by the runtime.
Scripted model over HTTP + the toolbox MCP server over stdio."""

from __future__ import annotations

from typing import Any

import pytest
from dialogue_helpers import stdio_server, texts

from subagents.dialogue import engine

INTERNAL_ERROR = "Sorry, something went wrong. Please try again."

DOMAIN: dict[str, Any] = {
    "slots": {"city": {"type": "text"}},
    "responses": {"utter_done": [{"text": "Done: {city}."}]},
}
FLOWS: dict[str, Any] = {
    "book": {
        "description": "Book a trip.",
        "steps": [
            {"call": "booker", "exit_if": ["slots.city is not null"]},
            {"action": "utter_done"},
        ],
    },
    "chat": {"description": "Chat.", "steps": [{"call": "helper"}]},
}


def agent(name: str) -> dict[str, Any]:
    return {
        "agent": {"name": name, "description": f"The {name}."},
        "connections": {"mcp_servers": [{"name": "toolbox", "include_tools": ["echo"]}]},
    }


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "AGENT_RETRY_DELAY", 0.0)


async def load(make_project: Any, load_assistant: Any, script: Any) -> Any:
    root = make_project(
        domain=DOMAIN,
        flows=FLOWS,
        agents={"booker": agent("booker"), "helper": agent("helper")},
        endpoints={"mcp_servers": [stdio_server()]},
    )
    return await load_assistant(root, llm_url=script.url)


def events(tracker: dict[str, Any], prefix: str = "agent_") -> list[tuple[str, Any]]:
    return [
        (e["event"], e.get("attempt") or e.get("reason") or e.get("error"))
        for e in tracker["events"]
        if e["event"].startswith(prefix)
    ]


async def test_a_task_agent_meeting_exit_if_sends_no_text_of_that_reply(
    make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    set_city = {"name": "set_slot_city", "arguments": {"slot_value": "Paris"}}
    script = await scripted_model(
        [
            {"text": "Let me look.", "tool_calls": [{"name": "echo", "arguments": {"text": "x"}}]},
            {"text": "Great, Paris it is!", "tool_calls": [set_city]},
        ]
    )
    assistant = await load(make_project, load_assistant, script)
    seen: list[dict[str, Any]] = []

    async def on_message(message: dict[str, Any]) -> None:
        seen.append(message)

    reply = await assistant.handle_message("t", "/book", on_message=on_message)
    # The text beside a call that did not complete the task is shown (streamed); the text
    # of the reply that met exit_if is not, whole or in pieces.
    assert texts(reply) == ["Let me look.", "Done: Paris."]
    assert not any("Great" in m.get("text", "") for m in seen)
    assert [m["text"] for m in seen if m.get("chunk")] == ["Let me look."]
    bots = [e["text"] for e in (await assistant.get_tracker("t"))["events"] if e["event"] == "bot"]
    assert bots == ["Let me look.", "Done: Paris."]


async def test_a_recoverable_error_runs_the_agent_again(
    make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    # Two empty replies (the second after the nudge) make the first run unusable.
    script = await scripted_model([{"text": ""}, {"text": ""}, {"text": "Hello, how can I help?"}])
    assistant = await load(make_project, load_assistant, script)
    assert texts(await assistant.handle_message("r", "/chat")) == ["Hello, how can I help?"]
    tracker = await assistant.get_tracker("r")
    assert events(tracker) == [
        ("agent_started", None),
        ("agent_recoverable_error", 1),
        ("agent_input_required", None),
    ]
    assert tracker["stack"][0]["waiting"]["kind"] == "agent"
    # The second run started afresh from the same input (no nudge in its transcript).
    assert [m["role"] for m in script.requests[2]["messages"]] == ["system", "user"]


async def test_three_recoverable_errors_take_the_fatal_path(
    make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    script = await scripted_model([{"text": ""}] * 6)
    assistant = await load(make_project, load_assistant, script)
    assert texts(await assistant.handle_message("f", "/chat")) == [INTERNAL_ERROR]
    tracker = await assistant.get_tracker("f")
    assert events(tracker) == [
        ("agent_started", None),
        ("agent_recoverable_error", 1),
        ("agent_recoverable_error", 2),
        ("agent_recoverable_error", 3),
        (
            "agent_failed",
            "3 runs ended with recoverable_error (last: the model returned an empty reply"
            " twice in a row)",
        ),
    ]
    assert len(script.requests) == 6 and tracker["stack"] == []


async def test_a_running_agent_cancelled_by_the_turn_budget_ends_cancelled(
    make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    script = await scripted_model([{"text": "Too late.", "delay": 10}])
    assistant = await load(make_project, load_assistant, script)
    assistant.turn_timeout = 0.5
    assert texts(await assistant.handle_message("c", "/chat")) == [INTERNAL_ERROR]
    tracker = await assistant.get_tracker("c")
    assert events(tracker) == [
        ("agent_started", None),
        ("agent_cancelled", "the turn was cancelled"),
    ]
    kinds = [e["event"] for e in tracker["events"]]
    assert (
        kinds.index("agent_cancelled") < kinds.index("turn_failed") < kinds.index("flow_cancelled")
    )
