"""A real MCP server with 20 small tools, for benchmarks.

Run over stdio (default) or streamable HTTP::

    python benchmarks/bench_mcp_server.py                 # stdio
    python benchmarks/bench_mcp_server.py --http --port 0 # prints "listening <url>" on stdout

Every tool answers instantly with a short text, so what a benchmark measures is the client
side (framework) cost, not the tool.
"""

from __future__ import annotations

import argparse
import json
import socket

from mcp.server.mcpserver import MCPServer

server = MCPServer("bench")

# Twenty tools with realistic names, descriptions and argument shapes (strings, integers,
# enums, optional values), so the tools JSON sent to the model has a realistic size.
_TOOL_NAMES = [
    "get_weather",
    "get_forecast",
    "search_products",
    "get_product",
    "check_stock",
    "list_categories",
    "get_price",
    "find_store",
    "get_opening_hours",
    "book_appointment",
    "cancel_appointment",
    "list_appointments",
    "get_order_status",
    "track_shipment",
    "get_exchange_rate",
    "convert_units",
    "lookup_customer",
    "get_loyalty_points",
    "translate_text",
    "get_news",
]


def _register(name: str) -> None:
    async def tool(query: str, limit: int = 3, unit: str | None = None) -> str:
        return json.dumps({"tool": name, "query": query, "limit": limit, "items": ["a", "b"]})

    tool.__name__ = name
    tool.__doc__ = (
        f"{name.replace('_', ' ').capitalize()} for the given query. "
        "Returns at most `limit` results as JSON; `unit` selects the unit system."
    )
    server.tool(name=name)(tool)


for _name in _TOOL_NAMES:
    _register(_name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    """Serve the bench tools over stdio or streamable HTTP on 127.0.0.1."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.http:
        server.run("stdio")
        return
    port = args.port or _free_port()
    print(f"listening http://127.0.0.1:{port}/mcp", flush=True)
    server.settings.log_level = "WARNING"
    server.run("streamable-http", host="127.0.0.1", port=port)


if __name__ == "__main__":
    main()
