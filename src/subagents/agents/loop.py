"""The one ReAct loop shared by MCPOpenAgent and MCPTaskAgent.

The loop is a small state machine: every LLM response is turned into a typed step result
(:class:`Continue`, :class:`AskUser`, :class:`Complete`, :class:`Fail`). Streaming is only
a mode: ``on_text`` is handed to the LLM client, which awaits it for each text delta.

Tool calls of one response run concurrently (asyncio tasks) between *control* calls
(tools of kind :attr:`~subagents.tools.base.ToolKind.CONTROL`, such as ``task_completed``),
whose typed :class:`~subagents.tools.base.ControlResult` the agent applies in call order;
once a control call ends the run, later calls are not executed. Every call gets exactly
one ``tool`` message, in call order. Bad model output (unknown or refused tool, malformed
JSON, schema violations) and tool failures (every
:class:`~subagents.errors.ToolSignal`) go back to the model as tool messages; only
:class:`~subagents.errors.RunFailure` ends the run (reaching the iteration limit raises
:class:`~subagents.errors.IterationLimitReached`). The loop knows no transport's
exceptions: toolsets convert theirs into the error tree.

Progress: ``on_event`` (optional) is awaited with ``{"event": "tool_started", "name",
"agent", "iteration", "server"}`` (plus ``"builtin": True`` for task_completed /
set_slot_*) before and ``{"event": "tool_finished", "name", "agent", "iteration",
"is_error", "duration_ms"}`` after every executed call (never arguments or results),
with ``tool_progress`` events while a tool reports progress (:func:`progress_hook`), and
with ``{"event": "model_called", "agent", **model_call}`` after every model response (see
:func:`model_call`). Without it the hot path only pays one ``is None`` check per call.

Every run keeps one :func:`model_call` record per model response in ``Run.model_calls``
and the iteration, duration and server of every tool call in ``Run.structured_results``:
the inspector shows them (the tracker keeps them in ``agent_*`` and ``tool_executed``
events).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import subagents.telemetry as telemetry
from subagents.errors import (
    IterationLimitReached,
    RunFailure,
    ToolArgumentsError,
    ToolInterruptedError,
    ToolSignal,
    ToolTimeoutError,
    UnknownToolError,
)
from subagents.llm.base import LLMClient, LLMResponse, TextCallback, ToolCall
from subagents.tools.base import ControlResult, ToolContext
from subagents.tools.elicitation import describe_question, fields, parse_answer
from subagents.tools.interaction import Answer, ProgressHook, Question, ToolProgress
from subagents.tools.schema import validation_error

if TYPE_CHECKING:
    from subagents.tools.toolbox import BoundTool, Toolbox

logger = logging.getLogger("subagents.agents.loop")

EMPTY_REPLY_NUDGE = (
    "Your last reply was empty. Reply to the user with text, or call one of the tools."
)
NOT_EXECUTED = "Not executed: the task ended before this call."
_CANCEL_GRACE = 5.0  # seconds cancelled tool calls get to finish their bookkeeping
PART_SEPARATOR = "\n\n"

EventCallback = Callable[[dict[str, Any]], Awaitable[None]]
"""Receives the loop's progress events (``tool_started`` / ``tool_finished``)."""


# --------------------------------------------------------------------------- step results


@dataclass(frozen=True)
class Continue:
    """Call the model again with the tool results appended."""


@dataclass(frozen=True)
class AskUser:
    """The model replied with text and no tool call: wait for the user."""

    text: str


@dataclass(frozen=True)
class Complete:
    """The task is done; ``message`` goes to the user (``None``: complete silently)."""

    message: str | None


@dataclass(frozen=True)
class Fail:
    """The run cannot go on (ends with ``fatal_error``); made from a ``RunFailure``."""

    error: str
    error_type: str = "RunFailure"
    """The failure's class name (``LLMUnavailableError``...), for traces and metrics."""


@dataclass(frozen=True)
class Unusable:
    """The model's reply was unusable (empty even after the nudge): the run ends with
    ``recoverable_error`` and the caller may run the agent again (a flow does, twice)."""

    error: str


@dataclass(eq=False)
class PendingQuestion:
    """A question a running tool asked; ``answer`` is set when the user replied."""

    question: Question
    answer: asyncio.Future[Answer]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Names the pending call in the exported state, so a later turn finds it."""


class Questions:
    """The questions a run's tools asked and nobody answered yet (shown one at a time)."""

    def __init__(self) -> None:
        self._pending: list[PendingQuestion] = []
        self.wake: asyncio.Future[None] | None = None
        """Set by :func:`await_calls` while it waits; a question resolves it."""

    async def ask(self, question: Question) -> Answer:
        """Wait for the user's answer (the loop shows the question; an answer may take
        turns). Cancelled by the toolset's timeout, the question is forgotten."""
        item = PendingQuestion(question, asyncio.get_running_loop().create_future())
        self._pending.append(item)
        _resolve(self.wake)
        try:
            return await item.answer
        finally:
            self._pending.remove(item)

    def current(self) -> PendingQuestion | None:
        """The oldest question still waiting for an answer."""
        return next((p for p in self._pending if not p.answer.done()), None)

    def cancel_all(self) -> None:
        """Answer every waiting question with ``cancel`` (the run is abandoned)."""
        for item in self._pending:
            if not item.answer.done():
                item.answer.set_result(Answer("cancel"))


@dataclass(frozen=True, eq=False)
class AwaitAnswer:
    """A tool asked the user a question: wait for the user while the call stays pending.

    ``work`` is the task running the step's tool calls; it resolves to the step's result
    once the calls are done (see :func:`await_calls`).
    """

    pending: PendingQuestion
    work: asyncio.Future[StepResult]
    problem: str | None = None
    """Why the user's last reply did not answer the question (it is asked again)."""

    @property
    def text(self) -> str:
        """The question as the user sees it (with the problem of the last reply first)."""
        text = describe_question(self.pending.question)
        return f"That did not work: {self.problem}.\n{text}" if self.problem else text

    def event(self, agent: str) -> dict[str, Any]:
        """The ``question`` progress event (the fields, never values)."""
        question = self.pending.question
        return {
            "event": "question",
            "name": question.tool,
            "agent": agent,
            "server": question.source,
            "mode": question.mode,
            "url": question.url,
            "message": question.message,
            "fields": list(fields(question.schema)),
            "text": self.text,
        }


StepResult = Continue | AskUser | Complete | Fail | Unusable | AwaitAnswer


# --------------------------------------------------------------------------- run state


@dataclass
class CallRecord:
    """The outcome of one tool call, as the model and the tracker see it."""

    call: ToolCall
    tool_name: str
    content: str
    is_error: bool
    control: ControlResult | None = None
    """What a successful control tool asks the agent to apply."""
    duration_ms: float | None = None
    """How long the call took (None: not executed)."""
    server: str | None = None
    """Where the tool lives: the MCP server's name, ``builtin`` or ``custom``."""
    reconnected: bool = False
    """The server's connection was re-opened since its previous tool call."""
    retried: bool = False
    """The connection broke during the call and it was sent again."""


@dataclass
class Run:
    """Mutable state of one run: request messages, slots, outputs."""

    agent: str
    conversation_id: str
    messages: list[dict[str, Any]]
    tool_context: ToolContext
    on_text: TextCallback | None = None
    on_event: EventCallback | None = None
    iterations: int = 0
    empty_replies: int = 0
    """Empty model replies in a row (the first is nudged, the second ends the run)."""
    texts: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    structured_results: list[dict[str, Any]] = field(default_factory=list)
    model_calls: list[dict[str, Any]] = field(default_factory=list)
    """One :func:`model_call` record per model response, in order."""
    questions: Questions = field(default_factory=Questions)
    usage: dict[str, int] = field(default_factory=dict)
    """Tokens of the run's LLM calls (``input_tokens``, ``output_tokens``, ``llm_calls``)."""

    @property
    def slots(self) -> dict[str, Any]:
        return self.tool_context.slots


class LoopAgent(Protocol):
    """What the loop needs from an agent."""

    name: str
    max_iterations: int
    llm: LLMClient
    toolbox: Toolbox
    silent_completion: bool
    """The text of the reply that completes the run is dropped, not sent (task agents):
    it is held back from ``on_text`` until the reply's calls have run."""

    async def on_control(self, run: Run, result: ControlResult) -> StepResult: ...


# --------------------------------------------------------------------------- the loop


async def run_loop(agent: LoopAgent, run: Run) -> StepResult:
    """Drive the model until it asks the user or completes.

    Raises :class:`~subagents.errors.RunFailure` when the run cannot go on.
    """
    while True:
        if run.iterations >= agent.max_iterations:
            raise IterationLimitReached(
                f"iteration limit reached ({agent.max_iterations} LLM calls)"
            )
        await agent.toolbox.refresh()
        started = time.perf_counter()
        forward = _text_callback(run)
        held: list[str] | None = [] if forward is not None and agent.silent_completion else None
        response = await agent.llm.complete(
            run.messages,
            agent.toolbox.payload,
            on_text=_holder(held) if held is not None else forward,
        )
        run.iterations += 1
        call = model_call(run.iterations, response, _ms_since(started))
        run.model_calls.append(call)
        if run.on_event is not None:
            await _notify(run, {"event": "model_called", "agent": run.agent, **call})
        if response.usage:
            add_usage(run.usage, response.usage)
        step = await _step(agent, run, response)
        if held and forward is not None and not isinstance(step, Complete):
            await forward("".join(held))  # not the completing reply: the user sees it
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "agent.run.step",
                extra={
                    "agent": run.agent,
                    "iteration": run.iterations,
                    "tool_calls": len(response.tool_calls),
                    "step": type(step).__name__,
                    "duration_ms": _ms_since(started),
                },
            )
        if not isinstance(step, Continue):
            return step


# Model call ids: random per process, then counted (a uuid4 per call cost 5 µs a step).
_CALL_ID_PREFIX = os.urandom(6).hex()
_call_numbers = itertools.count(1)


def model_call(iteration: int, response: LLMResponse, duration_ms: float) -> dict[str, Any]:
    """What one model response is recorded as: ``{"id", "iteration", "model",
    "duration_ms", "finish_reason", "usage", "tool_calls"}`` (``id``: unique, names the call
    for the inspector's prompt log; ``usage`` as the provider reported it, None when it did
    not; ``tool_calls``: how many the model asked for)."""
    return {
        "id": f"{_CALL_ID_PREFIX}{next(_call_numbers):x}",
        "iteration": iteration,
        "model": response.model,
        "duration_ms": duration_ms,
        "finish_reason": response.finish_reason,
        "usage": response.usage,
        "tool_calls": len(response.tool_calls),
    }


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _holder(held: list[str]) -> TextCallback:
    """A text callback that keeps the deltas of one reply in ``held``."""

    async def hold(delta: str) -> None:
        held.append(delta)

    return hold


def add_usage(total: dict[str, int], usage: Mapping[str, Any]) -> None:
    """Add one response's token usage (OpenAI's or the GenAI names) to ``total``."""
    for ours, names in _USAGE_NAMES:
        value = next((usage[n] for n in names if isinstance(usage.get(n), int)), None)
        if value is not None:
            total[ours] = total.get(ours, 0) + value
    total["llm_calls"] = total.get("llm_calls", 0) + 1


_USAGE_NAMES = (
    ("input_tokens", ("prompt_tokens", "input_tokens")),
    ("output_tokens", ("completion_tokens", "output_tokens")),
)


def _text_callback(run: Run) -> TextCallback | None:
    """``run.on_text``, prefixed with the part separator when earlier parts exist.

    So the streamed text always equals ``response_message`` (parts joined by a blank line).
    """
    on_text = run.on_text
    if on_text is None or not run.texts:
        return on_text
    first = True

    async def forward(delta: str) -> None:
        nonlocal first
        if first and delta:
            first = False
            delta = PART_SEPARATOR + delta
        await on_text(delta)

    return forward


async def _step(agent: LoopAgent, run: Run, response: LLMResponse) -> StepResult:
    text = response.text or ""
    kept = len(run.texts)
    if text.strip():
        run.texts.append(text)
    if not response.tool_calls:
        run.messages.append({"role": "assistant", "content": text})
        if not text.strip():
            run.empty_replies += 1
            if run.empty_replies > 1:  # nudged once already: the reply is unusable
                return Unusable("the model returned an empty reply twice in a row")
            run.messages.append({"role": "user", "content": EMPTY_REPLY_NUDGE})
            return Continue()
        return AskUser(text)
    run.empty_replies = 0
    run.messages.append(_assistant_message(text, response.tool_calls))
    if not _may_ask(agent.toolbox, response.tool_calls):
        step = await _execute_calls(agent, run, response.tool_calls)
    else:
        # A tool may ask the user and wait for a later turn: the calls run in a task that
        # the run can leave pending (AwaitAnswer) and pick up when the answer comes.
        work = asyncio.ensure_future(_execute_calls(agent, run, response.tool_calls))
        step = await await_calls(run, work)
    if isinstance(step, Complete) and agent.silent_completion:
        del run.texts[kept:]  # the completing reply's text is not a response to send
    return step


def _may_ask(toolbox: Toolbox, calls: list[ToolCall]) -> bool:
    for call in calls:
        tool = toolbox.lookup(call.name)
        if tool is not None and tool.toolset.may_ask_user:
            return True
    return False


async def resume_calls(run: Run, waiting: AwaitAnswer, text: str) -> StepResult:
    """The user's reply while a tool's question waits: parsed into the answer (or the
    question is asked again with the problem), then the pending calls go on.

    A question that timed out meanwhile was declined already: the reply then goes to the
    model as a user message once the calls are done.
    """
    pending = waiting.pending
    answered = False
    if not pending.answer.done():
        answer = parse_answer(pending.question, text)
        if isinstance(answer, str):
            return AwaitAnswer(pending, waiting.work, problem=answer)
        pending.answer.set_result(answer)
        answered = True
    step = await await_calls(run, waiting.work)
    if not answered and text and isinstance(step, Continue):
        run.messages.append({"role": "user", "content": text})
    return step


async def await_calls(run: Run, work: asyncio.Future[StepResult]) -> StepResult:
    """Wait for the step's calls, or for a question one of them asks the user.

    Returns the calls' step result, or :class:`AwaitAnswer` (``work`` left running) when
    a question waits. Cancelled (the deadline), it cancels the calls.
    """
    questions = run.questions
    loop = asyncio.get_running_loop()
    try:
        while True:
            pending = questions.current()
            if pending is not None:
                return AwaitAnswer(pending, work)
            if work.done():
                return work.result()
            # One plain future woken by the calls' end or by a question: cheaper than
            # asyncio.wait over a task per event (this runs on every step with MCP calls).
            wake = questions.wake = loop.create_future()
            wake_up = functools.partial(_resolve_on_done, wake)
            work.add_done_callback(wake_up)
            try:
                await wake
            finally:
                work.remove_done_callback(wake_up)
                questions.wake = None
    except asyncio.CancelledError:
        questions.cancel_all()
        work.cancel()
        await asyncio.wait({work}, timeout=_CANCEL_GRACE)  # tool_finished events go out
        raise


def _resolve(wake: asyncio.Future[None] | None) -> None:
    if wake is not None and not wake.done():
        wake.set_result(None)


def _resolve_on_done(wake: asyncio.Future[None], _done: asyncio.Future[Any]) -> None:
    _resolve(wake)


def _assistant_message(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.raw_arguments},
            }
            for call in calls
        ],
    }


async def _execute_calls(agent: LoopAgent, run: Run, calls: list[ToolCall]) -> StepResult:
    """Run the calls: plain ones concurrently, control ones in order (see module doc)."""
    result: StepResult = Continue()
    for batch, control in _batches(agent.toolbox, calls):
        if not isinstance(result, Continue):
            for call in batch:
                _append(run, CallRecord(call, call.name, NOT_EXECUTED, True))
        elif control:
            record = await execute_call(agent.toolbox, run, batch[0])
            _append(run, record)
            if record.control is not None:
                result = await agent.on_control(run, record.control)
        else:
            for record in await _execute_concurrently(agent.toolbox, run, batch):
                _append(run, record)
    return result


def _batches(toolbox: Toolbox, calls: list[ToolCall]) -> list[tuple[list[ToolCall], bool]]:
    """Split calls into runs of plain calls and single control calls, in call order."""
    batches: list[tuple[list[ToolCall], bool]] = []
    for call in calls:
        tool = toolbox.lookup(call.name)
        control = tool is not None and tool.control
        if control or not batches or batches[-1][1]:
            batches.append(([call], control))
        else:
            batches[-1][0].append(call)
    return batches


async def _execute_concurrently(
    toolbox: Toolbox, run: Run, calls: list[ToolCall]
) -> list[CallRecord]:
    if len(calls) == 1:
        return [await execute_call(toolbox, run, calls[0])]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(execute_call(toolbox, run, call)) for call in calls]
    except BaseExceptionGroup as grouped:
        # execute_call only lets RunFailure (and cancellation) through: surface the first.
        failures = grouped.subgroup(lambda e: isinstance(e, RunFailure))
        if failures is not None:
            raise _first(failures) from None
        raise
    return [task.result() for task in tasks]


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def _append(run: Run, record: CallRecord) -> None:
    run.messages.append({"role": "tool", "tool_call_id": record.call.id, "content": record.content})
    if record.content == NOT_EXECUTED:
        return
    call = record.call
    run.structured_results.append(
        {
            "name": record.tool_name,
            "arguments": call.arguments if call.arguments is not None else call.raw_arguments,
            "result": record.content,
            "is_error": record.is_error,
            "iteration": run.iterations,
            "duration_ms": record.duration_ms,
            "server": record.server,
            # Only when it happened: the inspector marks such calls.
            **({"reconnected": True} if record.reconnected else {}),
            **({"retried": True} if record.retried else {}),
        }
    )


# --------------------------------------------------------------------------- one call


async def execute_call(toolbox: Toolbox, run: Run, call: ToolCall) -> CallRecord:
    """Execute one call; every problem becomes an error record, except RunFailure."""
    tool = toolbox.lookup(call.name)
    name = tool.spec.name if tool is not None else call.name
    if run.on_event is None:
        return await _guarded_call(toolbox, tool, name, run, call)
    started: dict[str, Any] = {
        "event": "tool_started",
        "name": name,
        "agent": run.agent,
        "iteration": run.iterations,
        "server": tool.spec.origin if tool is not None else None,
    }
    if tool is not None and tool.control:
        # task_completed / set_slot_*: the agent's bookkeeping, not work to show the user.
        started["builtin"] = True
    await _notify(run, started)
    try:
        record = await _guarded_call(toolbox, tool, name, run, call)
    except (RunFailure, asyncio.CancelledError):
        # Cancelled too (the deadline, a sibling's RunFailure, the caller): every
        # tool_started gets its tool_finished, so no indicator is left spinning.
        await _notify(run, _finished(run, name, True))
        raise
    await _notify(run, _finished(run, name, record.is_error, record.duration_ms))
    return record


MAX_PROGRESS_EVENTS = 50
"""``tool_progress`` events a run keeps for the tracker (all of them go to ``on_event``)."""


def progress_hook(run: Run) -> ProgressHook:
    """The run's receiver of tool progress: a ``tool_progress`` event to ``on_event``
    (``{"event", "name", "agent", "server", "progress", "total", "message", "percent",
    "text"}``), and the first :data:`MAX_PROGRESS_EVENTS` also to the tracker."""
    kept = 0

    async def on_progress(report: ToolProgress) -> None:
        nonlocal kept
        event: dict[str, Any] = {
            "event": "tool_progress",
            "name": report.tool,
            "agent": run.agent,
            "server": report.source,
            "progress": report.progress,
            "total": report.total,
            "message": report.message,
            "percent": report.percent,
            "text": report.describe(),
        }
        if kept < MAX_PROGRESS_EVENTS:
            kept += 1
            run.events.append(event)
        if run.on_event is not None:
            await _notify(run, event)

    return on_progress


def _finished(
    run: Run, name: str, is_error: bool, duration_ms: float | None = None
) -> dict[str, Any]:
    return {
        "event": "tool_finished",
        "name": name,
        "agent": run.agent,
        "iteration": run.iterations,
        "is_error": is_error,
        "duration_ms": duration_ms,
    }


async def notify(run: Run, event: dict[str, Any]) -> None:
    """Hand ``event`` to the run's ``on_event``, if any (a failing callback is logged)."""
    await _notify(run, event)


async def _notify(run: Run, event: dict[str, Any]) -> None:
    on_event = run.on_event
    if on_event is None:  # a call left pending on a question resumed on a quieter turn
        return
    try:
        await on_event(event)
    except Exception:  # a broken progress indicator must not break the run
        logger.warning(
            "agent.event.callback_failed", extra={"agent": run.agent, "event": event["event"]}
        )


async def _guarded_call(
    toolbox: Toolbox, tool: BoundTool | None, name: str, run: Run, call: ToolCall
) -> CallRecord:
    started = time.perf_counter()
    error_type: str | None = None
    with telemetry.span(f"execute_tool {name}", _tool_attributes(tool, name, call)) as span:
        try:
            record = await _call_tool(toolbox, tool, run, call)
            if record.is_error:
                error_type = "tool_error"
        except RunFailure as failure:
            _tool_metrics(tool, name, started, type(failure).__name__)
            raise
        except ToolSignal as signal:
            error_type = type(signal).__name__
            record = CallRecord(call, name, _signal_text(name, signal, toolbox), True)
        except Exception as exc:  # a third-party toolset's bug must never crash the run
            error_type = type(exc).__name__
            logger.warning(
                "agent.tool.exception",
                extra={"agent": run.agent, "tool": name, "error_type": error_type},
            )
            text = f"Error: tool '{name}' failed: {type(exc).__name__}: {exc}"
            record = CallRecord(call, name, text, True)
        if span.recording:
            _describe_call(span, call, record, error_type)
    _tool_metrics(tool, name, started, error_type)
    # DEBUG: one record per tool call was a measurable share of a turn at INFO; the
    # per-run summary (agent.run.complete) and per-turn one (assistant.turn) stay at INFO.
    record.duration_ms = _ms_since(started)
    record.server = tool.spec.origin if tool is not None else None
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "agent.tool",
            extra={
                "agent": run.agent,
                "tool": name,
                "is_error": record.is_error,
                "duration_ms": record.duration_ms,
            },
        )
    return record


def _tool_attributes(tool: BoundTool | None, name: str, call: ToolCall) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.call.id": call.id,
        "subagents.tool.kind": tool.spec.kind.value if tool is not None else None,
        "subagents.tool.source": tool.spec.origin if tool is not None else None,
    }


def _describe_call(
    span: telemetry.Span, call: ToolCall, record: CallRecord, error_type: str | None
) -> None:
    if error_type is not None:
        span.error(error_type)
    arguments = telemetry.content(call.raw_arguments)
    if arguments is not None:
        span.set("gen_ai.tool.call.arguments", arguments)
        span.set("gen_ai.tool.call.result", telemetry.content(record.content))


def _tool_metrics(tool: BoundTool | None, name: str, started: float, error: str | None) -> None:
    attributes = {"tool": name, "server": tool.spec.origin if tool is not None else ""}
    telemetry.count(telemetry.TOOL_CALLS, 1, attributes)
    telemetry.observe(telemetry.TOOL_DURATION, time.perf_counter() - started, attributes)
    if error is not None:
        telemetry.count(telemetry.TOOL_ERRORS, 1, {**attributes, "error.type": error})


async def _call_tool(
    toolbox: Toolbox, tool: BoundTool | None, run: Run, call: ToolCall
) -> CallRecord:
    if tool is None:
        raise UnknownToolError(call.name, "unknown tool")
    if call.parse_error is not None or call.arguments is None:
        raise ToolArgumentsError(call.name, call.parse_error or "arguments are missing")
    if tool.validator is not None:
        problem = validation_error(tool.validator, call.arguments)
        if problem is not None:
            raise ToolArgumentsError(tool.spec.name, problem)
    outcome = await tool.toolset.call_tool(tool.spec.name, call.arguments, run.tool_context)
    if outcome.is_error:
        text = f"Error: tool '{tool.spec.name}' reported an error: {outcome.text}"
        record = CallRecord(call, tool.spec.name, text, True)
    else:
        content = outcome.text if outcome.text else "(the tool returned no output)"
        control = outcome.control if tool.control else None
        record = CallRecord(call, tool.spec.name, content, False, control)
    record.reconnected, record.retried = outcome.reconnected, outcome.retried
    return record


def _signal_text(name: str, signal: ToolSignal, toolbox: Toolbox) -> str:
    if isinstance(signal, UnknownToolError):
        available = ", ".join(toolbox.model_names) or "none"
        return (
            f"Error: there is no tool named '{name}' available to you. "
            f"Available tools: {available}."
        )
    if isinstance(signal, ToolArgumentsError):
        return (
            f"Error: invalid arguments for tool '{name}': {signal.message}. "
            "Fix the arguments and call the tool again."
        )
    if isinstance(signal, ToolTimeoutError):
        return f"Error: tool '{name}' timed out: {signal.message}"
    if isinstance(signal, ToolInterruptedError):
        return (
            f"Error: tool '{name}' could not complete ({signal.message}); "
            "it may or may not have run."
        )
    return f"Error: tool '{name}' failed: {signal.message}"


def dump_arguments(arguments: dict[str, Any]) -> str:
    """Compact JSON used when the loop itself writes arguments (tests, demos)."""
    return json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)
