"""The router: which commands does a user message carry?

* Explicit payloads (``/<flow_id>``, ``/restart``, ``/SetSlots(a=1, b=x)``) are parsed
  without the LLM (:func:`subagents.dialogue.commands.parse_payload`).
* Otherwise ONE LLM call. The first tool is ``start_flow`` (parameter ``flow``: enum of
  the startable flow ids; their descriptions are in the tool description), exactly as
  before the command language existed; beside it ``cancel_flow``, ``set_slots``,
  ``correct_slot``, ``clarify``, ``chitchat``, ``cannot_handle`` and ``human_handoff``.
  The router sees the last 10 user and bot messages, the slots and, while an agent or a
  ``collect`` waits, what it asked.
* A reply with no tool call: while something waits, the message goes to it
  (:class:`~subagents.dialogue.commands.Continue`, the text is not shown); otherwise a
  text reply goes to the user and an empty one is a fallback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from subagents.config.slots import Slot
from subagents.dialogue import commands as cmd
from subagents.dialogue.flows import Flow
from subagents.dialogue.patterns import is_pattern
from subagents.llm.base import LLMClient, ToolCall, ToolPayload

logger = logging.getLogger("subagents.dialogue.router")

HISTORY_MESSAGES = 10

ROUTER_SYSTEM_PROMPT = (
    "You are the router of a conversational assistant. Decide what the user's latest "
    "message asks for. If it asks for one of the assistant's flows, call the `start_flow` "
    "tool with that flow's id. Use the other tools when they fit: `set_slots` for values "
    "the user gives, `correct_slot` when the user changes a value given earlier, "
    "`cancel_flow` when the user wants to stop what is going on, `clarify` when the message "
    "could mean several flows, `human_handoff` when the user asks for a person, "
    "`chitchat` for small talk and `cannot_handle` when nothing fits. If no tool fits, do "
    "not call any: answer the user briefly and helpfully, saying what you can help with."
)

WAITING_PROMPT = (
    "The assistant is in the middle of {what} and waits for the user's answer to: "
    '"{question}". If the user\'s latest message answers or continues that (the default), '
    "do not call any tool and reply with nothing: the message goes to it. Call a tool only "
    "when the message clearly does something else: changes the topic to another flow "
    "(`start_flow`), stops it (`cancel_flow`), corrects an earlier value (`correct_slot`), "
    "asks for a person (`human_handoff`) or is small talk (`chitchat`)."
)

COMMAND_TOOLS = (
    "start_flow",
    "cancel_flow",
    "set_slots",
    "correct_slot",
    "clarify",
    "chitchat",
    "cannot_handle",
    "human_handoff",
)
"""Every tool the router may offer (``start_flow`` always first)."""


@dataclass(frozen=True)
class Pending:
    """What waits for the user's answer, as the router is told about it."""

    kind: str
    """``agent`` or ``collect``."""
    flow_id: str
    flow_name: str
    question: str
    """The agent's pending question, or the ``collect`` step's question."""
    name: str
    """The agent's name, or the slot being collected."""

    def describe(self) -> str:
        if self.kind == "collect":
            what = f"flow '{self.flow_id}' ({self.flow_name}), asking for slot '{self.name}'"
        else:
            what = f"flow '{self.flow_id}' ({self.flow_name}), with the agent '{self.name}'"
        return WAITING_PROMPT.format(what=what, question=" ".join(self.question.split()))


@dataclass(frozen=True)
class RouterInput:
    """Everything the router decides on (built by the engine for one message)."""

    recent: list[dict[str, Any]]
    slots: Mapping[str, Any]
    fillable: Mapping[str, Slot]
    """Slots the router may set (``from_llm`` mappings)."""
    pending: Pending | None = None
    active_flow: str | None = None
    """The user flow on top of the stack (``cancel_flow`` is offered when there is one)."""


class FlowRouter:
    """Turns free text into commands with one LLM call (tools cached per offer)."""

    def __init__(self, flows: Mapping[str, Flow], llm: LLMClient | None) -> None:
        self.flows = flows
        self.llm = llm
        self._payloads: dict[tuple[Any, ...], ToolPayload] = {}

    def startable(self, slots: Mapping[str, Any]) -> tuple[str, ...]:
        """Ids of the flows the router offers (guards hold; patterns are not offered)."""
        return tuple(
            f.id for f in self.flows.values() if f.startable(slots) and not is_pattern(f.id)
        )

    def payload(
        self,
        flow_ids: tuple[str, ...],
        slot_names: tuple[str, ...] = (),
        cancel: bool = False,
    ) -> ToolPayload:
        """The router's tools for this offer (cached: flows change only on reload)."""
        key = (flow_ids, slot_names, cancel)
        cached = self._payloads.get(key)
        if cached is None:
            tools = [start_flow_tool([self.flows[f] for f in flow_ids])]
            tools.extend(command_tools(flow_ids, slot_names, cancel))
            cached = self._payloads[key] = ToolPayload(tools)
        return cached

    async def route(self, view: RouterInput) -> list[cmd.Command]:
        """Ask the LLM what the conversation's latest message asks for."""
        flow_ids = self.startable(view.slots)
        if self.llm is None or (not flow_ids and view.pending is None):
            return [cmd.Continue()] if view.pending is not None else []
        slot_names = tuple(sorted(view.fillable))
        tools = self.payload(flow_ids, slot_names, view.active_flow is not None)
        response = await self.llm.complete(self.messages(view), tools)
        commands = to_commands(response.tool_calls)
        allowed = cmd.Fillable(frozenset(flow_ids), view.fillable)
        commands = cmd.validate(commands, allowed, "router")
        if logger.isEnabledFor(logging.DEBUG):  # per turn; assistant.turn is the INFO record
            logger.debug("router.commands", extra={"commands": cmd.describe(commands)})
        if commands:
            return commands
        if view.pending is not None:
            return [cmd.Continue()]
        text = (response.text or "").strip()
        if text and not response.tool_calls:
            return [cmd.Reply(text)]
        return []

    def messages(self, view: RouterInput) -> list[dict[str, Any]]:
        """The router's request: instructions, slots, what waits, the recent messages."""
        system = [ROUTER_SYSTEM_PROMPT]
        filled = {k: v for k, v in view.slots.items() if v is not None and k in view.fillable}
        if filled:
            system.append("Current slots: " + json.dumps(filled, ensure_ascii=False, default=str))
        if view.pending is not None:
            system.append(view.pending.describe())
        messages: list[dict[str, Any]] = [{"role": "system", "content": "\n\n".join(system)}]
        for msg in view.recent[-HISTORY_MESSAGES:]:
            role = "user" if msg["role"] == "user" else "assistant"
            messages.append({"role": role, "content": msg["text"]})
        return messages


def to_command(call: ToolCall) -> cmd.Command | None:
    """The command of one tool call (None, logged, when its arguments are unusable)."""
    args = call.arguments
    if args is None:
        logger.warning("router.command.dropped", extra={"command": call.name, "reason": "bad"})
        return None
    try:
        command: cmd.Command = _COMMANDS[call.name](args)
    except (KeyError, TypeError, ValueError, AttributeError):
        logger.warning(
            "router.command.dropped", extra={"command": call.name, "reason": "bad arguments"}
        )
        return None
    return command


_COMMANDS: dict[str, Any] = {
    "start_flow": lambda a: cmd.StartFlow(str(a["flow"])),
    "cancel_flow": lambda a: cmd.CancelFlow(),
    "correct_slot": lambda a: cmd.CorrectSlot(str(a["slot"]), a["value"]),
    "clarify": lambda a: cmd.Clarify(tuple(str(f) for f in a["flows"])),
    "chitchat": lambda a: cmd.Chitchat(str(a.get("response") or "")),
    "cannot_handle": lambda a: cmd.CannotHandle(),
    "human_handoff": lambda a: cmd.HumanHandoff(),
}


def start_flow_tool(flows: list[Flow]) -> dict[str, Any]:
    """The ``start_flow`` tool in the OpenAI function format."""
    lines = [
        "Start one of the assistant's flows when the user's message asks for it.",
        "Available flows:",
    ]
    for flow in flows:
        description = flow.description.strip() or flow.name
        lines.append(f"- {flow.id}: {' '.join(description.split())}")
    return _tool(
        "start_flow",
        "\n".join(lines),
        {
            "flow": {
                "type": "string",
                "enum": [f.id for f in flows],
                "description": "The id of the flow to start.",
            }
        },
    )


def command_tools(
    flow_ids: tuple[str, ...], slot_names: tuple[str, ...], cancel: bool
) -> list[dict[str, Any]]:
    """The tools beside ``start_flow``."""
    tools: list[dict[str, Any]] = []
    if cancel:
        tools.append(
            _tool("cancel_flow", "Stop the flow in progress: the user changed their mind.")
        )
    if slot_names:
        slot = {"type": "string", "enum": list(slot_names)}
        value = {"type": "string", "description": "The value, as the user gave it."}
        pair = {
            "type": "object",
            "properties": {"slot": slot, "value": value},
            "required": ["slot", "value"],
            "additionalProperties": False,
        }
        tools.append(
            _tool(
                "set_slots",
                "Fill slots with values the user's message gives (several at once).",
                {"slots": {"type": "array", "items": pair}},
            )
        )
        tools.append(
            _tool(
                "correct_slot",
                "Change a slot the user gave earlier to a new value ('actually, Tuesday').",
                {"slot": slot, "value": value},
            )
        )
    if len(flow_ids) > 1:
        tools.append(
            _tool(
                "clarify",
                "The message could mean several flows: ask the user which one.",
                {"flows": {"type": "array", "items": {"type": "string", "enum": list(flow_ids)}}},
            )
        )
    tools.append(
        _tool(
            "chitchat",
            "Small talk that needs no flow; `response` is your short, friendly reply.",
            {"response": {"type": "string"}},
        )
    )
    tools.append(_tool("cannot_handle", "The message asks for nothing the assistant can do."))
    tools.append(_tool("human_handoff", "The user asks to talk to a human."))
    return tools


def _tool(name: str, description: str, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    props = properties or {}
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": props,
                "required": list(props),
                "additionalProperties": False,
            },
            "strict": True,
        },
    }


def to_commands(calls: list[ToolCall]) -> list[cmd.Command]:
    """The commands of the router's tool calls (``set_slots`` gives one per slot)."""
    out: list[cmd.Command] = []
    for call in calls:
        if call.name == "set_slots" and call.arguments is not None:
            items = call.arguments.get("slots")
            if isinstance(items, list):
                out.extend(
                    cmd.SetSlot(str(i["slot"]), i.get("value"))
                    for i in items
                    if isinstance(i, dict) and "slot" in i
                )
                continue
        command = to_command(call)
        if command is not None:
            out.append(command)
    return out


__all__ = [
    "COMMAND_TOOLS",
    "HISTORY_MESSAGES",
    "ROUTER_SYSTEM_PROMPT",
    "FlowRouter",
    "Pending",
    "RouterInput",
    "command_tools",
    "start_flow_tool",
    "to_commands",
]
