"""The executor seam: run one custom action wherever it lives."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

OnChunk = Callable[[dict[str, Any]], Awaitable[None]]


def connect_backoff(_exc: BaseException, failed_attempt: int) -> float:
    """Seconds before retrying a call that never reached the action server (0.1 s, 0.2 s, ...)."""
    return min(0.1 * 2.0 ** (failed_attempt - 1), 2.0)


@dataclass
class ActionResult:
    """What one action run produced.

    ``events``: Rasa SDK-style event dicts to apply. ``responses``: whole messages to send
    (``utter_message`` dicts; on an HTTP action server this includes replayed stream
    chunks). ``streamed``: chunk payloads already delivered through ``on_chunk``, in order
    -- record them (e.g. a ``bot`` event), do not send them again. ``barged_in``: the
    stream was cancelled by the caller's ``cancel_event``; ``streamed`` holds what was
    delivered before that.
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    streamed: list[dict[str, Any]] = field(default_factory=list)
    barged_in: bool = False


@runtime_checkable
class ActionExecutor(Protocol):
    """Runs custom actions: in-process, over HTTP, or over gRPC."""

    async def run(
        self,
        action_name: str,
        tracker_state: dict[str, Any],
        domain: dict[str, Any],
        on_chunk: OnChunk | None = None,
        cancel_event: asyncio.Event | None = None,
    ) -> ActionResult:
        """Run ``action_name`` and return its events and responses.

        ``on_chunk`` is awaited for each stream event (``stream_start`` / ``stream_chunk``
        / ``stream_end`` dicts with a ``response_id``) as it is produced, on transports
        that stream. Setting ``cancel_event`` is a barge-in: delivery stops at once, the
        action finishes with its output muted, and its events are still returned.
        Raises :class:`~subagents.errors.ActionError` subclasses; then no events apply.
        """
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class DomainDigest:
    """Digest of a domain dict, cached for the last domain object seen.

    The runtime passes the same domain dict on every call; hashing it once keeps the
    hot path cheap. A different object (or a changed one, compared by identity of the
    cached dict) is hashed again.
    """

    def __init__(self) -> None:
        """Start with nothing cached."""
        self._domain: dict[str, Any] | None = None
        self._digest = ""

    def of(self, domain: dict[str, Any]) -> str:
        """The sha256 digest of ``domain`` (canonical JSON)."""
        if domain is not self._domain:
            text = json.dumps(domain, sort_keys=True, default=str, separators=(",", ":"))
            self._digest = hashlib.sha256(text.encode()).hexdigest()
            self._domain = domain
        return self._digest
