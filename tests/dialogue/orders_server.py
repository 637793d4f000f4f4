"""A stdio MCP server (official ``mcp`` SDK) for the flow MCP tool step tests."""

from __future__ import annotations

import asyncio
import os

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

server = MCPServer("orders", version="1.0")
_calls = {"n": 0}


class OrderStatus(BaseModel):
    order_id: str
    status: str
    items: int
    total: float
    express: bool


@server.tool()
def get_order_status(order_id: str, include_items: bool = False) -> OrderStatus:
    """The status of an order."""
    _calls["n"] += 1
    if order_id == "missing":
        raise ToolError(f"no order {order_id}")
    return OrderStatus(
        order_id=order_id,
        status="shipped" if include_items else "processing",
        items=3,
        total=42.5,
        express=order_id.startswith("X"),
    )


@server.tool()
def reserve(quantity: int, note: str) -> str:
    """Reserve ``quantity`` items; the reply is plain text."""
    return f"reserved {quantity} ({note})"


@server.tool()
def calls() -> int:
    """How many get_order_status calls this server process answered."""
    return _calls["n"]


@server.tool()
def whoami() -> str:
    """Echoes the key this server was started with (a server that leaks its env)."""
    return f"key={os.environ.get('ORDERS_KEY', '')}"


@server.tool()
async def slow(seconds: float) -> str:
    """Sleeps, then answers."""
    await asyncio.sleep(seconds)
    return "done"


if __name__ == "__main__":
    server.run("stdio")
