"""``ReActAgent``: what MCPOpenAgent and MCPTaskAgent share around the loop.

One run: ``process_input`` → render the prompt (once) → :func:`run_loop` under the
deadline → build the :class:`AgentOutput` → ``process_output``.

State between runs: when a run ends ``input_required`` its transcript (the messages after
the system prompt) is kept in memory per ``AgentInput.id`` *and* exported as
``AgentOutput.metadata["state"]`` (JSON). A caller that persists conversations passes it
back as ``AgentInput.metadata["state"]``; when that key is present it wins over memory
(``None`` starts afresh). A run that completes or fails forgets the state.

Cancellation: ``task.cancel()`` on a running ``run`` cancels in-flight tool calls and the
LLM request, leaves the stored state as it was before the run, and raises
``asyncio.CancelledError`` to the canceller (the usual asyncio contract).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Required, TypedDict

import jinja2

import subagents.telemetry as telemetry
from subagents.agents.loop import (
    PART_SEPARATOR,
    AskUser,
    AwaitAnswer,
    Continue,
    EventCallback,
    Fail,
    Run,
    StepResult,
    Unusable,
    progress_hook,
    resume_calls,
    run_loop,
)
from subagents.agents.prompt import compile_template, default_template, render_prompt
from subagents.agents.sampling import SamplingClients, sampling_hook
from subagents.agents.schemas import AgentInput, AgentOutput, AgentStatus
from subagents.agents.suspension import Suspension, Suspensions, close_open_calls
from subagents.config.models import AgentConfig
from subagents.errors import ConfigError, DeadlineExceeded, RunFailure
from subagents.llm.base import LLMClient, TextCallback
from subagents.tools.base import ControlResult, ToolContext, Toolset
from subagents.tools.custom import CustomToolset
from subagents.tools.toolbox import Toolbox

logger = logging.getLogger("subagents.agents")

STATE_VERSION = 1
_MAX_REMEMBERED = 2048  # conversations whose waiting state is kept in memory


class AgentOptions(TypedDict, total=False):
    """The keyword options of :class:`ReActAgent` that subclasses pass through."""

    llm: Required[LLMClient]
    toolsets: Sequence[Toolset]
    prompt_template: str | None
    prompt_template_source: str
    max_iterations: int
    timeout: float | None
    config: AgentConfig | None
    config_file: str


class ReActAgent:
    """Base class of the ReAct sub agents (use MCPOpenAgent or MCPTaskAgent)."""

    default_template_file: str = ""
    silent_completion: bool = False
    """True for task agents: completing drops the text of the completing reply."""

    def __init__(
        self,
        name: str,
        description: str = "",
        *,
        llm: LLMClient,
        toolsets: Sequence[Toolset] = (),
        prompt_template: str | None = None,
        prompt_template_source: str = "prompt_template",
        max_iterations: int = 10,
        timeout: float | None = None,
        config: AgentConfig | None = None,
        config_file: str = "",
    ) -> None:
        if max_iterations < 1:
            raise ConfigError(
                f"agent '{name}': configuration.max_iterations must be at least 1",
                file=config_file,
                field="configuration.max_iterations",
            )
        self.name = name
        self.description = description
        self.llm = llm
        self.max_iterations = max_iterations
        self.timeout = timeout
        self.config = config
        self.config_file = config_file or f"sub_agents/{name}/config.yml"
        self.template: jinja2.Template = (
            compile_template(prompt_template, source=prompt_template_source)
            if prompt_template is not None
            else default_template(self.default_template_file)
        )
        self._toolsets = list(toolsets)
        self.toolbox = Toolbox([], agent=name, config_file=self.config_file)
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._states: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._suspensions = Suspensions(_MAX_REMEMBERED)
        self.sampling_clients: SamplingClients | None = None
        """LLM clients for MCP sampling by (model group, max_tokens); set by the loader."""

    # ------------------------------------------------------------------ customisation hooks

    def get_custom_tool_definitions(self) -> list[dict[str, Any]]:
        """Custom tools: OpenAI function dicts, each with a ``tool_executor`` callable."""
        return []

    async def process_input(self, input: AgentInput) -> AgentInput:
        """Called before every run; return the (possibly changed) input."""
        return input

    async def process_output(self, output: AgentOutput) -> AgentOutput:
        """Called after every run; return the (possibly changed) output."""
        return output

    # ------------------------------------------------------------------ subclass contract

    def builtin_toolsets(self) -> list[Toolset]:
        """The agent's built-in tools (``task_completed`` or ``set_slot_*``)."""
        return []

    async def on_control(self, run: Run, result: ControlResult) -> StepResult:
        """Apply a successful control call's typed result; return Complete to end the run."""
        raise NotImplementedError

    def template_variables(self, run: Run, input: AgentInput) -> dict[str, Any]:
        """Extra prompt variables of the agent kind."""
        return {}

    def initial_step(self, run: Run) -> StepResult | None:
        """A result that ends the run before any LLM call (task agent: exit already met)."""
        return None

    # ------------------------------------------------------------------ preparing

    async def prepare(self) -> None:
        """List tools, compile validators and build the tool payload (once).

        Raises ConfigError on duplicate tool names. Called by the loader at load time and
        lazily by the first run.
        """
        if self._ready:
            return
        async with self._ready_lock:
            if self._ready:
                return
            custom = CustomToolset(self.get_custom_tool_definitions(), owner=type(self))
            toolsets = [
                *self._toolsets,
                *([custom] if len(custom) else []),
                *self.builtin_toolsets(),
            ]
            toolbox = Toolbox(toolsets, agent=self.name, config_file=self.config_file)
            await toolbox.build()
            self.toolbox = toolbox
            self._ready = True

    def forget(self, conversation_id: str) -> None:
        """Drop the in-memory state of one conversation (a pending tool question is
        answered ``cancel``)."""
        self._states.pop(conversation_id, None)
        self._suspensions.drop(conversation_id)

    # ------------------------------------------------------------------ running

    async def run(
        self,
        input: AgentInput,
        on_text: TextCallback | None = None,
        on_event: EventCallback | None = None,
    ) -> AgentOutput:
        """Run the agent on one user message (see the module docstring for state).

        ``on_text`` is awaited with every piece of text for the user as it streams;
        ``on_event`` with ``tool_started`` / ``tool_finished`` progress events (see
        :mod:`subagents.agents.loop`). Never raises (except ``CancelledError``): a run
        that cannot go on, or any crash of the agent or of its hooks, is returned as a
        ``fatal_error`` output. This is the one place where an agent crash is caught.
        """
        stage = _Stage()
        with telemetry.span("agent.run", agent_attributes(self.name, input.id)) as span:
            try:
                output = await self._run(input, on_text, on_event, stage)
            except Exception as exc:  # a bug, or a user hook raising: never crash the caller
                span.error(type(exc).__name__)
                output = self._crashed(input, stage, exc)
            agent_done(span, self.name, output)
            return output

    def _crashed(self, input: AgentInput, stage: _Stage, exc: Exception) -> AgentOutput:
        """The ``fatal_error`` output of a crash; what the run did so far is kept.

        ``process_output`` is not called on it: the hook itself may be what crashed.
        """
        logger.exception("agent.run.error", extra={"agent": self.name, "stage": stage.name})
        prefix = "process_output failed" if stage.name == "process_output" else "internal error"
        error = f"{prefix}: {type(exc).__name__}: {exc}"
        logger.warning("agent.run.failed", extra={"agent": self.name, "error": error})
        run = stage.run
        if run is not None and stage.name != "process_output":
            self.forget(input.id)  # like any failed run: the next message starts afresh
        return AgentOutput(
            id=input.id,
            status=AgentStatus.FATAL_ERROR,
            error_message=error,
            events=run.events if run is not None else [],
            structured_results=run.structured_results if run is not None else [],
            metadata={
                "agent": self.name,
                "iterations": run.iterations if run is not None else 0,
                "model_calls": run.model_calls if run is not None else [],
                "state": None,
            },
        )

    async def _run(
        self,
        input: AgentInput,
        on_text: TextCallback | None,
        on_event: EventCallback | None,
        stage: _Stage,
    ) -> AgentOutput:
        started = time.perf_counter()
        stage.name = "process_input"
        input = await self.process_input(input)
        stage.name = "the run"
        try:
            await self.prepare()
            await self.toolbox.refresh(relist=True)
            waiting = self._suspensions.take(input)
            if waiting is not None:
                run = waiting.rebind(input, on_text, on_event)
            else:
                run = self._new_run(input, on_text, on_event)
        except (ConfigError, RunFailure, jinja2.TemplateError) as exc:
            output = self._failed(input, f"{type(exc).__name__}: {exc}")
        else:
            logger.info("agent.run.start", extra={"agent": self.name, "conversation_id": input.id})
            step = await self._drive(run, stage, waiting, input.user_message)
            if isinstance(step, AwaitAnswer):
                await self._show_question(run, step)
            output = self._output(input, run, step)
            self._remember(input.id, run, step)
            logger.info(
                "agent.run.complete",
                extra={
                    "agent": self.name,
                    "conversation_id": input.id,
                    "status": output.status.value,
                    "iterations": run.iterations,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
        stage.name = "process_output"
        return await self.process_output(output)

    async def _drive(
        self, run: Run, stage: _Stage, waiting: Suspension | None = None, reply: str = ""
    ) -> StepResult:
        """The loop under the deadline; a :class:`RunFailure` becomes :class:`Fail`.

        ``waiting``: the run left pending on a tool's question, which ``reply`` answers.
        """
        if waiting is None:
            initial = self.initial_step(run)
            if initial is not None:
                return initial
        stage.run = run
        try:
            return await self._loop_until_deadline(run, waiting, reply)
        except RunFailure as exc:
            return Fail(str(exc), type(exc).__name__)

    async def _loop_until_deadline(
        self, run: Run, waiting: Suspension | None = None, reply: str = ""
    ) -> StepResult:
        try:
            async with asyncio.timeout(self.timeout) as deadline:
                if waiting is not None:
                    step = await resume_calls(run, waiting.step, reply)
                    if not isinstance(step, Continue):
                        return step
                return await run_loop(self, run)
        except TimeoutError:
            if not deadline.expired():
                raise  # a TimeoutError of something inside: a crash, not the deadline
            raise DeadlineExceeded(
                f"timed out after {self.timeout:g} seconds (configuration.timeout)"
            ) from None

    def _new_run(
        self, input: AgentInput, on_text: TextCallback | None, on_event: EventCallback | None
    ) -> Run:
        slots = input.slot_values()
        context = ToolContext(conversation_id=input.id, slots=slots, metadata=dict(input.metadata))
        run = Run(
            agent=self.name,
            conversation_id=input.id,
            messages=[],
            tool_context=context,
            on_text=on_text,
            on_event=on_event,
        )
        context.on_progress = progress_hook(run)
        context.ask_user = run.questions.ask
        context.sample = sampling_hook(run, self.llm, self.sampling_clients)
        variables = {
            "description": self.description,
            "conversation_history": input.conversation_history,
            "user_message": input.user_message,
            "slots": dict(slots),
            "agent_name": self.name,
            **self.template_variables(run, input),
        }
        system = render_prompt(self.template, variables)
        run.messages.append({"role": "system", "content": system})
        run.messages.extend(self._load_transcript(input))
        if input.user_message:
            run.messages.append({"role": "user", "content": input.user_message})
        return run

    # ------------------------------------------------------------------ state

    def _load_transcript(self, input: AgentInput) -> list[dict[str, Any]]:
        if "state" in input.metadata:
            state = input.metadata["state"]
            if not isinstance(state, Mapping) or state.get("agent") != self.name:
                return []
            transcript = state.get("transcript")
            if not isinstance(transcript, list):
                return []
            return close_open_calls([dict(m) for m in transcript])
        return [dict(m) for m in self._states.get(input.id, [])]

    async def _show_question(self, run: Run, step: AwaitAnswer) -> None:
        """A tool's question goes to the user as the run's text, and as a ``question``
        event (for clients that render forms)."""
        logger.info(
            "agent.run.question",
            extra={"agent": self.name, "tool": step.pending.question.tool},
        )
        if run.on_event is not None:
            try:
                await run.on_event(step.event(self.name))
            except Exception:  # a broken indicator must not break the run
                logger.warning("agent.event.callback_failed", extra={"agent": self.name})
        await self.emit_text(run, step.text)

    def _remember(self, conversation_id: str, run: Run, step: StepResult) -> None:
        if isinstance(step, AwaitAnswer):
            self._suspensions.keep(conversation_id, run, step)
        if isinstance(step, AskUser | AwaitAnswer):
            self._states[conversation_id] = run.messages[1:]
            self._states.move_to_end(conversation_id)
            while len(self._states) > _MAX_REMEMBERED:
                self._states.popitem(last=False)
        else:
            self._states.pop(conversation_id, None)

    # ------------------------------------------------------------------ output

    def _output(self, input: AgentInput, run: Run, step: StepResult) -> AgentOutput:
        metadata: dict[str, Any] = {
            "agent": self.name,
            "iterations": run.iterations,
            "model_calls": run.model_calls,
        }
        usage = _task_usage(input, self.name, run.usage)
        if usage:
            metadata["usage"] = usage  # the whole task's, earlier runs of it included
        if isinstance(step, Fail):
            logger.warning(
                "agent.run.failed",
                extra={"agent": self.name, "conversation_id": input.id, "error": step.error},
            )
            metadata["state"] = None
            metadata["error_type"] = step.error_type
            return AgentOutput(
                id=input.id,
                status=AgentStatus.FATAL_ERROR,
                error_message=step.error,
                events=run.events,
                structured_results=run.structured_results,
                metadata=metadata,
            )
        if isinstance(step, Unusable):
            logger.warning(
                "agent.run.unusable",
                extra={"agent": self.name, "conversation_id": input.id, "error": step.error},
            )
            metadata["state"] = None
            return AgentOutput(
                id=input.id,
                status=AgentStatus.RECOVERABLE_ERROR,
                error_message=step.error,
                events=run.events,
                structured_results=run.structured_results,
                metadata=metadata,
            )
        if isinstance(step, AskUser | AwaitAnswer):
            status = AgentStatus.INPUT_REQUIRED
            metadata["state"] = {
                "version": STATE_VERSION,
                "agent": self.name,
                "transcript": run.messages[1:],
            }
            if isinstance(step, AwaitAnswer):
                metadata["state"]["pending"] = {"id": step.pending.id}
            if usage:
                metadata["state"]["usage"] = usage
            # A run suspended on a question goes on later with this Run: from then on it
            # counts only new calls (the state carries what came before).
            run.usage.clear()
        else:
            status = AgentStatus.COMPLETED
            metadata["state"] = None
        parts = list(run.texts)
        return AgentOutput(
            id=input.id,
            status=status,
            response_message=PART_SEPARATOR.join(parts) if parts else None,
            events=run.events,
            structured_results=run.structured_results,
            metadata=metadata,
        )

    def _failed(self, input: AgentInput, error: str) -> AgentOutput:
        logger.warning("agent.run.failed", extra={"agent": self.name, "error": error})
        return AgentOutput(
            id=input.id,
            status=AgentStatus.FATAL_ERROR,
            error_message=error,
            metadata={"agent": self.name, "iterations": 0, "state": None},
        )

    async def emit_text(self, run: Run, text: str) -> None:
        """Deliver text the model did not stream (e.g. a task_completed message)."""
        if run.on_text is not None:
            await run.on_text((PART_SEPARATOR if run.texts else "") + text)
        run.texts.append(text)


def _task_usage(input: AgentInput, name: str, run_usage: dict[str, int]) -> dict[str, int]:
    """Tokens of this run plus those of the earlier runs of the same task (carried in the
    waiting agent's state), so ``agent_completed`` reports what the whole task cost."""
    state = input.metadata.get("state")
    earlier = (
        state.get("usage") if isinstance(state, Mapping) and state.get("agent") == name else None
    )
    total = dict(earlier) if isinstance(earlier, Mapping) else {}
    for key, value in run_usage.items():
        total[key] = int(total.get(key, 0)) + value
    return total


def agent_attributes(name: str, conversation_id: str) -> dict[str, Any]:
    """The attributes an ``agent.run`` span opens with (any agent kind)."""
    return {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": name,
        "gen_ai.conversation.id": conversation_id,
    }


def agent_done(span: telemetry.Span, name: str, output: AgentOutput) -> None:
    """The run's outcome on its span and in the agent metrics."""
    status = output.status.value
    iterations = output.metadata.get("iterations", 0)
    if span.recording:
        span.set("subagents.agent.status", status)
        span.set("subagents.agent.iterations", iterations)
        reason = status
        if output.status is AgentStatus.FATAL_ERROR:
            reason = output.metadata.get("error_type") or "fatal_error"
            span.error(reason)
        span.set("subagents.agent.exit_reason", reason)
    telemetry.count(telemetry.AGENT_RUNS, 1, {"agent": name, "status": status})
    if isinstance(iterations, int):
        telemetry.observe(telemetry.AGENT_ITERATIONS, iterations, {"agent": name})


class _Stage:
    """Where a run is, for the crash message (``process_input``, ``the run``, ...)."""

    __slots__ = ("name", "run")

    def __init__(self) -> None:
        self.name = "the run"
        self.run: Run | None = None
