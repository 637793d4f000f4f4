"""Progress from real SDK servers: every call carries a progress token, reports reach the
run's hook, and a call that keeps reporting progress outlives its silence timeout."""

from __future__ import annotations

import sys

import pytest
from mcp_helpers import INTERACTIVE

from subagents.config.models import MCPServerConfig
from subagents.errors import ToolTimeoutError
from subagents.tools.base import ToolContext
from subagents.tools.interaction import ToolProgress


def interactive_stdio(**fields: object) -> MCPServerConfig:
    fields.setdefault("timeout", 10.0)
    fields.setdefault("connect_timeout", 20.0)
    return MCPServerConfig(
        name="interactive",
        type="stdio",
        command=sys.executable,
        args=[str(INTERACTIVE), "stdio"],
        **fields,  # type: ignore[arg-type]
    )


def recording_context() -> tuple[ToolContext, list[ToolProgress]]:
    seen: list[ToolProgress] = []

    async def on_progress(report: ToolProgress) -> None:
        seen.append(report)

    return ToolContext(on_progress=on_progress), seen


async def test_progress_reports_reach_the_hook(managers) -> None:
    toolset = managers(interactive_stdio()).toolset("interactive")
    context, seen = recording_context()
    outcome = await toolset.call_tool("index_files", {"count": 5, "pause": 0.01}, context)
    assert outcome.text == "indexed 5 files"
    assert [r.progress for r in seen] == [1, 2, 3, 4, 5]
    assert {(r.tool, r.source, r.total, r.message) for r in seen} == {
        ("index_files", "interactive", 5, "indexing files")
    }
    assert seen[1].describe() == "40% indexing files"


async def test_progress_restarts_the_call_timeout(managers) -> None:
    # 8 steps of 0.25 s = 2 s of work under a 0.8 s silence timeout: alive, so it completes.
    toolset = managers(interactive_stdio(timeout=0.8)).toolset("interactive")
    outcome = await toolset.call_tool("index_files", {"count": 8, "pause": 0.25})
    assert outcome.text == "indexed 8 files"


async def test_without_reset_the_timeout_bounds_the_whole_call(managers) -> None:
    cfg = interactive_stdio(timeout=0.8, progress_resets_timeout=False)
    toolset = managers(cfg).toolset("interactive")
    with pytest.raises(ToolTimeoutError, match="within 0.8 seconds"):
        await toolset.call_tool("index_files", {"count": 8, "pause": 0.25})
    # the session stays usable after the timed-out call
    assert (await toolset.call_tool("index_files", {"count": 1, "pause": 0})).text == (
        "indexed 1 files"
    )


@pytest.mark.parametrize(
    ("pin", "negotiated"), [("auto", "2026-07-28"), ("2025-11-25", "2025-11-25")]
)
async def test_negotiated_version_and_server_info_are_public(
    managers, http_server, pin: str, negotiated: str
) -> None:
    server = http_server("http", script=INTERACTIVE)
    cfg = MCPServerConfig(name="interactive", type="http", url=server.url, protocol_version=pin)
    manager = managers(cfg)
    assert manager.server_info()["interactive"]["protocol_version"] is None
    await manager.start()
    info = manager.server_info()["interactive"]
    assert info["state"] == "connected" and info["protocol_version"] == negotiated
    assert info["server_info"]["name"] == "interactive"
    # the pin holds across reconnects too
    connection = manager.toolset("interactive")
    assert connection.negotiated_mode == ("legacy" if pin != "auto" else "2026-07-28")
