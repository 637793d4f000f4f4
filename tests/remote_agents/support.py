"""Helpers for the A2A and MCP serving tests: small projects in temp dirs, uvicorn on
127.0.0.1 in the test's event loop, a free port."""

from __future__ import annotations

import contextlib
import socket
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from subagents.testing import serve_asgi


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def endpoints(model_url: str) -> str:
    return f"""
    model_groups:
      - id: default
        models:
          - provider: openai
            model: scripted
            api_base: {model_url}
            api_key: not-a-key
            retries: 0
            timeout: 20
    """


def open_agent(name: str, description: str) -> str:
    return f"""
    agent:
      name: {name}
      description: {description}
    configuration:
      llm:
        model_group: default
    """


@contextlib.asynccontextmanager
async def serve(app: Any, port: int) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1:``port`` in this loop; yield its URL."""
    async with serve_asgi(app, port=port) as url:
        yield url
