"""Choosing a client for a model entry, fallback across a model group, and resolving an
agent's ``configuration.llm`` against endpoints.yml.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from subagents.config.models import AgentLLMConfig, EndpointsConfig, ModelConfig, ModelGroup
from subagents.errors import ConfigError, LLMUnavailableError
from subagents.llm.base import LLMClient, LLMResponse, TextCallback, ToolPayload
from subagents.llm.retry import DEFAULT_POLICY, RetryPolicy

logger = logging.getLogger("subagents.llm")

#: Providers whose API is OpenAI's chat completions: served by the direct httpx2 path.
FAST_PROVIDERS = frozenset({"openai", "custom_openai", "openai_compatible"})

#: The model group used by agents that configure no ``llm`` (when endpoints.yml has one).
DEFAULT_GROUP_ID = "default"


LLMFactory = Callable[[Sequence[ModelConfig]], LLMClient]
"""Builds the client of one model group (default :func:`create_llm_client`)."""


def uses_fast_path(config: ModelConfig) -> bool:
    """True when ``config`` is served by the direct OpenAI-compatible HTTP client."""
    return config.provider in FAST_PROVIDERS


def create_llm_client(
    models: ModelConfig | Sequence[ModelConfig],
    *,
    policy: RetryPolicy | None = None,
) -> LLMClient:
    """A client for one model, or for a group tried in order (fallback on failure).

    ``policy`` sets the backoff (tests use tiny values); the number of retries and the
    timeout come from each model entry.
    """
    entries = [models] if isinstance(models, ModelConfig) else list(models)
    if not entries:
        raise ValueError("create_llm_client needs at least one model")
    clients = [_single(entry, policy or DEFAULT_POLICY) for entry in entries]
    return clients[0] if len(clients) == 1 else FallbackClient(clients)


def _single(config: ModelConfig, policy: RetryPolicy) -> LLMClient:
    if uses_fast_path(config):
        from subagents.llm.openai_http import OpenAIHTTPClient

        return OpenAIHTTPClient(config, policy=policy)
    from subagents.llm.litellm_client import LiteLLMClient

    return LiteLLMClient(config, policy=policy)


class FallbackClient:
    """Tries the models of a group in order; the next one answers when one is unavailable.

    A streamed reply that already sent text to the user is not repeated by another model:
    the error is raised instead.
    """

    def __init__(self, clients: Sequence[LLMClient]) -> None:
        self.clients = list(clients)

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: ToolPayload | None = None,
        *,
        on_text: TextCallback | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> LLMResponse:
        """Ask each model in turn until one answers."""
        failures: list[str] = []
        sent = [False]
        tracked: TextCallback | None = None
        if on_text is not None:
            callback = on_text

            async def tracked(text: str) -> None:
                sent[0] = True
                await callback(text)

        for number, client in enumerate(self.clients, start=1):
            try:
                return await client.complete(
                    messages, tools, on_text=tracked, tool_choice=tool_choice
                )
            except LLMUnavailableError as exc:
                if sent[0]:
                    raise
                failures.append(f"{number}) {exc}")
                if number < len(self.clients):
                    logger.warning(
                        "llm.fallback from model %d to %d",
                        number,
                        number + 1,
                        extra={"event": "llm.fallback"},
                    )
        raise LLMUnavailableError(
            f"all {len(self.clients)} models of the group failed: " + "; ".join(failures)
        )

    async def aclose(self) -> None:
        """Close every model's client."""
        for client in self.clients:
            await client.aclose()


def default_model_config() -> ModelConfig:
    """The reference's default LLM: OpenAI gpt-4o (the client reads ``OPENAI_API_KEY``)."""
    return ModelConfig(provider="openai", model="gpt-4o")


def resolve_llm_config(
    endpoints: EndpointsConfig,
    llm: AgentLLMConfig | None,
    *,
    file: str = "",
) -> list[ModelConfig]:
    """The models (in fallback order) for an agent's ``configuration.llm``.

    No ``llm``: the model group ``default`` if endpoints.yml defines one, else OpenAI gpt-4o
    with ``OPENAI_API_KEY``. ``model_group``: that group's models, with the agent's
    ``timeout`` / ``retries`` / ``temperature`` overriding theirs. Inline ``provider`` /
    ``model``: one model. Raises :class:`ConfigError` naming ``file`` and the field.
    """
    groups = {group.id: group for group in endpoints.model_groups}
    if llm is None:
        group = groups.get(DEFAULT_GROUP_ID)
        if group is None:
            return [default_model_config()]
        return [m.model_copy().in_group(group.id) for m in group.models]
    overrides = {
        key: value
        for key, value in (
            ("timeout", llm.timeout),
            ("retries", llm.retries),
            ("temperature", llm.temperature),
        )
        if value is not None
    }
    if llm.model_group is not None:
        inline = [k for k in ("provider", "model", "api_base", "api_key") if getattr(llm, k)]
        if inline:
            raise ConfigError(
                f"configuration.llm sets both model_group and {', '.join(inline)}; "
                "use a model group OR an inline provider/model",
                file=file,
                field="configuration.llm",
            )
        group = groups.get(llm.model_group)
        if group is None:
            known = ", ".join(sorted(groups)) or "none defined in endpoints.yml"
            raise ConfigError(
                f"unknown model group '{llm.model_group}' (known: {known}); "
                "add it to model_groups in endpoints.yml or fix the name",
                file=file,
                field="configuration.llm.model_group",
            )
        return [m.model_copy(update=overrides).in_group(group.id) for m in group.models]
    inline_fields: dict[str, Any] = {
        key: getattr(llm, key)
        for key in ("provider", "model", "api_base", "api_key")
        if getattr(llm, key) is not None
    }
    return [ModelConfig.model_validate({**inline_fields, **overrides})]


def scripted_model_config(url: str, *, model: str = "scripted", **fields: object) -> ModelConfig:
    """A model entry for an OpenAI-compatible server at ``url`` without a key."""
    return ModelConfig.model_validate(
        {"provider": "openai", "model": model, "api_base": url, "api_key": None, **fields}
    )


def point_endpoints_at(endpoints: EndpointsConfig, url: str) -> EndpointsConfig:
    """A copy of ``endpoints`` whose every model group talks to the server at ``url``.

    Each group keeps one model (its first, with its model name, timeout, retries,
    temperature and max_tokens) rewritten to ``provider: openai`` at ``url`` without a key
    or provider-specific extras. A ``default`` group is added when missing, so agents that
    configure no ``llm`` use that server too instead of OpenAI.
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
    if not any(group.id == DEFAULT_GROUP_ID for group in groups):
        groups.append(ModelGroup(id=DEFAULT_GROUP_ID, models=[scripted_model_config(url)]))
    return endpoints.model_copy(update={"model_groups": groups})
