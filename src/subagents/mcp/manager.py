"""``MCPManager``: every configured MCP server's connection, started eagerly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from subagents.config.models import MCPServerConfig, MCPTokenStoreConfig
from subagents.errors import MCPServerUnavailable

from .auth import Authorizer
from .connection import MCPServerConnection
from .token_stores import create_token_store
from .tokens import TokenStore

logger = logging.getLogger("subagents.mcp")


class MCPManager:
    """Owns one :class:`MCPServerConnection` per configured server.

    Use as an async context manager (``aclose`` on exit). ``await start()`` connects the
    named servers (all by default) concurrently and lists their tools; a server that
    cannot be reached after its ``max_retries`` attempts fails the start with
    :class:`MCPServerUnavailable` naming it. ``toolset(name)`` returns the server's
    :class:`~subagents.tools.base.Toolset`, usable from any task of the event loop.

    ``project_root`` is the working directory of stdio servers (``cwd`` is relative to it).
    OAuth tokens live in ``token_store``; without one, in the store ``token_store_config``
    (endpoints.yml's ``mcp_token_store``) describes, by default
    ``.subagents/mcp-tokens.json`` under the project root (see
    :mod:`subagents.mcp.token_stores`). ``authorizer`` approves
    authorization-code logins interactively; without one (an assistant running
    unattended) a server that needs a login fails with
    :class:`~subagents.errors.MCPAuthError` naming ``subagents mcp login``.
    """

    def __init__(
        self,
        servers: Sequence[MCPServerConfig],
        *,
        project_root: str | Path | None = None,
        token_store: TokenStore | None = None,
        token_store_config: MCPTokenStoreConfig | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        root = Path(project_root) if project_root is not None else None
        self.token_store: TokenStore = token_store or create_token_store(token_store_config, root)
        self._connections: dict[str, MCPServerConnection] = {}
        for cfg in servers:
            if cfg.name in self._connections:
                raise ValueError(f"MCP server '{cfg.name}' is configured twice in mcp_servers")
            self._connections[cfg.name] = MCPServerConnection(
                cfg, project_root=root, token_store=self.token_store, authorizer=authorizer
            )

    async def __aenter__(self) -> MCPManager:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def server_names(self) -> list[str]:
        """Names of the configured servers, in configuration order."""
        return list(self._connections)

    async def start(self, names: Iterable[str] | None = None) -> None:
        """Connect the given servers (default: all) and list their tools.

        Raises :class:`MCPServerUnavailable` for the first server that could not be
        reached (every failure is logged).
        """
        selected = list(self._connections) if names is None else list(dict.fromkeys(names))
        connections = [self._get(name) for name in selected]
        results = await asyncio.gather(
            *(conn.list_tools() for conn in connections), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures[1:]:
            logger.error("mcp.start_failed", extra={"error": str(failure)})
        if failures:
            raise failures[0]

    def states(self) -> dict[str, str]:
        """``{server name: "connected" | "disconnected" | "closed"}`` (readiness reports).

        A disconnected server is reconnected on its next use.
        """
        return {name: conn.state for name, conn in self._connections.items()}

    def server_info(self) -> dict[str, dict[str, Any]]:
        """``{server name: {"state", "protocol_version", "server_info"}}`` for every
        configured server: the negotiated protocol version and what the server said
        about itself (``None`` until connected)."""
        return {
            name: {
                "state": conn.state,
                "protocol_version": conn.protocol_version,
                "server_info": conn.server_info,
            }
            for name, conn in self._connections.items()
        }

    def toolset(self, name: str) -> MCPServerConnection:
        """The toolset of server ``name`` (its tools under their own names)."""
        return self._get(name)

    def _get(self, name: str) -> MCPServerConnection:
        try:
            return self._connections[name]
        except KeyError:
            known = ", ".join(self._connections) or "none"
            raise MCPServerUnavailable(
                name, f"is not configured in endpoints.yml mcp_servers (configured: {known})"
            ) from None

    async def aclose(self) -> None:
        """Close every session and end every stdio server process."""
        await asyncio.gather(*(conn.aclose() for conn in self._connections.values()))
