"""The floor: K ReAct steps written by hand, no framework.

Per step one POST of the chat request (the messages so far plus the same tools JSON the
framework sends) to the model server, the JSON parsed, and one ``ClientSession.call_tool``
per tool call. Two variants: a bare ``httpx.AsyncClient`` (the floor the targets refer
to) and the ``openai`` SDK client (a second, higher floor).
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from benchmarks._proc import BENCH_DIR

SYSTEM = (
    "You are a helpful agent. Use the tools to answer the user's request, then call "
    "task_completed with a short message for the user."
)
USER = "Find the weather, the products and the opening hours for Berlin."

# The reference's built-in tool, as the framework sends it (strict).
TASK_COMPLETED = {
    "type": "function",
    "function": {
        "name": "task_completed",
        "description": (
            "Signal that the MCP agent has FULLY completed its primary task. Once you have "
            "presented your findings, follow-up with a message summarizing the completed task "
            "in a comprehensive and well-written manner. Avoid repeating information already "
            "provided in the conversation."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "message": {
                    "type": "string",
                    "description": "A message describing the completed task.",
                }
            },
            "required": ["message"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


@asynccontextmanager
async def mcp_session(transport: str, url: str | None = None) -> AsyncIterator[ClientSession]:
    """One initialised ``ClientSession`` to the bench MCP server (stdio or HTTP)."""
    async with AsyncExitStack() as stack:
        if transport == "stdio":
            params = StdioServerParameters(
                command=sys.executable, args=[str(BENCH_DIR / "bench_mcp_server.py")]
            )
            read, write = await stack.enter_async_context(stdio_client(params))
        else:
            assert url is not None
            read, write = await stack.enter_async_context(streamable_http_client(url))
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        yield session


async def openai_tools(session: ClientSession) -> list[dict[str, Any]]:
    """The server's tools in the OpenAI shape (as sent by the framework) + task_completed."""
    listed = await session.list_tools()
    tools = [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description or "",
                "parameters": t.input_schema,
                "strict": False,
            },
        }
        for t in listed.tools
    ]
    return [*tools, TASK_COMPLETED]


def _result_text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


class HttpxFloor:
    """K steps by hand with one shared ``httpx.AsyncClient``.

    ``module`` may be ``httpx2`` (pydantic's fork, which the ``mcp`` SDK uses): same API,
    a connection pool that scales better with many connections.
    """

    name = "floor: httpx + ClientSession"

    def __init__(
        self,
        base_url: str,
        session: ClientSession,
        tools: list[dict[str, Any]],
        module: Any = httpx,
    ):
        limits = module.Limits(max_connections=200, max_keepalive_connections=200)
        self.http = module.AsyncClient(base_url=base_url, timeout=60.0, limits=limits)
        if module is not httpx:
            self.name = f"floor: {module.__name__} + ClientSession"
        self.session = session
        self.tools = tools

    async def run(self, k: int) -> int:
        """One run of ``k`` tool steps then task_completed; returns LLM calls made."""
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": USER},
        ]
        calls = 0
        while True:
            body = {"model": f"react-{k}", "messages": messages, "tools": self.tools}
            response = await self.http.post("/chat/completions", json=body)
            response.raise_for_status()
            message = response.json()["choices"][0]["message"]
            calls += 1
            tool_calls = message.get("tool_calls") or []
            messages.append(
                {"role": "assistant", "content": message.get("content"), "tool_calls": tool_calls}
            )
            for call in tool_calls:
                fn = call["function"]
                if fn["name"] == "task_completed":
                    return calls
                result = await self.session.call_tool(fn["name"], json.loads(fn["arguments"]))
                messages.append(
                    {"role": "tool", "tool_call_id": call["id"], "content": _result_text(result)}
                )
            if not tool_calls:
                return calls

    async def aclose(self) -> None:
        await self.http.aclose()


class OpenAIFloor:
    """K steps by hand with the ``openai`` SDK client (a second, higher floor)."""

    name = "floor: openai SDK + ClientSession"

    def __init__(self, base_url: str, session: ClientSession, tools: list[dict[str, Any]]):
        from openai import AsyncOpenAI

        self.client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
        self.session = session
        self.tools = tools

    async def run(self, k: int) -> int:
        """One run of ``k`` tool steps then task_completed; returns LLM calls made."""
        messages: list[Any] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": USER},
        ]
        calls = 0
        while True:
            completion = await self.client.chat.completions.create(
                model=f"react-{k}",
                messages=messages,
                tools=self.tools,  # type: ignore[arg-type]
            )
            calls += 1
            message = completion.choices[0].message
            tool_calls = message.tool_calls or []
            messages.append(message.model_dump(exclude_none=True))
            for call in tool_calls:
                fn = call.function  # type: ignore[union-attr]
                if fn.name == "task_completed":
                    return calls
                result = await self.session.call_tool(fn.name, json.loads(fn.arguments))
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": _result_text(result)}
                )
            if not tool_calls:
                return calls

    async def aclose(self) -> None:
        await self.client.close()
