"""The per-conversation state the engine loads and saves every turn.

It is small and JSON-serialisable on purpose: slots, the dialogue stack, the latest
message and a window of recent user/bot messages (enough for the router and agents'
conversation history). The full event log lives in the tracker store and is read only on
demand.

The dialogue stack is a list of :class:`Frame` s, the top last. Stored as JSON::

    {"flow_id": "book", "step_id": "ask_time",
     "waiting": null | {"kind": "agent", "agent": "...", "state": {...}, "prompt": "..."}
                     | {"kind": "collect", "slot": "..."},
     "called": true}          # only on a flow run by a ``call:`` step of the frame below

A called frame is part of its caller: when it completes, the caller goes on after its
``call:`` step; when it is cancelled, the caller is cancelled with it.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any


class WaitKind(StrEnum):
    """What a frame waits for: its agent's next user message, or a collect answer."""

    AGENT = "agent"
    COLLECT = "collect"


@dataclass
class WaitingAgent:
    """An agent asked the user something (``input_required``); ``state`` resumes it."""

    agent: str
    state: Any = None
    prompt: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": WaitKind.AGENT.value,
            "agent": self.agent,
            "state": self.state,
            "prompt": self.prompt,
        }


@dataclass
class WaitingCollect:
    """A ``collect`` step asked for ``slot``."""

    slot: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": WaitKind.COLLECT.value, "slot": self.slot}


Waiting = WaitingAgent | WaitingCollect


def _waiting_from_json(data: dict[str, Any] | None) -> Waiting | None:
    if not data:
        return None
    if data.get("kind") == WaitKind.COLLECT:
        return WaitingCollect(slot=str(data.get("slot") or ""))
    return WaitingAgent(
        agent=str(data.get("agent") or ""), state=data.get("state"), prompt=data.get("prompt")
    )


@dataclass
class Frame:
    """One flow on the dialogue stack: the step it is at and what it waits for."""

    flow_id: str
    step_id: str
    waiting: Waiting | None = None
    called: bool = False
    """Run by a ``call:`` step of the frame below (which waits at that step)."""
    context: dict[str, Any] = field(default_factory=dict)
    """A pattern's context (``flow_name``, ``slot``, ``options``...): template variables
    of the responses it sends."""

    def to_json(self) -> dict[str, Any]:
        waiting = self.waiting.to_json() if self.waiting is not None else None
        data: dict[str, Any] = {
            "flow_id": self.flow_id,
            "step_id": self.step_id,
            "waiting": waiting,
        }
        if self.called:  # only when set: states stored before flow calls keep their shape
            data["called"] = True
        if self.context:  # likewise: only pattern frames have a context
            data["context"] = dict(self.context)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Frame:
        return cls(
            flow_id=str(data["flow_id"]),
            step_id=str(data["step_id"]),
            waiting=_waiting_from_json(data.get("waiting")),
            called=bool(data.get("called")),
            context=dict(data.get("context") or {}),
        )


RECENT_LIMIT = 30
"""How many user/bot messages the state keeps for conversation histories."""
RECENT_MESSAGE_CHARS = 4000
"""A longer message is cut to this many characters in the history sent to models."""
RECENT_TOTAL_CHARS = 24000
"""The history sent to models holds at most this many characters (oldest dropped first)."""


@dataclass
class ConversationState:
    """Everything a turn needs, persisted between turns."""

    sender_id: str
    slots: dict[str, Any]
    stack: list[Frame] = field(default_factory=list)
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
        # A copy, as asdict makes of the rest: the stored state must not alias live frames.
        data = asdict(replace(self, stack=[]))
        data["stack"] = copy.deepcopy(self.stack_json())
        return data

    def stack_json(self) -> list[dict[str, Any]]:
        """The dialogue stack in its stored (and tracker) shape."""
        return [frame.to_json() for frame in self.stack]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConversationState:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["stack"] = [Frame.from_json(f) for f in known.get("stack") or []]
        return cls(**known)

    def remember(self, role: str, text: str) -> None:
        """Add a user/bot message to the recent window (bounded in count and characters).

        One huge message must not be resent to the model on every later turn: each is
        cut to ``RECENT_MESSAGE_CHARS`` and the window to ``RECENT_TOTAL_CHARS``.
        """
        if len(text) > RECENT_MESSAGE_CHARS:
            text = text[: RECENT_MESSAGE_CHARS - 1] + "…"
        self.recent.append({"role": role, "text": text})
        if len(self.recent) > RECENT_LIMIT:
            del self.recent[: len(self.recent) - RECENT_LIMIT]
        total = sum(len(m["text"]) for m in self.recent)
        while total > RECENT_TOTAL_CHARS and len(self.recent) > 1:
            total -= len(self.recent.pop(0)["text"])

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
        elif kind == "session_started":
            self.recent = []  # the router and agents start the new session afresh
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
