"""An in-memory tracker store (tests, throw-away runs)."""

from __future__ import annotations

import builtins
import copy
import json
from typing import Any


class InMemoryTrackerStore:
    """Keeps conversations in a dict; values are JSON round-tripped like a real store.

    Round-tripping through JSON on save catches non-serialisable state in tests exactly
    where a persistent store would, and isolates the caller from later mutation.
    """

    def __init__(self) -> None:
        self._states: dict[str, str] = {}
        self._events: dict[str, builtins.list[str]] = {}

    async def load(self, conversation_id: str) -> dict[str, Any] | None:
        raw = self._states.get(conversation_id)
        return None if raw is None else json.loads(raw)

    async def events(self, conversation_id: str) -> builtins.list[dict[str, Any]]:
        return [json.loads(e) for e in self._events.get(conversation_id, ())]

    async def save(
        self,
        conversation_id: str,
        state: dict[str, Any],
        new_events: builtins.list[dict[str, Any]],
    ) -> None:
        # Serialise everything first so a bad value changes nothing (all or nothing).
        raw_state = json.dumps(state)
        raw_events = [json.dumps(e) for e in new_events]
        self._states[conversation_id] = raw_state
        self._events.setdefault(conversation_id, []).extend(raw_events)

    async def list(self) -> builtins.list[str]:
        return builtins.list(self._states)

    async def open(self) -> None:
        """Nothing to connect to."""

    async def ping(self) -> None:
        """Always answers."""

    async def aclose(self) -> None:
        self._states.clear()
        self._events.clear()

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of everything (debugging aid)."""
        return copy.deepcopy({"states": self._states, "events": self._events})
