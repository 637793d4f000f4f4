"""``validate_project(connect=True)``: real stdio MCP servers, tool names checked live."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from config_helpers import write

from subagents.agents.validate import validate_project

SERVER = Path(__file__).with_name("named_tools_server.py")


def _project(root: Path, agent_servers: str) -> Path:
    shutil.copy(SERVER, root / "named_tools_server.py")
    py = sys.executable
    return write(
        root,
        {
            "endpoints.yml": f"""
            mcp_servers:
              - name: alpha
                type: stdio
                command: {py}
                args: [named_tools_server.py, search, fetch]
              - name: beta
                type: stdio
                command: {py}
                args: [named_tools_server.py, fetch, book]
              - name: broken
                type: stdio
                command: {py}
                args: [-c, "import sys; sys.stderr.write('no luck here'); sys.exit(3)"]
                max_retries: 1
                connect_timeout: 10
            """,
            "flows.yml": "flows:\n  help:\n    steps:\n      - call: helper\n",
            "sub_agents/helper/config.yml": "agent:\n  name: helper\nconnections:\n"
            + "  mcp_servers:\n"
            + agent_servers,
        },
    )


def test_connect_checks_tool_names_against_live_servers(tmp_path: Path) -> None:
    _project(
        tmp_path,
        "    - name: alpha\n"
        "      include_tools: [fetch, serch]\n"
        "    - name: beta\n"
        "      exclude_tools: [book]\n",
    )

    found = [str(p) for p in validate_project(tmp_path, connect=True, env={})]

    assert found[0].startswith("endpoints.yml:10: mcp_servers[2].name: MCP server 'broken'")
    assert "no luck here" in found[0]  # the server's stderr tail, on the same line
    assert found[1:] == [
        "sub_agents/helper/config.yml:6: warning: connections.mcp_servers[0].include_tools[1]:"
        " server 'alpha' offers no tool 'serch' (it offers: fetch, search)",
        "sub_agents/helper/config.yml:7: connections.mcp_servers[1].name: tool 'fetch' is"
        " offered by both 'alpha' and 'beta'; exclude it from one of them"
        " (exclude_tools: [fetch])",
    ]
    # Without connect nothing is started, so nothing of this is known.
    assert validate_project(tmp_path, env={}) == []
