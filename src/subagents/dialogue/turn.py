"""One turn of one conversation: the events it adds and the messages it sends."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import subagents.telemetry as telemetry
from subagents.dialogue import events as ev
from subagents.dialogue.domain import Domain
from subagents.dialogue.state import ConversationState, Frame, WaitingAgent

logger = logging.getLogger("subagents.dialogue.turn")

MessageCallback = Callable[[dict[str, Any]], Awaitable[None]]
ProgressCallback = Callable[[dict[str, Any]], Awaitable[None]]

_MESSAGE_KEYS = ("text", "buttons", "image", "custom", "attachment", "elements", "quick_replies")


class Turn:
    """Collects the new events and outgoing messages of one turn.

    ``say`` records a ``bot`` event and returns the message; the message goes through
    ``on_message`` unless it was already streamed chunk by chunk.
    """

    def __init__(
        self,
        conversation_id: str,
        state: ConversationState,
        domain: Domain,
        *,
        metadata: dict[str, Any] | None = None,
        on_message: MessageCallback | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.conversation_id = conversation_id
        self.state = state
        self.domain = domain
        self.metadata = metadata or {}
        self.on_message = on_message
        self.on_progress = on_progress
        self.events: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.action_cancel: asyncio.Event | None = None
        """Set while a streaming caller's custom action runs; setting it barges in."""
        self._initial_slots = domain.initial_slots()
        self._partial: list[str] = []  # text streamed since the last whole message

    @property
    def initial_slots(self) -> dict[str, Any]:
        """Every slot at its initial value (from the domain)."""
        return self._initial_slots

    @property
    def streaming(self) -> bool:
        return self.on_message is not None

    def barge_in(self) -> bool:
        """Cut the streaming custom action in flight short; False when there is none."""
        cancel = self.action_cancel
        if cancel is None or cancel.is_set():
            return False
        cancel.set()
        return True

    def log(self, event: dict[str, Any]) -> dict[str, Any]:
        """Append an event to the turn and apply it to the state."""
        if event.get("timestamp") is None:
            event = {**event, "timestamp": time.time()}
        self.events.append(event)
        self.state.apply(event, self._initial_slots)
        return event

    def set_slot(self, name: str, value: Any) -> None:
        self.log(ev.slot(name, value))

    def cancel_waiting_agent(self, frame: Frame, reason: str) -> None:
        """Log ``agent_cancelled`` when ``frame`` is dropped while its agent waits."""
        if isinstance(frame.waiting, WaitingAgent):
            telemetry.count(telemetry.AGENTS_WAITING, -1, {"agent": frame.waiting.agent})
            self.log(
                ev.event(
                    "agent_cancelled",
                    agent=frame.waiting.agent,
                    flow_id=frame.flow_id,
                    step_id=frame.step_id,
                    reason=reason,
                )
            )

    async def say(
        self,
        message: dict[str, Any],
        *,
        streamed: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Send one whole message (``streamed``: its chunks already went out).

        ``metadata`` goes into the ``bot`` event only (e.g. ``{"barged_in": True}``).
        """
        if streamed:
            self._partial.clear()
        else:
            self.record_partial()
        body = {k: message[k] for k in _MESSAGE_KEYS if message.get(k) not in (None, [], {}, "")}
        if not body:
            return
        out = {"recipient_id": self.conversation_id, **body}
        self.messages.append(out)
        self.log(ev.bot({**out, "metadata": metadata} if metadata else out))
        if self.on_message is not None and not streamed:
            await self.on_message(out)

    async def say_text(self, text: str | None, *, streamed: bool = False) -> None:
        if text and text.strip():
            await self.say({"text": text}, streamed=streamed)

    async def utter(self, name: str, extra: dict[str, Any] | None = None) -> bool:
        """Send the domain response ``name``; False when the domain has none."""
        message = self.domain.render(name, self.state.slots, extra)
        if message is None:
            logger.warning("dialogue.response.missing", extra={"response": name})
            return False
        await self.say(message)
        return True

    def record_partial(self) -> None:
        """Record text the user saw streamed but whose whole message never came.

        A model stream broken midway leaves such text; it is logged as a ``bot`` event
        with ``metadata: {"partial": true}`` before whatever follows (the error reply).
        """
        text = "".join(self._partial)
        self._partial.clear()
        if text.strip():
            out = {"recipient_id": self.conversation_id, "text": text}
            self.log(ev.bot({**out, "metadata": {"partial": True}}))

    async def chunk(self, piece: dict[str, Any]) -> None:
        """Stream one piece of a message to a streaming caller."""
        if self.on_message is not None:
            text = piece.get("text")
            if isinstance(text, str):
                self._partial.append(text)
            await self.on_message({"recipient_id": self.conversation_id, **piece, "chunk": True})

    async def progress(self, event: str, name: str, **fields: Any) -> None:
        """Report ``{"event": event, "name": name, **fields}`` through ``on_progress``."""
        if self.on_progress is not None:
            await self.report({"event": event, "name": name, **fields})

    async def report(self, event: dict[str, Any]) -> None:
        """Hand one progress event to ``on_progress`` (errors are logged, not raised)."""
        if self.on_progress is None:
            return
        try:
            await self.on_progress(event)
        except Exception:  # a broken indicator must not break the conversation
            logger.exception("dialogue.progress.callback_failed")
