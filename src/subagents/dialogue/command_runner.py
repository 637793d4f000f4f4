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

from subagents.dialogue import commands as cmd
from subagents.dialogue import events as ev
from subagents.dialogue.domain import Domain
from subagents.dialogue.flows import Flow, StepKind
from subagents.dialogue.router import is_pattern
from subagents.dialogue.state import Frame, WaitingCollect
from subagents.dialogue.turn import Turn

logger = logging.getLogger("subagents.dialogue.commands")

_REPLIES = (cmd.Clarify, cmd.Chitchat, cmd.CannotHandle, cmd.HumanHandoff, cmd.Reply)


class StackOps(Protocol):
    """The engine's stack operations the commands use (the engine implements them)."""

    domain: Domain
    flows: Mapping[str, Flow]

    def start_flow(self, turn: Turn, flow_id: str) -> None: ...

    async def end_flow(self, turn: Turn, *, completed: bool, reason: str = "") -> None: ...

    def filled(self, turn: Turn, frame: Frame) -> None: ...

    async def reask(self, turn: Turn, frame: Frame) -> None: ...

    async def resume(self, turn: Turn, frame: Frame, text: str) -> None: ...


class CommandRunner:
    """Applies commands to a turn through the engine's stack operations."""

    def __init__(self, engine: StackOps) -> None:
        self.engine = engine

    async def run(self, turn: Turn, commands: list[cmd.Command] | None, text: str) -> bool:
        """Apply ``commands``; True when the stack should run afterwards."""
        if commands is None:  # the router failed and nothing waits
            await turn.utter("utter_internal_error")
            return False
        if not commands:
            await turn.utter("utter_fallback")
            return False
        if any(isinstance(c, cmd.Restart) for c in commands):
            await self.restart(turn)
            return False
        stack = turn.state.stack
        waiting = stack[-1] if stack and stack[-1].waiting is not None else None
        moved = False  # the stack changed: the message does not go to what waited
        if any(isinstance(c, cmd.CancelFlow) for c in commands):
            moved = await self.cancel(turn) or moved
        for command in commands:
            if isinstance(command, cmd.StartFlow):
                moved = await self.start(turn, command.flow) or moved
        filled, corrections = self.set_slots(turn, commands, waiting if not moved else None)
        if corrections:
            moved = await self.correct(turn, corrections) or moved
        replied = False
        for command in commands:
            if isinstance(command, _REPLIES):
                await self.reply(turn, command)
                replied = True
        if waiting is None or moved or waiting not in turn.state.stack:
            return True
        if filled:
            self.engine.filled(turn, waiting)
        elif replied:
            await self.engine.reask(turn, waiting)
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

    async def cancel(self, turn: Turn) -> bool:
        """Cancel the topmost user flow (and any pattern above it)."""
        stack = turn.state.stack
        users = [i for i, frame in enumerate(stack) if not is_pattern(frame.flow_id)]
        if not users:
            logger.info("dialogue.cancel.nothing_active")
            return False
        index = users[-1]
        frame = stack[index]
        flow = self.engine.flows.get(frame.flow_id)
        while len(stack) > index + 1:
            above = stack.pop()
            turn.cancel_waiting_agent(above, "cancelled by the user")
            turn.log(ev.event("flow_cancelled", flow_id=above.flow_id, reason="cancelled"))
        turn.cancel_waiting_agent(frame, "cancelled by the user")
        frame.waiting = None
        await turn.utter(
            "utter_flow_cancelled",
            {"flow_name": flow.name if flow else frame.flow_id, "flow_id": frame.flow_id},
        )
        await self.engine.end_flow(turn, completed=False, reason="cancelled by the user")
        return True

    async def start(self, turn: Turn, flow_id: str) -> bool:
        flow = self.engine.flows[flow_id]
        if not flow.startable(turn.state.slots):
            await turn.utter("utter_fallback")  # the flow's `if` guard does not hold
            return False
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
        """The topmost user frame with a ``collect`` of ``slot``, and that step's id."""
        for frame in reversed(turn.state.stack):
            if is_pattern(frame.flow_id):
                continue
            flow = self.engine.flows.get(frame.flow_id)
            for step in flow.steps.values() if flow else ():
                if step.kind is StepKind.COLLECT and step.config.collect == slot:
                    return frame, step.id
            return None
        return None

    async def correct(self, turn: Turn, corrections: list[cmd.CorrectSlot]) -> bool:
        """Set the corrected slots; the active flow goes back to the first corrected
        ``collect`` and runs the steps after it again. True when the stack moved."""
        target: tuple[Frame, str] | None = None
        for command in corrections:
            turn.set_slot(command.name, command.value)
            turn.log(ev.event("slot_corrected", name=command.name))
            await turn.utter(
                "utter_corrected_previous_input", {"slot": command.name, "value": command.value}
            )
            found = self.collect_frame(turn, command.name)
            if found is not None and target is None:
                target = found
        if target is None:
            return False
        frame, step_id = target
        stack = turn.state.stack
        while stack and stack[-1] is not frame:
            above = stack.pop()
            turn.cancel_waiting_agent(above, "correction")
            turn.log(ev.event("flow_cancelled", flow_id=above.flow_id, reason="correction"))
        turn.cancel_waiting_agent(frame, "correction")
        frame.waiting = None
        frame.step_id = step_id
        return True

    async def reply(self, turn: Turn, command: Any) -> None:
        if isinstance(command, cmd.Reply):
            await turn.say_text(command.text)
        elif isinstance(command, cmd.Chitchat):
            if command.response.strip():
                await turn.say_text(command.response)
            else:
                await turn.utter("utter_fallback")
        elif isinstance(command, cmd.Clarify):
            await self.clarify(turn, command.flows)
        elif isinstance(command, cmd.HumanHandoff):
            await turn.utter("utter_human_handoff_not_available")
        else:
            await turn.utter("utter_fallback")

    async def clarify(self, turn: Turn, flow_ids: tuple[str, ...]) -> None:
        """Ask which flow was meant, with one button per flow (payload ``/<flow_id>``)."""
        flows = [self.engine.flows[f] for f in flow_ids]
        names = [f.name for f in flows]
        options = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        message = self.engine.domain.render(
            "utter_clarification_options", turn.state.slots, {"options": options}
        )
        if message is None:
            return
        if not message.get("buttons"):
            message["buttons"] = [{"title": f.name, "payload": f"/{f.id}"} for f in flows]
        await turn.say(message)


def _sets(commands: list[cmd.Command]) -> bool:
    return any(isinstance(c, cmd.SetSlot | cmd.CorrectSlot) for c in commands)


__all__ = ["CommandRunner", "StackOps"]
