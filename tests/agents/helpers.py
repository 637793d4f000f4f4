"""Helpers for the agent tests: an in-process recording toolset and a scripted LLM."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from subagents.errors import ToolSignal
from subagents.llm import create_llm_client
from subagents.llm.base import LLMClient
from subagents.llm.retry import RetryPolicy
from subagents.testing import scripted_model_config
from subagents.tools.base import ToolContext, ToolOutcome, ToolSpec

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


class RecordingToolset:
    """An in-process toolset that records every call that reaches it."""

    def __init__(self, source: str = "local") -> None:
        self.source = source
        self.specs: list[ToolSpec] = []
        self.handlers: dict[str, Handler] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.list_count = 0

    def add(
        self,
        name: str,
        handler: Handler | None = None,
        *,
        schema: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> RecordingToolset:
        async def echo(args: dict[str, Any], ctx: ToolContext | None) -> ToolOutcome:
            return ToolOutcome(text=f"{name} ok")

        self.specs.append(
            ToolSpec(
                name=name,
                description=description or f"The {name} tool.",
                input_schema=schema or {"type": "object", "properties": {}},
                source=self.source,
            )
        )
        self.handlers[name] = handler or echo
        return self

    async def list_tools(self) -> list[ToolSpec]:
        self.list_count += 1
        return list(self.specs)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: ToolContext | None = None
    ) -> ToolOutcome:
        self.calls.append((name, arguments))
        if name not in self.handlers:
            raise ToolSignal(name, "not a tool of this toolset")
        result = await self.handlers[name](arguments, context)
        return ToolOutcome(text=result) if isinstance(result, str) else result


def sleep_then(text: str, seconds: float) -> Handler:
    async def handler(args: dict[str, Any], ctx: ToolContext | None) -> ToolOutcome:
        await asyncio.sleep(seconds)
        return ToolOutcome(text=text)

    return handler


def tool_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("role") == "tool"]
