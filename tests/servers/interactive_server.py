"""An MCP server (``mcp`` SDK ``MCPServer``) whose tools talk back during a call:
progress notifications, elicitation (form and URL mode) and sampling.

Run it as ``python interactive_server.py stdio`` or ``python interactive_server.py http``
(streamable HTTP on 127.0.0.1, ``--port`` 0 = any free port, ``PORT <n>`` printed once
listening). ``--legacy-only`` rejects ``server/discover`` so that clients fall back to the
2025 ``initialize`` handshake (server-to-client requests mid-call instead of the 2026
``InputRequiredResult`` rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from typing import Annotated, Any

import mcp_types as types
from mcp.server.elicitation import (
    AcceptedElicitation,
    CancelledElicitation,
    DeclinedElicitation,
    ElicitationResult,
)
from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve, Sample
from pydantic import BaseModel, Field

server = MCPServer("interactive", version="1.0")


@server.tool()
async def index_files(count: int, ctx: Context, pause: float = 0.05) -> str:
    """Index ``count`` files, reporting progress after each one."""
    for done in range(1, count + 1):
        await asyncio.sleep(pause)
        await ctx.report_progress(done, count, "indexing files")
    return f"indexed {count} files"


class Booking(BaseModel):
    date: str = Field(description="Day of the visit, YYYY-MM-DD")
    guests: int = Field(default=2, description="How many people", ge=1, le=12)
    terrace: bool = Field(default=False, description="Sit outside")


def _want_booking() -> Elicit[Booking]:
    return Elicit("Which day, and for how many people?", Booking)


@server.tool()
def book_table(
    outcome: Annotated[ElicitationResult[Booking], Resolve(_want_booking)],
) -> str:
    """Book a table; asks the user for the day and the party size."""
    match outcome:
        case AcceptedElicitation(data=booking):
            where = "on the terrace" if booking.terrace else "inside"
            return f"booked {booking.date} for {booking.guests} {where}"
        case DeclinedElicitation():
            return "the user declined to book"
        case CancelledElicitation():
            return "the user cancelled the booking"
    return "unexpected elicitation outcome"


@server.tool()
async def pay_invoice(ctx: Context) -> str:
    """Sends the user to a payment page (URL mode elicitation)."""
    result = await ctx.elicit_url(
        "Please pay the invoice on the payment page.",
        "https://pay.example.test/invoice/42",
        "invoice-42",
    )
    return f"payment page: {result.action}"


def _want_summary(text: str) -> Sample:
    message = types.SamplingMessage(
        role="user", content=types.TextContent(type="text", text=f"Summarize: {text}")
    )
    return Sample([message], max_tokens=50, system_prompt="You write one-line summaries.")


@server.tool()
def summarize(
    text: str, sampled: Annotated[types.CreateMessageResult, Resolve(_want_summary)]
) -> str:
    """Summarize a text with the client's model (sampling)."""
    content = sampled.content
    said = content.text if isinstance(content, types.TextContent) else str(content)
    return f"summary by {sampled.model}: {said}"


class _LegacyOnly:
    """ASGI wrapper: refuse ``server/discover`` so clients use the 2025 handshake."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        if scope["type"] == "http" and "server/discover" in headers.get("mcp-method", ""):
            start = {"type": "http.response.start", "status": 404, "headers": []}
            await send(start)
            await send({"type": "http.response.body", "body": b"not found"})
            return
        await self.app(scope, receive, send)


def _serve_http(port: int, legacy_only: bool) -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    app: Any = server.streamable_http_app()
    if legacy_only:
        app = _LegacyOnly(app)
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))

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
    parser.add_argument("transport", choices=["stdio", "http"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--legacy-only", action="store_true")
    parser.add_argument("--record", default=None)  # accepted for the test helper; unused
    args = parser.parse_args()
    if args.transport == "stdio":
        server.run("stdio")
    else:
        _serve_http(args.port, args.legacy_only)
    sys.exit(0)


if __name__ == "__main__":
    main()
