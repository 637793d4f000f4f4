"""Running custom actions from a flow: tracker state out, events and messages back in.

Streaming: the executor reports ``stream_start`` / ``stream_chunk`` / ``stream_end``. Each
chunk goes to a streaming caller at once (``{"recipient_id", "text", "chunk": true}``); at
``stream_end`` the joined message is recorded (``bot`` event) and returned in the turn's
messages, but not sent again to a streaming caller. A non-streaming caller gets the joined
message only. Responses (``dispatcher.utter_message``) follow as whole messages.

Events applied: ``slot``, ``reset_slots``, ``restart``, ``followup`` (runs that action
next), ``bot`` (recorded, not sent: Rasa's ``BotUttered``), ``pause``/``resume`` and any
other event (recorded as is). An :class:`~subagents.errors.ActionError` cancels the flow
with ``utter_internal_error`` and applies none of the action's events.

Barge-in: while a streaming caller's action runs, ``turn.action_cancel`` holds the
executor's ``cancel_event`` (:meth:`Assistant.barge_in` sets it). Delivery stops at once;
the part already delivered is recorded as a ``bot`` event with ``metadata:
{"barged_in": true}`` (so it is not spoken again); the action's events still apply and
its whole messages are still sent (the executor's contract).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import subagents.telemetry as telemetry
from subagents.actions.executors.base import ActionExecutor
from subagents.dialogue import events as ev
from subagents.dialogue.domain import Domain, SlotValueError
from subagents.dialogue.turn import Turn
from subagents.errors import ActionError
from subagents.stores.base import TrackerStore

logger = logging.getLogger("subagents.dialogue.actions")

MAX_FOLLOWUPS = 10
"""How many ``followup`` actions one action may chain."""
_STREAM_FIELDS = ("image", "custom", "attachment", "buttons", "elements")

Fail = Callable[[Turn, str], Awaitable[None]]
"""Cancels the current flow with ``utter_internal_error`` (the engine's ``fail``)."""


class _StreamCollector:
    """Joins streamed chunks into whole messages, forwarding pieces as they come."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.current: dict[str, Any] | None = None
        self.chunks = 0

    async def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "stream_start":
            await self.flush()
            self.current = {"text": []}
        elif kind == "stream_chunk":
            self.chunks += 1
            if self.current is None:
                self.current = {"text": []}
            piece = {k: v for k, v in event.items() if k not in {"event", "response_id"}}
            if isinstance(piece.get("text"), str):
                self.current["text"].append(piece["text"])
            for key in _STREAM_FIELDS:
                if key in piece:
                    self.current[key] = piece[key]
            await self.turn.chunk(piece)
        elif kind == "stream_end":
            await self.flush()

    async def flush(self, *, barged_in: bool = False) -> None:
        """Record the message being streamed (``barged_in``: cut short by the user)."""
        if self.current is None:
            return
        message = dict(self.current)
        message["text"] = "".join(self.current["text"]) or None
        self.current = None
        metadata = {"barged_in": True} if barged_in else None
        await self.turn.say(message, streamed=self.turn.streaming, metadata=metadata)


def tracker_state(turn: Turn, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The tracker as an action server expects it (Rasa's shape)."""
    state = turn.state
    return {
        "conversation_id": turn.conversation_id,
        "sender_id": turn.conversation_id,
        "slots": dict(state.slots),
        "latest_message": state.latest_message,
        "latest_event_time": state.latest_event_time,
        "followup_action": state.followup_action,
        "paused": state.paused,
        "events": events,
        "latest_input_channel": state.latest_input_channel,
        "active_loop": {},
        "latest_action": {"action_name": state.latest_action_name},
        "latest_action_name": state.latest_action_name,
        "stack": state.stack_json(),
    }


class ActionRunner:
    """Runs custom actions for the engine and applies what they return."""

    def __init__(
        self, executor: ActionExecutor, store: TrackerStore, domain: Domain, fail: Fail
    ) -> None:
        self.executor = executor
        self.store = store
        self.domain = domain
        self.fail = fail

    async def run(self, turn: Turn, name: str) -> bool:
        """Run action ``name`` and the follow-ups it asks for; False when one failed."""
        for depth in range(MAX_FOLLOWUPS + 1):
            followup = await self.run_once(turn, name)
            if followup is False:
                return False
            if followup is True or depth == MAX_FOLLOWUPS:
                return True
            turn.state.followup_action = None
            name = followup
        return True

    async def run_once(self, turn: Turn, name: str) -> str | bool:
        """Run one action: the follow-up action to run next, True when done, False failed."""
        kind = executor_kind(self.executor)
        started = time.perf_counter()
        with telemetry.span(f"action {name}", _action_attributes(name, kind)) as span:
            collector = _StreamCollector(turn)
            outcome = await self._run_once(turn, name, collector, span)
            span.set("subagents.action.chunks", collector.chunks)
        attributes = {"action": name, "executor": kind, "error.type": _error_type(outcome)}
        telemetry.count(telemetry.ACTION_CALLS, 1, attributes)
        telemetry.observe(telemetry.ACTION_DURATION, time.perf_counter() - started, attributes)
        return outcome

    async def _run_once(
        self, turn: Turn, name: str, collector: _StreamCollector, span: telemetry.Span
    ) -> str | bool:
        # Only a streaming caller hears chunks as they come, so only it can barge in.
        cancel = turn.action_cancel = asyncio.Event() if turn.streaming else None
        executor = executor_kind(self.executor)
        await turn.progress("tool_started", name, kind="action", executor=executor)
        started = time.perf_counter()
        failed = True
        try:
            result = await self.executor.run(
                name,
                tracker_state(turn, await self._history(turn)),
                self.domain.as_rasa_dict(),
                collector,
                cancel_event=cancel,
            )
            await collector.flush(barged_in=result.barged_in or bool(cancel and cancel.is_set()))
            failed = False
        except ActionError as exc:
            await collector.flush(barged_in=bool(cancel and cancel.is_set()))
            logger.error("dialogue.action.failed", extra={"action": name, "error": str(exc)})
            span.error(type(exc).__name__)
            await self.fail(turn, str(exc))
            return False
        finally:
            turn.action_cancel = None
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            await turn.progress(
                "tool_finished", name, kind="action", is_error=failed, duration_ms=duration_ms
            )
        # What the inspector shows of the call (Rasa's action event has only the name).
        details = {"executor": executor, "duration_ms": duration_ms, "events": len(result.events)}
        if result.streamed:
            details["streamed"] = len(result.streamed)
        turn.log(ev.action(name, **details))
        span.set("subagents.action.events", len(result.events))
        for response in result.responses:
            await _send_response(turn, response)
        return self._apply_events(turn, result.events) or True

    async def _history(self, turn: Turn) -> list[dict[str, Any]]:
        """The events since the last restart, this turn's included."""
        stored = await self.store.events(turn.conversation_id)
        if turn.state.restart_index > len(stored):  # restarted during this very turn
            return turn.events[turn.state.restart_index - len(stored) :]
        return stored[turn.state.restart_index :] + turn.events

    def _apply_events(self, turn: Turn, events: list[dict[str, Any]]) -> str | None:
        """Apply an action's events; returns the follow-up action to run, if any."""
        followup: str | None = None
        for event in events:
            if not isinstance(event, dict) or "event" not in event:
                logger.warning("dialogue.action.bad_event")
                continue
            kind = event["event"]
            if kind == "slot":
                try:
                    value = self.domain.coerce(event.get("name", ""), event.get("value"))
                except SlotValueError as exc:
                    logger.warning("dialogue.action.bad_slot", extra={"error": str(exc)})
                    continue
                turn.log({**event, "value": value})
            elif kind == "followup":
                followup = event.get("name")
                turn.log(dict(event))
            else:
                if kind == "restart":  # the stack goes: agents waiting below are cancelled
                    for frame in reversed(turn.state.stack):
                        turn.cancel_waiting_agent(frame, "restarted by an action")
                turn.log(dict(event))
        return followup


_EXECUTOR_KINDS = {"DirectExecutor": "in-process", "HTTPExecutor": "http", "GRPCExecutor": "grpc"}


def executor_kind(executor: object) -> str:
    """How actions run: ``in-process``, ``http``, ``grpc`` (else the executor's class)."""
    name = type(executor).__name__
    return _EXECUTOR_KINDS.get(name, name)


def _action_attributes(name: str, kind: str) -> dict[str, Any]:
    return {"subagents.action.name": name, "subagents.action.executor": kind}


def _error_type(outcome: str | bool) -> str | None:
    """The metric's ``error.type`` of an action outcome (False: it failed)."""
    return "ActionError" if outcome is False else None


async def _send_response(turn: Turn, response: dict[str, Any]) -> None:
    name = response.get("response") or response.get("template")
    message = {k: v for k, v in response.items() if k not in {"response", "template"}}
    if "json_message" in message and not message.get("custom"):
        message["custom"] = message.pop("json_message")
    if name:
        extra = {k: v for k, v in message.items() if isinstance(v, str | int | float)}
        rendered = turn.domain.render(name, turn.state.slots, extra)
        if rendered is None:
            logger.warning("dialogue.response.missing", extra={"response": name})
        else:
            for key in ("text", "buttons", "image", "custom", "attachment"):
                if not message.get(key) and rendered.get(key):
                    message[key] = rendered[key]
    await turn.say(message)
