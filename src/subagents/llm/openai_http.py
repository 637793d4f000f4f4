"""The fast path: OpenAI-compatible chat completions over one shared ``httpx2.AsyncClient``.

Per request the work is: concatenate pre-serialised parts into the body (the model name
and fixed parameters once per client, the tools once per :class:`ToolPayload`, only the
messages each time), POST it, and parse the reply with orjson. No SDK objects are built.

``httpx2`` (pydantic's maintained httpx successor, same API, already required by ``mcp``)
rather than ``httpx``: httpcore's pool rescans every connection on each request and each
release, which was a third of the client's CPU with 50 runs at once; httpcore2's pass is
much cheaper (benchmarks/RESULTS.md). TLS uses the system's CA store (``SSL_CERT_FILE`` /
``SSL_CERT_DIR`` are honoured), proxies come from the usual environment variables.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

import httpx2
import orjson

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

DEFAULT_OPENAI_BASE = "https://api.openai.com/v1"
_RESERVED = frozenset({"model", "messages", "tools", "tool_choice", "stream"})


def dumps(value: Any) -> bytes:
    """Compact JSON bytes; orjson, falling back to json for what orjson refuses."""
    try:
        return orjson.dumps(value)
    except TypeError:  # e.g. non-str dict keys, ints beyond 64 bits
        import json

        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class OpenAIHTTPClient:
    """An :class:`~subagents.llm.base.LLMClient` for OpenAI and OpenAI-compatible servers."""

    def __init__(self, config: ModelConfig, *, policy: RetryPolicy = DEFAULT_POLICY) -> None:
        reserved = _RESERVED & set(config.extra_body)
        if reserved:
            raise ValueError(
                f"model '{config.model}': extra_body may not set {sorted(reserved)} "
                "(the client sets them)"
            )
        self.config = config
        self.policy = policy
        base = config.api_base or os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_BASE
        self.base_url = base.rstrip("/")
        self._url = self.base_url + "/chat/completions"
        model = self._model = config.model.removeprefix("openai/")
        self.label = f"{config.provider}/{model} at {self.base_url}"
        self._api_key = config.api_key or (
            os.environ.get("OPENAI_API_KEY") if config.provider == "openai" else None
        )
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        if self._api_key:
            self._headers["authorization"] = f"Bearer {self._api_key}"
        self._headers.update({k.lower(): v for k, v in config.extra_headers.items()})
        fixed: dict[str, Any] = {"model": model}
        if config.temperature is not None:
            fixed["temperature"] = config.temperature
        if config.max_tokens is not None:
            fixed["max_tokens"] = config.max_tokens
        fixed.update(config.extra_body)
        self._head = dumps(fixed)[:-1]  # '{"model":...' without the closing brace
        self._http: httpx2.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tools_cache: tuple[ToolPayload, bytes] | None = None

    def _client(self) -> httpx2.AsyncClient:
        # Created on first use so that it belongs to the event loop that uses it; a client
        # used from a new loop (sync code calling asyncio.run again) gets a fresh pool,
        # because pooled connections cannot move between loops.
        loop = asyncio.get_running_loop()
        if self._http is None or self._loop is not loop:
            self._loop = loop
            self._http = httpx2.AsyncClient(
                http1=True,
                http2=False,
                timeout=httpx2.Timeout(self.config.timeout),
                limits=httpx2.Limits(max_connections=None, max_keepalive_connections=64),
            )
        return self._http

    def build_body(
        self,
        messages: list[dict[str, Any]],
        tools: ToolPayload | None,
        tool_choice: str | dict[str, Any] | None,
        stream: bool,
    ) -> bytes:
        """The exact request body: pre-serialised parts joined around the messages."""
        parts = [self._head, b',"messages":', dumps(messages)]
        if tools is not None and len(tools):
            parts += (b',"tools":', tools.json_bytes)
            if tool_choice is not None:
                parts += (b',"tool_choice":', dumps(tool_choice))
        if stream:
            parts.append(b',"stream":true')
        parts.append(b"}")
        return b"".join(parts)

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: ToolPayload | None = None,
        *,
        on_text: TextCallback | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> LLMResponse:
        """One chat completion; streamed through ``on_text`` when given."""
        body = self.build_body(messages, tools, tool_choice, on_text is not None)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "llm.request model=%s messages=%d tools=%d stream=%s bytes=%d",
                self.label,
                len(messages),
                len(tools) if tools is not None else 0,
                on_text is not None,
                len(body),
                extra={"event": "llm.request"},
            )
        async with llm_call(
            self.config.provider, self._model, messages, stream=on_text is not None
        ) as call:
            headers = telemetry.inject(self._headers)  # traceparent of the chat span
            if on_text is None:
                call.response = await call_with_retries(
                    lambda: self._post(body, headers),
                    retries=self.config.retries,
                    policy=self.policy,
                    label=self.label,
                    group=self.config.group,
                )
                return call.response
            state = _StreamState()
            call.response = await call_with_retries(
                lambda: self._stream(body, on_text, state, headers),
                retries=self.config.retries,
                policy=self.policy,
                label=self.label,
                group=self.config.group,
            )
            return call.response

    async def _post(self, body: bytes, headers: Mapping[str, str]) -> LLMResponse:
        try:
            resp = await self._client().post(self._url, content=body, headers=headers)
        except httpx2.TimeoutException as exc:
            raise self._timeout_error(exc) from exc
        except httpx2.TransportError as exc:
            raise self._transport_error(exc) from exc
        if resp.status_code >= 400:
            raise self._status_error(resp.status_code, resp.headers, resp.text)
        try:
            return parse_completion(orjson.loads(resp.content))
        except (orjson.JSONDecodeError, BadResponse) as exc:
            detail = f"unexpected response ({exc}): {excerpt(resp.text, self._api_key)}"
            raise AttemptError(detail, retryable=False) from exc

    async def _stream(
        self, body: bytes, on_text: TextCallback, state: _StreamState, headers: Mapping[str, str]
    ) -> LLMResponse:
        try:
            return await self._stream_once(body, on_text, state, headers)
        except httpx2.TimeoutException as exc:
            raise state.no_retry_after_text(self._timeout_error(exc)) from exc
        except httpx2.TransportError as exc:
            raise state.no_retry_after_text(self._transport_error(exc)) from exc
        except AttemptError as exc:
            raise state.no_retry_after_text(exc) from None

    async def _stream_once(
        self, body: bytes, on_text: TextCallback, state: _StreamState, headers: Mapping[str, str]
    ) -> LLMResponse:
        client = self._client()
        async with client.stream("POST", self._url, content=body, headers=headers) as resp:
            if resp.status_code >= 400:
                text = (await resp.aread()).decode("utf-8", "replace")
                raise self._status_error(resp.status_code, resp.headers, text)
            assembler = StreamAssembler()
            done = False
            buffer = b""
            async for data in resp.aiter_bytes():
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    payload = _sse_data(line)
                    if payload is None:
                        continue
                    if payload == b"[DONE]":
                        done = True
                        break
                    delta = assembler.add(self._chunk(payload))
                    if delta:
                        state.emitted = True
                        await on_text(delta)
                if done:
                    break
        if not done and assembler.finish_reason is None:
            raise AttemptError("stream ended before [DONE]", retryable=True)
        return assembler.response()

    def _chunk(self, payload: bytes) -> dict[str, Any]:
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            detail = f"stream chunk is not JSON: {excerpt(payload.decode('utf-8', 'replace'))}"
            raise AttemptError(detail, retryable=False) from exc
        if not isinstance(chunk, dict):
            raise AttemptError("stream chunk is not a JSON object", retryable=False)
        if chunk.get("error"):
            detail = f"error in stream: {excerpt(str(chunk['error']), self._api_key)}"
            raise AttemptError(detail, retryable=True)
        return chunk

    def _status_error(self, status: int, headers: httpx2.Headers, text: str) -> AttemptError:
        should_retry = headers.get("x-should-retry")
        retryable = retryable_status(status)
        if should_retry in ("true", "false"):  # the OpenAI convention, as its SDK honours it
            retryable = should_retry == "true"
        return AttemptError(
            f"HTTP {status}: {excerpt(text, self._api_key)}",
            retryable=retryable,
            status=status,
            retry_after=parse_retry_after(headers.get("retry-after")),
        )

    def _timeout_error(self, exc: Exception) -> AttemptError:
        detail = f"no answer within {self.config.timeout:g} s ({type(exc).__name__})"
        return AttemptError(detail, retryable=True)

    def _transport_error(self, exc: Exception) -> AttemptError:
        detail = f"connection to {self.base_url} failed ({type(exc).__name__}: {exc})"
        return AttemptError(excerpt(detail, self._api_key), retryable=True)

    async def aclose(self) -> None:
        """Close the shared connection pool."""
        http, self._http = self._http, None
        loop, self._loop = self._loop, None
        # A pool from another (finished) loop cannot be closed from this one: drop it.
        if http is not None and loop is asyncio.get_running_loop():
            await http.aclose()


class _StreamState:
    """Whether text already reached the caller: then a retry would repeat it, so none."""

    __slots__ = ("emitted",)

    def __init__(self) -> None:
        self.emitted = False

    def no_retry_after_text(self, error: AttemptError) -> AttemptError:
        if self.emitted and error.retryable:
            return AttemptError(
                f"stream broke after text was sent ({error.detail})",
                retryable=False,
                status=error.status,
            )
        return error


def _sse_data(line: bytes) -> bytes | None:
    if not line.startswith(b"data:"):
        return None  # comments, event:, id:, blank separators
    return line[5:].strip()
