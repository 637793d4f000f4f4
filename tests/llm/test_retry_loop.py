"""What a user sees of retries: the warnings per retry and the final error's wording."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from subagents.errors import LLMUnavailableError
from subagents.llm import RetryPolicy, create_llm_client
from subagents.testing import scripted_model_config

FAST = RetryPolicy(base_backoff=0.01, max_backoff=0.02, max_retry_after=0.05)
USER = [{"role": "user", "content": "hi"}]


def retry_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if getattr(r, "event", "") == "llm.retry"]


async def test_each_retry_is_logged_with_its_wait(
    scripted_model: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="subagents.llm")
    srv = await scripted_model(
        [{"error": {"status": 429, "retry_after": 1}}, {"error": 503}, {"text": "ok"}]
    )
    client = create_llm_client(scripted_model_config(srv.url, retries=2), policy=FAST)
    assert (await client.complete(USER)).text == "ok"
    await client.aclose()
    first, second = retry_warnings(caplog)
    # Retry-After (1 s) capped by the policy; then the backoff of the second retry.
    assert "attempt=1 wait=0.05s" in first and "HTTP 429" in first
    assert "attempt=2 wait=0.02s" in second and "HTTP 503" in second


async def test_success_logs_nothing(scripted_model: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="subagents.llm")
    srv = await scripted_model([{"text": "ok"}])
    client = create_llm_client(scripted_model_config(srv.url), policy=FAST)
    assert (await client.complete(USER)).text == "ok"
    await client.aclose()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_permanent_error_after_a_retry_counts_both_attempts(
    scripted_model: Any, caplog: pytest.LogCaptureFixture
) -> None:
    srv = await scripted_model([{"error": 500}, {"error": 404}, {"text": "unused"}])
    client = create_llm_client(scripted_model_config(srv.url, retries=3), policy=FAST)
    with pytest.raises(LLMUnavailableError, match=r"after 2 attempts: HTTP 404"):
        await client.complete(USER)
    await client.aclose()
    assert len(srv.requests) == 2
    assert len(retry_warnings(caplog)) == 1


async def test_zero_retries_fails_at_once(scripted_model: Any) -> None:
    srv = await scripted_model([{"error": 503}, {"text": "unused"}])
    client = create_llm_client(scripted_model_config(srv.url, retries=0), policy=FAST)
    with pytest.raises(LLMUnavailableError, match=r"\(not retried\): HTTP 503"):
        await client.complete(USER)
    await client.aclose()
    assert len(srv.requests) == 1
