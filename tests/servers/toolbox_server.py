"""An MCP server for the tests of ``subagents.mcp``, written with the ``mcp`` SDK.

Run it as ``python toolbox_server.py stdio`` (stdio), ``python toolbox_server.py http``
(streamable HTTP) or ``python toolbox_server.py sse``. HTTP servers bind 127.0.0.1 on
``--port`` (0 = any free port) and print ``PORT <n>`` on stdout once listening.
``--record FILE`` appends one JSON line per HTTP request with its headers, so tests can
check what the client sent. ``--legacy-only`` rejects ``server/discover`` so clients fall
back to the 2025 ``initialize`` handshake (a stateful, session-id-carrying server).
``--session-400`` answers a request with an unknown session id with HTTP 400 and a
JSON-RPC error, as servers built on the TypeScript SDK do (the Python SDK answers 404).
``--oauth`` puts a small OAuth authorization server in front (see ``oauth_gate.py``);
``--token-ttl`` sets its access tokens' lifetime in seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import socket
import sys
from typing import Annotated, Any

import mcp_types as types
from mcp.server.mcpserver import (
    Audio,
    Context,
    Elicit,
    Image,
    ListRoots,
    MCPServer,
    Resolve,
    Sample,
)
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

server = MCPServer("toolbox", version="1.0")
_counter = {"n": 0}


class Weather(BaseModel):
    city: str
    temperature: float


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def echo(text: str) -> str:
    """Echo the text back."""
    return text


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def pid() -> str:
    """The server's process id."""
    return str(os.getpid())


@server.tool()
def increment() -> str:
    """Add one to a counter (not idempotent)."""
    _counter["n"] += 1
    return str(_counter["n"])


@server.tool()
def crash() -> str:
    """Kill this server process in the middle of the call (not idempotent)."""
    os._exit(7)


@server.tool(annotations=ToolAnnotations(idempotentHint=True))
def crash_idempotent(marker: str) -> str:
    """Kill the server the first time (marker file absent), answer the second time."""
    if not os.path.exists(marker):
        with open(marker, "w") as fh:
            fh.write("x")
        os._exit(7)
    return "survived"


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def weather(city: str) -> Weather:
    """Structured output: the text content duplicates structuredContent."""
    return Weather(city=city, temperature=21.5)


@server.tool()
def structured_only() -> types.CallToolResult:
    """Structured content with no text block."""
    return types.CallToolResult(content=[], structured_content={"a": 1, "b": [1, 2]})


@server.tool()
def read_text_file(lines: int) -> types.CallToolResult:
    """Like server-filesystem's read_text_file: the text again as {"content": text}."""
    body = "".join(f"line {i}\n" for i in range(lines))
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=body)], structured_content={"content": body}
    )


@server.tool()
def read_graph() -> types.CallToolResult:
    """Like server-memory's read_graph: the graph as JSON text and as structured content."""
    graph = {
        "entities": [{"name": "Ada", "entityType": "person", "observations": ["wrote notes"]}],
        "relations": [],
    }
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(graph, indent=2))],
        structured_content=graph,
    )


@server.tool()
def read_media_file() -> types.CallToolResult:
    """Like server-filesystem's read_media_file: the image's base64 in both places."""
    data = base64.b64encode(PNG_1PX * 200).decode()
    block = {"type": "image", "data": data, "mimeType": "image/png"}
    return types.CallToolResult(
        content=[types.ImageContent(type="image", data=data, mime_type="image/png")],
        structured_content={"content": [block]},
    )


@server.tool()
def media_structured_only() -> types.CallToolResult:
    """Structured content only, holding base64 media."""
    data = base64.b64encode(PNG_1PX * 200).decode()
    return types.CallToolResult(content=[], structured_content={"image": data, "name": "dot"})


@server.tool()
def picture() -> types.CallToolResult:
    """An image and a caption."""
    return types.CallToolResult(
        content=[
            types.TextContent(type="text", text="a red pixel"),
            Image(data=PNG_1PX, format="png").to_image_content(),
        ]
    )


@server.tool()
def sound() -> types.CallToolResult:
    """A short audio clip."""
    return types.CallToolResult(
        content=[Audio(data=b"RIFF0000WAVE", format="wav").to_audio_content()]
    )


@server.tool()
def resources() -> types.CallToolResult:
    """Embedded text and binary resources and a resource link."""
    return types.CallToolResult(
        content=[
            types.EmbeddedResource(
                type="resource",
                resource=types.TextResourceContents(
                    uri="file:///notes.txt", mime_type="text/plain", text="note body"
                ),
            ),
            types.EmbeddedResource(
                type="resource",
                resource=types.BlobResourceContents(
                    uri="file:///data.bin",
                    mime_type="application/octet-stream",
                    blob=base64.b64encode(b"\x00" * 2048).decode(),
                ),
            ),
            types.ResourceLink(
                type="resource_link", uri="file:///big.csv", name="big.csv", mime_type="text/csv"
            ),
        ]
    )


@server.tool()
def audience() -> types.CallToolResult:
    """One block for the user only, one for the assistant."""
    return types.CallToolResult(
        content=[
            types.TextContent(
                type="text",
                text="for the user only",
                annotations=types.Annotations(audience=["user"]),
            ),
            types.TextContent(
                type="text",
                text="for the model",
                annotations=types.Annotations(audience=["assistant"]),
            ),
        ]
    )


@server.tool()
def fail(reason: str) -> str:
    """Always fails with the reason."""
    raise ToolError(f"failed because {reason}")


@server.tool()
def big(size: int) -> str:
    """Return a text of ``size`` characters."""
    return "x" * size


@server.tool()
async def chatty(ctx: Context) -> str:
    """Sends log messages while working."""
    for i in range(3):
        await ctx.info(f"step {i}")
    return "done talking"


def _want_sample() -> Sample:
    message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text="hi"))
    return Sample([message], max_tokens=5)


@server.tool()
def ask_model(sampled: Annotated[types.CreateMessageResult, Resolve(_want_sample)]) -> str:
    """Asks the client for sampling (must be declined)."""
    return f"sampled: {sampled}"


@server.tool()
async def ask_model_raw(ctx: Context) -> str:
    """Sends a sampling request mid-call on 2025 connections, whatever the client declared."""
    message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text="hi"))
    result = await ctx.session.create_message(messages=[message], max_tokens=5)
    return f"sampled: {result}"


class Answer(BaseModel):
    answer: str


def _want_answer() -> Elicit[Answer]:
    return Elicit("Your name?", Answer)


@server.tool()
def ask_user(answer: Annotated[Answer, Resolve(_want_answer)]) -> str:
    """Asks the client for elicitation (must be declined)."""
    return f"elicited: {answer}"


def _want_roots() -> ListRoots:
    return ListRoots()


@server.tool()
def roots(found: Annotated[types.ListRootsResult, Resolve(_want_roots)]) -> str:
    """Lists the client's roots."""
    return f"roots: {len(found.roots)}"


@server.tool()
async def add_tool(name: str, ctx: Context) -> str:
    """Register a new tool and tell the client the list changed."""

    def dynamic() -> str:
        return f"I am {name}"

    server.add_tool(dynamic, name=name, description=f"dynamic tool {name}")
    await ctx.notify_tools_changed()
    with contextlib.suppress(Exception):  # 2026 connections have no standalone channel
        await ctx.session.send_tool_list_changed()
    return f"added {name}"


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def env(name: str) -> str:
    """The value of an environment variable in the server ('<unset>' if missing)."""
    return os.environ.get(name, "<unset>")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def trace_meta(ctx: Context) -> str:
    """The trace context this call carried: ``params._meta.traceparent`` and the HTTP
    ``traceparent`` header ('-' when absent), so tests can check propagation."""
    meta = ctx.request_context.meta or {}
    headers = ctx.headers or {}
    return json.dumps(
        {"meta": meta.get("traceparent") or "-", "header": headers.get("traceparent", "-")}
    )


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def cwd() -> str:
    """The server's working directory."""
    return os.getcwd()


# --------------------------------------------------------------------------- HTTP helpers


class _Recorder:
    """ASGI middleware: appends each HTTP request's headers to a JSONL file."""

    def __init__(
        self, app: Any, path: str | None, legacy_only: bool, session_400: bool = False
    ) -> None:
        self.app = app
        self.path = path
        self.legacy_only = legacy_only
        self.session_400 = session_400

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if self.path:
            with open(self.path, "a") as fh:  # noqa: ASYNC230 - tiny test log
                fh.write(json.dumps({"method": scope["method"], "headers": headers}) + "\n")
        if self.legacy_only and "server/discover" in headers.get("mcp-method", ""):
            body = json.dumps(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32601, "message": "nope"}}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [(b"content-type", b"text/plain")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if self.session_400 and "mcp-session-id" in headers:
            send = _session_404_as_400(send)
        await self.app(scope, receive, send)


def _session_404_as_400(send: Any) -> Any:
    """Rewrite "unknown session" (404) into the TypeScript SDK's 400 answer."""
    replaced = {"active": False}

    async def wrapped(message: Any) -> None:
        if message["type"] == "http.response.start" and message["status"] == 404:
            replaced["active"] = True
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            return
        if replaced["active"] and message["type"] == "http.response.body":
            error = {"code": -32000, "message": "Bad Request: No valid session ID provided"}
            body = json.dumps({"jsonrpc": "2.0", "error": error, "id": None}).encode()
            await send({"type": "http.response.body", "body": body})
            return
        await send(message)

    return wrapped


def _serve_http(kind: str, port: int, record: str | None, legacy_only: bool, **opts: Any) -> None:
    import uvicorn

    app = server.sse_app() if kind == "sse" else server.streamable_http_app()
    # proto=IPPROTO_TCP so that asyncio sets TCP_NODELAY on accepted connections
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    asgi: Any = _Recorder(app, record, legacy_only, opts.get("session_400", False))
    if opts.get("oauth"):
        from oauth_gate import OAuthGate

        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        asgi = OAuthGate(asgi, base, token_ttl=opts.get("token_ttl", 3600.0))
    config = uvicorn.Config(asgi, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)

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
    parser.add_argument("transport", choices=["stdio", "http", "sse"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--record", default=None)
    parser.add_argument("--legacy-only", action="store_true")
    parser.add_argument("--session-400", action="store_true")
    parser.add_argument("--oauth", action="store_true")
    parser.add_argument("--token-ttl", type=float, default=3600.0)
    args = parser.parse_args()
    if args.transport == "stdio":
        print("toolbox starting", file=sys.stderr, flush=True)
        server.run("stdio")
    else:
        _serve_http(
            args.transport,
            args.port,
            args.record,
            args.legacy_only,
            session_400=args.session_400,
            oauth=args.oauth,
            token_ttl=args.token_ttl,
        )


if __name__ == "__main__":
    main()
