"""The scripted model: a real OpenAI-compatible HTTP server that replays a scenario.

It is a small hand-written asyncio HTTP/1.1 server (keep-alive, chunked streaming)
rather than an ASGI stack, so that benchmarks measuring our own overhead against it are
not dominated by the stand-in model. It serves ``POST /v1/chat/completions`` (streaming and
not) and ``GET /v1/models`` on 127.0.0.1, records every request body, and answers HTTP 500
once the scenario is used up so that a test asking for more replies than scripted fails
loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from subagents.errors import SubagentsError
from subagents.llm.scenario import Script, Step
from subagents.llm.scripted import ScriptPlayer
from subagents.testing._replies import completion_body, error_body, stream_events

logger = logging.getLogger("subagents.testing.scripted_model")

_MAX_HEADER = 64 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_MODELS = orjson.dumps(
    {
        "object": "list",
        "data": [{"id": "scripted", "object": "model", "created": 0, "owned_by": "subagents"}],
    }
)


class _BadRequest(SubagentsError):
    pass


class ScriptedModelServer:
    """An OpenAI-compatible chat-completions server that replays scripted replies.

    ``scenario`` is a list of steps, a mapping of named scripts (see
    :mod:`subagents.testing.scenario`), a ``{"scenario": ...}`` mapping, or a path to a YAML
    file. Use it as ``async with ScriptedModelServer(steps) as srv:`` or, from sync code,
    ``srv.start_in_thread()`` ... ``srv.stop()``. ``srv.url`` is the base URL (ending in
    ``/v1``) to use as ``api_base``. The step for each request is chosen by a
    :class:`~subagents.llm.scripted.ScriptPlayer` (``player``), as the in-process
    :class:`~subagents.llm.scripted.ScriptedLLM` does; all requests share one position.
    """

    def __init__(
        self,
        scenario: Sequence[Any] | Mapping[str, Any] | str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.player = ScriptPlayer(scenario)
        self.host = host
        self._port = port
        self.raw_requests: list[bytes] = []
        """The same bodies as received, byte for byte."""
        self.request_headers: list[dict[str, str]] = []
        """Headers of each request (lower-cased names), parallel to ``requests``."""
        self.request_times: list[float] = []
        """``time.monotonic()`` at the arrival of each request, parallel to ``requests``."""
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None

    @property
    def scripts(self) -> list[Script]:
        """The scenario's scripts (their ``served`` is their position)."""
        return self.player.scripts

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every chat-completion request body, parsed, in arrival order."""
        return self.player.requests

    @property
    def answered(self) -> list[tuple[str, int] | None]:
        """Which step answered each request, parallel to ``requests``: ``(script name,
        step index)``, or ``None`` when no step was left for it."""
        return self.player.answered

    @property
    def replies(self) -> int:
        """How many requests a scripted step answered."""
        return self.player.replies

    @property
    def on_request(self) -> Callable[[int], None] | None:
        """Called with a request's index once its step is chosen, before the reply is sent
        (e.g. to check the scripted reply against the tools the request offered)."""
        return self.player.on_request

    @on_request.setter
    def on_request(self, callback: Callable[[int], None] | None) -> None:
        self.player.on_request = callback

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        """The bound port (after start)."""
        if not self._port:
            raise RuntimeError("ScriptedModelServer is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL ending in ``/v1``, e.g. ``http://127.0.0.1:41234/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    async def start(self) -> ScriptedModelServer:
        """Bind and serve on the running event loop."""
        if self._server is not None:
            raise RuntimeError("ScriptedModelServer is already started")
        self._server = await asyncio.start_server(
            self._handle, self.host, self._port, limit=_MAX_HEADER
        )
        self._port = self._server.sockets[0].getsockname()[1]
        logger.debug("scripted_model.started", extra={"event": "scripted_model.started"})
        return self

    async def aclose(self) -> None:
        """Stop serving and drop open keep-alive connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), timeout=5)

    async def __aenter__(self) -> ScriptedModelServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def start_in_thread(self, timeout: float = 10.0) -> ScriptedModelServer:
        """Serve from a background thread with its own event loop (for sync code)."""
        if self._thread is not None:
            raise RuntimeError("ScriptedModelServer is already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop_event = asyncio.Event()
            try:
                await self.start()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            try:
                await self._stop_event.wait()
            finally:
                await self.aclose()

        self._thread = threading.Thread(
            target=asyncio.run, args=(main(),), name="scripted-model", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"scripted model server did not start within {timeout} s")
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a server started with :meth:`start_in_thread` and join its thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._loop is not None and self._stop_event is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._stop_event.set)
        thread.join(timeout)

    def __enter__(self) -> ScriptedModelServer:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ inspection

    def last_messages(self) -> list[dict[str, Any]]:
        """The ``messages`` of the latest request."""
        if not self.requests:
            raise AssertionError("the scripted model has received no request")
        return list(self.requests[-1].get("messages") or [])

    def tools_offered(self, index: int = -1) -> list[str]:
        """Names of the tools offered in request ``index`` (default: the latest)."""
        return self.player.tools_offered(index)

    def answered_step(self, index: int) -> Step | None:
        """The scripted step that answered request ``index`` (``None``: none was left)."""
        return self.player.answered_step(index)

    def remaining(self) -> int:
        """How many scripted replies have not been served yet."""
        return self.player.remaining()

    def add_steps(self, steps: Sequence[Any], script: str | None = None) -> None:
        """Append steps to a script (the only/first one by default)."""
        self.player.add_steps(steps, script)

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                keep_alive = await self._serve_one(reader, writer)
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except _BadRequest as exc:
            with contextlib.suppress(Exception):
                await _respond(writer, 400, error_body(str(exc), kind="invalid_request_error"))
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        method, path, version, headers = _parse_head(head)
        body = await _read_body(reader, headers)
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        path = path.split("?", 1)[0].rstrip("/")
        if path in ("/v1/chat/completions", "/chat/completions"):
            if method != "POST":
                await _respond(writer, 405, error_body("use POST", kind="invalid_request_error"))
                return keep_alive
            return await self._chat(writer, body, headers) and keep_alive
        if path in ("/v1/models", "/models") and method == "GET":
            await _respond(writer, 200, _MODELS)
        elif path == "/health" and method == "GET":
            await _respond(writer, 200, b'{"status":"ok"}')
        else:
            msg = f"unknown route {method} {path}"
            await _respond(writer, 404, error_body(msg, kind="invalid_request_error"))
        return keep_alive

    async def _chat(
        self, writer: asyncio.StreamWriter, body: bytes, headers: dict[str, str]
    ) -> bool:
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            msg = f"request body is not valid JSON ({exc})"
            await _respond(writer, 400, error_body(msg, kind="invalid_request_error"))
            return True
        if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
            msg = "request body needs a 'messages' list"
            await _respond(writer, 400, error_body(msg, kind="invalid_request_error"))
            return True
        self.request_times.append(time.monotonic())
        self.raw_requests.append(body)
        self.request_headers.append(headers)
        step, problem = self.player.choose(request)
        if step is None:
            logger.warning("scripted_model.exhausted", extra={"event": "scripted_model.exhausted"})
            # x-should-retry tells OpenAI-style clients not to retry: the test should fail now.
            await _respond(
                writer,
                500,
                error_body(problem, kind="scripted_scenario_exhausted"),
                extra={"x-should-retry": "false"},
            )
            return True
        return await self._reply(writer, request, step, len(body))

    async def _reply(
        self, writer: asyncio.StreamWriter, request: dict[str, Any], step: Step, size: int
    ) -> bool:
        if step.delay:
            await asyncio.sleep(step.delay)
        streamed = bool(request.get("stream"))
        if step.disconnect and not (streamed and (step.text is not None or step.tool_calls)):
            writer.transport.abort()
            return False
        if step.error is not None:
            err = step.error
            body = _error_payload(err.body, err.status)
            extra = {"retry-after": err.retry_after} if err.retry_after is not None else None
            await _respond(writer, err.status, body, extra=extra)
            return True
        model = str(request.get("model") or "scripted")
        if not streamed:
            reply = completion_body(step, model=model, reply_no=self.replies, request_size=size)
            await _respond(writer, 200, reply)
            return True
        options = request.get("stream_options") or {}
        events = stream_events(
            step,
            model=model,
            reply_no=self.replies,
            request_size=size,
            include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        )
        if step.disconnect:  # a stream that breaks halfway: half the events, then drop
            await _stream(writer, events[: max(2, len(events) // 2)], step.chunk_delay, end=False)
            writer.transport.abort()
            return False
        await _stream(writer, events, step.chunk_delay)
        return True


def _error_payload(body: Any, status: int) -> bytes:
    if body is None:
        kind = "rate_limit_error" if status == 429 else "scripted_error"
        return error_body(f"scripted error {status}", kind=kind)
    if isinstance(body, str):
        return body.encode()
    return orjson.dumps(body)


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, path, version = lines[0].split(" ", 2)
    except ValueError as exc:
        raise _BadRequest(f"malformed request line {lines[0]!r}") from exc
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest(f"malformed header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    return method, path, version, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # trailer end (no trailers expected)
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = headers.get("content-length")
    if not length:
        return b""
    try:
        return await reader.readexactly(int(length))
    except ValueError as exc:
        raise _BadRequest(f"bad content-length {length!r}") from exc


async def _respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    *,
    extra: Mapping[str, str] | None = None,
) -> None:
    head = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
        "content-type: application/json",
        f"content-length: {len(body)}",
    ]
    if extra:
        head.extend(f"{k}: {v}" for k, v in extra.items())
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()


async def _stream(
    writer: asyncio.StreamWriter, events: list[bytes], delay: float, *, end: bool = True
) -> None:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
        b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    framed = [b"%x\r\n%s\r\n" % (len(e), e) for e in events]
    tail = b"0\r\n\r\n" if end else b""
    if not delay:
        writer.write(head + b"".join(framed) + tail)
        await writer.drain()
        return
    writer.write(head)
    for frame in framed:
        writer.write(frame)
        await writer.drain()
        await asyncio.sleep(delay)
    writer.write(tail)
    await writer.drain()
