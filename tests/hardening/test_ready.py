"""Readiness, the OpenAPI document and log lines that cannot be forged."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from subagents.cli import EventFormatter
from subagents.dialogue.assistant import Assistant
from subagents.server import ServerSettings

from .conftest import serve, write_project

TOOLBOX = Path(__file__).resolve().parents[1] / "servers" / "toolbox_server.py"


async def test_ready_reports_store_and_mcp_and_503_when_the_store_is_down(
    tmp_path: Path, scripted_model: Any
) -> None:
    model = await scripted_model([])
    stdio = {
        "name": "toolbox",
        "type": "stdio",
        "command": sys.executable,
        "args": [str(TOOLBOX), "stdio"],
    }
    agent = {
        "agent": {"name": "helper", "description": "Helps."},
        "connections": {"mcp_servers": [{"name": "toolbox"}]},
    }
    root = write_project(tmp_path / "p", {"mcp_servers": [stdio]})  # SQLite store
    (root / "sub_agents" / "helper").mkdir(parents=True)
    (root / "sub_agents" / "helper" / "config.yml").write_text(__import__("json").dumps(agent))
    assistant = await Assistant.load(root, llm_url=model.url)
    try:
        async with serve(assistant, ServerSettings()) as app:
            ready = await app.client.get("/ready")
            assert ready.status_code == 200
            body = ready.json()
            assert body["status"] == "ready"
            assert body["checks"]["tracker_store"] == {"status": "ok"}
            assert body["mcp_servers"] == {"toolbox": "connected"}
            assert (await app.client.get("/health")).json() == {"status": "ok"}
            await assistant.store.aclose()  # the database goes away
            down = await app.client.get("/ready")
            assert down.status_code == 503
            assert down.json()["checks"]["tracker_store"]["status"] == "down"
            assert (await app.client.get("/health")).status_code == 200  # still alive
    finally:
        await assistant.aclose()


async def test_openapi_document_describes_the_routes(served: Any) -> None:
    app = await served()
    doc = (await app.client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/health",
        "/ready",
        "/metrics",
        "/webhooks/rest/webhook",
        "/conversations",
        "/conversations/{conversation_id}/tracker",
    }
    body = doc["paths"]["/webhooks/rest/webhook"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["properties"]["message"]["maxLength"] == 16384


def test_control_characters_in_logged_values_are_escaped() -> None:
    formatter = EventFormatter("%(levelname)s %(name)s %(message)s")
    record = logging.LogRecord(
        "subagents.x", logging.INFO, __file__, 1, "rest.bad %s", ("a\nINFO forged line",), None
    )
    record.sender_id = "\x1b[31mred\x1b[0m\r\nINFO forged"
    line = formatter.format(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "\\u001b[31mred" in line and "\\x0a" in line


async def test_ready_checks_a_configured_redis_lock_store(
    tmp_path: Path, scripted_model: Any
) -> None:
    model = await scripted_model([])
    endpoints = {
        "tracker_store": {"type": "memory"},
        "lock_store": {
            "type": "redis",
            "url": "127.0.0.1",
            "port": 6379,
            "key_prefix": "ready-test",
        },
    }
    assistant = await Assistant.load(write_project(tmp_path / "p", endpoints), llm_url=model.url)
    try:
        async with serve(assistant, ServerSettings()) as app:
            body = (await app.client.get("/ready")).json()
    finally:
        await assistant.aclose()
    assert body["checks"] == {"tracker_store": {"status": "ok"}, "lock_store": {"status": "ok"}}
