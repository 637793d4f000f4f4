"""The per-conversation state the engine loads and saves every turn.

It is small and JSON-serialisable on purpose: slots, the dialogue stack, the latest
message and a window of recent user/bot messages (enough for the router and agents'
conversation history). The full event log lives in the tracker store and is read only on
demand.

The dialogue stack is a list of flow frames, the top last::

    {"flow_id": "book", "step_id": "ask_time",
     "waiting": null | {"kind": "agent", "agent": "...", "state": {...}, "prompt": "..."}
                     | {"kind": "collect", "slot": "...", "prompt": "..."}}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

RECENT_LIMIT = 30
"""How many user/bot messages the state keeps for conversation histories."""


@dataclass
class ConversationState:
    """Everything a turn needs, persisted between turns."""

    sender_id: str
    slots: dict[str, Any]
    stack: list[dict[str, Any]] = field(default_factory=list)
    latest_message: dict[str, Any] = field(default_factory=dict)
    latest_action_name: str | None = None
    latest_input_channel: str | None = None
    latest_event_time: float | None = None
    followup_action: str | None = None
    paused: bool = False
    recent: list[dict[str, Any]] = field(default_factory=list)
    event_count: int = 0
    restart_index: int = 0
    """Index in the event log of the latest ``restarted`` event (history starts there)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConversationState:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def remember(self, role: str, text: str) -> None:
        """Add a user/bot message to the recent window (bounded)."""
        self.recent.append({"role": role, "text": text})
        if len(self.recent) > RECENT_LIMIT:
            del self.recent[: len(self.recent) - RECENT_LIMIT]

    def apply(self, ev: dict[str, Any], initial_slots: dict[str, Any]) -> None:
        """Update the state for one event (the event is already in the turn's log)."""
        kind = ev.get("event")
        self.event_count += 1
        self.latest_event_time = ev.get("timestamp", self.latest_event_time)
        if kind == "slot":
            self.slots[ev["name"]] = ev.get("value")
        elif kind == "user":
            self.latest_message = {
                "text": ev.get("text"),
                "intent": {},
                "entities": [],
                "metadata": ev.get("metadata") or {},
            }
            self.latest_input_channel = ev.get("input_channel")
            if ev.get("text"):
                self.remember("user", ev["text"])
        elif kind == "bot":
            if ev.get("text"):
                self.remember("bot", ev["text"])
        elif kind == "action":
            self.latest_action_name = ev.get("name")
        elif kind == "restart":
            self.reset(initial_slots)
            self.restart_index = self.event_count
        elif kind == "reset_slots":
            self.slots = dict(initial_slots)
        elif kind == "followup":
            self.followup_action = ev.get("name")
        elif kind == "pause":
            self.paused = True
        elif kind == "resume":
            self.paused = False

    def reset(self, initial_slots: dict[str, Any]) -> None:
        self.slots = dict(initial_slots)
        self.stack = []
        self.recent = []
        self.latest_action_name = None
        self.followup_action = None
        self.paused = False
