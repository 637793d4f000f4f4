"""Reading conversation test files: every key, and a `file:line` error for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from subagents.errors import ConfigErrors
from subagents.testing.cases import ANY, TestCase, is_subset, load_test_file
from subagents.testing.report import keyword_matches


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "t.yml"
    path.write_text(text, encoding="utf-8")
    return load_test_file(path, "t.yml")


def errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        load(tmp_path, text)
    return [str(p) for p in info.value.problems]


def test_every_key_is_read(tmp_path: Path) -> None:
    read = load(
        tmp_path,
        """
fixtures:
  - vip:                      # Rasa's list form
      - name: Ann
      - visits: 3
  plain: {}
test_cases:
  - test_case: full
    fixtures: [vip]
    metadata: {channel: web}
    cassette: {path: rec/a.yml, mode: lenient}
    steps:
      - user: hi
        metadata: {lang: en}
        llm: ["Hello!"]
        tools:
          - {name: t, server: s, arguments: {a: 1}, result: {x: 1}, is_error: true}
        actions:
          action_a: [{event: slot, name: visits, value: 4}]
          action_b: {events: [], responses: [{text: hi}]}
      - slot_was_set: [name, visits]
      - slot_was_not_set: name
      - agent_called: helper
      - tool_called: {name: t, arguments: {a: 1}}
  - test_case: inline fixtures
    fixtures: {name: Bo}
    steps:
      - user: 42
""".replace("  plain: {}\n", ""),
    )
    first, second = read.cases
    assert first.fixtures == {"name": "Ann", "visits": 3}
    assert first.metadata == {"channel": "web"}
    assert first.cassette is not None and first.cassette.mode == "lenient"
    assert first.cassette.path == tmp_path / "rec" / "a.yml"
    turn = first.turns[0]
    assert turn.metadata == {"lang": "en"} and turn.llm is not None
    stub = turn.tools[0]
    assert (stub.server, stub.arguments, stub.result, stub.is_error) == (
        "s",
        {"a": 1},
        {"x": 1},
        True,
    )
    assert turn.actions["action_a"].events == [{"event": "slot", "name": "visits", "value": 4}]
    assert turn.actions["action_b"].responses == [{"text": "hi"}]
    kinds = [(e.kind, e.value) for e in turn.expectations]
    assert kinds[0] == ("slot_was_set", {"name": ANY, "visits": ANY})
    assert kinds[1] == ("slot_was_not_set", ["name"])
    assert second.fixtures == {"name": "Bo"} and second.turns[0].text == "42"
    assert isinstance(second, TestCase) and second.id == "t.yml::inline fixtures"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("test_casez: []\n", "t.yml:1: expected a top-level 'test_cases:'"),
        (
            "test_cases: []\nfixture: {}\n",
            "t.yml:2: fixture: unknown key(s) ['fixture']; did you mean 'fixtures'?",
        ),
        ("test_cases:\n  - steps: [{user: hi}]\n", "every test case needs a name"),
        (
            "test_cases:\n  - test_case: a\n    steps: [{user: hi}]\n"
            "  - test_case: a\n    steps: [{user: hi}]\n",
            "t.yml:4: test_cases[1].test_case: duplicate test case 'a'",
        ),
        (
            "test_cases:\n  - test_case: a\n    steps:\n      - user: hi\n        bot: hello\n",
            "t.yml:5: test_cases[0].steps[0].bot: unknown key(s) ['bot']",
        ),
        (
            "test_cases:\n  - test_case: a\n    steps:\n      - user: hi\n"
            "      - {bot: x, utter: y}\n",
            "a step has exactly one key (got bot, utter); split it into steps",
        ),
        (
            "test_cases:\n  - test_case: a\n    steps:\n      - user: hi\n"
            "      - bot: {matches: '('}\n",
            "t.yml:5: test_cases[0].steps[1].bot.matches: not a valid regular expression",
        ),
        (
            "test_cases:\n  - test_case: a\n    steps:\n      - user: hi\n"
            "      - agent_called: {name: x, status: done}\n",
            "status must be one of started, completed, input_required, cancelled, failed",
        ),
        (
            "test_cases:\n  - test_case: a\n    steps:\n      - user: hi\n"
            "        tools: [{name: t}]\n",
            "t.yml:5: test_cases[0].steps[0].tools[0]: a tool stub needs 'result'",
        ),
        (
            "test_cases:\n  - test_case: a\n    steps:\n      - user: hi\n"
            "        actions: {action_a: [{name: x}]}\n",
            "test_cases[0].steps[0].actions.action_a: events must be a list of events",
        ),
        (
            "test_cases:\n  - test_case: a\n    cassette: {path: x.yml, mode: loose}\n"
            "    steps: [{user: hi}]\n",
            "t.yml:3: test_cases[0].cassette.mode: must be one of strict, lenient",
        ),
        (
            "test_cases:\n  - test_case: a\n    steps:\n      - user: hi\n"
            "        llm:\n          - tool_calls: [{arguments: {}}]\n",
            "t.yml:6: test_cases[0].steps[0].llm[0].tool_calls[0]: a tool call needs 'name'",
        ),
        ("test_cases:\n  - test_case: a\n    steps:\n  x: 1\n", "t.yml:4: invalid YAML"),
    ],
)
def test_each_mistake_is_reported_with_file_and_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    found = errors(tmp_path, text)
    assert any(expected in e for e in found), found


def test_subset_and_keyword_rules() -> None:
    assert is_subset({"a": 1}, {"a": 1.0, "b": 2})
    assert not is_subset({"a": True}, {"a": 1})
    assert is_subset([{"x": 1}], [{"x": 1, "y": 2}])
    assert not is_subset([1], [1, 2])
    case = TestCase(name="Book a haircut", file="tests/salon.yml", line=1)
    assert keyword_matches("haircut", case)
    assert keyword_matches("salon and not weather", case)
    assert not keyword_matches("weather or (book and coloring)", case)
    with pytest.raises(ValueError, match="not a valid expression"):
        keyword_matches("book and", case)
