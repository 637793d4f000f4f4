"""What a newcomer sees when a project is empty, laid out the Rasa way, or uses Rasa keys
that subagents accepts but does not use (issue 16, items 1 and 9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from subagents.cli import app
from subagents.config.loader import collect_project

FLOW = "flows:\n  {id}:\n    description: {id}\n    steps:\n      - action: utter_{id}\n"


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _validate(root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", "--project", str(root)])
    return result.exit_code, result.output


def test_an_empty_project_is_valid_but_says_it_has_nothing(tmp_path: Path) -> None:
    code, output = _validate(tmp_path)
    assert code == 0
    assert "flows.yml: warning: no flows found: every message will get utter_fallback" in output
    assert "read: nothing (no project files)" in output
    assert "is valid: 0 agents, 0 flows, 0 MCP servers, 0 actions (1 warning(s))" in output


def test_rasa_layout_is_read_and_what_is_ignored_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # the default model has a key
    _write(
        tmp_path,
        {
            "data/flows.yml": FLOW.format(id="greet"),
            "data/flows/more.yml": FLOW.format(id="bye"),
            "data/nlu.yml": "version: '3.1'\nnlu:\n  - intent: greet\n    examples: '- hi'\n",
            "domain/responses.yml": "responses:\n  utter_greet:\n    - text: Hi\n"
            "  utter_bye:\n    - text: Bye\n",
            "domain/slots.yml": "slots:\n  name: {type: text}\nactions:\n  - action_x\n",
            "config.yml": "recipe: default.v1\npipeline: []\n",
            "credentials.yml": "rest:\n",
        },
    )
    project, problems = collect_project(tmp_path)
    assert project is not None
    assert sorted(project.flows.flows) == ["bye", "greet"]
    assert sorted(project.domain.responses) == ["utter_bye", "utter_greet"]
    assert list(project.domain.slots) == ["name"]
    assert [str(p) for p in problems] == [
        "config.yml: warning: ignored: Rasa's NLU pipeline and policies are not used; an LLM"
        " routes each message to a flow (model group 'router', else the first group in"
        " endpoints.yml)",
        "credentials.yml: warning: ignored: channels are not configured here; `subagents run`"
        " serves the REST channel and `subagents shell` the terminal",
        "data/nlu.yml: warning: ignored (NLU training data): only flows are read from data/;"
        " an LLM routes each message to a flow by the flows' descriptions, so NLU data,"
        " stories and rules are not used",
    ]
    code, output = _validate(tmp_path)
    assert code == 0, output
    assert (
        "read: domain/ (2 files), data/ (2 files)" in output
        or "read: data/ (2 files), domain/ (2 files)" in output
    )
    assert "is valid: 0 agents, 2 flows, 0 MCP servers, 1 action (3 warning(s))" in output


def test_a_flow_or_slot_defined_in_two_files_is_an_error_naming_both(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "flows.yml": FLOW.format(id="greet"),
            "data/flows.yml": FLOW.format(id="greet"),
            "domain.yml": "responses:\n  utter_greet:\n    - text: Hi\n",
            "domain/more.yml": "responses:\n  utter_greet:\n    - text: Hello\n",
        },
    )
    _, problems = collect_project(tmp_path)
    assert [str(p) for p in problems if p.severity == "error"] == [
        "data/flows.yml:2: flows.greet: flow 'greet' is also defined in flows.yml; rename one",
        "domain/more.yml:2: responses.utter_greet: response 'utter_greet' is also declared in"
        " domain.yml; declare it once",
    ]


def test_a_yaml_file_in_a_folder_is_an_error_not_ignored(tmp_path: Path) -> None:
    _write(tmp_path, {"domain/slots.yaml": "slots: {}\n", "flows.yml": FLOW.format(id="a")})
    _, problems = collect_project(tmp_path)
    assert [str(p) for p in problems] == [
        "domain/slots.yaml: rename slots.yaml to slots.yml (not read)"
    ]


def test_link_to_a_flow_of_another_file_is_fine(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "flows.yml": "flows:\n  a:\n    description: a\n    steps:\n      - link: b\n",
            "data/b.yml": FLOW.format(id="b"),
            "domain.yml": "responses:\n  utter_b:\n    - text: B\n",
        },
    )
    _, problems = collect_project(tmp_path)
    assert problems == []


def test_rasa_domain_keys_that_are_ignored_are_each_warned(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "flows.yml": FLOW.format(id="a"),
            "domain.yml": (
                "intents:\n  - greet\n"
                "entities:\n  - city\n"
                "session_config:\n  session_expiration_time: 60\n"
                "slots:\n"
                "  city:\n    type: text\n    mappings:\n      - type: from_entity\n"
                "        entity: city\n"
                "responses:\n  utter_a:\n    - text: A\n"
            ),
        },
    )
    _, problems = collect_project(tmp_path)
    assert [str(p) for p in problems] == [
        "domain.yml:1: warning: intents: ignored: there is no NLU here; an LLM routes each"
        " message to a flow by the flows' descriptions (a /flow_id message starts a flow"
        " directly)",
        "domain.yml:3: warning: entities: ignored: there is no entity extraction; slots are"
        " filled by collect steps, set_slots, agents' set_slot_* tools and custom actions",
        "domain.yml:11: warning: slots.city.mappings[0]: ignored: mapping type 'from_entity'"
        " does not apply here (no NLU); use from_llm (the router fills the slot), from_text"
        " (a collect takes the message as it is) or controlled (only actions and buttons set"
        " it)",
    ]
