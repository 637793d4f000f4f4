"""The litellm path (non-OpenAI providers), exercised against the scripted model.

``hosted_vllm`` is litellm's provider for OpenAI-compatible servers at an ``api_base``, so
it reaches the local scripted server without internet.
"""

from __future__ import annotations

from typing import Any

import pytest

from subagents.config.models import ModelConfig
from subagents.errors import LLMUnavailableError
from subagents.llm import RetryPolicy, ToolPayload, create_llm_client, uses_fast_path
from subagents.llm.litellm_client import LiteLLMClient

FAST = RetryPolicy(base_backoff=0.01, max_backoff=0.02)
USER = [{"role": "user", "content": "hi"}]
TOOLS = ToolPayload(
    [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
)


def vllm(url: str, **fields: Any) -> ModelConfig:
    return ModelConfig(provider="hosted_vllm", model="scripted", api_base=url, **fields)


async def test_litellm_non_stream_and_stream(scripted_model: Any) -> None:
    srv = await scripted_model(
        [
            {"text": "plain"},
            {
                "text": "Looking.",
                "tool_calls": [
                    {"name": "get_weather", "arguments": {"city": "Berlin, Germany"}},
                    {"name": "get_weather", "arguments": "{oops"},
                ],
            },
        ]
    )
    config = vllm(srv.url)
    assert not uses_fast_path(config)
    client = create_llm_client(config, policy=FAST)
    assert isinstance(client, LiteLLMClient)
    assert (await client.complete(USER, TOOLS)).text == "plain"
    deltas: list[str] = []

    async def on_text(text: str) -> None:
        deltas.append(text)

    response = await client.complete(USER, TOOLS, on_text=on_text)
    await client.aclose()
    assert "".join(deltas) == "Looking." and response.text == "Looking."
    first, second = response.tool_calls
    assert first.arguments == {"city": "Berlin, Germany"}
    assert second.arguments is None and second.parse_error
    assert srv.requests[0]["tools"] == TOOLS.tools
    assert srv.requests[1]["stream"] is True


async def test_litellm_retries_429_and_not_400(scripted_model: Any) -> None:
    srv = await scripted_model(
        [{"error": {"status": 429, "retry_after": 0.3}}, {"text": "ok"}, {"error": 400}]
    )
    client = create_llm_client(vllm(srv.url), policy=FAST)
    assert (await client.complete(USER)).text == "ok"
    assert srv.request_times[1] - srv.request_times[0] >= 0.3
    with pytest.raises(LLMUnavailableError, match="HTTP 400"):
        await client.complete(USER)
    assert len(srv.requests) == 3


async def test_openai_provider_through_litellm(scripted_model: Any) -> None:
    srv = await scripted_model([{"text": "via litellm openai"}])
    client = LiteLLMClient(
        ModelConfig(provider="openai", model="gpt-4o", api_base=srv.url, api_key="sk-local"),
        policy=FAST,
    )
    assert (await client.complete(USER)).text == "via litellm openai"
    assert srv.requests[0]["model"] == "gpt-4o"
    assert srv.request_headers[0]["authorization"] == "Bearer sk-local"
