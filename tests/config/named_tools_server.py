"""A stdio MCP server offering the tools named on its command line (`... a b`)."""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer


def _echo(text: str) -> str:
    """Echo the text back."""
    return text


def main() -> None:
    server = MCPServer("named-tools")
    for name in sys.argv[1:]:
        server.add_tool(_echo, name=name, description=f"tool {name}")
    server.run("stdio")


if __name__ == "__main__":
    main()
