"""Scripted-model features a test author relies on, and every scenario mistake's message.

Over real HTTP: ``when`` matchers, ``loop``, ``disconnect``, ``chunks`` and
``chunk_delay``, error shorthands, overridden finish reason and usage, the inspection
helpers, and the server's own lifecycle and HTTP edge cases.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from subagents.errors import ConfigError
from subagents.testing import ScriptedModelServer, load_scenario, parse_scenario

USER = [{"role": "user", "content": "hi"}]


def tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


async def post(srv: ScriptedModelServer, **body: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(srv.url + "/chat/completions", json={"messages": USER, **body})


def sse(resp: httpx.Response) -> list[dict[str, Any]]:
    lines = [x[6:] for x in resp.text.split("\n\n") if x.startswith("data: ") and x[6:] != "[DONE]"]
    return [json.loads(x) for x in lines]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("scenario", "field", "words"),
    [
        ({}, "scenario", "scenario has no scripts"),
        ({"s": 5}, "scenario.s", "a script must be a list of steps or a mapping"),
        ({"s": {"steps": [], "loop": "yes"}}, "scenario.s.loop", "'loop' must be true or false"),
        ({"s": {"steps": [], "repeat": 1}}, "scenario.s", "unknown key(s) ['repeat']"),
        ({"s": {"steps": "hi"}}, "scenario.s.steps", "steps must be a list"),
        (
            {"s": {"when": [], "steps": []}},
            "scenario.s.when",
            "'when' must be a mapping with any of",
        ),
        (
            {"s": {"when": {"tool_offered": [1]}, "steps": []}},
            "scenario.s.when.tool_offered",
            "a tool name or a list of names",
        ),
        (
            {"s": {"when": {"model": 4}, "steps": []}},
            "scenario.s.when.model",
            "'model' must be a string",
        ),
        ([3], "scenario[0]", "a step must be a mapping (or a plain text reply)"),
        (["ok", {"text": 7}], "scenario[1].text", "'text' must be a string"),
        ([{"chunks": "abc"}], "scenario[0].chunks", "'chunks' must be a list of strings"),
        ([{"text": "x", "disconnect": 1}], "scenario[0].disconnect", "must be true or false"),
        ([{"text": "x", "finish_reason": 1}], "scenario[0].finish_reason", "must be a string"),
        ([{"text": "x", "usage": 5}], "scenario[0].usage", "'usage' must be a mapping"),
        ([{"text": "x", "error": 500}], "scenario[0]", "cannot also have 'text' or 'tool_calls'"),
        ([{"error": "boom"}], "scenario[0].error", "'error' must be a mapping with 'status'"),
        ([{"error": {"status": 429, "after": 1}}], "scenario[0].error", "unknown key(s) ['after']"),
        ([{"tool_calls": {"name": "f"}}], "scenario[0].tool_calls", "'tool_calls' must be a list"),
        (
            [{"tool_calls": [{"name": "f", "args": {}}]}],
            "scenario[0].tool_calls[0]",
            "unknown key(s) ['args']",
        ),
        (
            [{"tool_calls": [{"name": "f", "arguments": {"when": {1, 2}}}]}],
            "scenario[0].tool_calls[0].arguments",
            "arguments are not JSON-serialisable",
        ),
        ([{"text": "x", "chunk_delay": "fast"}], "scenario[0].chunk_delay", "seconds >= 0"),
    ],
)
def test_every_mistake_names_its_field(scenario: Any, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_scenario(scenario, source="my.yml")
    assert info.value.problem.field == field
    # What the user reads: file, then the field, then what is wrong.
    assert str(info.value).startswith(f"my.yml: {field}: ")
    assert words in str(info.value)


def test_yaml_errors_give_the_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yml"
    path.write_text("scenario:\n  - text: ok\n  - text: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}:4: not valid YAML: while parsing a flow sequence")


def test_shorthands() -> None:
    (script,) = parse_scenario(
        {"scenario": ["plain text", {"error": 503}, {"chunks": ["a", "b"]}, {"disconnect": True}]}
    )
    plain, error, chunked, dropped = script.steps
    assert plain.text == "plain text"
    assert error.error is not None and error.error.status == 503
    assert (chunked.text, chunked.chunks) == ("ab", ("a", "b"))
    assert dropped.disconnect and dropped.text is None


# --------------------------------------------------------------------------- replies


async def test_when_matchers_and_no_match(scripted_model: Any) -> None:
    srv = await scripted_model(
        {
            "by_model": {"when": {"model": "router-model"}, "steps": ["for the router"]},
            "by_user": {"when": {"user_contains": "weather"}, "steps": ["sunny"]},
            "by_system": {
                "when": {"system_contains": "You book tables"},
                "steps": ["booked"],
            },
        }
    )
    assert (await post(srv, model="router-model")).json()["choices"][0]["message"]["content"] == (
        "for the router"
    )
    asked = [{"role": "user", "content": [{"type": "text", "text": "the weather?"}]}]
    reply = await post(srv, messages=asked)  # list content parts are matched too
    assert reply.json()["choices"][0]["message"]["content"] == "sunny"
    system = [{"role": "system", "content": "You book tables."}, *USER]
    assert (await post(srv, messages=system)).json()["choices"][0]["message"]["content"] == "booked"
    # Only the *latest* user message counts for user_contains.
    later = [*asked, {"role": "assistant", "content": "sunny"}, {"role": "user", "content": "ok"}]
    missed = await post(srv, messages=later, tools=[tool("x")])
    assert missed.status_code == 500
    message = missed.json()["error"]["message"]
    assert "no scripted script matches this request (tools offered: ['x']" in message
    assert "scripts: ['by_model', 'by_user', 'by_system']" in message
    assert missed.headers["x-should-retry"] == "false"


async def test_loop_and_remaining(scripted_model: Any) -> None:
    srv = await scripted_model({"main": {"steps": ["one", "two"], "loop": True}})
    texts = [(await post(srv)).json()["choices"][0]["message"]["content"] for _ in range(5)]
    assert texts == ["one", "two", "one", "two", "one"]
    assert srv.remaining() == 0


async def test_chunks_and_chunk_delay_shape_the_stream(scripted_model: Any) -> None:
    srv = await scripted_model([{"chunks": ["Hel", "lo ", "there"], "chunk_delay": 0.05}])
    started = time.monotonic()
    resp = await post(srv, stream=True)
    elapsed = time.monotonic() - started
    pieces = [c["choices"][0]["delta"].get("content") for c in sse(resp) if c["choices"]]
    assert [p for p in pieces if p] == ["Hel", "lo ", "there"]
    assert elapsed >= 0.15  # a pause after each of the (role, 3 text, finish) events


async def test_finish_reason_usage_and_error_shorthand(scripted_model: Any) -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    srv = await scripted_model(
        [{"text": "cut", "finish_reason": "length", "usage": usage}, {"error": 429}]
    )
    body = (await post(srv)).json()
    assert (body["choices"][0]["finish_reason"], body["usage"]) == ("length", usage)
    limited = await post(srv)
    assert limited.status_code == 429 and "retry-after" not in limited.headers
    assert limited.json()["error"]["type"] == "rate_limit_error"


async def test_disconnect_drops_the_connection(scripted_model: Any) -> None:
    srv = await scripted_model([{"disconnect": True}, {"text": "a b c d e f", "disconnect": True}])
    with pytest.raises(httpx.RemoteProtocolError):
        await post(srv)
    # Streamed with text: half the stream arrives, then the connection breaks.
    received: list[str] = []
    async with httpx.AsyncClient(timeout=10) as http:
        body = {"messages": USER, "stream": True}
        with pytest.raises(httpx.RemoteProtocolError):
            async with http.stream("POST", srv.url + "/chat/completions", json=body) as resp:
                async for line in resp.aiter_lines():
                    if line.startswith("data: {"):
                        delta = json.loads(line[6:])["choices"][0]["delta"]
                        received.append(delta.get("content") or "")
    assert 0 < len("".join(received)) < len("a b c d e f")
    assert srv.replies == 2


# --------------------------------------------------------------------------- helpers


async def test_add_steps_and_inspection_helpers(scripted_model: Any) -> None:
    srv = await scripted_model(
        {
            "a": {"when": {"model": "a"}, "steps": ["first"]},
            "b": {"when": {"model": "b"}, "steps": []},
        }
    )
    with pytest.raises(AssertionError, match="has received no request"):
        srv.last_messages()
    with pytest.raises(AssertionError, match="has received no request"):
        srv.tools_offered()
    with pytest.raises(KeyError, match=r"no script named 'c'; scripts: \['a', 'b'\]"):
        srv.add_steps(["x"], script="c")
    srv.add_steps(["added"])
    srv.add_steps([{"text": "for b"}], script="b")
    assert srv.remaining() == 3
    texts = [(await post(srv, model=m)).json()["choices"][0]["message"]["content"] for m in "aab"]
    assert texts == ["first", "added", "for b"]  # added to the first script, or the named one
    assert srv.tools_offered() == [] and srv.last_messages() == USER


# --------------------------------------------------------------------------- lifecycle


async def test_lifecycle_errors() -> None:
    srv = ScriptedModelServer(["x"])
    with pytest.raises(RuntimeError, match="is not started"):
        _ = srv.url
    await srv.aclose()  # closing a server that never started is harmless
    async with srv:
        with pytest.raises(RuntimeError, match="already started"):
            await srv.start()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = ScriptedModelServer(["x"], port=busy.getsockname()[1])
        with pytest.raises(OSError):
            taken.start_in_thread()
    taken.stop()  # nothing to stop


def test_sync_context_manager() -> None:
    with ScriptedModelServer(["from a with block"]) as srv:
        with pytest.raises(RuntimeError, match="already started"):
            srv.start_in_thread()
        reply = httpx.post(srv.url + "/chat/completions", json={"messages": USER}, timeout=10)
        assert reply.json()["choices"][0]["message"]["content"] == "from a with block"


# --------------------------------------------------------------------------- HTTP edges


async def raw(srv: ScriptedModelServer, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def test_http_edge_cases(scripted_model: Any) -> None:
    srv = await scripted_model(["chunked ok"])
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(srv.url + "/chat/completions")).status_code == 405
        assert (await http.get(srv.url.removesuffix("/v1") + "/health")).json() == {"status": "ok"}

        async def body() -> Any:  # a chunked request body
            yield json.dumps({"messages": USER}).encode()

        resp = await http.post(srv.url + "/chat/completions", content=body())
        assert resp.json()["choices"][0]["message"]["content"] == "chunked ok"
    bad_line = await raw(srv, b"NONSENSE\r\n\r\n")
    assert bad_line.startswith(b"HTTP/1.1 400") and b"malformed request line" in bad_line
    bad_header = await raw(srv, b"POST /v1/chat/completions HTTP/1.1\r\nno colon\r\n\r\n")
    assert bad_header.startswith(b"HTTP/1.1 400") and b"malformed header line" in bad_header
    bad_length = await raw(
        srv, b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: lots\r\n\r\n"
    )
    assert bad_length.startswith(b"HTTP/1.1 400") and b"bad content-length" in bad_length
    assert srv.requests[-1]["messages"] == USER and len(srv.requests) == 1
