"""Serving until SIGINT or SIGTERM: both stop cleanly (containers stop with SIGTERM).

uvicorn handles the two signals itself and re-raises them once it has shut down, which
kills the process with -15 before anything after ``serve()`` runs (closing MCP servers,
the stop line). The servers here leave signals alone; :func:`stop_on_signals` sets an
event instead, and whoever serves shuts down on it and returns normally (exit code 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def uvicorn_server(config: Any, *, on_shutdown: Callable[[], None] | None = None) -> Any:
    """A ``uvicorn.Server`` for ``config`` that does not capture signals.

    ``on_shutdown`` is called when shutdown begins, before uvicorn waits for open
    connections to finish (so endless responses such as event streams can end).
    """
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        async def shutdown(self, sockets: list[Any] | None = None) -> None:
            if on_shutdown is not None:
                on_shutdown()
            await super().shutdown(sockets)

    return _Server(config)


@contextlib.contextmanager
def stop_on_signals(on_stop: Callable[[str], None]) -> Iterator[list[str]]:
    """Call ``on_stop(signal_name)`` on SIGINT / SIGTERM while the block runs.

    Yields the list of signals received (empty: stopped otherwise). Outside the main
    thread (tests serving in a thread) signals cannot be handled: nothing is installed.
    """
    received: list[str] = []
    loop = asyncio.get_running_loop()

    def handle(sig: signal.Signals) -> None:
        received.append(sig.name)
        on_stop(sig.name)

    installed = []
    for sig in SIGNALS:
        try:
            loop.add_signal_handler(sig, handle, sig)
        except (RuntimeError, ValueError, NotImplementedError):
            continue  # not the main thread, or a loop without signal support
        installed.append(sig)
    try:
        yield received
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
