"""Scenario file errors: file:line, did-you-mean, unknown top-level keys, YAML hints."""

from __future__ import annotations

from pathlib import Path

import pytest

from subagents.channels.script import ScriptError, load_conversation_script
from subagents.errors import ConfigError
from subagents.testing import load_scenario, parse_scenario


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    return info.value


KEYED_TYPO = """\
user: ["plan a meeting"]
scenario:
  router:
    when:
      tool_offerd: start_flow
    steps:
      - tool_calls: [{name: start_flow, arguments: {flow: plan_meeting}}]
"""


def test_unknown_when_key_names_line_and_suggests(tmp_path: Path) -> None:
    path = _write(tmp_path, KEYED_TYPO)
    err = _error(path)
    assert err.problem.line == 5  # the line of the misspelt key itself
    assert err.problem.field == "scenario.router.when"
    assert str(err) == (
        f"{path}:5: scenario.router.when: unknown key(s) ['tool_offerd'];"
        " did you mean 'tool_offered'?"
    )


def test_unknown_step_key_in_a_list_names_the_item_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario:\n  - text: hi\n  - tool_call: []\n")
    err = _error(path)
    assert (err.problem.line, err.problem.field) == (3, "scenario[1]")
    assert "did you mean 'tool_calls'?" in str(err)


def test_nothing_close_lists_the_allowed_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario:\n  - text: hi\n    zzzz: 1\n")
    err = _error(path)
    assert err.problem.line == 3
    assert "unknown key(s) ['zzzz']; allowed: ['chunk_delay', 'chunks'," in str(err)


def test_in_memory_scenarios_have_no_line_but_still_suggest() -> None:
    with pytest.raises(ConfigError) as info:
        parse_scenario({"r": {"when": {"tool_offerd": "x"}, "steps": ["hi"]}})
    assert info.value.problem.line is None
    assert "did you mean 'tool_offered'?" in str(info.value)


def test_steps_instead_of_scenario_names_the_unknown_top_level_key(tmp_path: Path) -> None:
    path = _write(tmp_path, 'user: ["hi"]\nsteps:\n  - text: hello\n')
    err = _error(path)
    assert err.problem.line == 2
    assert "unknown top-level key(s) ['steps']" in str(err)
    assert "expected a top-level 'scenario:' list of replies" in str(err)
    assert "optionally 'user:'" in str(err)


def test_close_top_level_typo_gets_a_suggestion(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenari:\n  - text: hello\n")
    assert "unknown top-level key(s) ['scenari']; did you mean 'scenario'?" in str(_error(path))


def test_user_turns_next_to_a_scenario_are_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, 'user: ["hi"]\nscenario:\n  - text: hello\n')
    (script,) = load_scenario(path)
    assert script.steps[0].text == "hello"


def test_tab_in_scenario_yaml_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario:\n  - text: hi\n\t- text: again\n")
    err = _error(path)
    assert err.problem.line == 3
    assert "line 3 contains a tab character; YAML needs spaces" in str(err)


def test_bad_indentation_gets_a_fix_hint(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario:\n  router:\n    steps:\n      - hi\n    - oops\n")
    err = _error(path)
    assert err.problem.line == 5
    assert "check the indentation: use spaces, not tabs; one `key: value` per line" in str(err)


# ------------------------------------------------------------ conversation scripts (shell)


def _script_error(path: Path) -> str:
    with pytest.raises(ScriptError) as info:
        load_conversation_script(path)
    return str(info.value)


def test_script_keyed_typo_has_line_and_no_user_turn_hint(tmp_path: Path) -> None:
    path = _write(tmp_path, KEYED_TYPO)
    text = _script_error(path)
    assert text.startswith(f"{path}:5: scenario.router.when: unknown key(s) ['tool_offerd']")
    assert "did you mean 'tool_offered'?" in text
    assert "user turn" not in text


def test_script_nested_typo_in_a_list_step_has_no_user_turn_hint(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario:\n  - user: hi\n  - tool_calls: [{name: x, argumnts: {}}]\n")
    text = _script_error(path)
    assert f"{path}:3: scenario[1].tool_calls[0]: unknown key(s) ['argumnts']" in text
    assert "user turn" not in text


def test_script_step_typo_in_a_list_keeps_the_user_turn_hint(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario:\n  - usr: hi\n")
    text = _script_error(path)
    assert f"{path}:2: scenario[0]: unknown key(s) ['usr']" in text
    assert "(a user turn is written {user: ...})" in text


def test_script_with_steps_key_names_it(tmp_path: Path) -> None:
    path = _write(tmp_path, 'user: ["plan a meeting"]\nsteps:\n  - text: hi\n')
    text = _script_error(path)
    assert text.startswith(f"{path}:2: unknown top-level key(s) ['steps']")
    assert "expected a top-level 'scenario:'" in text
