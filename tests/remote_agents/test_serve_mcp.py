"""The project's agents as an MCP server, driven by the official ``mcp`` client over stdio
(``subagents mcp serve`` as a child process) and streamable HTTP (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import mcp.types as types
import pytest
from mcp import Client, StdioServerParameters

from subagents import load_agents
from subagents.channels.agent_sessions import AgentSessions
from subagents.channels.mcp_server import build_mcp_server
from subagents.testing import ScriptedModelServer

from .support import endpoints, free_port, open_agent, serve, write

pytestmark = pytest.mark.timeout(90)

ASK_THEN_ANSWER = [
    {"text": "Which city?"},
    {"tool_calls": [{"name": "task_completed", "arguments": {"message": "Berlin: 14°C."}}]},
]
SRC = Path(__file__).resolve().parents[2] / "src"


def project(root: Path, model_url: str) -> Path:
    return write(
        root,
        {
            "endpoints.yml": endpoints(model_url),
            "sub_agents/weather/config.yml": open_agent("weather", "Tells the weather."),
        },
    )


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


@contextlib.asynccontextmanager
async def http_server(root: Path) -> AsyncIterator[str]:
    async with load_agents(root) as registry:
        server = build_mcp_server(AgentSessions(registry))
        port = free_port()
        async with serve(server.streamable_http_app(), port) as url:
            yield f"{url}/mcp"


async def test_stdio_lists_agents_and_continues_a_conversation(tmp_path: Path) -> None:
    async with ScriptedModelServer(ASK_THEN_ANSWER) as model:
        root = project(tmp_path, model.url)
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "subagents", "mcp", "serve", "--project", str(root)],
            env={"PYTHONPATH": str(SRC), "PATH": os.environ.get("PATH", "")},
        )
        async with Client(params, read_timeout_seconds=30) as client:
            tools = (await client.list_tools()).tools
            first = await client.call_tool("weather", {"task": "What's the weather?"})
            match = re.search(r'conversation_id "([0-9a-f]+)"', text_of(first))
            assert match, text_of(first)
            second = await client.call_tool(
                "weather", {"task": "Berlin", "conversation_id": match.group(1)}
            )
    [tool] = tools
    assert tool.name == "weather" and tool.description == "Tells the weather."
    assert set(tool.input_schema["properties"]) == {"task", "conversation_id"}
    assert tool.input_schema["required"] == ["task"]
    assert not first.is_error and text_of(first).startswith("Which city?")
    assert "Call weather again" in text_of(first)
    assert not second.is_error and text_of(second) == "Berlin: 14°C."


async def test_the_old_serve_mcp_name_still_serves_and_says_where_it_moved(
    tmp_path: Path,
) -> None:
    async with ScriptedModelServer(ASK_THEN_ANSWER) as model:
        root = project(tmp_path, model.url)
        port = free_port()
        child = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "subagents", "serve-mcp", "--project", str(root)],
            *["--transport", "http", "--port", str(port)],
            env={**os.environ, "PYTHONPATH": str(SRC)},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(60):
                await _wait_for_port(port, child)
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                tools = (await client.list_tools()).tools
        finally:
            child.terminate()
            async with asyncio.timeout(30):
                _, stderr = await child.communicate()
    assert [t.name for t in tools] == ["weather"]
    moved = "`subagents serve-mcp` is deprecated: it moved to `subagents mcp serve`"
    assert moved in stderr.decode()


async def _wait_for_port(port: int, child: asyncio.subprocess.Process) -> None:
    """Until the child listens on ``port`` (the caller bounds it; fails if the child exits)."""
    while True:
        assert child.returncode is None, "the server exited before listening"
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.1)


# legacy: a mid-call elicitation/create request; auto (2026-07-28): InputRequiredResult.
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_http_asks_the_question_through_elicitation(tmp_path: Path, mode: str) -> None:
    asked: list[str] = []

    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"answer": "Berlin"})

    async with ScriptedModelServer(ASK_THEN_ANSWER) as model:
        root = project(tmp_path, model.url)
        async with (
            http_server(root) as url,
            Client(url, mode=mode, elicitation_callback=elicit) as client,
        ):
            result = await client.call_tool("weather", {"task": "What's the weather?"})
    assert asked == ["Which city?"]
    assert not result.is_error and text_of(result) == "Berlin: 14°C."
    said = [m.get("content") for m in model.requests[1]["messages"] if m["role"] == "user"]
    assert said[-1] == "Berlin"


async def test_http_declined_elicitation_says_what_is_needed(tmp_path: Path) -> None:
    async def decline(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async with ScriptedModelServer(ASK_THEN_ANSWER[:1]) as model:
        root = project(tmp_path, model.url)
        async with (
            http_server(root) as url,
            Client(url, mode="legacy", elicitation_callback=decline) as client,
        ):
            result = await client.call_tool("weather", {"task": "What's the weather?"})
    assert not result.is_error
    assert text_of(result).startswith("Which city?") and "conversation_id" in text_of(result)


async def test_http_agent_failure_is_a_tool_error(tmp_path: Path) -> None:
    async with ScriptedModelServer([{"error": {"status": 500}}]) as model:
        root = project(tmp_path, model.url)
        async with http_server(root) as url, Client(url) as client:
            result = await client.call_tool("weather", {"task": "What's the weather?"})
    assert result.is_error
    assert "agent 'weather' fatal_error: LLM openai/scripted" in text_of(result)
