"""Slot types: every rule of every type, from one object per type (subagents.config.slots)."""

from __future__ import annotations

from typing import Any

import pytest

from subagents.conditions import parse_condition
from subagents.config.models import SlotConfig
from subagents.config.slots import SLOT_TYPES, Slot, SlotTypeName, SlotValueError

SIZE = Slot.of("size", "categorical", ["S", "M", "L"])
NUMBERED = Slot.of("level", "categorical", [1, 2])


def slot(kind: SlotTypeName) -> Slot:
    return SIZE if kind == "categorical" else Slot.of(f"my_{kind}", kind)


def test_every_type_of_domain_yml_has_one_object() -> None:
    assert set(SLOT_TYPES) == {"text", "any", "bool", "float", "categorical", "list"}
    assert all(t.name == name for name, t in SLOT_TYPES.items())
    # Declarations are bound to the shared type object, not to a copy.
    assert SlotConfig(type="float").slot("x").type is SLOT_TYPES["float"]


# --------------------------------------------------------------------------- parsing YAML


@pytest.mark.parametrize(
    ("kind", "written", "stored"),
    [
        ("float", 0, 0.0),
        ("float", 2.5, 2.5),
        ("float", "x", "x"),  # left for value_problem to report
        ("text", 7, "7"),
        ("text", "seven", "seven"),
        ("bool", 1, 1),
        ("list", ["a"], ["a"]),
        ("any", {"k": 1}, {"k": 1}),
        ("categorical", "S", "S"),
    ],
)
def test_initial_values_are_read_as_the_runtime_stores_them(
    kind: SlotTypeName, written: Any, stored: Any
) -> None:
    value = SlotConfig(type=kind, initial_value=written, values=["S"]).initial_value
    assert value == stored and type(value) is type(stored)


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [
        ("text", "x", None),
        ("text", 3, None),
        ("text", True, "True does not fit slot 'my_text' of type text"),
        ("text", ["x"], "['x'] does not fit slot 'my_text' of type text"),
        ("float", 3, None),
        ("float", "3", "'3' does not fit slot 'my_float' of type float"),
        ("float", False, "False does not fit slot 'my_float' of type float"),
        ("bool", True, None),
        ("bool", "yes", "'yes' does not fit slot 'my_bool' of type bool"),
        ("list", ["a", 1], None),
        ("list", "a", "'a' does not fit slot 'my_list' of type list"),
        ("any", {"k": [1]}, None),
        ("categorical", "M", None),
        (
            "categorical",
            "Q",
            "'Q' is not one of the values of slot 'size'; use one of: S, M, L"
            " (or add it to the slot's values: in domain.yml)",
        ),
        ("categorical", "LL", "'LL' is not one of the values of slot 'size'; did you mean 'L'?"),
    ],
)
def test_values_written_in_project_files(kind: SlotTypeName, value: Any, problem: str) -> None:
    found = slot(kind).value_problem(value)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)
    assert slot(kind).value_problem(None) is None  # null always resets


# --------------------------------------------------------------------------- lenient


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        ("text", "  Ada ", "Ada"),
        ("text", 42, "42"),
        ("float", "3,5", 3.5),
        ("float", " 42 ", 42.0),
        ("float", 7, 7.0),
        ("bool", "Yes!", True),
        ("bool", "nope", False),
        ("bool", "OK.", True),
        ("categorical", " l ", "L"),
        ("list", "a, b,,c", ["a", "b", "c"]),
        ("list", ("x",), ["x"]),
        ("any", {"a": 1}, {"a": 1}),
    ],
)
def test_lenient_coercion(kind: SlotTypeName, raw: Any, value: Any) -> None:
    assert slot(kind).coerce(raw) == value
    assert slot(kind).coerce(None) is None


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("text", {"a": 1}, "slot 'my_text' is text, got dict"),
        ("float", True, "slot 'my_float' is a number, got a boolean"),
        ("float", "many", "slot 'my_float' is a number, 'many' is not"),
        ("bool", "perhaps", "slot 'my_bool' is yes/no, 'perhaps' is neither"),
        ("categorical", "XL", "slot 'size' must be one of ['S', 'M', 'L'], 'XL' is not"),
        ("list", 3, "slot 'my_list' is a list, got int"),
    ],
)
def test_lenient_coercion_refuses(kind: SlotTypeName, raw: Any, message: str) -> None:
    with pytest.raises(SlotValueError) as exc:
        slot(kind).coerce(raw)
    assert str(exc.value) == message


# --------------------------------------------------------------------------- strict


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        ("text", " Ada ", " Ada "),  # the model's string is taken as it is
        ("float", "42", 42.0),
        ("float", 2, 2.0),
        ("bool", " TRUE ", True),
        ("bool", False, False),
        ("categorical", "m", "M"),
        ("list", ["a"], ["a"]),
        ("list", '["a", "b"]', ["a", "b"]),
        ("any", [1], [1]),
    ],
)
def test_strict_conversion_of_set_slot_arguments(kind: SlotTypeName, raw: Any, value: Any) -> None:
    assert slot(kind).convert(raw) == value
    assert NUMBERED.convert("2") == 2


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("text", 3, "expected a string, got int"),
        ("float", "3,5", 'expected a number, got "3,5"'),
        ("float", "inf", 'expected a finite number, got "inf"'),
        ("float", True, "expected a number, got true"),
        ("bool", "yes", 'expected a boolean (true or false), got "yes"'),
        ("bool", 1, "expected a boolean (true or false), got 1"),
        ("categorical", "XL", "\"XL\" is not one of the allowed values ['S', 'M', 'L']"),
        ("categorical", True, "expected one of ['S', 'M', 'L'], got true"),
        ("list", "a, b", "expected an array of strings, got a string"),
        ("list", [1], "expected an array of strings, got [1]"),
    ],
)
def test_strict_conversion_refuses(kind: SlotTypeName, raw: Any, message: str) -> None:
    with pytest.raises(SlotValueError) as exc:
        slot(kind).convert(raw)
    assert str(exc.value) == message
    assert isinstance(exc.value, ValueError)


# --------------------------------------------------------------------------- set_slot schema


@pytest.mark.parametrize(
    ("kind", "schema"),
    [
        ("text", {"type": "string"}),
        ("any", {"type": "string"}),
        ("bool", {"type": "boolean"}),
        ("float", {"type": "number"}),
        ("list", {"type": "array", "items": {"type": "string"}}),
        ("categorical", {"type": "string", "enum": ["S", "M", "L"]}),
    ],
)
def test_set_slot_schema(kind: SlotTypeName, schema: dict[str, Any]) -> None:
    assert slot(kind).value_schema() == schema
    description = slot(kind).type.tool_description(slot(kind))
    assert description.startswith(f"Set the slot '{slot(kind).name}' to a specific value.")
    assert ("The allowed values are: ['S', 'M', 'L']." in description) == (kind == "categorical")
    assert NUMBERED.value_schema() == {"type": "string", "enum": ["1", "2"]}


# --------------------------------------------------------------------------- condition typing

TYPED = {kind: slot(kind) for kind in SLOT_TYPES}


@pytest.mark.parametrize(
    ("kind", "good", "bad", "problem"),
    [
        ("text", "x = 'a' and x matches 'a' and x contains 'b'", "x = true", "quote the text"),
        ("any", "x = 3 and x contains 'a' and x matches 'a' and x > 'b'", None, None),
        ("bool", "x = false and x != null", "x < true", "cannot be ordered with '<'"),
        ("bool", "x is true", "x = 'yes'", "use true or false"),
        ("float", "x > 3 and x = '4'", "x > 'old'", "use a number"),
        ("float", "x >= 0", "x contains 1", "'contains' only applies to text and list slots"),
        ("categorical", "x = 'S' and x matches '^S'", "x = 'XL'", "not one of its values"),
        ("list", "x contains 'a' and x is not null", "x = 'a'", "use 'contains'"),
        ("list", "x contains 'a'", "x matches 'a'", "'matches' only applies to text slots"),
    ],
)
def test_condition_typing(kind: SlotTypeName, good: str, bad: str | None, problem: str) -> None:
    types = {"x": TYPED[kind]}
    assert parse_condition(good).check(types) == []
    if bad is not None:
        (found,) = parse_condition(bad).check(types)
        assert found.startswith("slot 'x' is") and problem in found
    # A declaration (SlotConfig) answers exactly as the slot it declares.
    config = {"x": SlotConfig(type=kind, values=["S", "M", "L"])}
    assert parse_condition(bad or good).check(config) == parse_condition(bad or good).check(types)
