"""Fixtures of the MCP tests (helpers live in mcp_helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from mcp_helpers import HttpServerProcess

from subagents.mcp import MCPManager, MCPServerConnection


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconnect backoff shortened so failure tests stay fast."""
    monkeypatch.setattr(MCPServerConnection, "backoff_base", 0.05)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[Callable[..., HttpServerProcess]]:
    """Factory: start the toolbox server over HTTP/SSE; every one is killed at teardown."""
    started: list[HttpServerProcess] = []

    def start(kind: str = "http", **kwargs: Any) -> HttpServerProcess:
        kwargs.setdefault("record", tmp_path / f"requests-{len(started)}.jsonl")
        server = HttpServerProcess(kind, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest_asyncio.fixture
async def managers() -> AsyncIterator[Callable[..., MCPManager]]:
    """Factory: MCPManager instances closed at teardown (even when a test fails)."""
    made: list[MCPManager] = []

    def make(*servers: Any, **kwargs: Any) -> MCPManager:
        manager = MCPManager(list(servers), **kwargs)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        await manager.aclose()
