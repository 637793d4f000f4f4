"""Loading a whole project: models, interpolation, secrets, missing files."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import ENV, good_project, problems, write

from subagents.config import load_project, redact
from subagents.errors import ConfigErrors


def test_valid_project_loads_every_file(tmp_path: Path) -> None:
    project = load_project(good_project(tmp_path), env=ENV)

    assert project.root == tmp_path.resolve()
    assert [g.id for g in project.endpoints.model_groups] == ["openai-gpt-4o"]
    assert project.endpoints.model_groups[0].models[0].api_key == "sk-test-openai"
    agent = project.agents["stock_explorer"]
    assert agent.dir == tmp_path.resolve() / "sub_agents" / "stock_explorer"
    assert agent.file == agent.dir / "config.yml"
    # `model-group:` (the reference's spelling) is accepted.
    assert agent.config.configuration.llm is not None
    assert agent.config.configuration.llm.model_group == "openai-gpt-4o"
    assert agent.prompt_template_text == "Task: {{ description }}\n"
    assert project.domain.slots["category"].values == ["A", "B", "C"]
    assert list(project.flows.flows) == ["research", "onboarding"]
    assert project.warnings == []


def test_empty_directory_is_an_empty_project(tmp_path: Path) -> None:
    project = load_project(tmp_path, env={})

    assert project.agents == {}
    assert project.flows.flows == {}
    assert project.domain.slots == {}
    assert project.endpoints.mcp_servers == []


def test_missing_project_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors, match="project directory does not exist"):
        load_project(tmp_path / "nope")


def test_load_raises_all_errors_at_once(tmp_path: Path) -> None:
    good_project(
        tmp_path,
        {
            "domain.yml": "slots:\n  color:\n    type: categorical\n",
            "sub_agents/empty/README": "not an agent",
        },
    )
    write(tmp_path, {"sub_agents/stock_explorer/config.yml": "agent:\n  nam: x\n"})

    with pytest.raises(ConfigErrors) as info:
        load_project(tmp_path, env=ENV)

    files = sorted({p.file for p in info.value.problems})
    assert files == [
        "domain.yml",
        "flows.yml",
        "sub_agents/empty/",
        "sub_agents/stock_explorer/config.yml",
    ]
    assert "domain.yml:2: slots.color.values: categorical slot" in str(info.value)


def test_interpolation_whole_partial_default_and_escape(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "endpoints.yml": """
        model_groups:
          - id: g
            models:
              - model: ${MODEL:-gpt-4o-mini}
                api_base: http://${HOST}:${PORT}/v1
                timeout: ${TIMEOUT:-12.5}
                extra_headers:
                  X-Note: "costs $$5 and $${NOT_A_VAR}"
        """
        },
    )
    env = {**ENV, "HOST": "127.0.0.1", "PORT": "9999", "MODEL": ""}
    model = load_project(tmp_path, env=env).endpoints.model_groups[0].models[0]

    assert model.model == "gpt-4o-mini"  # empty variable → default, as in the shell
    assert model.api_base == "http://127.0.0.1:9999/v1"
    assert model.timeout == 12.5  # a string from ${...} converted for a number field
    assert model.extra_headers["X-Note"] == "costs $$5 and ${NOT_A_VAR}"


def test_missing_variable_names_it_with_file_line_and_field(tmp_path: Path) -> None:
    good_project(tmp_path)
    found = problems(tmp_path, env={"OPENAI_API_KEY": "k"})

    assert [str(p) for p in found if p.severity == "error"] == [
        "endpoints.yml:11: mcp_servers[0].token: environment variable TRADE_TOKEN is not set;"
        " export it or write ${TRADE_TOKEN:-default}"
    ]


def test_malformed_reference_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"domain.yml": "responses:\n  utter_x:\n    - text: hi ${1BAD}\n"})
    found = problems(tmp_path)

    assert len(found) == 1
    assert str(found[0]).startswith("domain.yml:3: responses.utter_x[0].text: malformed")


def test_secrets_from_variables_are_recorded_and_redactable(tmp_path: Path) -> None:
    good_project(tmp_path)
    write(
        tmp_path,
        {
            "sub_agents/stock_explorer/config.yml": """
            agent:
              name: stock_explorer
            configuration:
              llm:
                provider: openai
                model: gpt-4o-mini
                api_key: ${AGENT_KEY}
            connections:
              mcp_servers:
                - name: files
            """
        },
    )
    env = {**ENV, "AGENT_KEY": "agent-secret-9"}
    project = load_project(tmp_path, env=env)

    assert project.secrets == {
        "sk-test-openai",
        "tok-trade-123",
        "files-default-secret",
        "agent-secret-9",
    }
    # Interpolated values outside secret fields are not secrets.
    assert "gpt-4o-mini" not in project.secrets
    line = "calling trade with tok-trade-123 and sk-test-openai"
    assert redact(line, project.secrets) == "calling trade with *** and ***"


def test_literal_mcp_secret_is_an_error_and_literal_llm_key_a_warning(tmp_path: Path) -> None:
    endpoints = (
        Path(good_project(tmp_path) / "endpoints.yml")
        .read_text()
        .replace("${OPENAI_API_KEY}", "sk-literal")
        .replace("${TRADE_TOKEN}", "literal-token")
    )
    (tmp_path / "endpoints.yml").write_text(endpoints)
    found = problems(tmp_path)

    assert [str(p) for p in found] == [
        "endpoints.yml:6: warning: model_groups[0].models[0].api_key: literal API key in the"
        " file; prefer ${VAR} (for example ${OPENAI_API_KEY}) so that it stays out of"
        " version control and logs",
        "endpoints.yml:11: mcp_servers[0].token: secrets must not be written in the file;"
        " use ${VAR} (for example ${TOKEN}) and set the environment variable",
    ]


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    write(tmp_path, {"flows.yml": "flows:\n  a:\n    steps: [\n      - call: x\n"})
    found = problems(tmp_path)

    assert len(found) == 1
    assert found[0].file == "flows.yml"
    assert found[0].line is not None
    assert "invalid YAML" in found[0].message


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"domain.yml": "slots:\n  a:\n    type: text\n  a:\n    type: bool\n"})
    found = problems(tmp_path)

    assert len(found) == 1
    assert str(found[0]).startswith("domain.yml:4: invalid YAML")
    assert "duplicate key" in found[0].message


def test_yaml_extension_is_reported_not_ignored(tmp_path: Path) -> None:
    write(tmp_path, {"domain.yaml": "slots: {}\n"})

    assert [str(p) for p in problems(tmp_path)] == [
        "domain.yaml: rename domain.yaml to domain.yml (not read)"
    ]
