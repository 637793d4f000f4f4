"""Connection attempts: a failed connection is retried, a programming error is not."""

from __future__ import annotations

from typing import Any

import pytest

from subagents.config.models import MCPServerConfig
from subagents.errors import MCPServerUnavailable
from subagents.mcp.connection import MCPServerConnection


class _Failing(MCPServerConnection):
    """Opens fail with ``error`` (stands in for a bug or an unreachable server)."""

    backoff_base = 0.001

    def __init__(self, error: Exception) -> None:
        cfg = MCPServerConfig(name="s", type="http", url="http://127.0.0.1:9/mcp", max_retries=3)
        super().__init__(cfg)
        self.error = error
        self.attempts = 0

    async def _open(self) -> Any:
        self.attempts += 1
        raise self.error


async def test_a_programming_error_is_raised_at_once_not_retried() -> None:
    conn = _Failing(TypeError("bad call in our code"))
    with pytest.raises(TypeError, match="bad call"):
        await conn.connect()
    assert conn.attempts == 1
    await conn.aclose()


async def test_an_unreachable_server_is_retried_then_unavailable() -> None:
    conn = _Failing(ConnectionRefusedError("refused"))
    with pytest.raises(MCPServerUnavailable):
        await conn.connect()
    assert conn.attempts == 3
    await conn.aclose()
