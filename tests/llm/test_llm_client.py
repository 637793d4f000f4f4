"""The fast OpenAI-compatible client, over real HTTP against the scripted model."""

from __future__ import annotations

import asyncio
import email.utils
import subprocess
import sys
import time
from typing import Any

import pytest

from subagents.config.models import ModelConfig
from subagents.errors import LLMUnavailableError
from subagents.llm import LLMClient, RetryPolicy, ToolPayload, create_llm_client
from subagents.llm.retry import parse_retry_after
from subagents.testing import ScriptedModelServer, scripted_model_config

FAST = RetryPolicy(base_backoff=0.01, max_backoff=0.02)
USER = [{"role": "user", "content": "What's the weather in Berlin?"}]
TOOLS = ToolPayload(
    [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
)


def client_for(url: str, **fields: Any) -> LLMClient:
    return create_llm_client(scripted_model_config(url, **fields), policy=FAST)


class Collector:
    def __init__(self) -> None:
        self.deltas: list[str] = []
        self.times: list[float] = []

    async def __call__(self, text: str) -> None:
        self.deltas.append(text)
        self.times.append(time.monotonic())


async def test_non_stream_text_and_request_body(scripted_model: Any) -> None:
    srv = await scripted_model([{"text": "It is sunny."}])
    client = client_for(srv.url, model="my-model", temperature=0.2)
    response = await client.complete(USER, TOOLS, tool_choice="auto")
    await client.aclose()
    assert response.text == "It is sunny."
    assert response.tool_calls == []
    assert response.finish_reason == "stop"
    sent = srv.requests[0]
    assert sent["model"] == "my-model"
    assert sent["messages"] == USER
    assert sent["tools"] == TOOLS.tools
    assert sent["tool_choice"] == "auto"
    assert sent["temperature"] == 0.2
    assert "stream" not in sent


async def test_stream_text_arrives_delta_by_delta(scripted_model: Any) -> None:
    srv = await scripted_model(
        [{"chunks": ["It ", "is ", "sunny ", "today."], "chunk_delay": 0.05}]
    )
    client = client_for(srv.url)
    collect = Collector()
    response = await client.complete(USER, TOOLS, on_text=collect)
    done = time.monotonic()
    await client.aclose()
    assert collect.deltas == ["It ", "is ", "sunny ", "today."]
    assert response.text == "It is sunny today."
    assert srv.requests[0]["stream"] is True
    # The first delta reached the callback well before the stream ended.
    assert done - collect.times[0] >= 0.1


async def test_stream_assembles_two_parallel_tool_calls(scripted_model: Any) -> None:
    long_city = "Llanfairpwllgwyngyll" * 3
    srv = await scripted_model(
        [
            {
                "text": "Checking both.",
                "tool_calls": [
                    {"name": "get_weather", "arguments": {"city": long_city}, "id": "call_a"},
                    {"name": "get_time", "arguments": {"zone": "Europe/Berlin", "fmt": "24h"}},
                ],
            }
        ]
    )
    client = client_for(srv.url)
    collect = Collector()
    response = await client.complete(USER, TOOLS, on_text=collect)
    await client.aclose()
    assert response.text == "Checking both."
    assert [c.name for c in response.tool_calls] == ["get_weather", "get_time"]
    assert response.tool_calls[0].id == "call_a"
    assert response.tool_calls[0].arguments == {"city": long_city}
    assert response.tool_calls[1].arguments == {"zone": "Europe/Berlin", "fmt": "24h"}
    assert response.finish_reason == "tool_calls"


@pytest.mark.parametrize("stream", [False, True])
async def test_malformed_arguments_are_flagged_and_kept_raw(
    scripted_model: Any, stream: bool
) -> None:
    srv = await scripted_model(
        [{"tool_calls": [{"name": "get_weather", "arguments": '{"city": "Ber'}]}]
    )
    client = client_for(srv.url)
    response = await client.complete(USER, TOOLS, on_text=Collector() if stream else None)
    await client.aclose()
    (call,) = response.tool_calls
    assert call.arguments is None
    assert call.raw_arguments == '{"city": "Ber'
    assert call.parse_error is not None and "not valid JSON" in call.parse_error


@pytest.mark.parametrize("stream", [False, True])
async def test_429_then_success_resends_identical_bytes(scripted_model: Any, stream: bool) -> None:
    srv = await scripted_model([{"error": {"status": 429}}, {"text": "ok"}])
    client = client_for(srv.url)
    response = await client.complete(USER, TOOLS, on_text=Collector() if stream else None)
    await client.aclose()
    assert response.text == "ok"
    assert len(srv.raw_requests) == 2
    assert srv.raw_requests[0] == srv.raw_requests[1]


async def test_retry_after_is_honoured(scripted_model: Any) -> None:
    srv = await scripted_model([{"error": {"status": 429, "retry_after": 1}}, {"text": "ok"}])
    client = client_for(srv.url)
    assert (await client.complete(USER)).text == "ok"
    await client.aclose()
    gap = srv.request_times[1] - srv.request_times[0]
    assert gap >= 1.0, gap


async def test_500_is_retried(scripted_model: Any) -> None:
    srv = await scripted_model([{"error": 500}, {"error": 503}, {"text": "finally"}])
    client = client_for(srv.url, retries=2)
    assert (await client.complete(USER)).text == "finally"
    await client.aclose()
    assert len(srv.requests) == 3


async def test_400_is_not_retried(scripted_model: Any) -> None:
    body = {"error": {"message": "Invalid schema for function 'get_weather'"}}
    srv = await scripted_model([{"error": {"status": 400, "body": body}}, {"text": "unused"}])
    client = client_for(srv.url)
    with pytest.raises(LLMUnavailableError) as info:
        await client.complete(USER, TOOLS)
    await client.aclose()
    assert len(srv.requests) == 1
    assert "HTTP 400" in str(info.value)
    assert "Invalid schema for function" in str(info.value)


async def test_retries_exhausted(scripted_model: Any) -> None:
    srv = await scripted_model([{"error": 502}] * 3 + [{"text": "too late"}])
    client = client_for(srv.url, retries=2)
    with pytest.raises(LLMUnavailableError) as info:
        await client.complete(USER)
    await client.aclose()
    assert len(srv.requests) == 3  # first attempt + 2 retries
    assert "after 3 attempts" in str(info.value)
    assert "HTTP 502" in str(info.value)


async def test_connection_refused_fails_after_retries(free_port: int) -> None:
    client = client_for(f"http://127.0.0.1:{free_port}/v1", retries=2)
    started = time.monotonic()
    with pytest.raises(LLMUnavailableError) as info:
        await client.complete(USER)
    await client.aclose()
    assert "after 3 attempts" in str(info.value)
    assert "connection to http://127.0.0.1" in str(info.value)
    assert time.monotonic() - started < 5


async def test_timeout_is_retried(scripted_model: Any) -> None:
    srv = await scripted_model([{"delay": 1.0, "text": "slow"}, {"text": "fast"}])
    client = client_for(srv.url, timeout=0.2)
    started = time.monotonic()
    assert (await client.complete(USER)).text == "fast"
    await client.aclose()
    assert time.monotonic() - started < 0.9


async def test_dropped_connection_is_retried(scripted_model: Any) -> None:
    srv = await scripted_model([{"disconnect": True}, {"text": "back"}])
    client = client_for(srv.url)
    assert (await client.complete(USER)).text == "back"
    await client.aclose()


async def test_stream_broken_after_text_is_not_repeated(scripted_model: Any) -> None:
    srv = await scripted_model(
        [{"text": "one two three four five six", "disconnect": True}, {"text": "again"}]
    )
    client = client_for(srv.url)
    collect = Collector()
    with pytest.raises(LLMUnavailableError, match="stream broke after text was sent"):
        await client.complete(USER, on_text=collect)
    await client.aclose()
    assert collect.deltas and "again" not in collect.deltas
    assert len(srv.requests) == 1


async def test_api_key_only_in_authorization_header(scripted_model: Any) -> None:
    key = "sk-test-0123456789abcdef"
    body = {"error": {"message": f"Incorrect API key provided: {key}"}}
    srv = await scripted_model([{"error": {"status": 401, "body": body}}])
    client = client_for(srv.url, api_key=key)
    with pytest.raises(LLMUnavailableError) as info:
        await client.complete(USER)
    await client.aclose()
    assert srv.request_headers[0]["authorization"] == f"Bearer {key}"
    assert key not in srv.raw_requests[0].decode()
    assert key not in str(info.value)
    assert "HTTP 401" in str(info.value)


async def test_exhausted_scenario_fails_fast_without_retries(scripted_model: Any) -> None:
    srv = await scripted_model([{"text": "only one"}])
    client = client_for(srv.url)
    await client.complete(USER)
    with pytest.raises(LLMUnavailableError, match="scripted scenario exhausted after 1 replies"):
        await client.complete(USER)
    await client.aclose()
    assert len(srv.requests) == 2


async def test_group_falls_back_to_next_model(scripted_model: Any, free_port: int) -> None:
    srv = await scripted_model([{"text": "from the second model"}])
    dead = ModelConfig(provider="openai", model="a", api_base=f"http://127.0.0.1:{free_port}/v1")
    dead = dead.model_copy(update={"retries": 0})
    client = create_llm_client([dead, scripted_model_config(srv.url, model="b")], policy=FAST)
    response = await client.complete(USER)
    await client.aclose()
    assert response.text == "from the second model"
    assert srv.requests[0]["model"] == "b"


async def test_group_reports_every_model_when_all_fail(free_port: int) -> None:
    url = f"http://127.0.0.1:{free_port}/v1"
    models = [ModelConfig(provider="openai", model=name, api_base=url, retries=0) for name in "ab"]
    client = create_llm_client(models, policy=FAST)
    with pytest.raises(LLMUnavailableError, match="all 2 models of the group failed") as info:
        await client.complete(USER)
    await client.aclose()
    assert "openai/a" in str(info.value) and "openai/b" in str(info.value)


async def test_tool_payload_serialised_once(scripted_model: Any) -> None:
    srv = await scripted_model([{"text": "1"}, {"text": "2"}])
    tools = ToolPayload(TOOLS.tools)
    client = client_for(srv.url)
    await client.complete(USER, tools)
    first = tools.json_bytes
    await client.complete(USER + [{"role": "assistant", "content": "1"}], tools)
    await client.aclose()
    assert tools.json_bytes is first
    assert srv.requests[1]["tools"] == TOOLS.tools


def test_extra_body_cannot_override_request_fields() -> None:
    with pytest.raises(ValueError, match="extra_body may not set"):
        create_llm_client(
            ModelConfig(
                provider="openai", api_base="http://127.0.0.1:1/v1", extra_body={"model": 1}
            )
        )


def test_import_subagents_does_not_import_litellm_or_openai() -> None:
    code = (
        "import sys, subagents, subagents.llm, subagents.testing;"
        "print(sorted(m for m in ('litellm', 'openai') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


async def test_on_text_errors_propagate_unretried(scripted_model: Any) -> None:
    srv = await scripted_model([{"text": "a b c"}, {"text": "unused"}])
    client = client_for(srv.url)

    async def broken(text: str) -> None:
        raise RuntimeError("channel closed")

    with pytest.raises(RuntimeError, match="channel closed"):
        await client.complete(USER, on_text=broken)
    await client.aclose()
    assert len(srv.requests) == 1


async def test_retry_after_is_capped_by_policy(scripted_model: Any) -> None:
    srv = await scripted_model([{"error": {"status": 429, "retry_after": 3600}}, {"text": "ok"}])
    policy = RetryPolicy(base_backoff=0.01, max_backoff=0.02, max_retry_after=0.05)
    client = create_llm_client(scripted_model_config(srv.url), policy=policy)
    started = time.monotonic()
    assert (await client.complete(USER)).text == "ok"
    await client.aclose()
    assert time.monotonic() - started < 1


def test_retry_after_header_forms() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 12, usegmt=True)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(date, now=now) == pytest.approx(12, abs=1)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert RetryPolicy().backoff(1) == 0.5 and RetryPolicy().backoff(10) == 8.0


def test_one_client_serves_successive_event_loops() -> None:
    srv = ScriptedModelServer(["one", "two"]).start_in_thread()
    try:
        client = client_for(srv.url)
        assert asyncio.run(client.complete(USER)).text == "one"
        assert asyncio.run(client.complete(USER)).text == "two"
        asyncio.run(client.aclose())
    finally:
        srv.stop()
    assert len(srv.requests) == 2
