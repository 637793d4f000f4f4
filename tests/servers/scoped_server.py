"""An SDK streamable-HTTP MCP server whose ``admin_reset`` tool needs the ``admin`` scope.

``python scoped_server.py http --port 0 [--grantable tools]`` binds 127.0.0.1 and prints
``PORT <n>``. The small authorization server of ``oauth_gate.py`` is in front: the first
login asks for ``tools``; calling ``admin_reset`` with a token without ``admin`` gets 403
``insufficient_scope`` with ``scope="admin"`` (step-up). ``--grantable tools`` makes the
authorization server never grant ``admin`` (the step-up cannot succeed). ``--record`` is
accepted and ignored (the tests' server fixture passes it).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from typing import Any

from mcp.server.mcpserver import MCPServer

server = MCPServer("scoped", version="1.0")
_resets = {"n": 0}


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged (needs the ``tools`` scope, as every call)."""
    return text


@server.tool()
def admin_reset() -> str:
    """Reset the counters (needs the ``admin`` scope)."""
    _resets["n"] += 1
    return f"reset {_resets['n']}"


def serve(port: int, grantable: set[str] | None) -> None:
    import uvicorn
    from oauth_gate import OAuthGate

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    asgi: Any = OAuthGate(
        server.streamable_http_app(),
        base,
        tool_scopes={"admin_reset": "admin"},
        grantable=grantable,
    )
    uv = uvicorn.Server(uvicorn.Config(asgi, log_level="warning", lifespan="on"))

    async def main() -> None:
        task = asyncio.create_task(uv.serve(sockets=[sock]))
        while not uv.started:
            if task.done():
                await task
                return
            await asyncio.sleep(0.01)
        print(f"PORT {sock.getsockname()[1]}", flush=True)
        await task

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("transport", choices=["http"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--record", default=None)
    parser.add_argument("--grantable", default=None, help="space-separated scopes")
    args = parser.parse_args()
    serve(args.port, set(args.grantable.split()) if args.grantable else None)


if __name__ == "__main__":
    main()
