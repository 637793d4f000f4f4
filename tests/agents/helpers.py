"""Helpers for the agent tests: the public recording toolset and a scripted LLM."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from subagents.llm import create_llm_client
from subagents.llm.base import LLMClient
from subagents.llm.retry import RetryPolicy
from subagents.testing import RecordingToolset, scripted_model_config
from subagents.tools.base import ToolContext, ToolOutcome

FAST_RETRIES = RetryPolicy(base_backoff=0.01, max_backoff=0.02, max_retry_after=0.05)

Handler = Callable[[dict[str, Any], ToolContext | None], Awaitable[ToolOutcome | str]]


def scripted_llm(url: str, *, retries: int = 0, timeout: float = 10.0) -> LLMClient:
    """An LLM client for the scripted server at ``url`` (real HTTP)."""
    return create_llm_client(
        scripted_model_config(url, retries=retries, timeout=timeout), policy=FAST_RETRIES
    )


def object_schema(**properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
    }


def sleep_then(text: str, seconds: float) -> Handler:
    async def handler(args: dict[str, Any], ctx: ToolContext | None) -> ToolOutcome:
        await asyncio.sleep(seconds)
        return ToolOutcome(text=text)

    return handler


def tool_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("role") == "tool"]


__all__ = ["RecordingToolset", "object_schema", "scripted_llm", "sleep_then", "tool_messages"]
