"""The ``chat <model>`` span and LLM metrics around one completion (GenAI conventions).

Used by every client (:mod:`~subagents.llm.openai_http`, litellm, the scripted model), so
agent and router calls are traced alike. Retries are events on this span (added by
:func:`subagents.llm.retry.call_with_retries`). Messages and replies are recorded only
with ``tracing.capture_content`` (redacted).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import subagents.telemetry as telemetry
from subagents.llm.base import LLMResponse


class LLMCall:
    """What is known of one call while it runs; ``response`` is set by the client."""

    __slots__ = ("span", "response")

    def __init__(self, span: telemetry.Span) -> None:
        self.span = span
        self.response: LLMResponse | None = None


@asynccontextmanager
async def llm_call(
    provider: str, model: str, messages: list[dict[str, Any]], *, stream: bool
) -> AsyncIterator[LLMCall]:
    """Trace and measure one completion: ``async with llm_call(...) as call: ...
    call.response = await ...``."""
    started = time.perf_counter()
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "subagents.llm.stream": stream,
    }
    error: str | None = None
    with telemetry.span(f"chat {model}", attributes, "client") as span:
        call = LLMCall(span)
        if span.recording:
            span.set("gen_ai.input.messages", telemetry.content(messages))
        try:
            yield call
        except Exception as exc:
            error = type(exc).__name__
            raise
        finally:
            _finish(call, attributes, started, error)


def _finish(call: LLMCall, attributes: dict[str, Any], started: float, error: str | None) -> None:
    response, span = call.response, call.span
    usage = (response.usage if response is not None else None) or {}
    input_tokens = usage.get("prompt_tokens", usage.get("input_tokens"))
    output_tokens = usage.get("completion_tokens", usage.get("output_tokens"))
    if span.recording and response is not None:
        span.set("gen_ai.response.model", response.model)
        span.set("gen_ai.response.finish_reasons", [response.finish_reason or ""])
        span.set("gen_ai.usage.input_tokens", input_tokens)
        span.set("gen_ai.usage.output_tokens", output_tokens)
        output = telemetry.content(_output_message(response))
        span.set("gen_ai.output.messages", output)
    metric = {k: attributes[k] for k in ("gen_ai.operation.name", "gen_ai.provider.name")}
    metric["gen_ai.request.model"] = attributes["gen_ai.request.model"]
    if error is not None:
        metric["error.type"] = error
    telemetry.observe(telemetry.LLM_DURATION, time.perf_counter() - started, metric)
    for kind, tokens in (("input", input_tokens), ("output", output_tokens)):
        if isinstance(tokens, int):
            telemetry.observe(telemetry.LLM_TOKENS, tokens, {**metric, "gen_ai.token.type": kind})


def _output_message(response: LLMResponse) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": response.text,
        "tool_calls": [
            {"id": c.id, "name": c.name, "arguments": c.raw_arguments} for c in response.tool_calls
        ],
    }
