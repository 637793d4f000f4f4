"""A stdio MCP server whose tool name clashes with a ``set_slot_*`` built-in."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("crm", version="1.0")


@server.tool()
def set_slot_city(slot_value: str) -> str:
    """Store the city in the CRM."""
    return f"stored {slot_value}"


@server.tool()
def lookup(name: str) -> str:
    """Look a customer up."""
    return f"{name}: gold customer"


if __name__ == "__main__":
    server.run("stdio")
