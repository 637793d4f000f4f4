"""A whole-turn budget, "still working" progress, and nothing the user said is lost."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from subagents.channels.rest import INTERNAL_ERROR_TEXT
from subagents.dialogue.assistant import Assistant
from subagents.server import ServerSettings

from .conftest import serve, write_project


def dead_endpoints(url: str) -> dict[str, Any]:
    """The example's model settings (timeout 60 s, 3 retries) against a silent server."""
    model = {"provider": "openai", "model": "gpt", "api_base": url, "api_key": "k"}
    return {
        "model_groups": [{"id": "default", "models": [{**model, "timeout": 60, "retries": 3}]}],
        "tracker_store": {"type": "memory"},
    }


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


async def test_a_model_that_never_answers_gets_a_reply_within_the_turn_budget(
    tmp_path: Path, dead_model: str
) -> None:
    # Before: 243.6 s with the example's settings; now the turn budget bounds it.
    root = write_project(tmp_path / "p", dead_endpoints(dead_model))
    assistant = await Assistant.load(root)
    assistant.turn_timeout = 1.5
    assistant.progress_interval = 0.2
    progress: list[dict[str, Any]] = []

    async def on_progress(event: dict[str, Any]) -> None:
        progress.append(event)

    try:
        started = time.monotonic()
        reply = await assistant.handle_message("u1", "hello", on_progress=on_progress)
        elapsed = time.monotonic() - started
        events = (await assistant.get_tracker("u1"))["events"]
    finally:
        await assistant.aclose()
    assert elapsed < 5
    assert [m["text"] for m in reply] == [INTERNAL_ERROR_TEXT]
    assert any(p["event"] == "still_working" for p in progress)
    # The reply comes from pattern_internal_error (issue 17), run after the timeout.
    assert kinds(events) == [
        "user",
        "turn_failed",
        "flow_started",
        "bot",
        "action",
        "flow_completed",
    ]
    assert events[1]["error"] == "timeout"
    assert events[2]["flow_id"] == "pattern_internal_error"


async def test_the_rest_stream_shows_still_working_lines(tmp_path: Path, dead_model: str) -> None:
    root = write_project(tmp_path / "p", dead_endpoints(dead_model))
    assistant = await Assistant.load(root)
    assistant.turn_timeout = 1.2
    assistant.progress_interval = 0.4
    try:
        async with (
            serve(assistant, ServerSettings()) as app,
            app.client.stream(
                "POST",
                "/webhooks/rest/webhook?stream=true",
                json={"sender": "s1", "message": "hello"},
            ) as response,
        ):
            lines = [json.loads(line) async for line in response.aiter_lines() if line]
    finally:
        await assistant.aclose()
    working = [line for line in lines if line.get("event") == "still_working"]
    assert working and all(line["recipient_id"] == "s1" for line in working)
    assert lines[-1] == {"recipient_id": "s1", "text": INTERNAL_ERROR_TEXT}


async def test_a_cancelled_turn_keeps_the_user_message(tmp_path: Path, dead_model: str) -> None:
    root = write_project(tmp_path / "p", dead_endpoints(dead_model))
    assistant = await Assistant.load(root)
    try:
        task = asyncio.create_task(assistant.handle_message("u2", "please remember this"))
        await asyncio.sleep(0.3)
        task.cancel()
        async with asyncio.timeout(5):
            await asyncio.gather(task, return_exceptions=True)
        events = (await assistant.get_tracker("u2"))["events"]
    finally:
        await assistant.aclose()
    assert kinds(events) == ["user", "turn_failed"]
    assert events[0]["text"] == "please remember this"
    assert events[1]["error"] == "cancelled"


async def test_unstorable_text_from_python_still_stores_the_turn(
    tmp_path: Path, scripted_model: Any
) -> None:
    # Before: a lone surrogate made the SQLite save fail and the whole turn was lost.
    model = await scripted_model([])
    root = write_project(tmp_path / "p", {})  # default store: SQLite in the project
    assistant = await Assistant.load(root, llm_url=model.url)
    try:
        reply = await assistant.handle_message("u3", "/trip \ud800")
        events = (await assistant.get_tracker("u3"))["events"]
    finally:
        await assistant.aclose()
    assert [m["text"] for m in reply] == ["Which city?"]
    assert kinds(events)[0] == "user"
    assert events[0]["text"].startswith("/trip ")


AGENT = {
    "agent": {"name": "helper", "description": "Helps."},
    "configuration": {},
}


async def test_a_broken_model_stream_records_the_partial_text_then_the_error(
    tmp_path: Path, scripted_model: Any
) -> None:
    # Before: the tracker held only the error, not what the user had already read.
    model = await scripted_model(
        [
            {"tool_calls": [{"name": "start_flow", "arguments": {"flow": "chat"}}]},
            {"text": "Here is a long answer that breaks off halfway through.", "disconnect": True},
        ]
    )
    endpoints = {
        "model_groups": [
            {"id": "default", "models": [{"provider": "openai", "model": "m", "retries": 0}]}
        ],
        "tracker_store": {"type": "memory"},
    }
    flows = {"chat": {"description": "Chat.", "steps": [{"call": "helper"}]}}
    root = write_project(tmp_path / "p", endpoints, flows=flows)
    agent_dir = root / "sub_agents" / "helper"
    agent_dir.mkdir(parents=True)
    (agent_dir / "config.yml").write_text(json.dumps(AGENT))
    assistant = await Assistant.load(root, llm_url=model.url)
    seen: list[str] = []

    async def on_message(message: dict[str, Any]) -> None:
        seen.append(str(message.get("text")))

    try:
        await assistant.handle_message("u4", "tell me", on_message=on_message)
        events = (await assistant.get_tracker("u4"))["events"]
    finally:
        await assistant.aclose()
    bots = [e for e in events if e["event"] == "bot"]
    partial = "".join(seen[:-1])
    assert partial and partial != "Here is a long answer that breaks off halfway through."
    assert bots[0]["text"] == partial
    assert bots[0]["metadata"] == {"partial": True}
    assert bots[-1]["text"] == INTERNAL_ERROR_TEXT
