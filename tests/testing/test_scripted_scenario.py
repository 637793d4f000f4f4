"""Scenario files and validation, and pointing a project at the scripted model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from subagents.config.models import EndpointsConfig, ModelConfig, ModelGroup
from subagents.errors import ConfigError
from subagents.llm import create_llm_client, resolve_llm_config
from subagents.testing import ScriptedModelServer, load_scenario, parse_scenario, point_endpoints_at


def test_load_scenario_yaml_list_and_keyed(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yml"
    plain.write_text(
        "scenario:\n"
        "  - tool_calls:\n"
        "      - name: get_weather\n"
        "        arguments: {city: Berlin}\n"
        "  - text: Sunny.\n"
        "    chunks: [Sun, ny.]\n"
    )
    (script,) = load_scenario(plain)
    assert script.steps[0].tool_calls[0].arguments == '{"city": "Berlin"}'
    assert script.steps[1].chunks == ("Sun", "ny.")
    keyed = tmp_path / "keyed.yml"
    keyed.write_text(
        "scenario:\n"
        "  router:\n"
        "    when: {tool_offered: [start_flow]}\n"
        "    steps: [{text: hi}]\n"
        "  rest: [fallback reply]\n"
    )
    router, rest = load_scenario(keyed)
    assert router.when is not None and router.when.tool_offered == ("start_flow",)
    assert rest.when is None and rest.steps[0].text == "fallback reply"


@pytest.mark.parametrize(
    ("scenario", "field", "words"),
    [
        ([{"txt": "typo"}], "scenario[0]", "unknown key(s) ['txt']"),
        ([{"delay": 1}], "scenario[0]", "step has no reply"),
        ([{"tool_calls": [{"arguments": {}}]}], "scenario[0].tool_calls[0]", "needs 'name'"),
        ([{"error": {"status": 200}}], "scenario[0].error.status", "HTTP error code"),
        ([{"text": "ab", "chunks": ["a"]}], "scenario[0].chunks", "joined must equal"),
        ([{"text": "x", "delay": -1}], "scenario[0].delay", "seconds >= 0"),
        ({"r": {"when": {"tool": "x"}, "steps": []}}, "scenario.r.when", "unknown key(s)"),
        ({"r": {"when": {"model": "m"}}}, "scenario.r.steps", "no 'steps'"),
        ("just text", "scenario", "list of steps or a mapping"),
    ],
)
def test_bad_scenarios_name_the_field(scenario: Any, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_scenario(scenario)
    assert info.value.problem.field == field
    assert words in str(info.value)


def test_scenario_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yml"
    path.write_text("steps: []\n")
    with pytest.raises(ConfigError, match="top-level 'scenario:'") as info:
        load_scenario(path)
    assert info.value.problem.file == str(path)
    with pytest.raises(ConfigError, match="cannot read scenario file"):
        load_scenario(tmp_path / "missing.yml")


async def test_server_accepts_a_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yml"
    path.write_text("scenario:\n  - text: from file\n")
    async with ScriptedModelServer(path) as srv:
        client = create_llm_client(
            resolve_llm_config(point_endpoints_at(EndpointsConfig(), srv.url), None)
        )
        assert (await client.complete([{"role": "user", "content": "hi"}])).text == "from file"
        await client.aclose()


def test_point_endpoints_at_rewrites_every_group() -> None:
    endpoints = EndpointsConfig(
        model_groups=[
            ModelGroup(
                id="router",
                models=[
                    ModelConfig(provider="anthropic", model="claude", api_key="secret", retries=1),
                    ModelConfig(provider="openai", model="gpt-4o"),
                ],
            )
        ]
    )
    pointed = point_endpoints_at(endpoints, "http://127.0.0.1:9/v1")
    router, default = pointed.model_groups
    assert (router.id, default.id) == ("router", "default")
    (model,) = router.models
    assert (model.provider, model.api_base, model.api_key) == (
        "openai",
        "http://127.0.0.1:9/v1",
        None,
    )
    assert (model.model, model.retries) == ("claude", 1)
    assert endpoints.model_groups[0].models[0].provider == "anthropic"  # input untouched
