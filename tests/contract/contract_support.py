"""Helpers of the contract tests: projects written as YAML text, served over real HTTP."""

from __future__ import annotations

import contextlib
import socket
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from subagents.dialogue.assistant import Assistant
from subagents.server import create_app
from subagents.testing import serve_asgi

ROOT = Path(__file__).resolve().parents[2]
TOOLBOX_SERVER = ROOT / "tests" / "servers" / "toolbox_server.py"
PYTHON = sys.executable


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` (dedented) under ``root``; return ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def toolbox_stdio(name: str = "toolbox", extra: str = "") -> str:
    """An ``mcp_servers`` entry (YAML) for the test MCP server over stdio."""
    entry = (
        f"  - name: {name}\n"
        f"    type: stdio\n"
        f"    command: {PYTHON}\n"
        f'    args: ["{TOOLBOX_SERVER}", "stdio"]\n'
    )
    return (
        entry
        + textwrap.indent(textwrap.dedent(extra).strip("\n"), "    ")
        + ("\n" if extra else "")
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(assistant: Assistant) -> AsyncIterator[httpx.AsyncClient]:
    """Serve ``assistant`` with uvicorn on 127.0.0.1; yield a client for it."""
    async with (
        serve_asgi(create_app(assistant)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield client


async def say(client: httpx.AsyncClient, sender: str, text: str) -> list[dict[str, Any]]:
    """POST one message over REST; assert HTTP 200; return the bot messages."""
    response = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
    assert response.status_code == 200, response.text
    return list(response.json())


def call(tool: str, /, **arguments: Any) -> dict[str, Any]:
    """A scripted model reply step that calls one tool."""
    return {"tool_calls": [{"name": tool, "arguments": arguments}]}
