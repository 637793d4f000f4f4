"""Every provider that is not plain OpenAI-compatible goes through ``litellm.acompletion``.

litellm is imported when the first such client is created (never at ``import subagents``),
with its model cost map read from the installed package instead of the network. Retries
are ours (the same policy as the fast path); litellm's own retries are switched off.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

import subagents.telemetry as telemetry
from subagents.config.models import ModelConfig
from subagents.llm.assemble import BadResponse, StreamAssembler, parse_completion
from subagents.llm.base import LLMResponse, TextCallback, ToolPayload
from subagents.llm.instrument import llm_call
from subagents.llm.retry import (
    DEFAULT_POLICY,
    AttemptError,
    RetryPolicy,
    call_with_retries,
    excerpt,
    parse_retry_after,
    retryable_status,
)

logger = logging.getLogger("subagents.llm")


def import_litellm() -> Any:
    """Import litellm quietly and offline (no cost-map download, no telemetry)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm


class LiteLLMClient:
    """An :class:`~subagents.llm.base.LLMClient` over ``litellm.acompletion``."""

    def __init__(self, config: ModelConfig, *, policy: RetryPolicy = DEFAULT_POLICY) -> None:
        self.config = config
        self.policy = policy
        self._litellm = import_litellm()
        prefix = f"{config.provider}/"
        self.model = config.model if config.model.startswith(prefix) else prefix + config.model
        where = f" at {config.api_base}" if config.api_base else ""
        self.label = f"{self.model}{where} (litellm)"
        fixed: dict[str, Any] = {"model": self.model, "timeout": config.timeout, "num_retries": 0}
        optional = {
            "api_base": config.api_base,
            "api_key": config.api_key,
            "api_version": config.api_version,
            "temperature": config.temperature,
            "max_tokens": config.max_tokens,
            "extra_headers": config.extra_headers or None,
        }
        fixed.update({k: v for k, v in optional.items() if v is not None})
        fixed.update(config.extra_body)
        self._fixed = fixed

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: ToolPayload | None = None,
        *,
        on_text: TextCallback | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> LLMResponse:
        """One chat completion through litellm; streamed through ``on_text`` when given."""
        kwargs = dict(self._fixed, messages=messages)
        if tools is not None and len(tools):
            kwargs["tools"] = tools.tools
            if tool_choice is not None:
                kwargs["tool_choice"] = tool_choice
        emitted = [False]

        async def attempt() -> LLMResponse:
            try:
                if on_text is None:
                    return await self._once(kwargs)
                return await self._stream(kwargs, on_text, emitted)
            except AttemptError as exc:
                if emitted[0] and exc.retryable:
                    detail = f"stream broke after text was sent ({exc.detail})"
                    raise AttemptError(detail, retryable=False) from exc
                raise

        async with llm_call(
            self.config.provider, self.model, messages, stream=on_text is not None
        ) as call:
            headers = telemetry.inject(self.config.extra_headers)
            if headers is not self.config.extra_headers:  # tracing: traceparent added
                kwargs["extra_headers"] = dict(headers)
            call.response = await call_with_retries(
                attempt,
                retries=self.config.retries,
                policy=self.policy,
                label=self.label,
                group=self.config.group,
            )
            return call.response

    async def _once(self, kwargs: dict[str, Any]) -> LLMResponse:
        try:
            response = await self._litellm.acompletion(**kwargs)
        except Exception as exc:
            raise self._attempt_error(exc) from exc
        try:
            return parse_completion(response.model_dump())
        except BadResponse as exc:
            raise AttemptError(f"unexpected response ({exc})", retryable=False) from exc

    async def _stream(
        self, kwargs: dict[str, Any], on_text: TextCallback, emitted: list[bool]
    ) -> LLMResponse:
        assembler = StreamAssembler()
        try:
            stream = await self._litellm.acompletion(**kwargs, stream=True)
            chunks = stream.__aiter__()
        except Exception as exc:
            raise self._attempt_error(exc) from exc
        while True:
            # Only provider errors become AttemptErrors; on_text's own errors propagate.
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                break
            except Exception as exc:
                raise self._attempt_error(exc) from exc
            delta = assembler.add(chunk.model_dump())
            if delta:
                emitted[0] = True
                await on_text(delta)
        return assembler.response()

    def _attempt_error(self, exc: Exception) -> AttemptError:
        status = getattr(exc, "status_code", None)
        message = excerpt(str(exc), self.config.api_key)
        if isinstance(status, int):
            detail = f"HTTP {status}: {message}"
            after = parse_retry_after(_header(exc, "retry-after"))
            return AttemptError(
                detail, retryable=retryable_status(status), status=status, retry_after=after
            )
        retryable = isinstance(exc, ConnectionError | TimeoutError | asyncio.TimeoutError)
        return AttemptError(f"{type(exc).__name__}: {message}", retryable=retryable)

    async def aclose(self) -> None:
        """Nothing to close: litellm owns its HTTP clients."""


def _header(exc: Exception, name: str) -> str | None:
    for headers in (
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "litellm_response_headers", None),
        getattr(exc, "headers", None),
    ):
        if isinstance(headers, Mapping) or hasattr(headers, "get"):
            value = headers.get(name)  # type: ignore[union-attr]
            if value is not None:
                return str(value)
    return None
