"""Flows calling sub agents end to end: scripted model over HTTP + a real MCP server."""

from __future__ import annotations

from typing import Any

from dialogue_helpers import stdio_server, texts

ACTIONS = """
from subagents.actions import Action


class Book(Action):
    def name(self):
        return "action_book"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(
            text=f"Booked {tracker.get_slot('city')} on {tracker.get_slot('date')}."
        )
        return []
"""

DOMAIN: dict[str, Any] = {
    "slots": {"city": {"type": "text"}, "date": {"type": "text"}},
    "responses": {
        "utter_greet": [{"text": "Hello!"}],
        "utter_bye": [{"text": "Bye, see you."}],
    },
}

FLOWS: dict[str, Any] = {
    "book": {
        "description": "Book a trip to a city on a date.",
        "steps": [
            {"call": "booker", "exit_if": ["slots.city is not null", "slots.date is not null"]},
            {"action": "action_book"},
        ],
    },
    "chat": {
        "description": "Answer general questions.",
        "steps": [{"call": "helper"}, {"action": "utter_bye"}],
    },
    "greet": {"description": "Greet the user.", "steps": [{"action": "utter_greet"}]},
}


def agent(name: str, description: str, **configuration: Any) -> dict[str, Any]:
    return {
        "agent": {"name": name, "description": description},
        "configuration": configuration,
        "connections": {"mcp_servers": [{"name": "toolbox", "include_tools": ["echo", "weather"]}]},
    }


AGENTS = {
    "booker": agent("booker", "Books trips."),
    "helper": agent("helper", "Helps with anything.", max_iterations=3),
}


def project(make_project: Any) -> Any:
    return make_project(
        domain=DOMAIN,
        flows=FLOWS,
        agents=AGENTS,
        actions=ACTIONS,
        endpoints={"mcp_servers": [stdio_server()]},
    )


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def tool_messages(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


async def test_task_agent_collects_two_slots_over_two_turns_then_action(
    make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    server = await scripted_model(
        {
            "router": {
                "when": {"tool_offered": "start_flow"},
                "steps": [{"tool_calls": [call("start_flow", flow="book")]}],
            },
            "booker": {
                "when": {"tool_offered": "set_slot_city"},
                "steps": [
                    {
                        "tool_calls": [
                            call("weather", city="Paris"),
                            call("set_slot_city", slot_value="Paris"),
                        ]
                    },
                    {"text": "Which date?"},
                    {"tool_calls": [call("set_slot_date", slot_value="2026-05-01")]},
                ],
            },
        }
    )
    assistant = await load_assistant(project(make_project), llm_url=server.url)

    assert texts(await assistant.handle_message("c1", "I want to go to Paris")) == ["Which date?"]
    tracker = await assistant.get_tracker("c1")
    assert tracker["slots"] == {"city": "Paris", "date": None}
    assert tracker["stack"][0]["waiting"]["kind"] == "agent"

    reply = await assistant.handle_message("c1", "May 1st")
    assert texts(reply) == ["Booked Paris on 2026-05-01."]
    # The second run continued the first one's transcript (agent state persisted).
    last = server.requests[-1]
    assert any("Paris" in m for m in tool_messages(last))
    assert any(m.get("content") == "May 1st" for m in last["messages"] if m["role"] == "user")

    tracker = await assistant.get_tracker("c1")
    assert tracker["slots"] == {"city": "Paris", "date": "2026-05-01"}
    kinds = [e["event"] for e in tracker["events"]]
    for kind in ("agent_started", "agent_input_required", "agent_completed", "tool_executed"):
        assert kind in kinds
    weather = next(e for e in tracker["events"] if e["event"] == "tool_executed")
    assert weather["name"] == "weather" and weather["arguments"] == {"city": "Paris"}
    assert "Paris" in weather["result"] and weather["is_error"] is False
    # The router saw the start_flow tool with every flow id and description.
    tool = server.requests[0]["tools"][0]["function"]
    assert tool["name"] == "start_flow"
    assert tool["parameters"]["properties"]["flow"]["enum"] == ["book", "chat", "greet"]
    assert "Book a trip to a city on a date." in tool["description"]


async def test_open_agent_task_completed_and_interruption(
    make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    server = await scripted_model(
        {
            "helper": {
                "when": {"tool_offered": "task_completed"},
                "steps": [
                    {"text": "Which city?"},
                    {"tool_calls": [call("echo", text="Rome")]},
                    {"tool_calls": [call("task_completed", message="Rome is lovely.")]},
                ],
            },
        }
    )
    assistant = await load_assistant(project(make_project), llm_url=server.url)
    assert texts(await assistant.handle_message("c2", "/chat")) == ["Which city?"]
    # Another flow while the agent waits; afterwards the agent's question comes back.
    assert texts(await assistant.handle_message("c2", "/greet")) == [
        "Hello!",
        "Let's get back to chat.",
        "Which city?",
    ]
    chunks: list[dict[str, Any]] = []

    async def on_message(msg: dict[str, Any]) -> None:
        chunks.append(msg)

    reply = await assistant.handle_message("c2", "Rome please", on_message=on_message)
    assert texts(reply) == ["Rome is lovely.", "Bye, see you."]
    # Streaming: the agent's message arrived as chunks and was not repeated whole.
    streamed = "".join(m["text"] for m in chunks if m.get("chunk"))
    assert streamed == "Rome is lovely."
    assert [m["text"] for m in chunks if not m.get("chunk")] == ["Bye, see you."]
    events = (await assistant.get_tracker("c2"))["events"]
    kinds = [e["event"] for e in events]
    assert kinds.index("flow_interrupted") < kinds.index("flow_resumed")
    assert kinds.count("agent_started") == 1  # resumed, not restarted
    assert kinds[-1] == "flow_completed"


async def test_fatal_error_cancels_flow(
    make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    loop = [{"tool_calls": [call("echo", text="again")]}] * 3
    server = await scripted_model(
        {"helper": {"when": {"tool_offered": "task_completed"}, "steps": loop}}
    )
    assistant = await load_assistant(project(make_project), llm_url=server.url)
    reply = await assistant.handle_message("c3", "/chat")
    assert texts(reply) == ["Sorry, something went wrong. Please try again."]
    tracker = await assistant.get_tracker("c3")
    assert tracker["stack"] == []
    failed = [e for e in tracker["events"] if e["event"] == "agent_failed"]
    assert failed and "iteration limit" in failed[0]["error"]
    # The flow is cancelled, then pattern_internal_error says so (issue 17).
    ends = [(e["event"], e["flow_id"]) for e in tracker["events"] if "flow_id" in e]
    assert ends[-3:] == [
        ("flow_cancelled", "chat"),
        ("flow_started", "pattern_internal_error"),
        ("flow_completed", "pattern_internal_error"),
    ]


async def test_router_text_reply_and_fallback(
    make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    server = await scripted_model(
        [
            {"text": "I can book trips or chat."},
            {"tool_calls": [call("start_flow", flow="no_such_flow")]},
            {"tool_calls": [call("start_flow", flow="greet")]},
        ]
    )
    assistant = await load_assistant(project(make_project), llm_url=server.url)
    assert texts(await assistant.handle_message("c4", "what can you do?")) == [
        "I can book trips or chat."
    ]
    assert texts(await assistant.handle_message("c4", "sing")) == ["Sorry, I can't help with that."]
    for i in range(12):
        await assistant.handle_message("c4", f"/unknown{i}")
    assert texts(await assistant.handle_message("c4", "hi there")) == ["Hello!"]
    # The router saw at most the last 10 user/bot messages, ending with this one.
    history = [m for m in server.requests[-1]["messages"] if m["role"] != "system"]
    assert len(history) == 10
    assert history[-1] == {"role": "user", "content": "hi there"}
    assert len(server.requests) == 3  # `/...` messages never reach the LLM
