"""Running conversation tests: each case in a fresh conversation of one in-process assistant.

::

    async with ConversationTestRunner(project_root, workers=4) as runner:
        results = await runner.run(cases)

The project is loaded once (MCP servers started once, unless the run is offline); every
case talks in its own conversation, in an in-memory tracker store, so cases never see
each other's state and the project's own store is never touched. Up to ``workers`` cases
run concurrently. What stands in for the model, tools and actions of each turn is in
:mod:`subagents.testing.doubles`; the checks are in :mod:`subagents.testing.expect`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subagents.dialogue import events as ev
from subagents.dialogue.assistant import Assistant, AssistantHooks
from subagents.dialogue.domain import DEFAULT_RESPONSES
from subagents.dialogue.state import ConversationState
from subagents.testing.cases import TestCase, UserTurn, compact
from subagents.testing.doubles import CaseDoubles, ConversationDoubles, ToolCallRecord
from subagents.testing.expect import Mismatch, TurnChecker

logger = logging.getLogger("subagents.testing.runner")

TRANSCRIPT_TAIL = 8
"""Lines of the conversation shown under a failure."""


@dataclass
class CaseResult:
    """How one case went: ``outcome`` is ``passed``, ``failed`` or ``error``."""

    case: TestCase
    outcome: str
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


OnResult = Callable[[CaseResult], Awaitable[None] | None]


class ConversationTestRunner:
    """Loads the project's assistant with test doubles and runs cases against it."""

    def __init__(
        self,
        project_root: str | Path,
        *,
        workers: int = 4,
        offline: bool = False,
        hooks: AssistantHooks | None = None,
    ) -> None:
        self.root = Path(project_root).resolve()
        self.workers = max(1, workers)
        self.offline = offline or (hooks is not None and hooks.mcp is not None)
        self.doubles = ConversationDoubles()
        self._extra_hooks = hooks
        self.assistant: Assistant | None = None
        self.on_turn_events: dict[str, list[dict[str, Any]]] = {}

    async def __aenter__(self) -> ConversationTestRunner:
        from subagents.stores.memory import InMemoryTrackerStore

        extra = self._extra_hooks or AssistantHooks()
        hooks = AssistantHooks(
            llm=self.doubles.llm,
            mcp=extra.mcp,
            toolset=self.doubles.toolset,
            executor=self.doubles.executor,
            on_turn=self._turn_done,
        )
        self.assistant = await Assistant.load(
            self.root, tracker_store=InMemoryTrackerStore(), hooks=hooks, seed=0
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.assistant is not None:
            await self.assistant.aclose()
            self.assistant = None

    async def _turn_done(
        self, conversation_id: str, text: str, events: list[dict[str, Any]]
    ) -> None:
        self.on_turn_events[conversation_id] = events

    @property
    def project(self) -> Any:
        assert self.assistant is not None, "use the runner as `async with`"
        return self.assistant.project

    async def run(
        self,
        cases: Sequence[TestCase],
        on_result: OnResult | None = None,
        doubles_for: Callable[[TestCase], CaseDoubles] | None = None,
    ) -> list[CaseResult]:
        """Run ``cases``, up to ``workers`` at a time; results in the order of ``cases``."""
        gate = asyncio.Semaphore(self.workers)

        async def one(case: TestCase) -> CaseResult:
            async with gate:
                doubles = doubles_for(case) if doubles_for else CaseDoubles()
                doubles.offline = doubles.offline or self.offline
                result = await self.run_case(case, doubles)
            if on_result is not None:
                maybe = on_result(result)
                if maybe is not None:
                    await maybe
            return result

        return list(await asyncio.gather(*(one(case) for case in cases)))

    async def run_case(self, case: TestCase, doubles: CaseDoubles) -> CaseResult:
        """Run one case in a new conversation."""
        assistant = self.assistant
        assert assistant is not None, "use the runner as `async with`"
        conversation = f"test-{uuid.uuid4().hex[:12]}"
        self.doubles.bind(conversation, doubles)
        started = time.perf_counter()
        result = CaseResult(case, "passed")
        try:
            await self._set_fixtures(conversation, case.fixtures)
            for turn in case.turns:
                message = await self._run_turn(conversation, case, turn, doubles, result)
                if message is not None:
                    result.outcome, result.message = "failed", message
                    break
        except Exception as exc:  # a broken case must not stop the others
            logger.exception("testing.case_crashed", extra={"case": case.id})
            result.outcome, result.message = "error", f"{type(exc).__name__}: {exc}"
        finally:
            self.doubles.unbind(conversation)
            self.on_turn_events.pop(conversation, None)
        result.seconds = time.perf_counter() - started
        result.events = await assistant.store.events(conversation)
        result.tool_calls = list(doubles.tool_calls)
        if not result.passed:
            result.message += "\n" + transcript_tail(result.events)
        return result

    async def _set_fixtures(self, conversation: str, slots: Mapping[str, Any]) -> None:
        if not slots:
            return
        assistant = self.assistant
        assert assistant is not None
        state = ConversationState(sender_id=conversation, slots=assistant.domain.initial_slots())
        events = []
        for name, value in slots.items():
            state.slots[name] = assistant.domain.coerce(name, value)
            events.append(ev.slot(name, state.slots[name]))
        await assistant.store.save(conversation, state.to_json(), events)

    async def _run_turn(
        self,
        conversation: str,
        case: TestCase,
        turn: UserTurn,
        doubles: CaseDoubles,
        result: CaseResult,
    ) -> str | None:
        """Run one user turn and check it; the failure report, or None."""
        assistant = self.assistant
        assert assistant is not None
        doubles.start_turn(turn)
        metadata = {**case.metadata, **turn.metadata}
        await assistant.handle_message(conversation, turn.text, metadata or None)
        events = self.on_turn_events.pop(conversation, [])
        result.warnings.extend(doubles.warnings)
        result.warnings.extend(doubles.unused_stubs())
        header = f"turn {turn.where} (line {turn.line}): user {compact(turn.text)}"
        if doubles.problems:
            return f"{header}\n  {doubles.problems[0]}"
        failed = [e for e in events if e.get("event") == "turn_failed"]
        if failed:
            return f"{header}\n  the turn failed: {failed[0].get('error')}"
        if doubles.player is not None and doubles.player.remaining():
            return f"{header}\n  {_unused_replies(doubles)}"
        checker = TurnChecker(events, _turn_calls(doubles), self._responses())
        mismatch = checker.check(turn.expectations)
        return None if mismatch is None else describe_mismatch(header, mismatch)

    def _responses(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {k: [v] for k, v in DEFAULT_RESPONSES.items()}
        for name, variations in self.project.domain.responses.items():
            out[name] = [v.text for v in variations if getattr(v, "text", None)]
        return out


def _turn_calls(doubles: CaseDoubles) -> list[ToolCallRecord]:
    return doubles.tool_calls[doubles.turn_call_start :]


def _unused_replies(doubles: CaseDoubles) -> str:
    player = doubles.player
    assert player is not None
    left = player.remaining()
    return (
        f"the turn's `llm:` stub has {left} reply(ies) the model was never asked for "
        f"(it was asked {len(player.requests)} time(s)); remove them, or check why the "
        "turn took another path"
    )


def describe_mismatch(header: str, mismatch: Mismatch) -> str:
    """The failure text of one mismatch: the step, expected and actual."""
    exp = mismatch.expectation
    return (
        f"{header}\n  step {exp.where} (line {exp.line}): {exp.describe()}\n"
        f"  expected: {mismatch.expected}\n"
        f"  actual:   {mismatch.actual}"
    )


def transcript_tail(events: Sequence[Mapping[str, Any]], lines: int = TRANSCRIPT_TAIL) -> str:
    """The last ``lines`` user/bot messages (and flow events) of a conversation."""
    out: list[str] = []
    for event in events:
        kind = event.get("event")
        if kind in ("user", "bot") and event.get("text") is not None:
            out.append(f"    {kind}: {event['text']}")
        elif kind in ("flow_started", "flow_completed", "flow_cancelled"):
            out.append(f"    [{kind} {event.get('flow_id')}]")
    shown = out[-lines:]
    return "  transcript (last lines):\n" + ("\n".join(shown) if shown else "    (empty)")
