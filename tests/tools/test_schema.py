"""Schemas sent to the model, argument validation and name mapping."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subagents.tools.schema import (
    SAFE_NAME,
    ToolNameMapper,
    coerce_to_schema,
    compile_validator,
    schema_for_model,
    validation_error,
)

PYDANTIC_STYLE: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "order": {"$ref": "#/$defs/Order"},
        "tree": {"$ref": "#/$defs/Node"},
        "external": {"$ref": "https://example.com/schema.json", "description": "x"},
    },
    "required": ["order"],
    "$defs": {
        "Order": {
            "type": "object",
            "properties": {"item": {"$ref": "#/$defs/Item"}, "qty": {"type": "integer"}},
            "required": ["item"],
        },
        "Item": {"type": "string", "enum": ["tea", "coffee"]},
        "Node": {
            "type": "object",
            "properties": {
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                "item": {"$ref": "#/$defs/Item"},
            },
        },
    },
}


def refs(node: Any) -> list[str]:
    text = json.dumps(node)
    return re.findall(r'"\$ref": "([^"]+)"', text)


def test_schema_for_model_drops_schema_and_inlines_refs() -> None:
    out = schema_for_model(PYDANTIC_STYLE)
    assert "$schema" not in json.dumps(out)
    assert out["properties"]["order"]["properties"]["item"] == {
        "type": "string",
        "enum": ["tea", "coffee"],
    }
    # The recursive definition is kept, with what it uses, and no ref dangles.
    assert out["properties"]["tree"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert set(out["$defs"]) == {"Node", "Item"}
    for ref in refs(out):
        assert ref.removeprefix("#/$defs/") in out["$defs"]
    # An external reference becomes "anything" (with its description kept).
    assert out["properties"]["external"] == {"description": "x"}
    # The published schema is not modified.
    assert PYDANTIC_STYLE["properties"]["order"] == {"$ref": "#/$defs/Order"}


def test_schema_for_model_always_gives_an_object() -> None:
    assert schema_for_model(None) == {"type": "object", "properties": {}}
    assert schema_for_model({}) == {"type": "object", "properties": {}}
    legacy = {
        "definitions": {"A": {"type": "integer"}},
        "properties": {"a": {"$ref": "#/definitions/A"}},
    }
    assert schema_for_model(legacy) == {"type": "object", "properties": {"a": {"type": "integer"}}}


def test_validation_uses_the_published_schema() -> None:
    validator = compile_validator(PYDANTIC_STYLE)
    assert validation_error(validator, {"order": {"item": "tea"}}) is None
    problem = validation_error(
        validator, {"order": {"item": "beer"}, "tree": {"children": [{"item": 1}]}}
    )
    assert problem is not None
    assert "'beer' is not one of ['tea', 'coffee'] (at 'order.item')" in problem
    assert "(at 'tree.children[0].item')" in problem
    assert validation_error(validator, {}) == "'order' is a required property (at the top level)"


def test_an_invalid_schema_does_not_break_the_tool() -> None:
    validator = compile_validator({"type": "object", "properties": {"a": {"type": 12}}})
    assert validation_error(validator, {"a": 1}) is None
    assert validation_error(validator, [1]) is not None


def test_name_mapping_is_reversible() -> None:
    mapper = ToolNameMapper()
    assert mapper.add("get_weather") == "get_weather"
    assert mapper.add("files.read_v2") == "files_read_v2"
    long = "x" * 80
    mapped = mapper.add(long)
    assert SAFE_NAME.match(mapped) and len(mapped) == 64
    assert mapper.own("files_read_v2") == "files.read_v2"
    assert mapper.own(mapped) == long
    assert mapper.own("unknown") is None


@given(st.lists(st.text(min_size=1, max_size=90), min_size=1, max_size=20, unique=True))
def test_mapped_names_are_valid_and_unique(names: list[str]) -> None:
    mapper = ToolNameMapper()
    for name in names:
        if SAFE_NAME.match(name):
            mapper.add(name)
    mapped = [mapper.add(name) for name in names]
    assert all(SAFE_NAME.match(m) for m in mapped)
    assert len(set(mapped)) == len(names)
    assert [mapper.own(m) for m in mapped] == names


@pytest.mark.parametrize(
    ("value", "schema", "expected"),
    [
        (2.0, {"type": "integer"}, 2),
        ("42", {"type": "integer"}, 42),
        (2.5, {"type": "integer"}, 2.5),  # lossy: left for the validator to refuse
        ("3.5", {"type": "number"}, 3.5),
        (7, {"type": "number"}, 7),
        ("Yes", {"type": "boolean"}, True),
        ("maybe", {"type": "boolean"}, "maybe"),
        (12.0, {"type": "string"}, "12"),
        (12.5, {"type": "string"}, "12.5"),
        (True, {"type": "string"}, "true"),
        ("a", {"type": "array", "items": {"type": "string"}}, ["a"]),
        (["a"], {"type": "array"}, ["a"]),
        ("5", {"anyOf": [{"type": "integer"}, {"type": "null"}]}, 5),
        ("x", {"type": ["string", "null"]}, "x"),
        ({"k": 1}, None, {"k": 1}),
    ],
)
def test_coerce_to_schema(value: Any, schema: Any, expected: Any) -> None:
    got = coerce_to_schema(value, schema)
    assert got == expected and type(got) is type(expected)
