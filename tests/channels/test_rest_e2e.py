"""End to end through the REST channel: real uvicorn on 127.0.0.1, httpx, the scripted
model, the real stdio MCP server and in-process actions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from serve_support import events_named, serve_project

ROUTER_BOOK = {"tool_calls": [{"name": "start_flow", "arguments": {"flow": "book_appointment"}}]}
CONTINUE = {"text": ""}
"""The router's reply while an agent waits: no tool call, the message goes to the agent."""
ROUTER_INFO = {"tool_calls": [{"name": "start_flow", "arguments": {"flow": "clinic_info"}}]}


def set_slot(name: str, value: Any) -> dict[str, Any]:
    return {"name": f"set_slot_{name}", "arguments": {"slot_value": value}}


def tool_messages(request: dict[str, Any]) -> list[str]:
    return [str(m.get("content")) for m in request["messages"] if m.get("role") == "tool"]


async def test_task_agent_collects_two_slots_over_two_turns_then_runs_action(
    clinic: Path,
) -> None:
    scenario = [
        ROUTER_BOOK,
        {"text": "Sure. What is your name?"},
        CONTINUE,
        {
            "tool_calls": [
                set_slot("patient_name", "Ann"),
                {"name": "available_dates", "arguments": {"doctor": "Who"}},
            ]
        },
        {"text": "Thanks Ann. Free dates: 2026-03-02 or 2026-03-04. Which one?"},
        CONTINUE,
        {"tool_calls": [set_slot("appointment_date", "2026-03-04")]},
    ]
    async with serve_project(clinic, scenario) as app:
        assert await app.texts("ann", "I need an appointment") == ["Sure. What is your name?"]
        assert await app.texts("ann", "Ann") == [
            "Thanks Ann. Free dates: 2026-03-02 or 2026-03-04. Which one?"
        ]
        # The task agent completes silently; the flow continues with the streaming action,
        # whose chunks reach a non-streaming REST reply as one message.
        assert await app.texts("ann", "the 4th please") == ["Booked Ann on 2026-03-04."]

        # The model saw the real MCP tool result.
        assert any("2026-03-04" in t for t in tool_messages(app.model.requests[4]))
        tracker = await app.tracker("ann")
        assert tracker["sender_id"] == "ann"
        assert tracker["slots"]["patient_name"] == "Ann"
        assert tracker["slots"]["appointment_date"] == "2026-03-04"
        assert tracker["slots"]["bookings"] == 1.0
        assert [e["name"] for e in events_named(tracker, "tool_executed")].count(
            "available_dates"
        ) == 1
        assert events_named(tracker, "agent_completed")
        assert app.model.remaining() == 0


async def test_open_agent_ends_with_task_completed(clinic: Path) -> None:
    scenario = [
        ROUTER_INFO,
        {"tool_calls": [{"name": "opening_hours", "arguments": {}}]},
        {
            "tool_calls": [
                {
                    "name": "task_completed",
                    "arguments": {"message": "We are open Mon-Fri 08:00-18:00."},
                }
            ]
        },
    ]
    async with serve_project(clinic, scenario) as app:
        assert await app.texts("bob", "when are you open?") == ["We are open Mon-Fri 08:00-18:00."]
        assert "task_completed" in app.model.tools_offered(1)
        assert any("08:00-18:00" in t for t in tool_messages(app.model.requests[2]))
        tracker = await app.tracker("bob")
        assert events_named(tracker, "agent_completed")
        assert [e.get("flow_id") for e in events_named(tracker, "flow_completed")] == [
            "clinic_info"
        ]


async def test_interruption_by_another_flow_then_resume(clinic: Path) -> None:
    scenario = {
        # The second reply sends "Cy, on the 2nd" on to the waiting booker.
        "router": {"when": {"tool_offered": "start_flow"}, "steps": [ROUTER_BOOK, CONTINUE]},
        "concierge": {
            "when": {"tool_offered": "task_completed"},
            "steps": [
                {
                    "tool_calls": [
                        {"name": "task_completed", "arguments": {"message": "Open Mon-Fri."}}
                    ]
                }
            ],
        },
        "booker": {
            "when": {"tool_offered": "set_slot_patient_name"},
            "steps": [
                {"text": "What is your name?"},
                {
                    "tool_calls": [
                        set_slot("patient_name", "Cy"),
                        set_slot("appointment_date", "2026-03-02"),
                    ]
                },
            ],
        },
    }
    async with serve_project(clinic, scenario) as app:
        assert await app.texts("cy", "book me in") == ["What is your name?"]
        # `/clinic_info` starts another flow while the booker waits for input.
        interrupted = await app.texts("cy", "/clinic_info")
        # The other flow answers, then the waiting booker's question is asked again.
        assert interrupted[0] == "Open Mon-Fri."
        assert interrupted[-1] == "What is your name?"
        # The next message goes back to the waiting booker, which finishes its task.
        replies = await app.texts("cy", "Cy, on the 2nd")
        assert replies[-1] == "Booked Cy on 2026-03-02."
        tracker = await app.tracker("cy")
        completed = [e.get("flow_id") for e in events_named(tracker, "flow_completed")]
        assert completed == ["clinic_info", "pattern_continue_interrupted", "book_appointment"]
        assert app.model.remaining() == 0


async def test_fatal_error_is_http_200_with_internal_error(clinic: Path) -> None:
    scenario = [
        ROUTER_BOOK,
        {"error": {"status": 500}},
        ROUTER_INFO,
        {"tool_calls": [{"name": "task_completed", "arguments": {"message": "ok"}}]},
    ]
    async with serve_project(clinic, scenario) as app:
        assert await app.texts("dee", "book please") == [
            "Sorry, something went wrong. Please try again."
        ]
        tracker = await app.tracker("dee")
        assert [e.get("flow_id") for e in events_named(tracker, "flow_cancelled")] == [
            "book_appointment"
        ]
        # The conversation is not stuck: the next message starts a new flow.
        assert await app.texts("dee", "opening hours?") == ["ok"]


async def test_fifty_conversations_at_once_keep_their_own_slots(clinic: Path) -> None:
    n = 50
    scenario: dict[str, Any] = {
        "router": {"when": {"tool_offered": "start_flow"}, "steps": [ROUTER_BOOK], "loop": True}
    }
    for i in range(n):
        scenario[f"user{i}"] = {
            "when": {"tool_offered": "set_slot_patient_name", "user_contains": f"[user-{i}]"},
            "steps": [
                {
                    "tool_calls": [
                        set_slot("patient_name", f"user-{i}"),
                        set_slot("appointment_date", f"day-{i}"),
                    ]
                }
            ],
        }
    async with serve_project(clinic, scenario) as app:
        replies = await asyncio.gather(
            *(app.texts(f"c{i}", f"book for [user-{i}]") for i in range(n))
        )
        for i, texts in enumerate(replies):
            assert texts == [f"Booked user-{i} on day-{i}."]
        trackers = await asyncio.gather(*(app.tracker(f"c{i}") for i in range(n)))
        for i, tracker in enumerate(trackers):
            assert tracker["slots"]["patient_name"] == f"user-{i}"
            assert tracker["slots"]["appointment_date"] == f"day-{i}"
            assert tracker["slots"]["bookings"] == 1.0


async def test_stream_writes_lines_as_produced(
    clinic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = tmp_path / "gate"
    monkeypatch.setenv("CLINIC_GATE_FILE", str(gate))
    async with serve_project(clinic, []) as app:
        lines: list[dict[str, Any]] = []
        async with app.client.stream(
            "POST",
            "/webhooks/rest/webhook?stream=true",
            json={"sender": "eve", "message": "/gated"},
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("application/x-ndjson")
            async for line in response.aiter_lines():
                if not line:
                    continue
                lines.append(json.loads(line))
                # The action is blocked until the gate exists: receiving its first chunk
                # here proves the line was written before the turn ended.
                if len(lines) == 1:
                    gate.touch()
        assert lines[0] == {"recipient_id": "eve", "text": "first", "chunk": True}
        assert lines[1] == {"recipient_id": "eve", "text": " then", "chunk": True}
        assert lines[-1] == {"recipient_id": "eve", "text": "done"}
        # The non-streamed reply of the same turn is one joined message.
        tracker = await app.tracker("eve")
        bots = [e.get("text") for e in events_named(tracker, "bot")]
        assert bots == ["first then", "done"]


async def test_stream_of_agent_text_arrives_in_chunks(clinic: Path) -> None:
    scenario = [
        ROUTER_INFO,
        {
            "text": "Which clinic do you mean, Berlin or Paris?",
            "chunks": ["Which clinic ", "do you mean, ", "Berlin or Paris?"],
        },
    ]
    async with serve_project(clinic, scenario) as app:
        async with app.client.stream(
            "POST",
            "/webhooks/rest/webhook?stream=true",
            json={"sender": "fay", "message": "info please"},
        ) as response:
            lines = [json.loads(x) async for x in response.aiter_lines() if x]
        chunks = [x["text"] for x in lines if x.get("chunk")]
        assert "".join(chunks) == "Which clinic do you mean, Berlin or Paris?"
        assert len(chunks) >= 2
        assert all(x["recipient_id"] == "fay" for x in lines)


async def test_stream_client_gone_mid_turn_still_completes_and_saves(
    clinic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = tmp_path / "gate"
    monkeypatch.setenv("CLINIC_GATE_FILE", str(gate))
    async with serve_project(clinic, []) as app:
        async with app.client.stream(
            "POST",
            "/webhooks/rest/webhook?stream=true",
            json={"sender": "gus", "message": "/gated"},
        ) as response:
            async for line in response.aiter_lines():
                if line:
                    break  # the first chunk arrived: hang up while the action waits
        gate.touch()
        bots: list[Any] = []
        deadline = asyncio.get_running_loop().time() + 15
        while bots != ["first then", "done"] and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            bots = [e.get("text") for e in events_named(await app.tracker("gus"), "bot")]
        assert bots == ["first then", "done"]
        # the conversation goes on normally afterwards
        reply = await app.client.post(
            "/webhooks/rest/webhook", json={"sender": "gus", "message": "/greet"}
        )
        assert reply.status_code == 200
        assert [m.get("text") for m in reply.json()] == ["Hello from the clinic!"]
