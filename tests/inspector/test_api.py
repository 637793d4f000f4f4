"""The inspector's JSON API over real HTTP: the conversation list, the live event stream
(Server-Sent Events), the tracker's agent details, the page, auth and the CLI guards.

The example assistant (repo root) runs on the in-process scripted model of
scenarios/demo.yml, with its real stdio MCP servers, actions and SQLite store."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from subagents.channels.auth import AuthSettings
from subagents.cli import app as cli_app
from subagents.server import ServerSettings, create_app, inspector_hooks, open_assistant
from subagents.testing import serve_asgi

BOUND = 30.0
SCENARIOS = Path(__file__).parent / "scenarios"


@contextlib.asynccontextmanager
async def served(
    project: Path, settings: ServerSettings | None = None, scenario: Path | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    scenario = scenario or project / "scenarios" / "demo.yml"
    settings = settings or ServerSettings(inspector=True)
    hooks, prompts = inspector_hooks(None) if settings.inspector else (None, None)
    async with open_assistant(project, scenario=scenario, hooks=hooks) as (assistant, _):
        app = create_app(assistant, settings=settings, prompts=prompts)
        async with serve_asgi(app) as url, httpx.AsyncClient(base_url=url, timeout=BOUND) as client:
            yield client


async def say(client: httpx.AsyncClient, sender: str, text: str) -> list[dict[str, Any]]:
    response = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
    assert response.status_code == 200, response.text
    return list(response.json())


class Live:
    """An open event stream: its events, read in the background."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.changed = asyncio.Event()

    async def wait_for(self, predicate: Any) -> list[dict[str, Any]]:
        async with asyncio.timeout(BOUND):
            while not predicate(self.events):
                self.changed.clear()
                await self.changed.wait()
        return self.events


@contextlib.asynccontextmanager
async def live(client: httpx.AsyncClient, path: str) -> AsyncIterator[Live]:
    stream = Live()

    async def read() -> None:
        async with client.stream("GET", path) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    stream.events.append(json.loads(line[6:]))
                    stream.changed.set()

    task = asyncio.create_task(read())
    try:
        await stream.wait_for(lambda events: events and events[0]["event"] == "live")
        yield stream
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def finished_turns(events: list[dict[str, Any]]) -> int:
    return sum(1 for e in events if e["event"] == "turn_finished")


async def test_live_stream_shows_a_turn_as_it_runs(example: Path) -> None:
    async with served(example) as client, live(client, "/conversations/alex/live") as stream:
        await say(client, "other", "hi")  # another conversation: not on alex's stream
        await say(client, "alex", "hi")
        await say(client, "alex", "I'd like to book a haircut")
        events = await stream.wait_for(lambda e: finished_turns(e) == 2)

    assert {e["conversation_id"] for e in events[1:]} == {"alex"}
    kinds = [e["event"] for e in events]
    assert kinds[:3] == ["live", "turn_started", "turn_finished"]  # the greeting: no agent
    booking = events[3:]
    assert [e["event"] for e in booking] == [
        "turn_started",
        "tool_started",  # the agent
        "model_called",  # iteration 1: asks for set_slot_appointment_service
        "tool_started",
        "tool_finished",
        "model_called",  # iteration 2: the question to the user
        "tool_finished",  # the agent
        "turn_finished",
    ]
    agent, first_call, slot_started, slot_finished = booking[1:5]
    assert (agent["name"], agent["kind"]) == ("appointment_booker", "agent")
    assert first_call["agent"] == "appointment_booker"
    assert (first_call["iteration"], first_call["tool_calls"]) == (1, 1)
    assert first_call["model"] == "gpt-4o" and first_call["finish_reason"] == "tool_calls"
    assert first_call["duration_ms"] >= 0
    assert slot_started["name"] == "set_slot_appointment_service"
    assert (slot_started["server"], slot_started["iteration"]) == ("builtin", 1)
    assert slot_finished["is_error"] is False and slot_finished["duration_ms"] >= 0
    assert booking[-1]["events"] > 0  # how many events the turn saved
    for event in events:  # never arguments or results on the stream
        assert "haircut" not in json.dumps({k: v for k, v in event.items() if k != "event"})


async def test_all_conversations_stream_and_list(example: Path) -> None:
    async with served(example) as client, live(client, "/inspector/live") as stream:
        await say(client, "first", "hi")
        await say(client, "second", "hi")
        await stream.wait_for(lambda e: finished_turns(e) == 2)
        listed = (await client.get("/conversations")).json()["conversations"]
        one = (await client.get("/conversations", params={"limit": 1})).json()["conversations"]
        bad = await client.get("/conversations", params={"limit": "lots"})

    assert [e["conversation_id"] for e in stream.events if e["event"] == "turn_finished"] == [
        "first",
        "second",
    ]
    assert [c["sender_id"] for c in listed] == ["second", "first"]  # newest first
    assert listed[0]["latest_message"] == "hi" and listed[0]["active_flow"] is None
    assert listed[0]["latest_event_time"] >= listed[1]["latest_event_time"]
    assert [c["sender_id"] for c in one] == ["second"]
    assert bad.status_code == 400 and bad.json()["field"] == "limit"


async def test_tracker_keeps_model_calls_and_tool_details(example: Path) -> None:
    async with served(example, scenario=SCENARIOS / "booking.yml") as client:
        for text in ("I'd like to book a haircut", "2030-05-14 please"):
            await say(client, "alex", text)
        events = (await client.get("/conversations/alex/tracker")).json()["events"]

    waits = [e for e in events if e["event"] == "agent_input_required"]
    assert len(waits) == 2
    calls = waits[1]["model_calls"]  # the second turn's run: check_availability, then text
    assert [(c["iteration"], c["tool_calls"], c["finish_reason"]) for c in calls] == [
        (1, 1, "tool_calls"),
        (2, 0, "stop"),
    ]
    tools = [e for e in events if e["event"] == "tool_executed"]
    check = tools[-1]
    assert (check["name"], check["server"], check["iteration"]) == (
        "check_availability",
        "appointments",
        1,
    )
    assert check["duration_ms"] > 0 and check["is_error"] is False
    assert tools[0]["server"] == "builtin"  # set_slot_appointment_service


async def test_the_prompt_of_each_model_call_on_demand(example: Path) -> None:
    async with served(example, scenario=SCENARIOS / "booking.yml") as client:
        await say(client, "alex", "I'd like to book a haircut")
        await say(client, "bob", "I'd like to book a haircut")
        events = (await client.get("/conversations/alex/tracker")).json()["events"]
        first, second = next(e for e in events if e["event"] == "agent_input_required")[
            "model_calls"
        ]
        prompt = (await client.get(f"/conversations/alex/prompts/{first['id']}")).json()
        later = (await client.get(f"/conversations/alex/prompts/{second['id']}")).json()
        elsewhere = await client.get(f"/conversations/bob/prompts/{first['id']}")
        unknown = await client.get("/conversations/alex/prompts/0123456789abcdef")

    system, user = prompt["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith("You are the booking assistant of a hair salon.")
    assert user == {"role": "user", "content": "I'd like to book a haircut"}
    assert {"set_slot_appointment_service", "check_availability"} <= set(prompt["tools"])
    # The second call was sent the first one's tool call and its result.
    assert [m["role"] for m in later["messages"]] == ["system", "user", "assistant", "tool"]
    assert elsewhere.status_code == 404  # a call id of alex's is not bob's
    assert unknown.status_code == 404 and "prompt not kept" in unknown.json()["error"]


def _children_running(script: str) -> list[int]:
    """PIDs of this process's children whose command line names ``script``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and script in cmdline:
            found.append(int(proc.name))
    return found


async def test_a_call_on_a_new_connection_is_marked_reconnected(example: Path) -> None:
    async with served(example, scenario=SCENARIOS / "reconnect.yml") as client:
        await say(client, "alex", "What's the weather in Paris?")
        [pid] = _children_running("weather_server.py")
        os.kill(pid, signal.SIGKILL)
        await _dead(pid)
        replies = await say(client, "alex", "And now?")
        events = (await client.get("/conversations/alex/tracker")).json()["events"]

    assert replies[-1]["text"] == "Still 17°C and sunny."
    first, second = [e for e in events if e.get("name") == "get_weather"]
    assert "reconnected" not in first and "retried" not in first
    assert second["reconnected"] is True and second["is_error"] is False


async def _dead(pid: int) -> None:
    """Until ``pid`` is gone or a zombie (bounded)."""
    async with asyncio.timeout(BOUND):
        while _state(pid) not in ("gone", "Z"):  # noqa: ASYNC110 - no event for it
            await asyncio.sleep(0.05)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _csp_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


async def test_the_page_is_one_self_contained_document(example: Path) -> None:
    async with served(example) as client:
        page = await client.get("/inspector")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<title>subagents inspector</title>" in html
    # Nothing is fetched from anywhere: no src/href to another origin, no external files.
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", html)
    assert "<script src" not in html and "<link" not in html
    # The CSP allows exactly the inlined script and style, nothing else.
    csp = page.headers["content-security-policy"]
    script = re.search(r"<script>(.*)</script>", html, re.S)
    style = re.search(r"<style>(.*)</style>", html, re.S)
    assert script and style
    assert f"script-src {_csp_source(script.group(1))};" in csp
    assert f"style-src {_csp_source(style.group(1))};" in csp
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp


async def test_without_inspect_there_is_no_page_and_no_stream(example: Path) -> None:
    async with served(example, ServerSettings()) as client:
        page = await client.get("/inspector")
        stream = await client.get("/conversations/alex/live")
        listed = await client.get("/conversations")

    assert page.status_code == 404 and stream.status_code == 404
    assert listed.status_code == 200  # the list is part of the REST API


async def test_a_token_guards_the_page_the_list_and_the_streams(example: Path) -> None:
    settings = ServerSettings(auth=AuthSettings(token="inspector-token-1"), inspector=True)
    async with served(example, settings) as client:
        for path in ("/inspector", "/conversations", "/inspector/live", "/conversations/a/live"):
            assert (await client.get(path)).status_code == 401, path
        page = await client.get("/inspector", params={"token": "inspector-token-1"})
        assert page.status_code == 200
        headers = {"Authorization": "Bearer inspector-token-1"}
        assert (await client.get("/conversations", headers=headers)).status_code == 200
        async with client.stream(
            "GET", "/conversations/a/live", params={"token": "inspector-token-1"}
        ) as response:
            assert response.status_code == 200
            first = await anext(response.aiter_lines())
            assert first == "retry: 2000"


def test_inspect_refuses_other_interfaces_without_a_token(example: Path) -> None:
    runner = CliRunner()
    exposed = runner.invoke(cli_app, ["inspect", "-p", str(example), "--host", "0.0.0.0"])
    assert exposed.exit_code == 1
    assert "--auth-token" in exposed.output and "127.0.0.1" in exposed.output
    workers = runner.invoke(cli_app, ["run", "-p", str(example), "--inspect", "--workers", "2"])
    assert workers.exit_code == 1 and "--workers" in workers.output


def test_inspect_prints_the_url_and_stops_with_a_stream_open(
    example: Path, inspect_process: Any
) -> None:
    proc = inspect_process(example, example / "scenarios" / "demo.yml")
    url = proc.wait_ready()
    assert url == f"{proc.base}/inspector"
    with httpx.Client(timeout=BOUND) as client:
        assert "subagents inspector" in client.get(url).text
        with client.stream("GET", proc.base + "/inspector/live") as response:
            lines = response.iter_lines()
            assert next(lines) == "retry: 2000"
            # SIGTERM with the stream open: the stream ends and the server exits cleanly.
            assert proc.stop(signal.SIGTERM) == 0
            rest = list(lines)
    assert all(not line.startswith("data: ") or "live" in line for line in rest)


@pytest.mark.parametrize("limit", ["0", "1001", "-1"])
async def test_conversation_list_limit_out_of_range(example: Path, limit: str) -> None:
    async with served(example) as client:
        response = await client.get("/conversations", params={"limit": limit})
    assert response.status_code == 400
    assert "1 to 1000" in response.json()["error"]


async def test_the_openapi_document_names_the_inspector_routes(example: Path) -> None:
    settings = ServerSettings(auth=AuthSettings(token="inspector-token-1"), inspector=True)
    async with served(example, settings) as client:
        doc = (await client.get("/openapi.json")).json()
    inspector_paths = {
        "/conversations",
        "/conversations/{conversation_id}/live",
        "/conversations/{conversation_id}/prompts/{call_id}",
        "/inspector",
        "/inspector/live",
    }
    assert inspector_paths <= set(doc["paths"])
    for path in inspector_paths:
        assert doc["paths"][path]["get"]["security"] == [{"bearer": []}, {"token": []}], path
