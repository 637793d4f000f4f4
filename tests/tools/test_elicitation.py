"""A tool's question as the user reads it, and the user's reply as the answer the tool
gets (types converted, SEP-1034 defaults applied, problems named)."""

from __future__ import annotations

from typing import Any

import pytest

from subagents.tools.elicitation import describe_question, parse_answer
from subagents.tools.interaction import Answer, Question

PROFILE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "User name", "default": "John Doe"},
        "age": {"type": "integer", "default": 30},
        "score": {"type": "number", "default": 95.5},
        "status": {
            "type": "string",
            "enum": ["active", "inactive", "pending"],
            "default": "active",
        },
        "verified": {"type": "boolean", "default": True},
        "colour": {
            "type": "string",
            "oneOf": [{"const": "#f00", "title": "Red"}, {"const": "#00f", "title": "Blue"}],
        },
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]}},
    },
    "required": [],
}
DEFAULTS = {"name": "John Doe", "age": 30, "score": 95.5, "status": "active", "verified": True}


def ask(schema: dict[str, Any]) -> Question:
    return Question("tool", "server", "Tell me", schema)


def test_the_question_describes_each_field_plainly() -> None:
    assert describe_question(ask(PROFILE)) == "\n".join(
        [
            "Tell me",
            "- name: User name (text; default John Doe)",
            "- age (a whole number; default 30)",
            "- score (a number; default 95.5)",
            "- status (one of: active, inactive, pending; default active)",
            "- verified (yes or no; default yes)",
            "- colour (one of: Red, Blue)",
            "- tags (one or more of: a, b, c)",
            'Reply like name: …, age: …. Fields left out keep their default; "ok" accepts them '
            'all. Say "decline" to refuse or "cancel" to stop.',
        ]
    )


@pytest.mark.parametrize(
    ("reply", "content"),
    [
        ("ok", DEFAULTS),
        ("accept", DEFAULTS),
        ("age: 41", {**DEFAULTS, "age": 41}),
        ("Status: Pending; verified: no", {**DEFAULTS, "status": "pending", "verified": False}),
        ("colour: red\ntags: a, c", {**DEFAULTS, "colour": "#f00", "tags": ["a", "c"]}),
        ("User name = Ann, score: 7.5", {**DEFAULTS, "name": "Ann", "score": 7.5}),
        ('{"age": 5, "verified": false}', {**DEFAULTS, "age": 5, "verified": False}),
    ],
)
def test_replies_become_typed_content_with_defaults(reply: str, content: dict[str, Any]) -> None:
    assert parse_answer(ask(PROFILE), reply) == Answer("accept", content)


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("age: old", "age: 'old' is not a whole number"),
        ("status: gone", "status: 'gone' is not one of: active, inactive, pending"),
        ("verified: maybe", "verified: 'maybe' is not yes or no"),
        ("height: 2", "there is no field 'height'"),
        ("{not json", "that is not valid JSON"),
    ],
)
def test_replies_that_do_not_fit_name_the_problem(reply: str, problem: str) -> None:
    result = parse_answer(ask(PROFILE), reply)
    assert isinstance(result, str) and result.startswith(problem)


def test_decline_cancel_and_required_fields() -> None:
    booking = {
        "type": "object",
        "properties": {
            "date": {"type": "string", "format": "date"},
            "guests": {"type": "integer", "minimum": 1, "maximum": 12, "default": 2},
        },
        "required": ["date"],
    }
    question = ask(booking)
    assert parse_answer(question, "Decline") == Answer("decline")
    assert parse_answer(question, "/cancel") == Answer("cancel")
    assert parse_answer(question, "ok") == "missing: date"
    # the one value without a default may be given alone
    assert parse_answer(question, "2026-05-01") == Answer(
        "accept", {"date": "2026-05-01", "guests": 2}
    )
    problem = parse_answer(question, "date: 2026-05-01, guests: 13")
    assert isinstance(problem, str) and "13 is greater than the maximum of 12" in problem


def test_url_mode_accepts_anything_but_decline_and_cancel() -> None:
    question = Question("pay", "shop", "Pay here", mode="url", url="https://pay.test/1")
    assert "Open https://pay.test/1 to continue." in describe_question(question)
    assert parse_answer(question, "done") == Answer("accept")
    assert parse_answer(question, "decline") == Answer("decline")
