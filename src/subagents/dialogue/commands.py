"""The command language of the conversation layer: what one user message asks for.

The router's LLM call and explicit payloads both produce a list of :data:`Command` s:

* ``StartFlow(flow)``: start a flow (interrupting what is on the stack).
* ``CancelFlow()``: stop the active flow.
* ``SetSlot(name, value)``: fill a slot (several per message); a slot the active flow
  collected already, set to another value, is a correction.
* ``CorrectSlot(name, value)``: change a slot filled earlier; the steps after its
  ``collect`` run again.
* ``Clarify(flows)``: the message is ambiguous between these flows: ask which.
* ``Chitchat(response)``, ``CannotHandle()``, ``HumanHandoff()``.
* ``Restart()`` (``/restart``), ``Reply(text)`` (the router answered in text),
  ``Continue()`` (the message goes to the agent or ``collect`` that waits).

Explicit payloads need no LLM call: ``/<flow_id>``, ``/restart`` and
``/SetSlots(a=1, b=x)`` (values are coerced to the slot types; this is how buttons set
slots). :func:`validate` drops what the domain cannot run (an unknown flow, a slot not in
the domain or not fillable this way, a value outside a categorical list), logging
``router.command.dropped`` with the reason, never the value.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from subagents.config.slots import Slot, SlotValueError

logger = logging.getLogger("subagents.dialogue.commands")


@dataclass(frozen=True)
class StartFlow:
    """Start ``flow``."""

    flow: str


@dataclass(frozen=True)
class CancelFlow:
    """Stop the active flow (the user changed their mind)."""


@dataclass(frozen=True)
class SetSlot:
    """Set slot ``name`` to ``value`` (converted to the slot type when applied)."""

    name: str
    value: Any


@dataclass(frozen=True)
class CorrectSlot:
    """Correct slot ``name`` (filled earlier) to ``value``."""

    name: str
    value: Any


@dataclass(frozen=True)
class Clarify:
    """The message could mean any of ``flows``: ask the user which."""

    flows: tuple[str, ...]


@dataclass(frozen=True)
class Chitchat:
    """Small talk; ``response`` is the router's answer (may be empty)."""

    response: str = ""


@dataclass(frozen=True)
class CannotHandle:
    """Nothing the assistant can do matches the message."""


@dataclass(frozen=True)
class HumanHandoff:
    """The user asks for a human."""


@dataclass(frozen=True)
class Restart:
    """``/restart``: slots and stack start afresh."""


@dataclass(frozen=True)
class Reply:
    """The router answered in text (nothing waits): the text goes to the user."""

    text: str


@dataclass(frozen=True)
class Continue:
    """The message goes to what waits (an agent or a ``collect`` step)."""


Command = (
    StartFlow
    | CancelFlow
    | SetSlot
    | CorrectSlot
    | Clarify
    | Chitchat
    | CannotHandle
    | HumanHandoff
    | Restart
    | Reply
    | Continue
)

SET_SLOTS_PAYLOAD = "SetSlots"
_SET_SLOTS = re.compile(r"^/SetSlots\((?P<args>.*)\)$", re.DOTALL)


def parse_payload(text: str, flow_ids: Collection[str]) -> list[Command] | None:
    """The commands of an explicit payload, or ``None`` when ``text`` is not one.

    ``/restart`` restarts; ``/<flow_id>`` starts the flow; ``/SetSlots(a=1, b=x)`` sets
    slots. Any other ``/<word>`` is a payload nobody handles: ``[CannotHandle()]``.
    """
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2:
        return None
    match = _SET_SLOTS.match(stripped)
    if match is not None:
        pairs = _set_slots_args(match.group("args"))
        return [SetSlot(k, v) for k, v in pairs] if pairs is not None else [CannotHandle()]
    name = stripped[1:].split()[0]
    if name == "restart":
        return [Restart()]
    if name in flow_ids:
        return [StartFlow(name)]
    return [CannotHandle()]


def _set_slots_args(args: str) -> list[tuple[str, str]] | None:
    """``a=1, b=x`` as pairs (values stripped, quotes removed); None when malformed."""
    pairs: list[tuple[str, str]] = []
    if not args.strip():
        return pairs
    for part in _split_args(args):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            logger.info("router.payload.malformed", extra={"payload": SET_SLOTS_PAYLOAD})
            return None
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        pairs.append((name, value))
    return pairs


def _split_args(args: str) -> list[str]:
    """Split on commas outside quotes (``a="x, y", b=2``)."""
    parts: list[str] = []
    current: list[str] = []
    quote: str | None = None
    for char in args:
        if quote is not None:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ",":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


@dataclass(frozen=True)
class Fillable:
    """What :func:`validate` checks commands against."""

    flows: frozenset[str]
    """Flow ids that may be started now."""
    slots: Mapping[str, Slot]
    """Slots these commands may set (for the router: ``from_llm`` ones only)."""


def validate(commands: list[Command], allowed: Fillable, source: str) -> list[Command]:
    """``commands`` without those that cannot run; each dropped one is logged.

    Slot values are converted to the slot type here (a categorical matched
    case-insensitively, stored as declared), so what is kept is ready to apply.
    """
    kept: list[Command] = []
    for command in commands:
        reason, fixed = _check(command, allowed)
        if reason is None:
            kept.append(fixed)
        else:
            logger.warning(
                "router.command.dropped",
                extra={"command": type(command).__name__, "reason": reason, "source": source},
            )
    return kept


def _check(command: Command, allowed: Fillable) -> tuple[str | None, Command]:
    if isinstance(command, StartFlow) and command.flow not in allowed.flows:
        return f"unknown or unavailable flow '{command.flow}'", command
    if isinstance(command, Clarify):
        flows = tuple(f for f in command.flows if f in allowed.flows)
        if len(flows) < 1:
            return "no known flow to clarify between", command
        return None, Clarify(flows)
    if isinstance(command, SetSlot | CorrectSlot):
        slot = allowed.slots.get(command.name)
        if slot is None:
            return f"slot '{command.name}' is not in the domain or cannot be set so", command
        try:
            value = slot.coerce(command.value)
        except SlotValueError:  # the reason names slot and type, never the value
            return f"the value does not fit slot '{command.name}' ({slot.type.name})", command
        return None, type(command)(command.name, value)
    return None, command


def describe(commands: list[Command]) -> list[str]:
    """Command names for logs (no values)."""
    return [type(c).__name__ for c in commands]


__all__ = [
    "CannotHandle",
    "CancelFlow",
    "Chitchat",
    "Clarify",
    "Command",
    "Continue",
    "CorrectSlot",
    "Fillable",
    "HumanHandoff",
    "Reply",
    "Restart",
    "SetSlot",
    "StartFlow",
    "describe",
    "parse_payload",
    "validate",
]
