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
from typing import TYPE_CHECKING, Any

from subagents.dialogue import events as ev
from subagents.dialogue.domain import SlotValueError
from subagents.dialogue.turn import Turn
from subagents.errors import ActionError

if TYPE_CHECKING:
    from subagents.dialogue.engine import DialogueEngine

logger = logging.getLogger("subagents.dialogue.actions")

_STREAM_FIELDS = ("image", "custom", "attachment", "buttons", "elements")


class _StreamCollector:
    """Joins streamed chunks into whole messages, forwarding pieces as they come."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.current: dict[str, Any] | None = None

    async def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "stream_start":
            await self.flush()
            self.current = {"text": []}
        elif kind == "stream_chunk":
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


def tracker_state(engine: DialogueEngine, turn: Turn, events: list[dict[str, Any]]) -> dict:
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
        "stack": state.stack,
    }


async def run_custom_action(engine: DialogueEngine, turn: Turn, name: str, depth: int) -> bool:
    """Run action ``name``; apply its events and send its messages. False on failure."""
    from subagents.dialogue.engine import MAX_FOLLOWUPS

    stored = await engine.store.events(turn.conversation_id)
    history = stored[turn.state.restart_index :] + turn.events
    if turn.state.restart_index > len(stored):  # restarted during this very turn
        history = turn.events[turn.state.restart_index - len(stored) :]
    collector = _StreamCollector(turn)
    # Only a streaming caller hears chunks as they come, so only it can barge in.
    cancel = turn.action_cancel = asyncio.Event() if turn.streaming else None
    await turn.progress("tool_started", name, kind="action")
    try:
        result = await engine.executor.run(
            name,
            tracker_state(engine, turn, history),
            engine.domain.as_rasa_dict(),
            collector,
            cancel_event=cancel,
        )
        await collector.flush(barged_in=result.barged_in or bool(cancel and cancel.is_set()))
    except ActionError as exc:
        await collector.flush(barged_in=bool(cancel and cancel.is_set()))
        logger.error("dialogue.action.failed", extra={"action": name, "error": str(exc)})
        await engine.fail(turn, str(exc))
        return False
    finally:
        turn.action_cancel = None
        await turn.progress("tool_finished", name, kind="action")
    turn.log(ev.action(name))
    for response in result.responses:
        await _send_response(turn, response)
    followup = _apply_events(engine, turn, result.events)
    if followup and depth < MAX_FOLLOWUPS:
        turn.state.followup_action = None
        return await engine.run_action(turn, followup, depth + 1)
    return True


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


def _apply_events(engine: DialogueEngine, turn: Turn, events: list[dict[str, Any]]) -> str | None:
    """Apply an action's events; returns the follow-up action to run, if any."""
    followup: str | None = None
    for event in events:
        if not isinstance(event, dict) or "event" not in event:
            logger.warning("dialogue.action.bad_event")
            continue
        kind = event["event"]
        if kind == "slot":
            try:
                value = engine.domain.coerce(event.get("name", ""), event.get("value"))
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
                    engine.cancel_waiting_agent(turn, frame, "restarted by an action")
            turn.log(dict(event))
    return followup
