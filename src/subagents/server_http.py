"""The HTTP server around the ASGI app: uvicorn with guards against slow and greedy clients.

uvicorn keeps a new connection open for as long as its client likes while the request
headers trickle in, accepts as many connections as the process has file descriptors, and
lets headers grow without bound. :func:`uvicorn_config` serves the app with an HTTP
protocol (:func:`guarded_protocol`) that

* closes a connection whose request headers have not all arrived within
  ``header_timeout`` seconds (HTTP 408), and one whose headers exceed
  :data:`MAX_HEADER_BYTES` (HTTP 431);
* answers HTTP 503 with ``Retry-After`` and closes at once when ``max_connections``
  connections are open, before the process runs out of file descriptors;
* logs these conditions (and ``accept()`` failing for lack of descriptors) at most once
  per interval, with a count (:class:`~subagents.channels.logthrottle.ThrottledLog`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

# Imported at module level: this module is itself imported only when serving.
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from subagents.channels.logthrottle import ThrottledLog

if TYPE_CHECKING:
    import uvicorn

    from subagents.server import ServerSettings

logger = logging.getLogger("subagents.server")

MAX_HEADER_BYTES = 64 * 1024
"""Request line plus headers, at most."""
FD_RESERVE = 64
"""File descriptors kept for the store, MCP servers, logs and model connections."""
_RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


def default_max_connections(max_inflight_turns: int) -> int:
    """Connections allowed when none is configured: what the file limit leaves free.

    Each turn in flight may hold a connection to the model besides the client's, so those
    are kept too: ``soft limit - 64 - max_inflight_turns``, at least 16, at most 10,000.
    """
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 65536
    return max(16, min(10_000, soft - FD_RESERVE - max_inflight_turns))


def _raw_response(status: str, body: str, extra: str = "") -> bytes:
    payload = ('{"error": "' + body + '"}').encode()
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}"
        f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + payload


@dataclass(frozen=True)
class _Guards:
    """One server's limits and the canned answers that enforce them."""

    header_timeout: float
    max_connections: int
    full: bytes
    slow: bytes
    large: bytes
    full_log: ThrottledLog
    slow_log: ThrottledLog


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout, header size and connection cap.

    Use :func:`guarded_protocol` to get a subclass bound to one server's limits.
    """

    guards: ClassVar[_Guards]
    _header_timer: asyncio.TimerHandle | None = None
    _header_bytes = 0
    _in_headers = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.guards.max_connections:
            self.transport = transport
            self.guards.full_log.hit(limit=self.guards.max_connections)
            transport.write(self.guards.full)
            transport.close()
            return
        super().connection_made(transport)
        self._start_headers()

    def _start_headers(self) -> None:
        self._stop_headers()
        self._in_headers = True
        self._header_bytes = 0
        self._header_timer = self.loop.call_later(
            self.guards.header_timeout, self._headers_too_slow
        )

    def _stop_headers(self) -> None:
        self._in_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.guards.slow_log.hit(timeout=self.guards.header_timeout)
            self.transport.write(self.guards.slow)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Counted after parsing: a chunk that completes the headers may carry body.
        if self._in_headers and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._stop_headers()
                self.transport.write(self.guards.large)
                self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # the next request on a keep-alive connection
            self._in_headers = True
            self._header_timer = self.loop.call_later(
                self.guards.header_timeout, self._headers_too_slow
            )

    def on_headers_complete(self) -> None:
        self._stop_headers()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The keep-alive timer now bounds the idle time; the next request's first byte
        # starts the header clock again (on_message_begin).
        self._in_headers = True
        self._header_bytes = 0

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_headers()
        super().connection_lost(exc)


def guarded_protocol(
    header_timeout: float, max_connections: int, retry_after: int = 1
) -> type[asyncio.Protocol]:
    """A :class:`GuardedProtocol` bound to these limits (uvicorn instantiates it per
    connection, so the limits travel as a class attribute)."""
    guards = _Guards(
        header_timeout=header_timeout,
        max_connections=max_connections,
        full=_raw_response(
            "503 Service Unavailable",
            "the server is at its connection limit; retry after a moment",
            f"retry-after: {retry_after}\r\n",
        ),
        slow=_raw_response("408 Request Timeout", "the request headers took too long"),
        large=_raw_response(
            "431 Request Header Fields Too Large", "the request headers are too large"
        ),
        full_log=ThrottledLog(logger, "server.connections_full"),
        slow_log=ThrottledLog(logger, "server.header_timeout", level=logging.INFO),
    )
    return type("GuardedProtocol", (GuardedProtocol,), {"guards": guards})


def install_resource_log(loop: asyncio.AbstractEventLoop) -> ThrottledLog:
    """Log ``accept()`` failing for lack of file descriptors once per interval.

    Other exceptions go to the handler that was installed before (or asyncio's default).
    """
    log = ThrottledLog(logger, "server.out_of_resources", level=logging.ERROR)
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _RESOURCE_ERRNOS:
            log.hit(error=exc.strerror or str(exc))
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    return log


def guard_options(settings: ServerSettings) -> dict[str, Any]:
    """``uvicorn.Config`` keyword arguments: the guarded protocol and the timeouts."""
    limit = settings.max_connections or default_max_connections(settings.limits.max_inflight_turns)
    protocol = guarded_protocol(settings.header_timeout, limit, settings.limits.retry_after)
    return {
        "http": protocol,
        "timeout_keep_alive": settings.keep_alive_timeout,
        "server_header": False,
    }


def uvicorn_config(
    app: Any, *, host: str, port: int, log_level: str, settings: ServerSettings
) -> uvicorn.Config:
    """uvicorn's config for ``app`` with the guarded protocol and ``settings``' timeouts."""
    import uvicorn

    limit = settings.max_connections or default_max_connections(settings.limits.max_inflight_turns)
    protocol = guarded_protocol(settings.header_timeout, limit, settings.limits.retry_after)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        http=protocol,
        timeout_keep_alive=settings.keep_alive_timeout,
        server_header=False,
    )
