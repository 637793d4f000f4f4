"""resolve_llm_config: which models an agent's ``configuration.llm`` means."""

from __future__ import annotations

import pytest

from subagents.config.models import AgentLLMConfig, EndpointsConfig, ModelConfig, ModelGroup
from subagents.errors import ConfigError
from subagents.llm import resolve_llm_config, uses_fast_path

ENDPOINTS = EndpointsConfig(
    model_groups=[
        ModelGroup(
            id="openai-gpt-4o",
            models=[
                ModelConfig(provider="openai", model="gpt-4o", timeout=20),
                ModelConfig(provider="anthropic", model="claude-sonnet-4-5"),
            ],
        )
    ]
)


def test_no_llm_means_openai_gpt_4o() -> None:
    (model,) = resolve_llm_config(ENDPOINTS, None)
    assert (model.provider, model.model) == ("openai", "gpt-4o")
    assert uses_fast_path(model)


def test_no_llm_uses_a_default_group_when_defined() -> None:
    group = ModelGroup(id="default", models=[ModelConfig(provider="ollama", model="llama3")])
    endpoints = EndpointsConfig(model_groups=[group])
    (model,) = resolve_llm_config(endpoints, None)
    assert (model.provider, model.model) == ("ollama", "llama3")
    assert not uses_fast_path(model)


def test_model_group_in_order_with_agent_overrides() -> None:
    llm = AgentLLMConfig.model_validate({"model-group": "openai-gpt-4o", "retries": 1})
    models = resolve_llm_config(ENDPOINTS, llm)
    assert [m.provider for m in models] == ["openai", "anthropic"]
    assert [m.retries for m in models] == [1, 1]
    assert models[0].timeout == 20
    # the endpoints' own entries are not modified
    assert ENDPOINTS.model_groups[0].models[0].retries == 3


def test_unknown_model_group_names_field_and_known_groups() -> None:
    llm = AgentLLMConfig(model_group="gpt5")
    with pytest.raises(ConfigError) as info:
        resolve_llm_config(ENDPOINTS, llm, file="sub_agents/a/config.yml")
    problem = info.value.problem
    assert problem.field == "configuration.llm.model_group"
    assert problem.file == "sub_agents/a/config.yml"
    assert "unknown model group 'gpt5'" in str(info.value)
    assert "openai-gpt-4o" in str(info.value)


def test_group_and_inline_model_together_is_an_error() -> None:
    llm = AgentLLMConfig(model_group="openai-gpt-4o", model="gpt-4o-mini")
    with pytest.raises(ConfigError, match="both model_group and model"):
        resolve_llm_config(ENDPOINTS, llm)


def test_inline_model() -> None:
    llm = AgentLLMConfig(provider="hosted_vllm", model="qwen", api_base="http://h:8000/v1")
    (model,) = resolve_llm_config(ENDPOINTS, llm)
    assert (model.provider, model.model, model.api_base) == (
        "hosted_vllm",
        "qwen",
        "http://h:8000/v1",
    )
    assert not uses_fast_path(model)
