"""The exit_if condition language: parsing, evaluation, load-time checks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subagents.conditions import (
    Condition,
    ConditionSyntaxError,
    parse_condition,
    parse_conditions,
)
from subagents.config.models import SlotConfig

SLOTS = {
    "name": SlotConfig(type="text"),
    "age": SlotConfig(type="float"),
    "ok": SlotConfig(type="bool"),
    "category": SlotConfig(type="categorical", values=["A", "B", "C"]),
    "items": SlotConfig(type="list"),
    "extra": SlotConfig(type="any"),
}


def ev(text: str, **slots: Any) -> bool:
    return parse_condition(text).evaluate(slots)


@pytest.mark.parametrize(
    ("text", "slots", "expected"),
    [
        ("slots.name is not null", {"name": "Ann"}, True),
        ("slots.name is not null", {}, False),
        ("slots.name is null", {"name": None}, True),
        ("slots.name = 'Ann'", {"name": "Ann"}, True),
        ('slots.name == "Ann"', {"name": "Bob"}, False),
        ("slots.name != 'Ann'", {"name": "Bob"}, True),
        ("slots.age > 18", {"age": 20.0}, True),
        ("slots.age >= 18", {"age": 18}, True),
        ("slots.age < 18.5", {"age": 18}, True),
        ("slots.age <= -1", {"age": -1.0}, True),
        ("slots.age > 1e3", {"age": 999}, False),
        ("18 < slots.age", {"age": 20}, True),
        ("slots.age = 42", {"age": "42"}, True),  # a numeric string compares as a number
        ("slots.ok = true", {"ok": True}, True),
        ("slots.ok is false", {"ok": False}, True),
        ("slots.ok = 1", {"ok": True}, False),  # true is not 1
        ("slots.ok", {"ok": True}, True),  # truthiness
        ("not slots.ok", {"ok": None}, True),
        ("slots.items contains 'x'", {"items": ["x", "y"]}, True),
        ("slots.name contains 'nn'", {"name": "Ann"}, True),
        ("slots.name matches '^A.n$'", {"name": "Ann"}, True),
        ("slots.name matches '^\\d+$'", {"name": "12a"}, False),
        ("slots.name = 'it\\'s'", {"name": "it's"}, True),
        ("name = 'Ann' AND age > 1", {"name": "Ann", "age": 2}, True),  # bare names, any case
        ("slots.category = 'A' or slots.category = 'B'", {"category": "B"}, True),
        ("slots.name = null", {}, True),
        ("slots.a = slots.b", {"a": 3, "b": 3.0}, True),
    ],
)
def test_evaluate(text: str, slots: dict[str, Any], expected: bool) -> None:
    assert parse_condition(text).evaluate(slots) is expected


def test_precedence_not_over_and_over_or() -> None:
    # or binds loosest: true or (false and false)
    assert ev("slots.a or slots.b and slots.c", a=True, b=False, c=False) is True
    # parentheses override it
    assert ev("(slots.a or slots.b) and slots.c", a=True, b=False, c=False) is False
    # not binds tightest: (not a) and b
    assert ev("not slots.a and slots.b", a=False, b=True) is True
    assert ev("not (slots.a and slots.b)", a=True, b=False) is True
    assert ev("not not slots.a", a=True) is True


@pytest.mark.parametrize(
    ("text", "slots"),
    [
        ("slots.age > 18", {"age": "old"}),
        ("slots.age > 18", {"age": None}),
        ("slots.age > 18", {"age": [1]}),
        ("slots.ok > false", {"ok": True}),
        ("slots.name > 3", {"name": {"a": 1}}),
        ("slots.name contains 'a'", {"name": 5}),
        ("slots.name matches 'a'", {"name": None}),
        ("slots.a matches slots.b", {"a": "x", "b": "["}),  # bad regex from a slot
        ("slots.items contains 'a'", {"items": None}),
    ],
)
def test_type_mismatches_are_false_not_errors(text: str, slots: dict[str, Any]) -> None:
    assert parse_condition(text).evaluate(slots) is False


def test_evaluate_survives_hostile_values() -> None:
    class Weird:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("no")

        def __bool__(self) -> bool:
            raise RuntimeError("no")

    assert ev("slots.x = 'a'", x=Weird()) is False
    assert ev("slots.x", x=Weird()) is False
    assert parse_condition("slots.x").evaluate(None) is False  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "reason", "column"),
    [
        ("", "empty condition", 1),
        ("slots.age >", "expected a value", 12),
        ("slots.age > > 3", "expected a value but found '>'", 13),
        ("(slots.a = 1", "expected ')'", 13),
        ("slots.a = 1)", "unexpected ')'", 12),
        ("slots.a = 'open", "unterminated string", 11),
        ("slots.a = 1 and", "expected a value", 16),
        ("slots.a = 1 slots.b", "unexpected 'slots.b'", 13),
        ("slots.a ~ 1", "unexpected character '~'", 9),
        ("context.a = 1", "unknown name 'context.a'", 1),
        ("slots.a matches '['", "invalid regular expression", 9),
        ("slots.a matches 3", "needs a quoted regular expression", 9),
    ],
)
def test_syntax_errors_say_what_and_where(text: str, reason: str, column: int) -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition(text)
    assert reason in str(info.value)
    assert info.value.position == column - 1
    assert f"at column {column} in condition: {text}" in str(info.value)


def test_slot_names() -> None:
    cond = parse_condition("slots.a = 1 and (b is null or not slots.c contains 'x')")
    assert cond.slot_names() == {"a", "b", "c"}
    assert parse_condition("1 = 1").slot_names() == set()


def test_parse_is_cached_and_conditions_compare_by_text() -> None:
    assert parse_condition("slots.a = 1") is parse_condition("slots.a = 1")
    assert parse_condition("slots.a = 1") == Condition("slots.a = 1", parse_condition("1")._root)
    assert str(parse_condition("slots.a = 1")) == "slots.a = 1"


def test_parse_conditions_means_all_of_them() -> None:
    cond = parse_conditions(["slots.name is not null", "slots.age > 18"])

    assert cond.slot_names() == {"name", "age"}
    assert cond.evaluate({"name": "Ann", "age": 30}) is True
    assert cond.evaluate({"name": "Ann", "age": 3}) is False
    assert cond.evaluate({"age": 30}) is False
    assert parse_conditions(["slots.a"]).evaluate({"a": 1}) is True
    with pytest.raises(ConditionSyntaxError):
        parse_conditions(["slots.a", "slots.b ="])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("slots.agee > 1", "unknown slot 'agee'; did you mean 'age'?"),
        ("slots.zzz is null", "unknown slot 'zzz' (declare it under slots: in domain.yml)"),
        ("slots.name = Ann", "unknown slot 'Ann' (to compare with the text Ann, quote it: 'Ann')"),
        ("slots.age > 'abc'", "slot 'age' is float but is compared with 'abc'; use a number"),
        ("slots.age = true", "slot 'age' is float but is compared with True; use a number"),
        ("slots.ok = 'yes'", "slot 'ok' is bool but is compared with 'yes'; use true or false"),
        ("slots.ok < true", "slot 'ok' is bool; it cannot be ordered with '<'"),
        (
            "slots.category = 'D'",
            "slot 'category' is categorical and 'D' is not one of its values; use one of:"
            " A, B, C (or add it to the slot's values: in domain.yml)",
        ),
        ("slots.items = 'x'", "slot 'items' is a list; use 'contains' to test for an item"),
        (
            "slots.age contains 1",
            "slot 'age' is float; 'contains' only applies to text and list slots",
        ),
        ("slots.ok matches 'x'", "slot 'ok' is bool; 'matches' only applies to text slots"),
        ("'abc' < slots.age", "slot 'age' is float but is compared with 'abc'; use a number"),
    ],
)
def test_check_reports_load_time_problems(text: str, problem: str) -> None:
    assert parse_condition(text).check(SLOTS) == [problem]


@pytest.mark.parametrize(
    "text",
    [
        "slots.age > 18 and slots.age < '65'",
        "slots.category = 'A' or slots.category is null",
        "slots.ok = true and slots.ok != null",
        "slots.items contains 'x' and slots.items is not null",
        "slots.name matches '^a' and slots.name contains 'b' and slots.name = 'c'",
        "slots.extra = 3 and slots.extra contains 'x' and slots.extra > 'a'",
        "slots.age = slots.name",
    ],
)
def test_check_accepts_sensible_conditions(text: str) -> None:
    assert parse_condition(text).check(SLOTS) == []


# --------------------------------------------------------------------------- properties

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.one_of(st.text(max_size=3), st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_slot_dicts = st.dictionaries(st.sampled_from(["a", "b", "c"]), _values, max_size=3)
_operands = st.one_of(
    st.sampled_from(["slots.a", "slots.b", "c", "null", "true", "false", "3", "-2.5", "1e9"]),
    st.text(alphabet="ab'[]^$.*", max_size=4).map(lambda s: "'" + s.replace("'", "") + "'"),
)
_ops = st.sampled_from(["=", "!=", "<", ">", "<=", ">=", "contains", "matches", "is", "is not"])


@st.composite
def _conditions(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.integers(0, 4 if depth < 3 else 1))
    if kind == 0:
        return draw(_operands)
    if kind == 1:
        return f"{draw(_operands)} {draw(_ops)} {draw(_operands)}"
    if kind == 2:
        return f"not {draw(_conditions(depth + 1))}"
    if kind == 3:
        return f"({draw(_conditions(depth + 1))})"
    joiner = draw(st.sampled_from(["and", "or"]))
    return f"{draw(_conditions(depth + 1))} {joiner} {draw(_conditions(depth + 1))}"


@settings(max_examples=300, deadline=None)
@given(_conditions(), _slot_dicts)
def test_generated_conditions_never_raise_on_evaluate(text: str, slots: dict[str, Any]) -> None:
    try:
        cond = parse_condition(text)
    except ConditionSyntaxError:
        return  # e.g. 'matches' with a literal that is not a valid regex
    assert cond.evaluate(slots) in (True, False)
    assert isinstance(cond.check(SLOTS), list)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="slots.abc =!<>()'\"0123456789 andorNOTisnullcontainsmatches\\", max_size=30),
    _slot_dicts,
)
def test_random_text_parses_or_fails_cleanly(text: str, slots: dict[str, Any]) -> None:
    try:
        cond = parse_condition(text)
    except ConditionSyntaxError as exc:
        assert 0 <= exc.position <= len(text)
        return
    assert cond.evaluate(slots) in (True, False)
