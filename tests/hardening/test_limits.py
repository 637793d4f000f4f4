"""Request limits: each test reproduces an attack that used to break or bloat a turn."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from subagents.channels.limits import RequestLimits
from subagents.server import ServerSettings

from .conftest import wait_until

WEBHOOK = "/webhooks/rest/webhook"


def start_trip(sender: str) -> dict[str, Any]:
    return {"sender": sender, "message": "/trip"}


async def test_ten_megabyte_message_is_413_and_nothing_is_stored(served: Any) -> None:
    # Before: stored three times (~31 MB) and resent to the model on every later turn.
    app = await served()
    body = json.dumps({"sender": "big", "message": "x" * 10_000_000})
    reply = await app.client.post(WEBHOOK, content=body)
    assert reply.status_code == 413
    assert "larger than 1048576 bytes" in reply.json()["error"]
    assert await app.events("big") == []


async def test_chunked_body_is_cut_at_the_limit_without_buffering_it(served: Any) -> None:
    app = await served(ServerSettings(limits=RequestLimits(max_body_bytes=64_000)))
    sent = 0

    async def chunks() -> Any:
        nonlocal sent
        yield b'{"sender": "chunky", "message": "'
        for _ in range(200):  # 200 x 10 KB = 2 MB offered, no Content-Length
            sent += 1
            yield b"y" * 10_000
        yield b'"}'

    reply = await app.client.post(WEBHOOK, content=chunks())
    assert reply.status_code == 413
    assert await app.events("chunky") == []


async def test_message_over_the_limit_is_413_naming_the_field(served: Any) -> None:
    app = await served()
    reply = await app.client.post(WEBHOOK, json={"sender": "s", "message": "m" * 20_000})
    assert reply.status_code == 413
    assert reply.json()["field"] == "message"
    assert "16384 characters" in reply.json()["error"]
    assert await app.events("s") == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"sender": "deep", "message": "hi", "metadata": ' + b'{"a": ' * 100_000,  # RecursionError
        b'{"sender": "deep", "message": "hi", "metadata": '
        + b'{"a": ' * 40
        + b"1"
        + b"}" * 40
        + b"}",
        b'{"sender": "deep", "message": "hi", "metadata": {"l": '
        + b"[" * 5000
        + b"]" * 5000
        + b"}}",
    ],
    ids=["unterminated-100k", "depth-40", "lists-5000"],
)
async def test_deeply_nested_json_is_400(served: Any, body: bytes) -> None:
    # Before: RecursionError, HTTP 500.
    app = await served()
    reply = await app.client.post(WEBHOOK, content=body)
    assert reply.status_code == 400, reply.text
    assert "nested deeper than 32 levels" in reply.json()["error"]
    assert await app.events("deep") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"sender": "sur", "message": "hi \\ud800 there"}', "message"),
        (b'{"sender": "sur\\udfff", "message": "hi"}', "sender"),
        (b'{"sender": "sur", "message": "hi", "metadata": {"k\\ud800": 1}}', "metadata"),
    ],
)
async def test_lone_surrogates_are_400(served: Any, body: bytes, field: str) -> None:
    # Before: "Sorry, something went wrong" and the turn was lost (the store cannot encode it).
    app = await served()
    reply = await app.client.post(WEBHOOK, content=body)
    assert reply.status_code == 400
    assert reply.json()["field"] == field
    assert "lone surrogate" in reply.json()["error"]
    assert await app.events("sur") == []


async def test_valid_astral_text_is_accepted(served: Any) -> None:
    app = await served()
    reply = await app.client.post(
        WEBHOOK, content=b'{"sender": "emo", "message": "/trip \\ud83d\\ude00"}'
    )
    assert reply.status_code == 200
    assert [e["text"] for e in await app.events("emo") if e["event"] == "user"] == ["/trip 😀"]


async def test_turns_in_flight_are_capped_with_503_and_retry_after(served: Any) -> None:
    router = {"tool_calls": [{"name": "start_flow", "arguments": {"flow": "greet"}}]}
    app = await served(
        ServerSettings(limits=RequestLimits(max_inflight_turns=2, retry_after=3)),
        scenario=[{**router, "delay": 1.0}] * 2,
    )
    slow = [
        asyncio.create_task(app.client.post(WEBHOOK, json={"sender": f"s{i}", "message": "hi"}))
        for i in range(2)
    ]
    await wait_until(lambda: app.inflight >= 2)
    refused = await app.client.post(WEBHOOK, json={"sender": "s9", "message": "hi"})
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "3"
    assert [r.status_code for r in await asyncio.gather(*slow)] == [200, 200]
    assert await app.events("s9") == []


async def test_slow_body_is_408(served: Any) -> None:
    app = await served(ServerSettings(limits=RequestLimits(body_timeout=0.5)))
    host, port = app.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"sender": '
    )
    await writer.drain()
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    writer.close()


async def test_disconnect_mid_body_is_one_info_line(served: Any, records: Any) -> None:
    # Before: a 60-line traceback per client that went away.
    app = await served()
    host, port = app.url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b'POST /webhooks/rest/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"se'
    )
    await writer.drain()
    writer.close()
    await wait_until(lambda: any(r.msg == "rest.client_disconnected" for r in records.records))
    assert [r.levelname for r in records.records if r.msg == "rest.client_disconnected"] == ["INFO"]
    assert not [r for r in records.records if r.exc_info]
