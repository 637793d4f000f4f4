"""The ASGI app over real HTTP: health, request validation, tracker endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from subagents.server import create_app

DOMAIN = """
slots:
  mood:
    type: text
responses:
  utter_greet:
    - text: "Hello {mood}!"
"""
FLOWS = """
flows:
  greet:
    description: Say hello.
    steps:
      - set_slots:
          - mood: sunny
      - action: utter_greet
"""


@contextlib.asynccontextmanager
async def served(root: Path) -> AsyncIterator[httpx.AsyncClient]:
    from subagents.dialogue.assistant import Assistant

    assistant = await Assistant.load(root)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(assistant, close_assistant=True), port=port, log_level="warning")
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:  # noqa: ASYNC110 - uvicorn exposes no event
                await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            yield client
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "domain.yml").write_text(DOMAIN)
    (tmp_path / "flows.yml").write_text(FLOWS)
    return tmp_path


async def test_health_and_a_reply_without_llm(project: Path) -> None:
    async with served(project) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        response = await client.post(
            "/webhooks/rest/webhook", json={"sender": "u1", "message": "/greet"}
        )
        assert response.status_code == 200
        assert response.json() == [{"recipient_id": "u1", "text": "Hello sunny!"}]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (b"", None, "empty request body"),
        (b"{not json", None, "not valid JSON"),
        (b"[1, 2]", None, "JSON object"),
        (b'{"message": "hi"}', "sender", "missing field 'sender'"),
        (b'{"sender": "u"}', "message", "missing field 'message'"),
        (b'{"sender": ["u"], "message": "hi"}', "sender", "must be a string"),
        (b'{"sender": "u", "message": 42}', "message", "must be a string"),
        (b'{"sender": "u", "message": "hi", "metadata": "x"}', "metadata", "JSON object"),
    ],
)
async def test_bad_requests_get_400_naming_the_problem(
    project: Path, body: bytes, field: str | None, words: str
) -> None:
    async with served(project) as client:
        response = await client.post("/webhooks/rest/webhook", content=body)
        assert response.status_code == 400
        error: dict[str, Any] = response.json()
        assert words in error["error"]
        assert error.get("field") == field


async def test_tracker_endpoint_returns_rasa_style_events(project: Path) -> None:
    async with served(project) as client:
        await client.post("/webhooks/rest/webhook", json={"sender": "t1", "message": "/greet"})
        tracker = (await client.get("/conversations/t1/tracker")).json()
        assert tracker["sender_id"] == "t1"
        assert tracker["slots"]["mood"] == "sunny"
        assert tracker["latest_message"]["text"] == "/greet"
        assert tracker["latest_input_channel"] == "rest"
        names = [e["event"] for e in tracker["events"]]
        assert names.index("user") < names.index("slot") < names.index("bot")
        assert all("timestamp" in e for e in tracker["events"])
        empty = (await client.get("/conversations/nobody/tracker")).json()
        assert empty["sender_id"] == "nobody" and empty["events"] == []


async def test_streaming_reply_is_ndjson(project: Path) -> None:
    async with served(project) as client:
        response = await client.post(
            "/webhooks/rest/webhook?stream=true", json={"sender": "s1", "message": "/greet"}
        )
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = response.text.splitlines()
        assert [httpx.Response(200, content=x).json() for x in lines] == [
            {"recipient_id": "s1", "text": "Hello sunny!"}
        ]
