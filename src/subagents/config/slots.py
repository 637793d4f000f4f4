"""Slot types: one object per type owning every rule about values of that type.

A :class:`SlotType` (``SLOT_TYPES["float"]`` ...) knows, for its type:

* how a value written in domain.yml or flows.yml is read (:meth:`SlotType.from_yaml`) and
  whether it fits as written (:meth:`SlotType.value_problem`);
* the lenient conversion used for user answers, actions, agents and ``set_slots``
  (:meth:`SlotType.coerce`: ``"3,5"`` is 3.5, ``"yes"`` is true, ``"a, b"`` a list);
* the strict conversion of ``set_slot_<name>`` tool arguments (:meth:`SlotType.convert`:
  a value of the JSON type as is, a string only when it converts cleanly);
* the JSON schema of the ``set_slot_<name>`` parameter (:meth:`SlotType.value_schema`);
* the typing of the condition language (:meth:`SlotType.condition_problem`: which
  literals and operators make sense against a slot of this type).

A :class:`Slot` binds a type to one slot's name and declared values; it is what the
runtime holds. The rules are those of DESIGN.md and docs/DECISIONS.md ("Dialogue": slot
values are converted everywhere; "Sub agents": set_slot strictness).
"""

from __future__ import annotations

import difflib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from subagents.conditions import as_number, values_equal
from subagents.errors import SubagentsError

SlotTypeName = Literal["text", "bool", "float", "categorical", "list", "any"]
"""The slot types of domain.yml."""

_TRUE = frozenset({"true", "yes", "y", "1", "on", "yep", "yeah", "sure", "ok", "okay"})
_FALSE = frozenset({"false", "no", "n", "0", "off", "nope", "nah"})
_ORDERING = frozenset({"<", ">", "<=", ">="})


class SlotValueError(SubagentsError, ValueError):
    """A value that does not fit a slot's type (the message says why)."""


def categorical_fix(value: Any, values: Sequence[Any]) -> str:
    """What to do about a value a categorical slot does not have: the close value, or the
    values to choose from, or adding it to the slot's ``values:``."""
    names = [str(v) for v in values]
    close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
    guess = f"did you mean '{close[0]}'? " if close else ""
    listed = ", ".join(names) if names else "(none declared)"
    return f"{guess}use one of: {listed} (or add it to the slot's values: in domain.yml)"


def _json(value: Any, limit: int | None = None) -> str:
    return json.dumps(value)[:limit]


def _json_type(value: Any) -> str:
    return "null" if value is None else type(value).__name__.replace("str", "string")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class SlotType(ABC):
    """The rules of one slot type. Stateless: one shared instance per type."""

    name: ClassVar[SlotTypeName]
    has_values: ClassVar[bool] = False
    """Whether slots of this type declare ``values:`` (categorical)."""
    matches_applies: ClassVar[bool] = False
    """Whether ``matches`` makes sense on a slot of this type."""
    contains_applies: ClassVar[bool] = False
    """Whether ``contains`` makes sense on a slot of this type."""

    # ------------------------------------------------------------------ YAML

    def from_yaml(self, value: Any) -> Any:
        """A value written in domain.yml as the runtime would store it (``0`` of a float
        slot is ``0.0``). Values that do not fit are left for :meth:`value_problem`."""
        return value

    def value_problem(self, slot: Slot, value: Any) -> str | None:
        """Why ``value``, written in a project file, cannot be stored (None: it can)."""
        if value is None or self._fits(slot, value):
            return None
        return f"{value!r} does not fit slot '{slot.name}' of type {self.name}"

    @abstractmethod
    def _fits(self, slot: Slot, value: Any) -> bool:
        """Whether a non-null value written in a project file fits as it is."""

    # ------------------------------------------------------------------ conversions

    @abstractmethod
    def coerce(self, slot: Slot, value: Any) -> Any:
        """Lenient conversion (user answers, actions, agents, set_slots); raises
        :class:`SlotValueError` naming the slot. ``None`` is handled by :meth:`Slot.coerce`."""

    @abstractmethod
    def convert(self, slot: Slot, value: Any) -> Any:
        """Strict conversion of a ``set_slot_<name>`` argument: the JSON type as is, a
        string only when it converts cleanly; raises :class:`SlotValueError`."""

    # ------------------------------------------------------------------ tools

    @abstractmethod
    def value_schema(self, slot: Slot) -> dict[str, Any]:
        """The JSON schema of the ``slot_value`` parameter of ``set_slot_<name>``."""

    def tool_description(self, slot: Slot) -> str:
        """The description of the ``set_slot_<name>`` tool."""
        return f"Set the slot '{slot.name}' to a specific value. The slot type is {self.name}."

    # ------------------------------------------------------------------ conditions

    def condition_problem(self, name: str, op: str, literal: Any, slot: Slot) -> str | None:
        """Why comparing slot ``name`` with ``literal`` by ``op`` can never make sense."""
        if op == "matches":
            if self.matches_applies:
                return None
            return f"slot '{name}' is {self.name}; 'matches' only applies to text slots"
        if literal is None and op in ("=", "!="):
            return None
        if op == "contains":
            if self.contains_applies:
                return None
            return f"slot '{name}' is {self.name}; 'contains' only applies to text and list slots"
        shown = "null" if literal is None else repr(literal)
        return self._literal_problem(name, op, literal, shown, slot)

    def _literal_problem(
        self, name: str, op: str, literal: Any, shown: str, slot: Slot
    ) -> str | None:
        """The type-specific part of :meth:`condition_problem` (=, !=, ordering)."""
        return None


class AnyType(SlotType):
    """Any JSON value, stored as given; the model sets it as a string."""

    name = "any"
    matches_applies = True
    contains_applies = True

    def _fits(self, slot: Slot, value: Any) -> bool:
        return True

    def coerce(self, slot: Slot, value: Any) -> Any:
        return value

    def convert(self, slot: Slot, value: Any) -> Any:
        return value

    def value_schema(self, slot: Slot) -> dict[str, Any]:
        return {"type": "string"}


class TextType(SlotType):
    """Text: any scalar becomes its string (answers stripped); strict wants a string."""

    name = "text"
    matches_applies = True
    contains_applies = True

    def from_yaml(self, value: Any) -> Any:
        return str(value) if _is_number(value) else value

    def _fits(self, slot: Slot, value: Any) -> bool:
        return isinstance(value, str) or _is_number(value)

    def coerce(self, slot: Slot, value: Any) -> Any:
        if isinstance(value, dict | list):
            raise SlotValueError(f"slot '{slot.name}' is text, got {type(value).__name__}")
        return value.strip() if isinstance(value, str) else str(value)

    def convert(self, slot: Slot, value: Any) -> Any:
        if isinstance(value, str):
            return value
        raise SlotValueError(f"expected a string, got {_json_type(value)}")

    def value_schema(self, slot: Slot) -> dict[str, Any]:
        return {"type": "string"}

    def _literal_problem(
        self, name: str, op: str, literal: Any, shown: str, slot: Slot
    ) -> str | None:
        if isinstance(literal, bool):
            return f"slot '{name}' is text but is compared with {shown}; quote the text"
        return None


class BoolType(SlotType):
    """Yes/no: answers in words (yes, no, ok, nope...); strict takes true/false only."""

    name = "bool"

    def _fits(self, slot: Slot, value: Any) -> bool:
        return isinstance(value, bool)

    def coerce(self, slot: Slot, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower().rstrip(".!")
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise SlotValueError(f"slot '{slot.name}' is yes/no, '{value}' is neither")

    def convert(self, slot: Slot, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise SlotValueError(f"expected a boolean (true or false), got {_json(value)}")

    def value_schema(self, slot: Slot) -> dict[str, Any]:
        return {"type": "boolean"}

    def _literal_problem(
        self, name: str, op: str, literal: Any, shown: str, slot: Slot
    ) -> str | None:
        if op in _ORDERING:
            return f"slot '{name}' is bool; it cannot be ordered with '{op}'"
        if not isinstance(literal, bool):
            return f"slot '{name}' is bool but is compared with {shown}; use true or false"
        return None


class FloatType(SlotType):
    """Numbers: answers may use a decimal comma; strict wants a finite number."""

    name = "float"

    def from_yaml(self, value: Any) -> Any:
        return float(value) if _is_number(value) else value

    def _fits(self, slot: Slot, value: Any) -> bool:
        return _is_number(value)

    def coerce(self, slot: Slot, value: Any) -> Any:
        if isinstance(value, bool):
            raise SlotValueError(f"slot '{slot.name}' is a number, got a boolean")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip().replace(",", "."))
            except ValueError:
                pass
        raise SlotValueError(f"slot '{slot.name}' is a number, '{value}' is not")

    def convert(self, slot: Slot, value: Any) -> Any:
        number: float | None = None
        if _is_number(value):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                number = None
        if number is None:
            raise SlotValueError(f"expected a number, got {_json(value)}")
        if not math.isfinite(number):
            raise SlotValueError(f"expected a finite number, got {_json(value)}")
        return number

    def value_schema(self, slot: Slot) -> dict[str, Any]:
        return {"type": "number"}

    def _literal_problem(
        self, name: str, op: str, literal: Any, shown: str, slot: Slot
    ) -> str | None:
        if isinstance(literal, bool) or as_number(literal) is None:
            return f"slot '{name}' is float but is compared with {shown}; use a number"
        return None


class CategoricalType(SlotType):
    """One of the declared values, matched case-insensitively (the declared spelling
    is stored)."""

    name = "categorical"
    has_values = True
    matches_applies = True

    def _fits(self, slot: Slot, value: Any) -> bool:
        return value in slot.values

    def value_problem(self, slot: Slot, value: Any) -> str | None:
        if value is None or self._fits(slot, value):
            return None
        return f"{value!r} is not one of the values of slot '{slot.name}'; " + categorical_fix(
            value, slot.values
        )

    def coerce(self, slot: Slot, value: Any) -> Any:
        if value in slot.values:
            return value
        text = str(value).strip().lower()
        for candidate in slot.values:
            if str(candidate).lower() == text:
                return candidate
        raise SlotValueError(
            f"slot '{slot.name}' must be one of {list(slot.values)}, '{value}' is not"
        )

    def convert(self, slot: Slot, value: Any) -> Any:
        allowed = list(slot.values)
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise SlotValueError(f"expected one of {allowed}, got {_json(value, 100)}")
        text = str(value)
        for candidate in allowed:
            if str(candidate) == text:
                return candidate
        folded = text.strip().casefold()
        for candidate in allowed:
            if str(candidate).casefold() == folded:
                return candidate
        raise SlotValueError(f"{_json(value)} is not one of the allowed values {allowed}")

    def value_schema(self, slot: Slot) -> dict[str, Any]:
        return {"type": "string", "enum": [str(v) for v in slot.values]}

    def tool_description(self, slot: Slot) -> str:
        values = list(slot.values)
        return super().tool_description(slot) + f" The allowed values are: {values}."

    def _literal_problem(
        self, name: str, op: str, literal: Any, shown: str, slot: Slot
    ) -> str | None:
        if op in ("=", "!=") and not any(values_equal(v, literal) for v in slot.values):
            return f"slot '{name}' is categorical and {shown} is not one of its values; " + (
                categorical_fix(literal, slot.values)
            )
        return None


class ListType(SlotType):
    """A list: answers may be comma-separated; strict wants an array of strings."""

    name = "list"
    contains_applies = True

    def _fits(self, slot: Slot, value: Any) -> bool:
        return isinstance(value, list)

    def coerce(self, slot: Slot, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return list(value)
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        raise SlotValueError(f"slot '{slot.name}' is a list, got {type(value).__name__}")

    def convert(self, slot: Slot, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise SlotValueError("expected an array of strings, got a string") from None
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return list(value)
        raise SlotValueError(f"expected an array of strings, got {_json(value, 100)}")

    def value_schema(self, slot: Slot) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string"}}

    def _literal_problem(
        self, name: str, op: str, literal: Any, shown: str, slot: Slot
    ) -> str | None:
        return f"slot '{name}' is a list; use 'contains' to test for an item"


SLOT_TYPES: dict[SlotTypeName, SlotType] = {
    t.name: t
    for t in (TextType(), AnyType(), BoolType(), FloatType(), CategoricalType(), ListType())
}
"""The one instance of every slot type, by its name in domain.yml."""


@dataclass(frozen=True)
class Slot:
    """One declared slot: its name, type and declared values, bound for the runtime."""

    name: str
    type: SlotType
    values: tuple[Any, ...] = ()
    initial_value: Any = None

    @classmethod
    def of(
        cls,
        name: str,
        type_name: SlotTypeName,
        values: Sequence[Any] | None = None,
        initial_value: Any = None,
    ) -> Slot:
        """The slot ``name`` of type ``type_name`` (as written in domain.yml)."""
        return cls(name, SLOT_TYPES[type_name], tuple(values or ()), initial_value)

    def coerce(self, value: Any) -> Any:
        """``value`` converted leniently; ``None`` always resets the slot."""
        return None if value is None else self.type.coerce(self, value)

    def convert(self, value: Any) -> Any:
        """A ``set_slot_<name>`` argument converted strictly (:meth:`SlotType.convert`)."""
        return self.type.convert(self, value)

    def value_problem(self, value: Any) -> str | None:
        """Why a value written in a project file cannot be stored (None: it can)."""
        return self.type.value_problem(self, value)

    def value_schema(self) -> dict[str, Any]:
        """The JSON schema of this slot's ``set_slot_<name>`` parameter."""
        return self.type.value_schema(self)

    def condition_problem(self, name: str, op: str, literal: Any) -> str | None:
        """Why a condition comparing this slot with ``literal`` by ``op`` makes no sense."""
        return self.type.condition_problem(name, op, literal, self)


__all__ = [
    "SLOT_TYPES",
    "AnyType",
    "BoolType",
    "CategoricalType",
    "FloatType",
    "ListType",
    "Slot",
    "SlotType",
    "SlotTypeName",
    "SlotValueError",
    "TextType",
    "categorical_fix",
]
