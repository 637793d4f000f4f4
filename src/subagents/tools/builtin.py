"""Built-in tools of the ReAct sub agents: ``task_completed`` and ``set_slot_<slot>``.

Their definitions match the reference exactly (names, descriptions, ``strict: true``)
and their kind is :attr:`ToolKind.CONTROL`. Both toolsets are pure: they validate and
return a :class:`ToolOutcome` whose ``control`` field is a typed result telling the agent
what happened (:class:`TaskCompleted` or :class:`SlotSet`); the agent applies it in call
order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from subagents.config.models import SlotConfig
from subagents.config.slots import Slot, SlotValueError
from subagents.errors import ToolArgumentsError, UnknownToolError
from subagents.tools.base import (
    ControlResult,
    ToolContext,
    ToolKind,
    ToolOutcome,
    Toolset,
    ToolSpec,
)

TASK_COMPLETED = "task_completed"
TASK_COMPLETED_DESCRIPTION = (
    "Signal that the MCP agent has FULLY completed its primary task. Once you have presented "
    "your findings, follow-up with a message summarizing the completed task in a comprehensive "
    "and well-written manner. Avoid repeating information already provided in the conversation."
)
TASK_COMPLETED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "description": "A message describing the completed task."}
    },
    "required": ["message"],
    "additionalProperties": False,
}
SET_SLOT_PREFIX = "set_slot_"
_SLOT_VALUE_DESCRIPTION = "The value to assign to the slot."


@dataclass(frozen=True)
class TaskCompleted(ControlResult):
    """``task_completed`` was called: the run ends and ``message`` goes to the user."""

    message: str


@dataclass(frozen=True)
class SlotSet(ControlResult):
    """``set_slot_<slot>`` was called: ``value`` is already coerced to the slot type."""

    slot: str
    value: Any


def _only_key(tool: str, arguments: Mapping[str, Any], key: str) -> Any:
    """The single allowed argument ``key``; anything else is an error for the model."""
    extra = sorted(set(arguments) - {key})
    if extra:
        raise ToolArgumentsError(
            tool, f"unexpected argument(s) {extra}; the only argument is '{key}'"
        )
    if key not in arguments:
        raise ToolArgumentsError(tool, f"'{key}' is a required property")
    return arguments[key]


class TaskCompletedToolset(Toolset):
    """The ``task_completed`` tool of the general-purpose agent."""

    spec = ToolSpec(
        name=TASK_COMPLETED,
        description=TASK_COMPLETED_DESCRIPTION,
        input_schema=TASK_COMPLETED_SCHEMA,
        strict=True,
        source="builtin",
        kind=ToolKind.CONTROL,
    )

    @property
    def validates_arguments(self) -> bool:
        return True

    async def list_tools(self) -> list[ToolSpec]:
        return [self.spec]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: ToolContext | None = None
    ) -> ToolOutcome:
        if name != TASK_COMPLETED:
            raise UnknownToolError(name, f"Tool '{name}' is not available to this agent.")
        message = _only_key(name, arguments, "message")
        if not isinstance(message, str) or not message.strip():
            raise ToolArgumentsError(name, "'message' must be a non-empty string")
        return ToolOutcome(text="Task marked as completed.", control=TaskCompleted(message))


# --------------------------------------------------------------------------- set_slot_*


def slot_tool_spec(slot: str, config: SlotConfig) -> ToolSpec:
    """The ``set_slot_<slot>`` definition for one slot, typed from its domain config."""
    return _slot_spec(config.slot(slot))


def _slot_spec(slot: Slot) -> ToolSpec:
    value_schema = {**slot.value_schema(), "description": _SLOT_VALUE_DESCRIPTION}
    return ToolSpec(
        name=SET_SLOT_PREFIX + slot.name,
        description=slot.type.tool_description(slot),
        input_schema={
            "type": "object",
            "properties": {"slot_value": value_schema},
            "required": ["slot_value"],
            "additionalProperties": False,
        },
        strict=True,
        source="builtin",
        kind=ToolKind.CONTROL,
    )


def coerce_slot_value(slot: str, config: SlotConfig, value: Any) -> Any:
    """Convert a ``set_slot_<slot>`` argument strictly (DESIGN.md) or raise :class:`ValueError`.

    A value of the slot's JSON type is taken as is; a string that cleanly converts
    (``"42"`` for float, ``"true"`` for bool, a JSON array for list) is converted.
    """
    return config.slot(slot).convert(value)


class SetSlotToolset(Toolset):
    """``set_slot_<slot>`` tools for the slots named in a task agent's exit conditions."""

    def __init__(self, slots: Iterable[tuple[str, SlotConfig]]) -> None:
        self._slots: dict[str, Slot] = {}
        self._specs: list[ToolSpec] = []
        for name, config in slots:
            if name in self._slots:
                continue
            self._slots[name] = config.slot(name)
            self._specs.append(_slot_spec(self._slots[name]))

    @property
    def validates_arguments(self) -> bool:
        return True

    async def list_tools(self) -> list[ToolSpec]:
        return list(self._specs)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: ToolContext | None = None
    ) -> ToolOutcome:
        slot = name[len(SET_SLOT_PREFIX) :] if name.startswith(SET_SLOT_PREFIX) else ""
        bound = self._slots.get(slot)
        if bound is None:
            raise UnknownToolError(name, f"Tool '{name}' is not available to this agent.")
        raw = _only_key(name, arguments, "slot_value")
        try:
            value = bound.convert(raw)
        except SlotValueError as exc:
            raise ToolArgumentsError(name, f"invalid value for slot '{slot}': {exc}") from None
        return ToolOutcome(
            text=f"Slot '{slot}' set to {json.dumps(value, ensure_ascii=False)}.",
            control=SlotSet(slot, value),
        )
