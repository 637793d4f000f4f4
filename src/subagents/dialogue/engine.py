"""The dialogue engine: advances the dialogue stack for one user message.

Decided behaviour (documented in docs/conversations.md):

* A message ``/<flow_id>`` always starts that flow, even while an agent or a ``collect``
  step waits for input: the waiting flow is interrupted and resumes when the new flow
  ends; the user is told ``utter_flow_continue_interrupted`` ("Let's get back to
  {flow_name}.") and the waiting question is asked again.
* Any other message goes to the waiting agent / collect step when there is one, and to
  the router otherwise.
* An agent's ``fatal_error`` (or a failing custom action, or an exception) cancels the
  current flow and sends ``utter_internal_error``; interrupted flows below it resume.
* A ``collect`` answer that does not fit the slot type is refused with
  ``utter_invalid_<slot>`` (default ``utter_invalid_value``) and the question is asked again.
* ``call: <flow_id>`` pushes the called flow as a child frame (``called``); the caller
  waits at its call step and, when the child completes, goes on with that step's ``next``
  (evaluated on the slots as the child left them). Caller and called flows are one group:
  cancelling one cancels the group.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from enum import Enum
from typing import Any, Protocol

import subagents.telemetry as telemetry
from subagents.actions.executors.base import ActionExecutor
from subagents.agents.schemas import AgentInput, AgentInputSlot, AgentOutput, AgentStatus
from subagents.dialogue import commands as cmd
from subagents.dialogue import events as ev
from subagents.dialogue import patterns as pat
from subagents.dialogue.actions import MAX_FOLLOWUPS, ActionRunner
from subagents.dialogue.command_runner import CommandRunner
from subagents.dialogue.domain import CONTROLLED, Domain, SlotValueError
from subagents.dialogue.flows import END, CallTarget, Flow, Step, StepKind
from subagents.dialogue.lifecycle import SlotLifecycle
from subagents.dialogue.patterns import is_pattern, with_patterns
from subagents.dialogue.router import FlowRouter, Pending, RouterInput
from subagents.dialogue.sessions import ACTION_SESSION_START, SessionConfig
from subagents.dialogue.state import Frame, WaitingAgent, WaitingCollect
from subagents.dialogue.tool_steps import ToolsetFor, ToolStepRunner
from subagents.dialogue.turn import Turn
from subagents.errors import ActionError
from subagents.stores.base import TrackerStore
from subagents.tools.base import Toolset

logger = logging.getLogger("subagents.dialogue.engine")

AGENT_ATTEMPTS = 3
"""Runs of an agent that ends with ``recoverable_error`` before the fatal path (Rasa's 3)."""
AGENT_RETRY_DELAY = 0.25
"""Seconds before the second run; doubled before each further one."""
MAX_STEPS_PER_TURN = 100
"""Guards against a ``next`` cycle that never waits for the user."""
HISTORY_TURNS = 20


class StepOutcome(Enum):
    """What the stack does after a step ran."""

    NEXT = "next"
    """Go on with the step's ``next``."""
    WAIT = "wait"
    """The frame waits for the user's next message."""
    STOP = "stop"
    """The frame is gone or was replaced (link, failure, restart): do not move it."""


class Agent(Protocol):
    async def run(
        self, input: AgentInput, on_text: Any = None, on_event: Any = None
    ) -> AgentOutput: ...


class AgentProvider(Protocol):
    """What the engine needs from the agents registry."""

    def get(self, name: str, exit_if: list[str] | None = None) -> Agent: ...

    def mcp_toolset(self, server: str) -> Toolset:
        """The shared toolset of MCP server ``server`` (for flow MCP tool steps)."""
        ...


StepHandler = Callable[[Turn, Frame, Flow, Step], Awaitable[StepOutcome]]


class DialogueEngine:
    """Runs flows, agents and actions for one turn at a time (stateless between turns)."""

    def __init__(
        self,
        *,
        domain: Domain,
        flows: Mapping[str, Flow],
        router: FlowRouter,
        agents: AgentProvider | None,
        executor: ActionExecutor | None,
        store: TrackerStore,
        mcp_toolsets: ToolsetFor | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.domain = domain
        self.flows: Mapping[str, Flow] = with_patterns(flows)
        self.defined_patterns = frozenset(f for f in flows if is_pattern(f))
        """Patterns the project defines itself (they replace the defaults)."""
        self.router = router
        self.agents = agents
        self.executor = executor
        self.store = store
        self.actions = ActionRunner(executor, store, domain, self.fail) if executor else None
        self.tool_steps = ToolStepRunner(mcp_toolsets, domain, self.fail, tuple(secrets))
        self.commands = CommandRunner(self)
        self.lifecycle = SlotLifecycle(self.flows)
        self.session = SessionConfig.of(domain.config.session_config)
        self.clock: Callable[[], float] = time.time
        """Now, in seconds (session expiry); tests move it forward."""
        # One handler per step kind: a new kind is compiled in config.flow_graph and
        # handled here.
        self._handlers: dict[StepKind, StepHandler] = {
            StepKind.CALL: self._call_step,
            StepKind.ACTION: self._action_step,
            StepKind.COLLECT: self._collect,
            StepKind.SET_SLOTS: self._set_slots,
            StepKind.LINK: self._link,
            StepKind.NOOP: self._noop,
        }

    # ------------------------------------------------------------------ entry

    async def handle(self, turn: Turn, text: str) -> None:
        """Handle one user message; the turn collects events and messages."""
        await self._maybe_new_session(turn)
        turn.log(ev.user(text, metadata=turn.metadata, channel=turn.metadata.get("channel")))
        commands = await self.understand(turn, text)
        if await self.commands.run(turn, commands, text):
            await self._advance(turn)

    async def _maybe_new_session(self, turn: Turn) -> None:
        """Start a session when the conversation's last one expired (or, when the project
        defines a session start, at its first message)."""
        custom = ACTION_SESSION_START in self.domain.config.actions
        if turn.state.event_count == 0:
            if custom or pat.SESSION_START in self.defined_patterns:
                await self.start_session(turn, new_conversation=True)
        elif self.session.expired(turn.state.latest_event_time, self.clock()):
            await self.start_session(turn, new_conversation=False)

    async def start_session(self, turn: Turn, *, new_conversation: bool = False) -> None:
        """Cancel the stack, log ``session_started``, reset or carry over the slots, run a
        custom ``action_session_start`` and ``pattern_session_start`` when defined."""
        logger.info("dialogue.session.started", extra={"conversation_id": turn.conversation_id})
        while turn.state.stack:
            self.cancel_group(turn, "session expired")
        custom = ACTION_SESSION_START in self.domain.config.actions
        if not custom:
            turn.log(ev.action(ACTION_SESSION_START))
        turn.log(ev.event("session_started"))
        if not new_conversation and not self.session.carry_over_slots:
            turn.log(ev.event("reset_slots"))
        if custom and not await self.run_action(turn, ACTION_SESSION_START):
            await self._advance(turn)  # the failure's pattern_internal_error
            return
        if self.push_pattern(turn, pat.SESSION_START, {}):
            await self._advance(turn)

    async def understand(self, turn: Turn, text: str) -> list[cmd.Command] | None:
        """The commands of a message: a payload's, a safe ``Continue``, or the router's.

        ``None`` when the router failed with nothing waiting (``utter_internal_error``).
        """
        flow_ids = frozenset(f for f in self.flows if not is_pattern(f))
        payload = cmd.parse_payload(text, flow_ids)
        if payload is not None:
            return cmd.validate(payload, cmd.Fillable(flow_ids, self.domain.slots), "payload")
        top = turn.state.stack[-1] if turn.state.stack else None
        waiting = top.waiting if top is not None else None
        if isinstance(waiting, WaitingCollect) and self._clear_answer(waiting.slot, text):
            return [cmd.Continue()]  # no router call: the answer fits the slot as it is
        pending = self.pending(turn, top) if top is not None and waiting is not None else None
        view = RouterInput(
            recent=turn.state.recent,
            slots=turn.state.slots,
            fillable=self.domain.llm_slots,
            pending=pending,
            active_flow=self.active_flow(turn),
        )
        with telemetry.span("flow.route") as span:
            try:
                commands = await self.router.route(view)
            except Exception as exc:  # LLM unreachable after retries, or a bug
                logger.error("dialogue.router.failed", extra={"error": str(exc)})
                span.error(type(exc).__name__)
                # What waits still gets the message: the router only adds to it.
                return [cmd.Continue()] if pending is not None else None
            if span.recording:
                span.set("subagents.route.commands", [type(c).__name__ for c in commands])
            return commands

    def _clear_answer(self, slot_name: str, text: str) -> bool:
        """Whether ``text`` is, as it is, a value of a bool, float or categorical slot."""
        slot = self.domain.slots.get(slot_name)
        if slot is None or slot.type.name not in ("bool", "float", "categorical"):
            return False
        try:
            slot.coerce(text)
        except SlotValueError:
            return False
        return True

    def pending(self, turn: Turn, frame: Frame) -> Pending:
        """What ``frame`` waits for, as the router is told."""
        flow = self.flows.get(frame.flow_id)
        name = flow.name if flow else frame.flow_id
        waiting = frame.waiting
        if isinstance(waiting, WaitingCollect):
            step = flow.steps.get(frame.step_id) if flow else None
            response = (step.config.utter if step else None) or f"utter_ask_{waiting.slot}"
            message = self.domain.render(response, turn.state.slots) or {}
            question = str(message.get("text") or f"a value for {waiting.slot}")
            return Pending("collect", frame.flow_id, name, question, waiting.slot)
        agent = waiting.agent if isinstance(waiting, WaitingAgent) else ""
        prompt = waiting.prompt if isinstance(waiting, WaitingAgent) else None
        return Pending("agent", frame.flow_id, name, prompt or "", agent)

    def active_flow(self, turn: Turn) -> str | None:
        """The id of the topmost user flow (not a pattern) on the stack."""
        for frame in reversed(turn.state.stack):
            if not is_pattern(frame.flow_id):
                return frame.flow_id
        return None

    # ------------------------------------------------------------------ stack

    def start_flow(self, turn: Turn, flow_id: str) -> None:
        """Push ``flow_id`` on the stack (interrupting the flow on top, if any)."""
        stack = turn.state.stack
        while any(f.flow_id == flow_id for f in stack):
            index = next(i for i, f in enumerate(stack) if f.flow_id == flow_id)
            self._drop_group(turn, index, "started again")
        if stack:
            turn.log(ev.event("flow_interrupted", flow_id=stack[-1].flow_id, by=flow_id))
        stack.append(Frame(flow_id, self.flows[flow_id].first))
        turn.log(ev.event("flow_started", flow_id=flow_id))
        self._reset_slots(turn, self.lifecycle.entry_resets(flow_id))

    def _reset_slots(self, turn: Turn, names: tuple[str, ...]) -> None:
        """Reset these slots to their initial values (only those that differ)."""
        initial = turn.initial_slots
        for name in names:
            if turn.state.slots.get(name) != initial.get(name):
                turn.set_slot(name, initial.get(name))

    @staticmethod
    def _drop_group(turn: Turn, index: int, reason: str) -> None:
        """Remove the frame at ``index`` with its callers and the flows it called."""
        stack = turn.state.stack
        lo = hi = index
        while lo > 0 and stack[lo].called:
            lo -= 1
        while hi + 1 < len(stack) and stack[hi + 1].called:
            hi += 1
        for frame in reversed(stack[lo : hi + 1]):
            turn.cancel_waiting_agent(frame, f"flow {reason}")
            turn.log(ev.event("flow_cancelled", flow_id=frame.flow_id, reason=reason))
        del stack[lo : hi + 1]

    async def _advance(self, turn: Turn) -> None:
        """Run steps until the top flow waits for the user or the stack is empty."""
        for _ in range(MAX_STEPS_PER_TURN):
            stack = turn.state.stack
            if not stack or stack[-1].waiting is not None:
                return
            frame = stack[-1]
            flow = self.flows.get(frame.flow_id)
            step = flow.steps.get(frame.step_id) if flow else None
            if flow is None or step is None:
                if frame.step_id != END:
                    logger.error("dialogue.stack.unknown_step", extra={"frame": frame.to_json()})
                await self._end_flow(turn, completed=frame.step_id == END)
                continue
            outcome = await self._run_step(turn, frame, flow, step)
            if outcome is StepOutcome.NEXT:
                self._move_on(turn, frame, step)
        logger.error("dialogue.stack.step_limit", extra={"limit": MAX_STEPS_PER_TURN})
        # Said plainly, not through pattern_internal_error: the pattern may be the cycle.
        await self.fail(turn, "step limit reached (a `next` cycle without user input?)", plain=True)

    async def advance(self, turn: Turn) -> None:
        """Run the stack until it waits for the user (e.g. after :meth:`fail`)."""
        await self._advance(turn)

    @staticmethod
    def _move_on(turn: Turn, frame: Frame, step: Step) -> None:
        """Move ``frame`` to the step after ``step``, if it is still the top frame."""
        if turn.state.stack and turn.state.stack[-1] is frame:
            frame.step_id = step.next_step(turn.state.slots)

    async def _end_flow(self, turn: Turn, *, completed: bool, reason: str = "") -> None:
        frame = self._pop(turn, completed=completed, reason=reason)
        if frame.called and turn.state.stack:
            await self._return_to_caller(turn, frame, completed=completed, reason=reason)
        elif turn.state.stack:
            await self._after_end(turn, frame)
        elif completed and not is_pattern(frame.flow_id):
            self.push_pattern(turn, pat.COMPLETED, self.names(frame.flow_id))

    def _pop(self, turn: Turn, *, completed: bool, reason: str = "") -> Frame:
        """Pop the top frame: its collected slots reset, then its end event."""
        frame = turn.state.stack.pop()
        if not frame.called:  # a called flow's slots belong to its caller
            self._reset_slots(turn, self.lifecycle.exit_resets(frame.flow_id))
        if completed:
            turn.log(ev.event("flow_completed", flow_id=frame.flow_id))
        else:
            turn.cancel_waiting_agent(frame, reason or "cancelled")
            turn.log(ev.event("flow_cancelled", flow_id=frame.flow_id, reason=reason))
        return frame

    def cancel_group(self, turn: Turn, reason: str) -> Frame | None:
        """Cancel the top frame and, when it was called, its callers; returns the
        bottom frame cancelled (the user flow), or None for an empty stack."""
        stack = turn.state.stack
        frame = None
        while stack:
            frame = self._pop(turn, completed=False, reason=reason)
            if not frame.called:
                break
            reason = f"called flow '{frame.flow_id}' was cancelled"
        return frame

    async def _after_end(self, turn: Turn, ended: Frame) -> None:
        """The frame on top ended: the one below goes on (a pattern may say so first)."""
        below = turn.state.stack[-1]
        if not is_pattern(ended.flow_id) or ended.flow_id in (pat.CANCEL, pat.INTERNAL_ERROR):
            turn.log(ev.event("flow_resumed", flow_id=below.flow_id))
        if below.waiting is None or ended.flow_id in pat.QUIET_OVER_WAITING:
            return
        if ended.flow_id in pat.REASK_AFTER:
            await self.reask(turn, below)
        else:
            self.push_pattern(turn, pat.CONTINUE_INTERRUPTED, self.names(below.flow_id))

    def push_pattern(self, turn: Turn, pattern: str, context: dict[str, Any]) -> bool:
        """Run ``pattern`` on top of the stack with ``context`` (False: not run, as a
        pattern that runs only when the project defines it)."""
        if pattern in pat.ONLY_WHEN_DEFINED and pattern not in self.defined_patterns:
            return False
        flow = self.flows[pattern]
        turn.state.stack.append(Frame(pattern, flow.first, context=context))
        turn.log(ev.event("flow_started", flow_id=pattern))
        return True

    def names(self, flow_id: str) -> dict[str, Any]:
        """A pattern's context naming a flow: ``flow_name`` and ``flow_id``."""
        flow = self.flows.get(flow_id)
        return {"flow_name": flow.name if flow else flow_id, "flow_id": flow_id}

    async def _return_to_caller(
        self, turn: Turn, frame: Frame, *, completed: bool, reason: str
    ) -> None:
        """A called flow ended: its caller goes on after the call step, or is cancelled."""
        caller = turn.state.stack[-1]
        flow = self.flows.get(caller.flow_id)
        step = flow.steps.get(caller.step_id) if flow else None
        if not completed or step is None:
            why = f"called flow '{frame.flow_id}' was cancelled" + (f": {reason}" if reason else "")
            await self._end_flow(turn, completed=False, reason=why)
            return
        caller.step_id = step.next_step(turn.state.slots)

    async def reask(self, turn: Turn, frame: Frame) -> None:
        """Ask again what ``frame`` waits for (its collect question, its agent's question)."""
        waiting = frame.waiting
        if isinstance(waiting, WaitingCollect):
            flow = self.flows.get(frame.flow_id)
            step = flow.steps.get(frame.step_id) if flow else None
            await self._ask(turn, step, waiting.slot)
        elif waiting is not None:
            await turn.say_text(waiting.prompt)

    async def fail(self, turn: Turn, reason: str, *, plain: bool = False) -> None:
        """Cancel the current flow and run ``pattern_internal_error`` (next in the stack).

        ``plain`` (or a failure of that pattern itself): send ``utter_internal_error``
        at once instead.
        """
        logger.error("dialogue.flow.failed", extra={"reason": reason})
        stack = turn.state.stack
        in_pattern = bool(stack) and stack[-1].flow_id == pat.INTERNAL_ERROR
        if stack:
            self.cancel_group(turn, reason)
        if plain or in_pattern:
            await turn.utter("utter_internal_error")
        else:
            self.push_pattern(turn, pat.INTERNAL_ERROR, {})

    # ------------------------------------------------------------------ steps

    async def _run_step(self, turn: Turn, frame: Frame, flow: Flow, step: Step) -> StepOutcome:
        """Run one step with the handler of its kind."""
        try:
            with telemetry.span("flow.step", _step_attributes(flow.id, step)):
                return await self._handlers[step.kind](turn, frame, flow, step)
        except Exception as exc:  # a bug or unexpected error must not kill the conversation
            logger.exception("dialogue.step.crashed", extra={"flow": flow.id, "step": step.id})
            await self.fail(turn, f"step '{step.id}' raised {type(exc).__name__}")
            return StepOutcome.STOP

    async def _call_step(self, turn: Turn, frame: Frame, flow: Flow, step: Step) -> StepOutcome:
        if step.call_target is CallTarget.FLOW:
            return self._call_flow(turn, frame, step)
        if step.call_target is CallTarget.MCP_TOOL:
            ran = await self.tool_steps.run(turn, flow.id, step)
            return StepOutcome.NEXT if ran else StepOutcome.STOP
        return await self._call(turn, frame, step, turn_text(turn), None)

    def _call_flow(self, turn: Turn, frame: Frame, step: Step) -> StepOutcome:
        """Push the called flow; this frame stays at ``step`` until the child ends."""
        called = step.config.call or ""
        stack = turn.state.stack
        while any(f.flow_id == called for f in stack):  # e.g. interrupted earlier by /called
            index = next(i for i, f in enumerate(stack) if f.flow_id == called)
            self._drop_group(turn, index, "called by another flow")
        if not stack or stack[-1] is not frame:
            return StepOutcome.STOP  # the caller was in the dropped group (cannot happen
            # without a call cycle, which the compiler refuses; kept as a guard)
        stack.append(Frame(called, self.flows[called].first, called=True))
        turn.log(ev.event("flow_started", flow_id=called, called_by=frame.flow_id))
        return StepOutcome.STOP

    async def _set_slots(self, turn: Turn, frame: Frame, flow: Flow, step: Step) -> StepOutcome:
        for name, value in step.set_slots:
            turn.set_slot(name, self.domain.coerce(name, value))
        return StepOutcome.NEXT

    async def _link(self, turn: Turn, frame: Frame, flow: Flow, step: Step) -> StepOutcome:
        turn.state.stack.pop()
        turn.log(ev.event("flow_completed", flow_id=flow.id))
        self.start_flow(turn, step.config.link or "")
        return StepOutcome.STOP

    async def _noop(self, turn: Turn, frame: Frame, flow: Flow, step: Step) -> StepOutcome:
        return StepOutcome.NEXT

    async def _collect(self, turn: Turn, frame: Frame, flow: Flow, step: Step) -> StepOutcome:
        slot = step.config.collect or ""
        if turn.state.slots.get(slot) is not None and not step.config.ask_before_filling:
            return StepOutcome.NEXT
        frame.waiting = WaitingCollect(slot)
        question = {"collect": slot, "utter": step.config.utter}
        if self.push_pattern(turn, pat.COLLECT_INFORMATION, question):
            return StepOutcome.STOP  # the pattern asks (action_ask_collect), then it waits
        await self._ask(turn, step, slot)
        return StepOutcome.WAIT

    async def _ask(self, turn: Turn, step: Step | None, slot: str) -> None:
        await self._ask_slot(turn, slot, step.config.utter if step else None)

    async def _ask_slot(self, turn: Turn, slot: str, utter: str | None) -> None:
        """Ask for ``slot``: ``utter:``, else a custom ``action_ask_<slot>`` the domain
        lists, else ``utter_ask_<slot>``."""
        custom = f"action_ask_{slot}"
        if utter is None and custom in self.domain.config.actions:
            await self.run_action(turn, custom)
            return
        if not await turn.utter(utter or f"utter_ask_{slot}"):
            await turn.say_text(f"Please provide a value for {slot}.")

    async def filled(self, turn: Turn, frame: Frame) -> None:
        """The slot ``frame``'s collect waits for was set by a command: check it, go on."""
        flow = self.flows.get(frame.flow_id)
        step = flow.steps.get(frame.step_id) if flow else None
        waiting = frame.waiting
        if step is None or not isinstance(waiting, WaitingCollect):
            frame.waiting = None
            return
        await self._accepted(turn, frame, step, waiting.slot)

    async def resume(self, turn: Turn, frame: Frame, text: str) -> None:
        """Give the user's message to the agent or collect step ``frame`` waits for."""
        await self._resume(turn, frame, text)

    async def _resume(self, turn: Turn, frame: Frame, text: str) -> None:
        """Give the user's message to the waiting agent or collect step."""
        waiting = frame.waiting
        flow = self.flows.get(frame.flow_id)
        step = flow.steps.get(frame.step_id) if flow else None
        if flow is None or step is None:
            frame.waiting = None
            return
        telemetry.current().set("subagents.flows.continued", flow.id)  # on the turn's span
        with telemetry.span("flow.step", _step_attributes(flow.id, step, resumed=True)):
            if isinstance(waiting, WaitingCollect):
                await self._fill(turn, frame, step, waiting.slot, text)
                return
            frame.waiting = None
            state = None
            if isinstance(waiting, WaitingAgent):
                state = waiting.state
                telemetry.count(telemetry.AGENTS_WAITING, -1, {"agent": waiting.agent})
            if await self._call(turn, frame, step, text, state) is StepOutcome.NEXT:
                self._move_on(turn, frame, step)

    async def _fill(self, turn: Turn, frame: Frame, step: Step, slot: str, text: str) -> None:
        try:
            if self.domain.mappings.get(slot) == CONTROLLED:
                raise SlotValueError(f"slot '{slot}' is controlled: buttons and actions set it")
            value = self.domain.coerce(slot, text)
        except SlotValueError:
            if not await turn.utter(f"utter_invalid_{slot}", {"value": text}):
                await turn.utter("utter_invalid_value", {"value": text, "slot": slot})
            await self._ask(turn, step, slot)
            return
        turn.set_slot(slot, value)
        await self._accepted(turn, frame, step, slot)

    async def _accepted(self, turn: Turn, frame: Frame, step: Step, slot: str) -> None:
        """The collect's slot is set: rejections, then ``validate_<slot>``, then go on.

        A rejection sends its response, resets the slot and asks again; so does a
        ``validate_<slot>`` action that sets the slot to null (it may also change it).
        """
        for condition, response in step.rejections:
            if condition.evaluate(turn.state.slots):
                await turn.utter(response)
                turn.set_slot(slot, None)
                await self._ask(turn, step, slot)
                return
        validate = f"validate_{slot}"
        if validate in self.domain.config.actions:
            if not await self.run_action(turn, validate):
                return  # failed: the flow is cancelled (pattern_internal_error)
            if turn.state.slots.get(slot) is None:
                await self._ask(turn, step, slot)
                return
        frame.waiting = None
        frame.step_id = step.next_step(turn.state.slots)

    # ------------------------------------------------------------------ agents

    async def _call(
        self, turn: Turn, frame: Frame, step: Step, user_message: str, agent_state: Any
    ) -> StepOutcome:
        name = step.config.call or ""
        ids = {"agent": name, "flow_id": frame.flow_id, "step_id": step.id}
        if agent_state is None:
            turn.log(ev.event("agent_started", **ids))
        output = await self._run_agent_attempts(turn, ids, step, user_message, agent_state)
        self._apply_agent_output(turn, name, output)
        model_calls = output.metadata.get("model_calls")
        if model_calls:  # the model calls of this run, for the inspector
            ids = {**ids, "model_calls": model_calls}
        if output.status == AgentStatus.COMPLETED:
            usage = output.metadata.get("usage")
            turn.log(ev.event("agent_completed", **ids, **({"usage": usage} if usage else {})))
            await self._say_agent_text(turn, output)
            return StepOutcome.NEXT
        if output.status == AgentStatus.INPUT_REQUIRED:
            turn.log(ev.event("agent_input_required", **ids))
            telemetry.count(telemetry.AGENTS_WAITING, 1, {"agent": name})
            await self._say_agent_text(turn, output)
            state = output.metadata.get("state")
            frame.waiting = WaitingAgent(name, state, output.response_message)
            return StepOutcome.WAIT
        if output.status == AgentStatus.CANCELLED:
            turn.log(ev.event("agent_cancelled", **ids, reason=output.error_message or ""))
        else:
            usage = output.metadata.get("usage")
            turn.log(
                ev.event(
                    "agent_failed",
                    **ids,
                    error=output.error_message or "",
                    **({"usage": usage} if usage else {}),
                )
            )
        await self.fail(turn, f"agent '{name}' ended with {output.status.value}")
        return StepOutcome.STOP

    async def _run_agent_attempts(
        self, turn: Turn, ids: dict[str, str], step: Step, user_message: str, agent_state: Any
    ) -> AgentOutput:
        """Run the agent; a ``recoverable_error`` runs it again (Rasa's retry: at most
        ``AGENT_ATTEMPTS`` runs, a short backoff between them), then it is fatal.

        Cancellation of the turn (its budget ran out, shutdown, a caller that gave up) is
        recorded as the agent's ``cancelled`` end before it propagates.
        """
        name = ids["agent"]
        for attempt in range(1, AGENT_ATTEMPTS + 1):
            try:
                output = await self._run_agent(turn, name, step, user_message, agent_state)
            except asyncio.CancelledError:
                cancelled = AgentOutput(
                    status=AgentStatus.CANCELLED, error_message="the turn was cancelled"
                )
                turn.log(ev.event("agent_cancelled", **ids, reason=cancelled.error_message))
                raise
            if output.status != AgentStatus.RECOVERABLE_ERROR:
                return output
            self._log_tool_results(turn, name, output)  # those calls did run
            error = output.error_message or ""
            turn.log(ev.event("agent_recoverable_error", **ids, error=error, attempt=attempt))
            logger.warning(
                "dialogue.agent.recoverable_error",
                extra={"agent": name, "attempt": attempt, "error": error},
            )
            if attempt < AGENT_ATTEMPTS:
                await asyncio.sleep(AGENT_RETRY_DELAY * 2 ** (attempt - 1))
        return AgentOutput(
            status=AgentStatus.FATAL_ERROR,
            error_message=f"{AGENT_ATTEMPTS} runs ended with recoverable_error (last: {error})",
        )

    async def _run_agent(
        self, turn: Turn, name: str, step: Step, user_message: str, agent_state: Any
    ) -> AgentOutput:
        if self.agents is None:
            return AgentOutput(status=AgentStatus.FATAL_ERROR, error_message="no agents loaded")
        agent = self.agents.get(name, exit_if=step.exit_if)
        agent_input = self._agent_input(turn, step, user_message, agent_state)
        streamed: list[str] = []

        async def on_text(delta: str) -> None:
            streamed.append(delta)
            await turn.chunk({"text": delta})

        await turn.progress("tool_started", name, kind="agent")
        try:
            # ReActAgent.run never raises (its one crash boundary returns fatal_error).
            output: AgentOutput = await agent.run(
                agent_input,
                on_text=on_text if turn.streaming else None,
                on_event=_tool_progress(turn) if turn.on_progress is not None else None,
            )
        finally:
            await turn.progress("tool_finished", name, kind="agent")
        output.metadata.setdefault("_streamed_text", "".join(streamed))
        return output

    def _agent_input(
        self, turn: Turn, step: Step, user_message: str, agent_state: Any
    ) -> AgentInput:
        # Always pass "state" (None = start afresh): the agent must not pick up an
        # in-memory transcript left by an earlier call of the same agent.
        metadata = {
            **turn.metadata,
            "flow_id": turn.state.stack[-1].flow_id,
            "step_id": step.id,
            "state": agent_state,
        }
        return AgentInput(
            id=turn.conversation_id,
            user_message=user_message,
            slots=self.agent_slots(turn.state.slots),
            conversation_history=render_history(turn.state.recent),
            events=list(turn.events),
            metadata=metadata,
        )

    def agent_slots(self, slots: Mapping[str, Any]) -> list[AgentInputSlot]:
        """Domain slots as the agent sees them (value, type, allowed values)."""
        return [
            AgentInputSlot(
                name=name,
                value=slots.get(name),
                type=slot.type.name,
                allowed_values=list(slot.values) if slot.values or slot.type.has_values else None,
            )
            for name, slot in self.domain.slots.items()
        ]

    def _apply_agent_output(self, turn: Turn, agent: str, output: AgentOutput) -> None:
        self._log_tool_results(turn, agent, output)
        self._apply_agent_events(turn, output)

    @staticmethod
    def _log_tool_results(turn: Turn, agent: str, output: AgentOutput) -> None:
        for result in output.structured_results:
            turn.log(
                ev.event(
                    "tool_executed",
                    agent=agent,
                    name=result.get("name"),
                    arguments=result.get("arguments"),
                    result=result.get("result"),
                    is_error=bool(result.get("is_error")),
                    **{k: result[k] for k in _CALL_DETAILS if result.get(k) is not None},
                )
            )

    def _apply_agent_events(self, turn: Turn, output: AgentOutput) -> None:
        for event in output.events:
            if event.get("event") == "slot":
                try:
                    value = self.domain.coerce(event["name"], event.get("value"))
                except SlotValueError as exc:
                    logger.warning("dialogue.agent.bad_slot", extra={"error": str(exc)})
                    continue
                turn.set_slot(event["name"], value)
            else:
                turn.log(dict(event))

    async def _say_agent_text(self, turn: Turn, output: AgentOutput) -> None:
        text = output.response_message
        if not text:
            return
        streamed_text = output.metadata.pop("_streamed_text", "")
        was_streamed = turn.streaming and streamed_text.strip() == text.strip()
        await turn.say_text(text, streamed=was_streamed)

    # ------------------------------------------------------------------ actions

    async def _action_step(self, turn: Turn, frame: Frame, flow: Flow, step: Step) -> StepOutcome:
        name = step.config.action or ""
        if name.startswith("utter_") and self.domain.has_response(name):
            await self._utter_in(turn, frame, name)
            turn.log(ev.action(name))
            return StepOutcome.NEXT
        if name == pat.ASK_COLLECT:
            slot = str(frame.context.get("collect") or "")
            utter = frame.context.get("utter")
            await self._ask_slot(turn, slot, str(utter) if utter else None)
            return StepOutcome.NEXT
        stack_before = turn.state.stack
        if not await self.run_action(turn, name):
            return StepOutcome.STOP
        # Restarted / a flow started by the action: the frame we were running is gone.
        return StepOutcome.NEXT if turn.state.stack is stack_before else StepOutcome.STOP

    async def _utter_in(self, turn: Turn, frame: Frame, name: str) -> None:
        """Send response ``name`` with the frame's context as template variables; context
        ``buttons`` (clarification) go on a response that has none."""
        if not frame.context:
            await turn.utter(name)
            return
        message = self.domain.render(name, turn.state.slots, frame.context)
        if message is None:
            return
        buttons = frame.context.get("buttons")
        if buttons and not message.get("buttons"):
            message["buttons"] = buttons
        await turn.say(message)

    async def run_action(self, turn: Turn, name: str) -> bool:
        """Run a custom action (and its follow-ups) and apply its result; False on failure."""
        if self.actions is None:
            await self.fail(turn, f"no action endpoint configured to run '{name}'")
            return False
        return await self.actions.run(turn, name)


_CALL_DETAILS = ("iteration", "duration_ms", "server", "reconnected", "retried")
"""Optional keys of a structured result copied into its ``tool_executed`` event."""


def _step_attributes(flow_id: str, step: Step, *, resumed: bool = False) -> dict[str, Any]:
    return {
        "subagents.flow.id": flow_id,
        "subagents.step.id": step.id,
        "subagents.step.kind": str(step.kind.value),
        "subagents.step.resumed": resumed or None,
    }


def _tool_progress(turn: Turn) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """Forward an agent's tool events to the turn's ``on_progress`` as ``kind: "tool"``."""

    async def forward(event: dict[str, Any]) -> None:
        await turn.report({**event, "kind": "tool"})

    return forward


def turn_text(turn: Turn) -> str:
    """The text of the latest user message."""
    return str(turn.state.latest_message.get("text") or "")


def render_history(recent: list[dict[str, Any]], limit: int = HISTORY_TURNS) -> str:
    """``USER: ...`` / ``AI: ...`` lines of the last ``limit`` messages."""
    lines = []
    for msg in recent[-limit:]:
        who = "USER" if msg["role"] == "user" else "AI"
        lines.append(f"{who}: {msg['text']}")
    return "\n".join(lines)


__all__ = [
    "MAX_FOLLOWUPS",
    "ActionError",
    "DialogueEngine",
    "StepOutcome",
    "render_history",
]
