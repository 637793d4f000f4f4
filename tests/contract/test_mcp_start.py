"""MCP servers at start: a tool filter naming a tool the server does not offer is a
warning (logged when the agents load), not an error."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from contract_support import toolbox_stdio, write_project

from subagents import load_agents


async def test_unknown_names_in_tool_filters_are_warned_about_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = write_project(
        tmp_path / "p",
        {
            "endpoints.yml": "mcp_servers:\n" + toolbox_stdio(),
            "sub_agents/helper/config.yml": """
                agent:
                  name: helper
                connections:
                  mcp_servers:
                    - name: toolbox
                      include_tools: [echo, ecko]
                """,
        },
    )
    caplog.set_level(logging.WARNING, logger="subagents")
    async with load_agents(root) as agents:
        tools = sorted(agents.get("helper").toolbox.model_names)
    assert tools == ["echo", "task_completed"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        w.startswith(
            "sub_agents/helper/config.yml: include_tools: server 'toolbox' offers no tool 'ecko'"
        )
        for w in warnings
    ), warnings
