"""Point a project's model configuration at the scripted model server."""

from __future__ import annotations

from subagents.config.models import EndpointsConfig, ModelConfig, ModelGroup

#: Id of the group agents without ``configuration.llm`` use (see resolve_llm_config).
_DEFAULT_GROUP_ID = "default"


def scripted_model_config(url: str, *, model: str = "scripted", **fields: object) -> ModelConfig:
    """A model entry for the scripted server at ``url`` (the fast OpenAI-compatible path)."""
    return ModelConfig.model_validate(
        {"provider": "openai", "model": model, "api_base": url, "api_key": None, **fields}
    )


def point_endpoints_at(endpoints: EndpointsConfig, url: str) -> EndpointsConfig:
    """A copy of ``endpoints`` whose every model group talks to the scripted server at ``url``.

    Each group keeps one model (its first, with its model name, timeout, retries,
    temperature and max_tokens) rewritten to ``provider: openai`` at ``url`` without a key
    or provider-specific extras. A ``default`` group is added when missing, so agents that
    configure no ``llm`` use the scripted server too instead of OpenAI.
    """
    groups = []
    for group in endpoints.model_groups:
        first = group.models[0]
        keep = {"timeout": first.timeout, "retries": first.retries}
        if first.temperature is not None:
            keep["temperature"] = first.temperature
        if first.max_tokens is not None:
            keep["max_tokens"] = first.max_tokens
        entry = scripted_model_config(url, model=first.model, **keep)
        groups.append(ModelGroup(id=group.id, models=[entry]))
    if not any(group.id == _DEFAULT_GROUP_ID for group in groups):
        groups.append(ModelGroup(id=_DEFAULT_GROUP_ID, models=[scripted_model_config(url)]))
    return endpoints.model_copy(update={"model_groups": groups})
