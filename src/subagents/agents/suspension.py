"""Runs left pending on a tool's question, until the user's answer comes on a later turn.

A tool that asks the user (an MCP elicitation) keeps its call in flight: the run returns
``input_required`` with the question, and its calls go on in a task of their own
(:class:`~subagents.agents.loop.AwaitAnswer`). The MCP connection itself stays with its
owner task (see :mod:`subagents.mcp.connection`); only the caller's await is left pending.
:class:`Suspensions` keeps such runs in memory per conversation, bounded; the exported
state names the pending question (``state["pending"]["id"]``), so the next turn resumes
the same run only when the caller passes that state back.

A turn that finds no such run (another process, a restart, an evicted entry) closes the
open calls in the transcript with an error message for the model
(:func:`close_open_calls`) and goes on with the user's message as a normal turn.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from subagents.agents.loop import AwaitAnswer, EventCallback, Run
from subagents.agents.schemas import AgentInput
from subagents.llm.base import TextCallback

logger = logging.getLogger("subagents.agents")

INTERRUPTED = (
    "Error: tool '{name}' could not complete: it was waiting for the user's answer to its "
    "question and the call was lost (the assistant restarted or the conversation moved to "
    "another process). It may or may not have run."
)


@dataclass(eq=False)
class Suspension:
    """One run waiting for the answer to a tool's question."""

    run: Run
    step: AwaitAnswer

    @property
    def id(self) -> str:
        return self.step.pending.id

    def rebind(
        self, input: AgentInput, on_text: TextCallback | None, on_event: EventCallback | None
    ) -> Run:
        """The run, ready for this turn: its callbacks, slots and per-turn outputs."""
        run = self.run
        run.on_text, run.on_event = on_text, on_event
        run.texts, run.events, run.structured_results = [], [], []
        run.iterations = 0
        run.tool_context.slots.clear()
        run.tool_context.slots.update(input.slot_values())
        return run

    def abandon(self) -> None:
        """Nobody will answer: the question gets ``cancel``, the calls end on their own."""
        self.run.questions.cancel_all()
        self.step.work.add_done_callback(_collect)


def _collect(work: Any) -> None:
    if not work.cancelled() and work.exception() is not None:
        logger.info("agent.question.abandoned_call_failed", extra={"error": str(work.exception())})


class Suspensions:
    """Pending runs by conversation id, at most ``limit`` (the oldest is abandoned)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._items: OrderedDict[str, Suspension] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def keep(self, conversation_id: str, run: Run, step: AwaitAnswer) -> None:
        old = self._items.pop(conversation_id, None)
        if old is not None and old.step.work is not step.work:
            old.abandon()
        self._items[conversation_id] = Suspension(run, step)
        while len(self._items) > self._limit:
            _id, evicted = self._items.popitem(last=False)
            evicted.abandon()

    def take(self, input: AgentInput) -> Suspension | None:
        """The pending run this input answers, if its state names it (else abandoned)."""
        suspension = self._items.pop(input.id, None)
        if suspension is None:
            return None
        if "state" in input.metadata:
            state = input.metadata["state"]
            pending = state.get("pending") if isinstance(state, Mapping) else None
            if not isinstance(pending, Mapping) or pending.get("id") != suspension.id:
                suspension.abandon()
                return None
        return suspension

    def drop(self, conversation_id: str) -> None:
        suspension = self._items.pop(conversation_id, None)
        if suspension is not None:
            suspension.abandon()


def close_open_calls(transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``transcript`` with an error tool message for each call that has no result (a run
    exported while a tool's question was pending, resumed where that run is gone)."""
    for index in range(len(transcript) - 1, -1, -1):
        message = transcript[index]
        if message.get("role") == "assistant" and message.get("tool_calls"):
            answered = {m.get("tool_call_id") for m in transcript[index + 1 :]}
            for call in message["tool_calls"]:
                if call.get("id") not in answered:
                    name = (call.get("function") or {}).get("name", "?")
                    transcript.append(
                        {
                            "role": "tool",
                            "tool_call_id": call.get("id"),
                            "content": INTERRUPTED.format(name=name),
                        }
                    )
            break
    return transcript
