"""Running the commands of one user message against the dialogue stack.

Order (as Rasa's command processor): ``/restart`` alone; then ``cancel_flow``; then
``start_flow`` s; then slot values (the slot a ``collect`` waits for fills it; a slot the
active flow collected earlier, given another value, is a correction); then the replies
(clarify, chitchat, cannot_handle, human_handoff, a text reply). Finally, when something
waited and no command took the conversation elsewhere, the message goes to it; when a
reply answered a digression instead, the waiting question is asked again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from subagents.conditions import ConditionSyntaxError, parse_conditions
from subagents.dialogue import commands as cmd
from subagents.dialogue import events as ev
from subagents.dialogue import patterns as pat
from subagents.dialogue.domain import Domain
from subagents.dialogue.flows import Flow, Step, StepKind
from subagents.dialogue.patterns import is_pattern
from subagents.dialogue.state import Frame, WaitingCollect
from subagents.dialogue.turn import Turn

logger = logging.getLogger("subagents.dialogue.commands")

_REPLIES = (cmd.Clarify, cmd.Chitchat, cmd.CannotHandle, cmd.HumanHandoff, cmd.Reply)


class StackOps(Protocol):
    """The engine's stack operations the commands use (the engine implements them)."""

    domain: Domain
    flows: Mapping[str, Flow]

    def start_flow(self, turn: Turn, flow_id: str) -> None: ...

    def cancel_group(self, turn: Turn, reason: str) -> Frame | None: ...

    def push_pattern(self, turn: Turn, pattern: str, context: dict[str, Any]) -> bool: ...

    def names(self, flow_id: str) -> dict[str, Any]: ...

    async def advance(self, turn: Turn) -> None: ...

    async def fail(self, turn: Turn, reason: str, *, plain: bool = False) -> None: ...

    async def filled(self, turn: Turn, frame: Frame) -> None: ...

    async def resume(self, turn: Turn, frame: Frame, text: str) -> None: ...


class CommandRunner:
    """Applies commands to a turn through the engine's stack operations."""

    def __init__(self, engine: StackOps) -> None:
        self.engine = engine

    async def run(self, turn: Turn, commands: list[cmd.Command] | None, text: str) -> bool:
        """Apply ``commands``; True when the stack should run afterwards."""
        if commands is None:  # the router failed and nothing waits
            await self.engine.fail(turn, "the router failed")
            return True
        if not commands:
            return self.engine.push_pattern(turn, pat.CANNOT_HANDLE, {})
        if any(isinstance(c, cmd.Restart) for c in commands):
            await self.restart(turn)
            return False
        stack = turn.state.stack
        waiting = stack[-1] if stack and stack[-1].waiting is not None else None
        moved = False  # the stack changed: the message does not go to what waited
        if any(isinstance(c, cmd.CancelFlow) for c in commands):
            moved = self.cancel(turn) or moved
        for command in commands:
            if isinstance(command, cmd.StartFlow):
                moved = self.start(turn, command.flow) or moved
        filled, corrections = self.set_slots(turn, commands, waiting if not moved else None)
        if corrections:
            moved = await self.correct(turn, corrections) or moved
        replies = [c for c in commands if isinstance(c, _REPLIES)]
        for command in reversed(replies):  # pushed last-first: they run in order
            await self.reply(turn, command)
        if waiting is None or moved or replies or waiting not in turn.state.stack:
            return True  # after a reply pattern, what waits asks its question again
        if filled:
            await self.engine.filled(turn, waiting)
        elif isinstance(waiting.waiting, WaitingCollect) and _sets(commands):
            waiting.waiting = None  # other slots were given: ask the question again
        else:
            await self.engine.resume(turn, waiting, text)
        return True

    async def restart(self, turn: Turn) -> None:
        for frame in reversed(turn.state.stack):
            turn.cancel_waiting_agent(frame, "restart")
        turn.log(ev.event("restart"))
        await turn.utter("utter_restart")

    def cancel(self, turn: Turn) -> bool:
        """Cancel the topmost user flow (with the patterns above it and, for a called
        flow, its callers); ``pattern_cancel_flow`` says so."""
        stack = turn.state.stack
        users = [i for i, frame in enumerate(stack) if not is_pattern(frame.flow_id)]
        if not users:
            logger.info("dialogue.cancel.nothing_active")
            return False
        while len(stack) > users[-1] + 1:
            self.engine.cancel_group(turn, "cancelled by the user")
        frame = self.engine.cancel_group(turn, "cancelled by the user")
        if frame is not None:
            self.engine.push_pattern(turn, pat.CANCEL, self.engine.names(frame.flow_id))
        return True

    def start(self, turn: Turn, flow_id: str) -> bool:
        flow = self.engine.flows[flow_id]
        if not flow.startable(turn.state.slots):  # the flow's `if` guard does not hold
            return self.engine.push_pattern(turn, pat.CANNOT_HANDLE, {})
        self.engine.start_flow(turn, flow_id)
        return True

    def set_slots(
        self, turn: Turn, commands: list[cmd.Command], waiting: Frame | None
    ) -> tuple[bool, list[cmd.CorrectSlot]]:
        """Apply slot values; returns (the waiting collect's slot was filled, corrections)."""
        asked = None
        if waiting is not None and isinstance(waiting.waiting, WaitingCollect):
            asked = waiting.waiting.slot
        filled = False
        corrections: list[cmd.CorrectSlot] = []
        for command in commands:
            if isinstance(command, cmd.CorrectSlot):
                corrections.append(command)
            elif isinstance(command, cmd.SetSlot):
                if command.name == asked:
                    turn.set_slot(command.name, command.value)
                    filled = True
                elif self.is_correction(turn, command):
                    corrections.append(cmd.CorrectSlot(command.name, command.value))
                else:
                    turn.set_slot(command.name, command.value)
        return filled, corrections

    def is_correction(self, turn: Turn, command: cmd.SetSlot) -> bool:
        """A slot the active flow collected already, now given another value."""
        current = turn.state.slots.get(command.name)
        if current is None or current == command.value:
            return False
        return self.collect_frame(turn, command.name) is not None

    def collect_frame(self, turn: Turn, slot: str) -> tuple[Frame, str] | None:
        """The topmost user frame with a step that filled ``slot``, and that step's id.

        The step is a ``collect`` of the slot, or a task agent's call whose ``exit_if``
        names it and that the flow has gone past (an agent still waiting at its call sees
        the new value itself). Going back to a passed agent call runs the agent again: its
        conditions hold, so it completes at once without the model, and the steps after it
        run again with the corrected value.
        """
        for frame in reversed(turn.state.stack):
            if is_pattern(frame.flow_id):
                continue
            flow = self.engine.flows.get(frame.flow_id)
            steps = list(flow.steps.values()) if flow else []
            # Steps are in the order they are written: those before the current one ran.
            ids = [s.id for s in steps]
            here = ids.index(frame.step_id) if frame.step_id in ids else len(ids)
            for i, step in enumerate(steps):
                if step.kind is StepKind.COLLECT and step.config.collect == slot:
                    return frame, step.id
                if i < here and slot in _exit_if_slots(step):
                    return frame, step.id
            return None
        return None

    async def correct(self, turn: Turn, corrections: list[cmd.CorrectSlot]) -> bool:
        """Set the corrected slots; the active flow goes back to the first corrected
        ``collect`` and runs the steps after it again. ``pattern_correction`` says so
        (once per slot). True when the stack moved."""
        target: tuple[Frame, str] | None = None
        for command in corrections:
            turn.set_slot(command.name, command.value)
            turn.log(ev.event("slot_corrected", name=command.name))
            found = self.collect_frame(turn, command.name)
            if found is not None and target is None:
                target = found
        if target is not None:
            frame, step_id = target
            while turn.state.stack and turn.state.stack[-1] is not frame:
                self.engine.cancel_group(turn, "correction")
            turn.cancel_waiting_agent(frame, "correction")
            frame.waiting = None
            frame.step_id = step_id
        for command in reversed(corrections):
            context = {"slot": command.name, "value": command.value}
            self.engine.push_pattern(turn, pat.CORRECTION, context)
        if target is None:
            # Said now: the message still goes to what waits (an agent sees the value).
            await self.engine.advance(turn)
        return target is not None

    async def reply(self, turn: Turn, command: Any) -> None:
        """Push the pattern of a reply command (a router text reply is sent as is)."""
        if isinstance(command, cmd.Reply):
            await turn.say_text(command.text)
        elif isinstance(command, cmd.Chitchat) and command.response.strip():
            self.engine.push_pattern(turn, pat.CHITCHAT, {"response": command.response})
        elif isinstance(command, cmd.Clarify):
            self.engine.push_pattern(turn, pat.CLARIFICATION, self.clarification(command.flows))
        elif isinstance(command, cmd.HumanHandoff):
            self.engine.push_pattern(turn, pat.HUMAN_HANDOFF, {})
        else:
            self.engine.push_pattern(turn, pat.CANNOT_HANDLE, {})

    def clarification(self, flow_ids: tuple[str, ...]) -> dict[str, Any]:
        """``options`` ("a, b or c") and one button per flow (payload ``/<flow_id>``)."""
        flows = [self.engine.flows[f] for f in flow_ids]
        names = [f.name for f in flows]
        options = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        buttons = [{"title": f.name, "payload": f"/{f.id}"} for f in flows]
        return {"options": options, "buttons": buttons}


def _exit_if_slots(step: Step) -> set[str]:
    """The slots a task agent's call step fills (those its ``exit_if`` names)."""
    if step.kind is not StepKind.CALL or not step.exit_if:
        return set()
    try:
        return parse_conditions(step.exit_if).slot_names()
    except ConditionSyntaxError:  # reported at load; such a project does not run
        return set()


def _sets(commands: list[cmd.Command]) -> bool:
    return any(isinstance(c, cmd.SetSlot | cmd.CorrectSlot) for c in commands)


__all__ = ["CommandRunner", "StackOps"]
