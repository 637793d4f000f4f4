"""OpenAI-compatible servers that bend the format (local runtimes, proxies).

A real HTTP server on 127.0.0.1 answers with canned bytes; the real client reads them.
Streams without tool-call ids or indexes, empty deltas, a finish reason with no [DONE],
and malformed bodies must give a usable response or an error that says what was wrong.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from subagents.config.models import ModelConfig
from subagents.errors import LLMUnavailableError
from subagents.llm import RetryPolicy, create_llm_client

USER = [{"role": "user", "content": "hi"}]


class Provider:
    """Answers every POST with ``status`` and ``body`` (SSE when it is a list of events)."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes | list[Any] = b"{}"
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        if isinstance(self.body, list):
            kind = b"text/event-stream"
            payload = b"".join(
                b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n"
                for e in self.body
            )
        else:
            kind, payload = b"application/json", self.body
        writer.write(
            b"HTTP/1.1 %d X\r\ncontent-type: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (self.status, kind, len(payload))
            + payload
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    canned = Provider()
    server = await asyncio.start_server(canned.handle, "127.0.0.1", 0)
    canned.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    try:
        yield canned
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)


def client(provider: Provider) -> Any:
    config = ModelConfig(model="local", api_base=provider.url, api_key="k", retries=0, timeout=5)
    return create_llm_client(config, policy=RetryPolicy(base_backoff=0.01, max_backoff=0.02))


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> Any:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"object": "chat.completion.chunk", "choices": choices, **extra}


async def collect(provider: Provider) -> tuple[Any, list[str]]:
    deltas: list[str] = []

    async def on_text(text: str) -> None:
        deltas.append(text)

    llm = client(provider)
    try:
        return await llm.complete(USER, on_text=on_text), deltas
    finally:
        await llm.aclose()


async def test_stream_without_ids_or_indexes(provider: Provider) -> None:
    """As some local runtimes stream: no call ids, no indexes, empty and bare chunks."""
    provider.body = [
        chunk({"role": "assistant"}),
        chunk({}),  # an empty delta
        chunk({"content": "Checking "}),
        chunk({"content": ""}),
        chunk({"content": "two cities."}),
        chunk({"tool_calls": [{"function": {"name": "weather", "arguments": '{"city":'}}]}),
        chunk(
            {"tool_calls": [{"index": 0, "function": {"name": "weather", "arguments": '"Oslo"}'}}]}
        ),
        chunk({"tool_calls": [{"index": 1, "function": {"name": "weather", "arguments": ""}}]}),
        chunk(
            {
                "tool_calls": [
                    {"index": 1, "id": "late-id", "function": {"arguments": '{"city":"Rome"}'}}
                ]
            }
        ),
        chunk({}, finish="tool_calls"),
        chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}),
        b"[DONE]",
    ]
    response, deltas = await collect(provider)
    assert deltas == ["Checking ", "two cities."]  # nothing empty reaches the caller
    assert response.text == "Checking two cities."
    calls = [(c.id, c.name, c.arguments) for c in response.tool_calls]
    # A missing id gets a stable one; a name repeated later is not doubled.
    assert calls == [
        ("call_0", "weather", {"city": "Oslo"}),
        ("late-id", "weather", {"city": "Rome"}),
    ]
    assert response.finish_reason == "tool_calls"
    assert response.usage == {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}


async def test_stream_of_argument_fragments_without_indexes(provider: Provider) -> None:
    """Fragments with neither index nor id continue the call before them."""
    provider.body = [
        chunk({"tool_calls": [{"id": "a", "function": {"name": "book", "arguments": '{"day":'}}]}),
        chunk({"tool_calls": [{"function": {"arguments": ' "Mon"}'}}]}),
        chunk({"tool_calls": [{"function": {"name": "notify", "arguments": "{}"}}]}),
        chunk({}, finish="tool_calls"),
        b"[DONE]",
    ]
    response, _ = await collect(provider)
    calls = [(c.id, c.name, c.arguments) for c in response.tool_calls]
    assert calls == [("a", "book", {"day": "Mon"}), ("call_1", "notify", {})]


async def test_stream_ending_with_a_finish_reason_but_no_done(provider: Provider) -> None:
    provider.body = [chunk({"content": "Hello"}), chunk({}, finish="stop")]
    response, _ = await collect(provider)
    assert (response.text, response.finish_reason, response.tool_calls) == ("Hello", "stop", [])


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([chunk({"content": "Hel"})], "stream ended before [DONE]"),
        ([b"{not json"], "stream chunk is not JSON: {not json"),
        ([b"[1, 2]"], "stream chunk is not a JSON object"),
        (
            [{"error": {"message": "model overloaded"}}],
            "error in stream: {'message': 'model overloaded'}",
        ),
    ],
)
async def test_broken_streams_say_what_was_wrong(
    provider: Provider, body: list[Any], words: str
) -> None:
    provider.body = body
    with pytest.raises(LLMUnavailableError) as info:
        await collect(provider)
    assert words in str(info.value)
    assert "local" in str(info.value)  # names the model


def completion(message: dict[str, Any], **extra: Any) -> bytes:
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
    return json.dumps({"choices": [choice], **extra}).encode()


async def test_non_stream_tool_call_without_id(provider: Provider) -> None:
    provider.body = completion(
        {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f"}}]}
    )
    llm = client(provider)
    response = await llm.complete(USER)
    await llm.aclose()
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [("call_0", "f", {})]
    assert response.text is None and response.usage is None


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            b'{"detail": "no such model", "object": "error"}',
            "no choices[0].message (keys: ['detail', 'object'])",
        ),
        (b"[]", "no choices[0].message (got list)"),
        (
            completion({"tool_calls": [{"id": "a", "function": {}}]}),
            "tool call 0 has no function name",
        ),
        (b"<html>gateway</html>", "unexpected response"),
    ],
)
async def test_malformed_completions_say_what_was_wrong(
    provider: Provider, body: bytes, words: str
) -> None:
    provider.body = body
    llm = client(provider)
    with pytest.raises(LLMUnavailableError) as info:
        await llm.complete(USER)
    await llm.aclose()
    assert words in str(info.value)
