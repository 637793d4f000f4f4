"""Pytest fixtures for testing assistants and agents against the scripted model.

Enable with ``pytest_plugins = ["subagents.testing.pytest_plugin"]`` in ``conftest.py``.

* ``scripted_model``: async factory, ``srv = await scripted_model([...steps])`` returns a
  started :class:`ScriptedModelServer` (stopped at teardown).
* ``scripted_model_sync``: the same for sync tests (server runs in a thread).
* ``free_port``: a free TCP port on 127.0.0.1.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from subagents.testing.server import ScriptedModelServer

ScenarioArg = Sequence[Any] | Mapping[str, Any] | str | Path


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest_asyncio.fixture
async def scripted_model() -> AsyncIterator[
    Callable[[ScenarioArg], Awaitable[ScriptedModelServer]]
]:
    """Factory: ``await scripted_model(steps)`` → a started scripted model server."""
    servers: list[ScriptedModelServer] = []

    async def start(scenario: ScenarioArg) -> ScriptedModelServer:
        server = ScriptedModelServer(scenario)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.aclose()


@pytest.fixture
def scripted_model_sync() -> Iterator[Callable[[ScenarioArg], ScriptedModelServer]]:
    """Factory for sync tests: ``scripted_model_sync(steps)`` → a server in a thread."""
    servers: list[ScriptedModelServer] = []

    def start(scenario: ScenarioArg) -> ScriptedModelServer:
        server = ScriptedModelServer(scenario).start_in_thread()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
