"""Serve an ASGI app (e.g. :func:`subagents.server.create_app`) over real HTTP in a test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp

_BOUND = 20.0  # seconds for uvicorn to start, and to stop


@contextlib.asynccontextmanager
async def serve_asgi(app: ASGIApp, *, port: int = 0, **options: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in the running event loop; yield its URL.

    ``port=0`` picks a free port. Start and stop are each bounded (20 s); the test's own
    signal handlers are left alone. ``options`` go to ``uvicorn.Config`` (TLS:
    ``ssl_certfile``, ``ssl_keyfile``, ``ssl_ca_certs``, ``ssl_cert_reqs``; the URL is
    then ``https://``).
    """
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # the test runner owns the signals
            yield

    options.setdefault("log_level", "warning")
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(_BOUND):
            while not server.started:  # noqa: ASYNC110 - uvicorn exposes no started event
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped before starting")
                await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        scheme = "https" if options.get("ssl_certfile") else "http"
        yield f"{scheme}://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, _BOUND)
