"""Build the ``mcp`` SDK transport for one configured server (stdio, SSE, streamable HTTP).

A transport is an async context manager yielding the session's stream pair; it is entered
and exited by the connection's owner task only.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import IO, Any, TextIO, cast

import httpx2
import orjson
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

import subagents.telemetry as telemetry
from subagents.config.models import MCPServerConfig

from .auth import AuthMonitor, static_headers

Streams = AbstractAsyncContextManager[Any]
"""A transport: an async context manager yielding the session's (read, write) streams."""

SSE_READ_TIMEOUT = 300.0
"""Seconds a server may stay silent on an open event stream."""

MAX_HTTP_MESSAGE_BYTES = 64 * 1024 * 1024
"""Largest single streamed message accepted (the SDK default, 1 MiB, rejects big results
before we can truncate them)."""

_STDERR_TAIL_BYTES = 4000
_STDERR_MAX_BYTES = 1024 * 1024


class StderrLog:
    """A temporary file that receives a stdio server's stderr.

    Opened in append mode so that it can be emptied while the child keeps writing;
    :meth:`tail` returns the last lines for error messages.
    """

    def __init__(self) -> None:
        fd, path = tempfile.mkstemp(prefix="subagents-mcp-", suffix=".stderr")
        os.close(fd)
        self._file: IO[bytes] = open(path, "ab+")  # noqa: SIM115 - closed by close()
        os.unlink(path)  # the open descriptors keep it alive; nothing left on disk

    @property
    def stream(self) -> TextIO:
        """The file object handed to the child process as its stderr."""
        return cast(TextIO, self._file)

    def tail(self, max_bytes: int = _STDERR_TAIL_BYTES) -> str:
        """The last lines the server wrote to stderr (empty when it wrote nothing)."""
        if self._file.closed:
            return ""
        fd = self._file.fileno()
        size = os.fstat(fd).st_size
        start = max(0, size - max_bytes)
        data = os.pread(fd, size - start, start).decode("utf-8", errors="replace")
        if start and "\n" in data:
            data = data.split("\n", 1)[1]  # drop the partial first line
        if size > _STDERR_MAX_BYTES:
            os.ftruncate(fd, 0)  # keep the file small for long-lived chatty servers
        return data.strip()

    def close(self) -> None:
        self._file.close()


def stdio_transport(cfg: MCPServerConfig, stderr: StderrLog, project_root: Path | None) -> Streams:
    """A stdio transport: the server runs as a child process of this one.

    Only the variables named in ``env`` are added to the SDK's minimal default
    environment. ``command: python`` runs this interpreter. ``cwd`` is relative to the
    project root (which is also the default working directory).
    """
    assert cfg.command, "stdio servers need a command (checked at config load)"
    command = cfg.command
    if command in ("python", "python3"):
        command = sys.executable
    cwd: Path | None = project_root
    if cfg.cwd:
        cwd = Path(cfg.cwd) if project_root is None else project_root / cfg.cwd
    params = StdioServerParameters(
        command=command, args=list(cfg.args), env=dict(cfg.env) or None, cwd=cwd
    )
    return stdio_client(params, errlog=stderr.stream)


def http_transport(cfg: MCPServerConfig, client: httpx2.AsyncClient) -> Streams:
    """A streamable HTTP transport over ``client`` (which the caller closes)."""
    assert cfg.url, "http servers need a url (checked at config load)"
    return streamable_http_client(
        cfg.url, http_client=client, max_sse_event_size=MAX_HTTP_MESSAGE_BYTES
    )


class _RefusalRecorder(httpx2.AsyncBaseTransport):
    """Counts requests to the MCP endpoint whose connection was refused: such a request
    never reached the server, so a call that failed that way never ran."""

    def __init__(self, monitor: AuthMonitor | None) -> None:
        self._inner = httpx2.AsyncHTTPTransport()
        self._monitor = monitor

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            return await self._inner.handle_async_request(request)
        except httpx2.ConnectError:
            if self._monitor is not None:
                self._monitor.refused += 1
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()


async def trace_header(request: httpx2.Request) -> None:
    """Copy the ``traceparent`` the SDK put in the request's ``params._meta`` into the HTTP
    header, so HTTP-level tracing (proxies, the server's middleware) joins the trace too.

    Read from the body because the request is sent by the transport's own task, whose
    context is not the caller's (tracing on only)."""
    try:
        body = request.content
    except httpx2.RequestNotRead:
        return
    if b'"traceparent"' not in body:
        return
    try:
        meta = orjson.loads(body).get("params", {}).get("_meta", {})
    except (orjson.JSONDecodeError, AttributeError):
        return
    for key in ("traceparent", "tracestate"):
        if isinstance(meta.get(key), str):
            request.headers[key] = meta[key]


def make_http_client(
    cfg: MCPServerConfig, auth: httpx2.Auth | None, monitor: AuthMonitor | None = None
) -> httpx2.AsyncClient:
    """The HTTP client of one URL connection: headers, auth, timeouts and the monitor.

    Redirects stay off, as in the SDK's own client: its transports follow redirects only
    within the endpoint's origin.
    """
    timeout = httpx2.Timeout(cfg.connect_timeout, read=SSE_READ_TIMEOUT)
    hooks: dict[str, list[Any]] = {"response": [monitor.on_response]} if monitor else {}
    if telemetry.tracing():
        hooks["request"] = [trace_header]
    return httpx2.AsyncClient(
        headers=static_headers(cfg),
        timeout=timeout,
        auth=auth,
        event_hooks=hooks,
        transport=_RefusalRecorder(monitor),
    )


def sse_transport(
    cfg: MCPServerConfig, auth: httpx2.Auth | None, monitor: AuthMonitor | None = None
) -> Streams:
    """A (legacy) SSE transport: a GET event stream plus POSTed messages."""
    assert cfg.url, "sse servers need a url (checked at config load)"

    def client_factory(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        client = make_http_client(cfg, auth, monitor)
        if timeout is not None:
            client.timeout = timeout
        return client

    return sse_client(
        cfg.url,
        headers=static_headers(cfg),
        timeout=cfg.connect_timeout,
        sse_read_timeout=SSE_READ_TIMEOUT,
        auth=auth,
        httpx_client_factory=client_factory,
    )
