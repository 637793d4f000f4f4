"""Concurrency edges of one MCP connection: close during connect, concurrent reconnects."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from mcp_helpers import TOOLBOX, process_alive, stdio_config

from subagents.config.models import MCPServerConfig
from subagents.errors import MCPServerUnavailable
from subagents.mcp import MCPManager


async def _poll(predicate: Callable[[], bool], limit: float = 10.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


def _owner_tasks() -> list[asyncio.Task[object]]:
    return [
        t for t in asyncio.all_tasks() if t.get_name().startswith("mcp-server:") and not t.done()
    ]


async def test_aclose_during_connect_leaves_no_owner_task_or_child(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    # A server slow to start: `exec` keeps the pid written to pidfile.
    script = f'echo $$ > "{pidfile}"; sleep 1; exec "{sys.executable}" "{TOOLBOX}" stdio'
    cfg = MCPServerConfig(
        name="slow", type="stdio", command="/bin/sh", args=["-c", script], connect_timeout=20
    )
    manager = MCPManager([cfg])
    call = asyncio.create_task(manager.toolset("slow").call_tool("pid", {}))
    try:
        assert await _poll(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
        await manager.aclose()  # while the connection is being opened
        with pytest.raises(MCPServerUnavailable, match="closed"):
            await asyncio.wait_for(call, 20)
        pid = int(pidfile.read_text())
        assert await _poll(lambda: not process_alive(pid)), "stdio server outlived aclose"
        assert _owner_tasks() == []
    finally:
        call.cancel()
        await manager.aclose()
        if pidfile.exists() and process_alive(pid := int(pidfile.read_text())):
            os.kill(pid, signal.SIGKILL)


async def test_many_callers_on_a_dead_connection_reconnect_once(managers) -> None:
    manager = managers(stdio_config())
    toolset = manager.toolset("toolbox")
    pid = int((await toolset.call_tool("pid", {})).text)
    assert toolset.connect_count == 1
    os.kill(pid, signal.SIGKILL)
    assert await _poll(lambda: not process_alive(pid))
    results = await asyncio.gather(*(toolset.call_tool("pid", {}) for _ in range(8)))
    assert len({r.text for r in results}) == 1 and int(results[0].text) != pid
    assert toolset.connect_count == 2
    assert len(_owner_tasks()) == 1


async def test_caller_cancelled_mid_call_leaves_the_session_usable(managers) -> None:
    manager = managers(stdio_config())
    toolset = manager.toolset("toolbox")
    pid = (await toolset.call_tool("pid", {})).text
    slow = asyncio.create_task(toolset.call_tool("slow", {"seconds": 5}))
    await asyncio.sleep(0.2)  # let the request reach the server
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(slow, 5)
    echo = await asyncio.wait_for(toolset.call_tool("echo", {"text": "after"}), 5)
    assert echo.text == "after"
    assert (await toolset.call_tool("pid", {})).text == pid and toolset.connect_count == 1
    assert len(_owner_tasks()) == 1
