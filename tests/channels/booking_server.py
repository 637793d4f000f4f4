"""A small MCP server for the serving tests: appointment slots and a clinic FAQ (stdio)."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("booking", version="1.0")


@server.tool()
def available_dates(doctor: str) -> list[str]:
    """Dates on which the doctor has free appointments."""
    return ["2026-03-02", "2026-03-04"] if doctor else []


@server.tool()
def opening_hours() -> str:
    """The clinic's opening hours."""
    return "Mon-Fri 08:00-18:00"


if __name__ == "__main__":
    server.run("stdio")
