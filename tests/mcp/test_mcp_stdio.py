"""MCP over stdio against real servers: the toolbox (SDK) server and mcp-server-time."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from mcp_helpers import process_alive, stdio_config, wait_until_dead

from subagents.config.models import MCPServerConfig
from subagents.errors import (
    MCPServerUnavailable,
    MCPTransportError,
    ToolExecutionError,
    ToolTimeoutError,
    UnknownToolError,
)
from subagents.mcp import MCPManager
from subagents.tools.base import FilteredToolset, Toolset


async def test_lists_tools_as_published_and_calls_them(managers) -> None:
    manager = managers(stdio_config())
    await manager.start()
    toolset = manager.toolset("toolbox")
    assert isinstance(toolset, Toolset)
    tools = {t.name: t for t in await toolset.list_tools()}
    assert {"echo", "increment", "weather", "slow"} <= set(tools)
    echo = tools["echo"]
    assert echo.description == "Echo the text back."
    assert echo.input_schema["properties"]["text"]["type"] == "string"
    assert echo.annotations == {"readOnlyHint": True}
    assert echo.source == "toolbox" and echo.strict is False

    outcome = await toolset.call_tool("echo", {"text": "hello"})
    assert outcome.text == "hello" and not outcome.is_error
    # structured output duplicated as text is sent once
    weather = await toolset.call_tool("weather", {"city": "Paris"})
    assert weather.text.count("Paris") == 1 and weather.structured["temperature"] == 21.5


async def test_tool_errors_are_outcomes_or_signals(managers) -> None:
    manager = managers(stdio_config())
    toolset = manager.toolset("toolbox")
    failed = await toolset.call_tool("fail", {"reason": "no luck"})
    assert failed.is_error and "failed because no luck" in failed.text
    unknown = await toolset.call_tool("nope", {})
    assert unknown.is_error and "nope" in unknown.text
    # the server asks for sampling (not allowed): refused quickly, never hangs
    with pytest.raises(ToolExecutionError, match="ask_model"):
        await asyncio.wait_for(toolset.call_tool("ask_model", {}), 10)
    # a question (elicitation) with nobody to ask (no ask_user in the context): declined
    declined = await asyncio.wait_for(toolset.call_tool("ask_user", {}), 10)
    assert declined.is_error and "decline" in declined.text
    # roots are answered with an empty list; log notifications are tolerated
    assert (await toolset.call_tool("roots", {})).text == "roots: 0"
    assert (await toolset.call_tool("chatty", {})).text == "done talking"


async def test_filtered_toolset_hides_and_refuses(managers) -> None:
    manager = managers(stdio_config())
    await manager.start()
    only = FilteredToolset(manager.toolset("toolbox"), include=["echo", "pid"])
    assert sorted(t.name for t in await only.list_tools()) == ["echo", "pid"]
    with pytest.raises(UnknownToolError):
        await only.call_tool("increment", {})
    without = FilteredToolset(manager.toolset("toolbox"), exclude=["increment"])
    names = {t.name for t in await without.list_tools()}
    assert "increment" not in names and "echo" in names
    with pytest.raises(UnknownToolError):
        await without.call_tool("increment", {})
    # the refused call never reached the server
    assert (await manager.toolset("toolbox").call_tool("increment", {})).text == "1"


async def test_env_only_what_config_names_and_cwd(managers, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SUBAGENTS_TEST_LEAK", "should-not-pass")
    (tmp_path / "work").mkdir()
    cfg = stdio_config(env={"GREETING": "bonjour"}, cwd="work")
    manager = managers(cfg, project_root=tmp_path)
    toolset = manager.toolset("toolbox")
    assert (await toolset.call_tool("env", {"name": "GREETING"})).text == "bonjour"
    assert (await toolset.call_tool("env", {"name": "SUBAGENTS_TEST_LEAK"})).text == "<unset>"
    assert (await toolset.call_tool("env", {"name": "PATH"})).text != "<unset>"
    assert Path((await toolset.call_tool("cwd", {})).text) == (tmp_path / "work").resolve()


async def test_timeout_raises_and_session_stays_usable(managers) -> None:
    manager = managers(stdio_config(timeout=0.5))
    toolset = manager.toolset("toolbox")
    pid = (await toolset.call_tool("pid", {})).text
    with pytest.raises(ToolTimeoutError, match="0.5 seconds"):
        await toolset.call_tool("slow", {"seconds": 5})
    assert (await toolset.call_tool("echo", {"text": "still here"})).text == "still here"
    assert (await toolset.call_tool("pid", {})).text == pid  # same process, no reconnect


async def test_reconnects_after_the_server_is_killed(managers) -> None:
    manager = managers(stdio_config())
    toolset = manager.toolset("toolbox")
    pid = int((await toolset.call_tool("pid", {})).text)
    os.kill(pid, signal.SIGKILL)
    assert wait_until_dead(pid)
    # read-only tool: works on a new process whether or not the death was noticed yet
    outcome = await toolset.call_tool("pid", {})
    assert int(outcome.text) != pid
    assert outcome.reconnected  # the inspector marks the call
    assert (await toolset.call_tool("increment", {})).text == "1"  # fresh server state


async def test_non_idempotent_call_is_not_retried_after_transport_death(managers) -> None:
    manager = managers(stdio_config())
    toolset = manager.toolset("toolbox")
    assert (await toolset.call_tool("increment", {})).text == "1"
    with pytest.raises(MCPTransportError, match="crash.*may have run"):
        await toolset.call_tool("crash", {})
    # next use reconnects to a new process
    assert (await toolset.call_tool("increment", {})).text == "1"


async def test_idempotent_call_is_retried_once_after_transport_death(managers, tmp_path) -> None:
    manager = managers(stdio_config())
    toolset = manager.toolset("toolbox")
    marker = tmp_path / "crashed-once"
    outcome = await toolset.call_tool("crash_idempotent", {"marker": str(marker)})
    assert outcome.text == "survived" and marker.exists()
    assert outcome.retried and outcome.reconnected  # the inspector marks the call


async def test_server_dying_at_start_names_it_with_stderr(managers) -> None:
    cfg = MCPServerConfig(
        name="broken",
        type="stdio",
        command=sys.executable,
        args=["-c", "import sys; sys.stderr.write('boom: missing module foo\\n'); sys.exit(3)"],
        max_retries=2,
    )
    manager = managers(cfg)
    with pytest.raises(MCPServerUnavailable) as info:
        await manager.start()
    text = str(info.value)
    assert info.value.server == "broken"
    assert "MCP server 'broken'" in text and "2 attempt(s)" in text
    assert "boom: missing module foo" in text


async def test_missing_command_is_unavailable(managers) -> None:
    cfg = MCPServerConfig(name="ghost", type="stdio", command="/nonexistent/server", max_retries=1)
    with pytest.raises(MCPServerUnavailable, match="ghost.*nonexistent"):
        await managers(cfg).start()


async def test_list_changed_refreshes_the_cached_list(managers) -> None:
    manager = managers(stdio_config())
    toolset = manager.toolset("toolbox")
    assert "dyn" not in {t.name for t in await toolset.list_tools()}
    await toolset.call_tool("add_tool", {"name": "dyn"})
    deadline = asyncio.get_running_loop().time() + 10
    names: set[str] = set()
    while "dyn" not in names and asyncio.get_running_loop().time() < deadline:
        names = {t.name for t in await toolset.list_tools()}
        await asyncio.sleep(0.02)
    assert "dyn" in names
    assert (await toolset.call_tool("dyn", {})).text == "I am dyn"


async def test_tools_version_is_bumped_by_list_changed(managers) -> None:
    manager = managers(stdio_config())
    toolset = manager.toolset("toolbox")
    await toolset.list_tools()
    before = toolset.tools_version
    await toolset.call_tool("add_tool", {"name": "dyn2"})
    for _ in range(500):  # bounded: at most ~10 s
        if toolset.tools_version > before:
            break
        await asyncio.sleep(0.02)
    assert toolset.tools_version > before
    assert "dyn2" in {t.name for t in await toolset.list_tools()}


async def test_tool_list_is_cached(managers) -> None:
    manager = managers(stdio_config())
    toolset = manager.toolset("toolbox")
    first = await toolset.list_tools()
    second = await toolset.list_tools()
    assert [t.name for t in first] == [t.name for t in second]
    assert first[0] is second[0]  # same cached specs, no re-listing


async def test_concurrent_calls_from_many_tasks(managers) -> None:
    manager = managers(stdio_config())
    toolset = manager.toolset("toolbox")
    results = await asyncio.gather(
        *(toolset.call_tool("echo", {"text": str(i)}) for i in range(20)),
        toolset.call_tool("slow", {"seconds": 0.2}),
    )
    assert [r.text for r in results[:20]] == [str(i) for i in range(20)]


async def test_aclose_ends_children_and_tasks(tmp_path) -> None:
    manager = MCPManager([stdio_config(), stdio_config("second")])
    async with manager:
        await manager.start()
        pids = [
            int((await manager.toolset(n).call_tool("pid", {})).text) for n in ("toolbox", "second")
        ]
        assert all(process_alive(p) for p in pids)
    assert not any(process_alive(p) for p in pids)
    leftover = [t for t in asyncio.all_tasks() if t.get_name().startswith("mcp-server:")]
    assert leftover == []
    with pytest.raises(MCPServerUnavailable, match="closed"):
        await manager.toolset("toolbox").call_tool("echo", {"text": "x"})


async def test_unknown_server_name(managers) -> None:
    manager = managers(stdio_config())
    with pytest.raises(MCPServerUnavailable, match="nope.*not configured.*toolbox"):
        manager.toolset("nope")


async def test_third_party_mcp_server_time(managers) -> None:
    cfg = MCPServerConfig(
        name="time",
        type="stdio",
        command=sys.executable,
        args=["-m", "mcp_server_time", "--local-timezone", "UTC"],
        timeout=20,
    )
    manager = managers(cfg)
    await manager.start()
    toolset = manager.toolset("time")
    names = {t.name for t in await toolset.list_tools()}
    assert {"get_current_time", "convert_time"} <= names
    outcome = await toolset.call_tool("get_current_time", {"timezone": "Europe/Paris"})
    assert not outcome.is_error and outcome.structured["timezone"] == "Europe/Paris"
    assert outcome.text.count("Europe/Paris") == 1  # text and structured content sent once
    bad = await toolset.call_tool("get_current_time", {"timezone": "Mars/Olympus"})
    assert bad.is_error and "Invalid timezone" in bad.text
