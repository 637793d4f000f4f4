"""The tracker store interface.

A tracker store keeps, per conversation, two things:

* the **state**: a small JSON-serialisable dict (slots, the dialogue stack, the latest
  message, a window of recent messages, counters...) that the dialogue engine loads at the
  start of every turn and saves at its end;
* the **events**: the append-only log of Rasa-style event dicts, read only when someone
  asks for the whole tracker (``GET /conversations/{id}/tracker``) or a custom action needs
  the history.

``save`` writes the new state and the turn's new events in ONE transaction, so a crash
loses at most the turn in flight and never leaves state and events out of step. A store
for several replicas (Redis, PostgreSQL) implements the same five coroutines; the
per-conversation ordering is the caller's job (:class:`subagents.dialogue.locks`), so a
multi-replica deployment must route one conversation to one replica or add its own lock.
"""

from __future__ import annotations

import builtins
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class TrackerStore(Protocol):
    """Where conversations live between turns (see the module docstring)."""

    async def load(self, conversation_id: str) -> dict[str, Any] | None:
        """The saved state of a conversation, or ``None`` when it was never saved."""
        ...

    async def events(self, conversation_id: str) -> builtins.list[dict[str, Any]]:
        """Every event of a conversation in order (``[]`` for an unknown one)."""
        ...

    async def save(
        self,
        conversation_id: str,
        state: dict[str, Any],
        new_events: builtins.list[dict[str, Any]],
    ) -> None:
        """Replace the state and append ``new_events``, atomically."""
        ...

    async def list(self) -> builtins.list[str]:
        """The ids of every saved conversation."""
        ...

    async def aclose(self) -> None:
        """Release connections/threads; the store is unusable afterwards."""
        ...
