"""The action-author API: :class:`Tracker`, :class:`Action` and the rejection exception.

Mirrors the open source Rasa SDK (``rasa_sdk.interfaces``) so that actions port by
changing imports; the tracker is built from the Rasa-shaped tracker state the dialogue
engine (or a remote caller) sends.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from subagents.errors import SubagentsError

if TYPE_CHECKING:
    from subagents.actions.dispatcher import CollectingDispatcher

logger = logging.getLogger("subagents.actions")

ACTION_LISTEN_NAME = "action_listen"


class Tracker:
    """Read-only view of one conversation's state, handed to :meth:`Action.run`."""

    def __init__(
        self,
        sender_id: str,
        slots: dict[str, Any] | None = None,
        latest_message: dict[str, Any] | None = None,
        events: list[dict[str, Any]] | None = None,
        paused: bool = False,
        followup_action: str | None = None,
        active_loop: dict[str, Any] | None = None,
        latest_action_name: str | None = None,
        stack: list[dict[str, Any]] | None = None,
        user_id: str | None = None,
    ) -> None:
        """Create a tracker; prefer :meth:`from_dict` with a tracker state."""
        self.sender_id = sender_id
        self.slots: dict[str, Any] = slots if slots is not None else {}
        self.latest_message: dict[str, Any] = latest_message or {}
        self.events: list[dict[str, Any]] = events if events is not None else []
        self._paused = paused
        self.followup_action = followup_action
        self.active_loop: dict[str, Any] = active_loop or {}
        self.latest_action_name = latest_action_name
        self.stack: list[dict[str, Any]] = stack or []
        self.user_id = user_id

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Tracker:
        """Build a tracker from a Rasa-shaped tracker state (``request["tracker"]``)."""
        return cls(
            sender_id=state.get("sender_id") or state.get("conversation_id") or "",
            slots=state.get("slots") or {},
            latest_message=state.get("latest_message") or {},
            events=state.get("events") or [],
            paused=bool(state.get("paused", False)),
            followup_action=state.get("followup_action"),
            active_loop=state.get("active_loop", state.get("active_form")) or {},
            latest_action_name=state.get("latest_action_name")
            or (state.get("latest_action") or {}).get("action_name"),
            stack=state.get("stack") or [],
            user_id=state.get("user_id"),
        )

    def current_state(self) -> dict[str, Any]:
        """The tracker state as a dict, key for key what the Rasa SDK returns."""
        latest_event_time = self.events[-1].get("timestamp") if self.events else None
        return {
            "sender_id": self.sender_id,
            "slots": self.slots,
            "latest_message": self.latest_message,
            "latest_event_time": latest_event_time,
            "paused": self.is_paused(),
            "events": self.events,
            "latest_input_channel": self.get_latest_input_channel(),
            "active_loop": self.active_loop,
            "latest_action_name": self.latest_action_name,
            "stack": self.stack,
            "user_id": self.user_id,
        }

    def current_slot_values(self) -> dict[str, Any]:
        """All slot values."""
        return self.slots

    def get_slot(self, key: str) -> Any | None:
        """The value of slot ``key``, or ``None`` when it is not set or unknown."""
        if key in self.slots:
            return self.slots[key]
        logger.debug("actions.tracker.unknown_slot", extra={"slot": key})
        return None

    def get_latest_entity_values(
        self,
        entity_type: str,
        entity_role: str | None = None,
        entity_group: str | None = None,
    ) -> Iterator[Any]:
        """Values of the entities of ``entity_type`` in the latest user message."""
        entities = self.latest_message.get("entities") or []
        return (
            e.get("value")
            for e in entities
            if e.get("entity") == entity_type
            and e.get("group") == entity_group
            and e.get("role") == entity_role
        )

    def get_intent_of_latest_message(self, skip_fallback_intent: bool = True) -> str | None:
        """The intent of the latest user message, if the message carries one."""
        # As in the Rasa SDK, only the ranking counts: no ranking, no intent.
        ranking = self.latest_message.get("intent_ranking") or []
        if not ranking:
            return None
        if ranking[0].get("name") == "nlu_fallback" and skip_fallback_intent:
            return _str_or_none(ranking[1].get("name")) if len(ranking) > 1 else None
        return _str_or_none(ranking[0].get("name"))

    def get_latest_input_channel(self) -> str | None:
        """The input channel of the latest ``user`` event (``None`` without one)."""
        for event in reversed(self.events):
            if event.get("event") == "user":
                return _str_or_none(event.get("input_channel"))
        return None

    def is_paused(self) -> bool:
        """Whether the conversation is paused."""
        return self._paused

    @property
    def active_loop_name(self) -> str | None:
        """The name of the active loop/form, or ``None``."""
        name = self.active_loop.get("name") if self.active_loop else None
        return None if name == "should_not_be_set" else name

    @property
    def active_flow(self) -> str | None:
        """The id of the flow on top of the dialogue stack, or ``None``."""
        for frame in reversed(self.stack):
            flow_id = frame.get("flow_id") or frame.get("flow")
            if flow_id:
                return str(flow_id)
        return None

    def idx_after_latest_restart(self) -> int:
        """Index of the first event after the latest restart (0 when never restarted)."""
        idx = 0
        for i, event in enumerate(self.events):
            if event.get("event") == "restart":
                idx = i + 1
        return idx

    def events_after_latest_restart(self) -> list[dict[str, Any]]:
        """Events since the latest restart."""
        return list(self.events)[self.idx_after_latest_restart() :]

    def applied_events(self) -> list[dict[str, Any]]:
        """Events that still apply (reverted ones removed)."""
        applied: list[dict[str, Any]] = []
        for event in self.events:
            kind = event.get("event")
            if kind == "restart":
                applied = []
            elif kind == "undo":
                _undo_till(applied, "action")
            elif kind == "rewind":
                _undo_till(applied, "user")
                _undo_till(applied, "action")
            else:
                applied.append(event)
        return applied

    def get_last_event_for(
        self, event_type: str, exclude: list[str] | None = None, skip: int = 0
    ) -> dict[str, Any] | None:
        """The latest applied event of ``event_type`` (actions in ``exclude`` skipped)."""
        excluded = exclude or []
        matches = (
            e
            for e in reversed(self.applied_events())
            if e.get("event") == event_type
            and not (e.get("event") == "action" and e.get("name") in excluded)
        )
        for _ in range(skip):
            next(matches, None)
        return next(matches, None)

    def last_executed_action_has(self, name: str, skip: int = 0) -> bool:
        """Whether the latest executed action (``action_listen`` ignored) is ``name``."""
        last = self.get_last_event_for("action", exclude=[ACTION_LISTEN_NAME], skip=skip)
        return last is not None and last.get("name") == name

    def slots_to_validate(self) -> dict[str, Any]:
        """Slots set by the trailing run of ``slot`` events, in the order they were set."""
        count = 0
        for event in reversed(self.events):
            if event.get("event") != "slot":
                break
            count += 1
        # Forward order (later values win): form validators run in this order.
        return {e["name"]: e.get("value") for e in self.events[len(self.events) - count :]}

    def add_slots(self, slots: list[dict[str, Any]]) -> None:
        """Apply ``SlotSet`` events to this tracker copy."""
        for event in slots:
            if event.get("event") == "slot":
                self.slots[event["name"]] = event.get("value")
                self.events.append(event)

    def copy(self) -> Tracker:
        """A deep copy of this tracker."""
        return Tracker(
            self.sender_id,
            copy.deepcopy(self.slots),
            copy.deepcopy(self.latest_message),
            copy.deepcopy(self.events),
            self._paused,
            self.followup_action,
            copy.deepcopy(self.active_loop),
            self.latest_action_name,
            copy.deepcopy(self.stack),
            self.user_id,
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Tracker)
            and other.events == self.events
            and other.sender_id == self.sender_id
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by content


def _undo_till(done: list[dict[str, Any]], event_type: str) -> None:
    while done:
        removed = done.pop()
        if removed.get("event") == event_type:
            break


class Action:
    """Base class of custom actions: override :meth:`name` and :meth:`run`.

    ``run`` may be ``async def`` (preferred, required for streaming) or a plain ``def``
    (then it runs in a worker thread so blocking calls do not stall other
    conversations). It returns a list of events (dicts from
    :mod:`subagents.actions.events`), or ``None`` for no events.
    """

    def name(self) -> str:
        """Unique name of the action, as used in flows and the domain."""
        raise NotImplementedError("An action must implement name()")

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[dict[str, Any]]:
        """Do the action's work; send messages with ``dispatcher``; return events."""
        raise NotImplementedError("An action must implement run()")

    def __str__(self) -> str:
        return f"Action('{self.name()}')"


class ActionExecutionRejection(SubagentsError):  # noqa: N818 - Rasa SDK name, kept for porting
    """Raise from ``run`` to reject execution (HTTP 400 / ``ActionRejectedError``)."""

    def __init__(self, action_name: str, message: str | None = None) -> None:
        """Reject ``action_name`` with an optional message."""
        self.action_name = action_name
        self.message = message or f"Custom action '{action_name}' rejected execution."
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class ActionNotFoundException(SubagentsError):  # noqa: N818
    """No action with this name is registered (HTTP 404)."""

    def __init__(self, action_name: str, message: str | None = None) -> None:
        """Unknown ``action_name``."""
        self.action_name = action_name
        self.message = message or f"No registered action found for name '{action_name}'."
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


ACTION_MISSING_DOMAIN_MESSAGE = (
    "Missing domain context, assistant will retry the request and include "
    "the domain in the request payload."
)


class ActionMissingDomainException(SubagentsError):  # noqa: N818
    """The request carried no domain and the server has none cached for its digest (449)."""

    def __init__(self, action_name: str, message: str | None = None) -> None:
        """Domain missing for ``action_name``."""
        self.action_name = action_name
        self.message = message or ACTION_MISSING_DOMAIN_MESSAGE
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
