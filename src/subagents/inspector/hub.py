"""``LiveHub``: every turn's progress events, fanned out to the open event streams.

The hub observes the assistant (:meth:`~subagents.dialogue.assistant.Assistant.observe`):
it receives the same progress events the REST stream is fed from, plus ``turn_started``
and ``turn_finished``, and puts each into the queue of every stream watching that
conversation (or all of them). Nothing polls the store.

A stream whose reader falls behind by :data:`QUEUE_LIMIT` events is not allowed to hold
memory: its queue is emptied and it gets one ``{"event": "lagged"}`` so the page reloads
the tracker instead. :meth:`LiveHub.close` ends every stream (server shutdown: an open
event stream must not keep uvicorn waiting).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from subagents.config.secrets import redact_data, redact_registered

logger = logging.getLogger("subagents.inspector")

QUEUE_LIMIT = 1000
"""Events a stream may have waiting before it is told it lagged."""
_CLOSED = object()


class _Watcher:
    __slots__ = ("conversation_id", "lagged", "queue")

    def __init__(self, conversation_id: str | None) -> None:
        self.conversation_id = conversation_id
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.lagged = False


class LiveHub:
    """Fans the assistant's turn events out to event streams (see the module docstring)."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        self._watchers: set[_Watcher] = set()
        self._secrets = secrets
        self._stop_observing: Callable[[], None] | None = None
        self.closed = False

    def attach(self, assistant: Any) -> None:
        """Observe ``assistant``'s turns (its configuration secrets are redacted)."""
        self._secrets = tuple(getattr(assistant, "_secrets", ()) or ()) or self._secrets
        self._stop_observing = assistant.observe(self.publish)

    @property
    def watchers(self) -> int:
        """How many event streams are open."""
        return len(self._watchers)

    async def publish(self, conversation_id: str, event: dict[str, Any]) -> None:
        """Queue ``event`` (stamped with ``conversation_id`` and ``time``) for its watchers."""
        if not self._watchers:
            return
        item = self._redacted({**event, "conversation_id": conversation_id, "time": time.time()})
        for watcher in tuple(self._watchers):
            if watcher.conversation_id not in (None, conversation_id):
                continue
            if watcher.queue.qsize() >= QUEUE_LIMIT:
                if not watcher.lagged:
                    _drain(watcher.queue)
                    watcher.lagged = True
                    watcher.queue.put_nowait({"event": "lagged", "time": time.time()})
                continue
            watcher.lagged = False
            watcher.queue.put_nowait(item)

    def _redacted(self, event: dict[str, Any]) -> dict[str, Any]:
        return redact(event, self._secrets)  # type: ignore[no-any-return]

    async def events(
        self, conversation_id: str | None, *, heartbeat: float
    ) -> AsyncGenerator[dict[str, Any] | None, None]:
        """Yield the events of ``conversation_id`` (None: every conversation) as they come.

        Yields None when ``heartbeat`` seconds pass without one (the caller writes a
        keep-alive, which is also how a vanished client is noticed). Ends when the hub
        closes.
        """
        watcher = _Watcher(conversation_id)
        self._watchers.add(watcher)
        try:
            while not self.closed:
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), heartbeat)
                except TimeoutError:
                    yield None
                    continue
                if item is _CLOSED:
                    return
                yield item
        finally:
            self._watchers.discard(watcher)

    def close(self) -> None:
        """End every event stream and stop observing the assistant."""
        self.closed = True
        if self._stop_observing is not None:
            self._stop_observing()
            self._stop_observing = None
        for watcher in tuple(self._watchers):
            watcher.queue.put_nowait(_CLOSED)


def redact(data: Any, secrets: tuple[str, ...]) -> Any:
    """``data`` with ``secrets`` (the project's) and the secrets registered for logs (the
    server's token, say) replaced by ``***`` in every string, as logs redact them."""
    if secrets:
        data = redact_data(data, secrets)
    return _redact_strings(data)


def _redact_strings(value: Any) -> Any:
    if isinstance(value, str):
        return redact_registered(value)
    if isinstance(value, dict):
        return {k: _redact_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_strings(v) for v in value]
    return value


def _drain(queue: asyncio.Queue[Any]) -> None:
    while not queue.empty():
        queue.get_nowait()
