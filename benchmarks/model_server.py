"""A zero-latency OpenAI-compatible model server with a ReAct *policy*, for benchmarks.

The scripted model of :mod:`subagents.testing` replays replies in one global order, which
cannot serve 50 interleaved runs. This server decides each reply from the request itself,
so any number of concurrent runs gets exactly the same work:

* model ``react-K``: while fewer than ``K`` tool results follow the last user/system
  message, call one of the offered tools (cycling through them, arguments built from the
  tool's required properties); then call ``task_completed``.
* model ``text-N``: reply with text in ``N`` pieces. Each piece carries the wall-clock
  time at which it was written (``[ts=1712345678.123456]``) so a client can measure how
  long the piece took to reach it; when streamed the pieces are 20 ms apart.

Run it in its own process (``python -m benchmarks.model_server``: prints
``listening <base url>``) so its CPU does not count against the client being measured.
It is a tiny hand-written HTTP/1.1 server with keep-alive: the cheapest thing that speaks
``POST /v1/chat/completions`` (stream and non-stream).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import time
from typing import Any

try:
    import orjson

    def _loads(data: bytes) -> Any:
        return orjson.loads(data)

    def _dumps(value: Any) -> bytes:
        return orjson.dumps(value)

except ImportError:  # pragma: no cover - orjson is a dependency of the bench extra
    import json

    def _loads(data: bytes) -> Any:
        return json.loads(data)

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()


STREAM_GAP = 0.02
_ids = itertools.count()
BUILTINS = ("task_completed",)


def _tool_names(body: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in body.get("tools") or []]


def _tools_done(messages: list[dict[str, Any]]) -> int:
    """Tool results since the last user or system message."""
    count = 0
    for msg in reversed(messages):
        role = msg.get("role")
        if role == "tool":
            count += 1
        elif role in ("user", "system"):
            break
    return count


def _arguments_for(tool: dict[str, Any]) -> dict[str, Any]:
    params = tool["function"].get("parameters") or {}
    props = params.get("properties") or {}
    args: dict[str, Any] = {}
    for name in params.get("required") or []:
        kind = (props.get(name) or {}).get("type")
        args[name] = 1 if kind in ("integer", "number") else True if kind == "boolean" else "x"
    return args


def decide(body: dict[str, Any]) -> dict[str, Any]:
    """The reply for one request: ``{"text": ...}`` or ``{"tool_call": (name, args)}``."""
    model = str(body.get("model", "react-1"))
    kind, _, num = model.rpartition("/")[2].partition("-")
    n = int(num) if num.isdigit() else 1
    if kind == "text":
        return {"text_pieces": n}
    done = _tools_done(body.get("messages") or [])
    tools = [t for t in body.get("tools") or [] if t["function"]["name"] not in BUILTINS]
    if done < n and tools:
        tool = tools[done % len(tools)]
        return {"tool_call": (tool["function"]["name"], _arguments_for(tool))}
    if "task_completed" in _tool_names(body):
        return {"tool_call": ("task_completed", {"message": f"Done after {done} tool calls."})}
    return {"text_pieces": 1}


def _stamp() -> str:
    return f"[ts={time.time():.6f}] "


def _completion(model: str, reply: dict[str, Any]) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": None}
    finish = "stop"
    if "tool_call" in reply:
        name, args = reply["tool_call"]
        call_id = f"call_{next(_ids)}"
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": _dumps(args).decode()},
            }
        ]
        finish = "tool_calls"
    else:
        message["content"] = "".join(_stamp() for _ in range(reply["text_pieces"]))
    return _dumps(
        {
            "id": f"chatcmpl-{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
    )


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    data = {
        "id": "chatcmpl-stream",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + _dumps(data) + b"\n\n"


async def _write_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(b"%x\r\n%s\r\n" % (len(data), data))
    await writer.drain()


async def _stream(writer: asyncio.StreamWriter, model: str, reply: dict[str, Any]) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
    )
    await _write_chunk(writer, _chunk(model, {"role": "assistant", "content": ""}))
    if "tool_call" in reply:
        name, args = reply["tool_call"]
        call = {"index": 0, "id": f"call_{next(_ids)}", "type": "function"}
        call["function"] = {"name": name, "arguments": ""}
        await _write_chunk(writer, _chunk(model, {"tool_calls": [call]}))
        frag = {"index": 0, "function": {"arguments": _dumps(args).decode()}}
        await _write_chunk(writer, _chunk(model, {"tool_calls": [frag]}))
        finish = "tool_calls"
    else:
        for i in range(reply["text_pieces"]):
            if i:
                await asyncio.sleep(STREAM_GAP)
            await _write_chunk(writer, _chunk(model, {"content": _stamp()}))
        finish = "stop"
    await _write_chunk(writer, _chunk(model, {}, finish))
    await _write_chunk(writer, b"data: [DONE]\n\n")
    writer.write(b"0\r\n\r\n")
    await writer.drain()


def _respond(writer: asyncio.StreamWriter, status: str, payload: bytes) -> None:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\nconnection: keep-alive\r\n\r\n"
    )
    writer.write(head.encode() + payload)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == "content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return method, path, body


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while (request := await _read_request(reader)) is not None:
            method, path, raw = request
            if method == "GET" and path.endswith("/models"):
                _respond(writer, "200 OK", b'{"object":"list","data":[{"id":"react-1"}]}')
            elif method == "POST" and path.endswith("/chat/completions"):
                body = _loads(raw)
                reply = decide(body)
                model = str(body.get("model", ""))
                if body.get("stream"):
                    await _stream(writer, model, reply)
                    continue
                _respond(writer, "200 OK", _completion(model, reply))
            else:
                _respond(writer, "404 Not Found", b'{"error":{"message":"not found"}}')
            await writer.drain()
    writer.close()


async def serve(port: int = 0, ready: asyncio.Future[str] | None = None) -> None:
    """Serve until cancelled; ``ready`` gets the base URL (ending in ``/v1``)."""
    server = await asyncio.start_server(_handle, "127.0.0.1", port, backlog=1024)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    if ready is not None:
        ready.set_result(url)
    else:
        print(f"listening {url}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Entry point: ``python -m benchmarks.model_server [--port N]``."""
    parser = argparse.ArgumentParser(description="benchmark model server")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
