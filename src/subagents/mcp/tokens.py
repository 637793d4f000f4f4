"""Where OAuth tokens for MCP servers live between runs.

``subagents mcp login SERVER`` stores what the authorization server granted (tokens and
the client registration) in a :class:`TokenStore`; at run time the connection reads it,
refreshes expired tokens and writes the new ones back. The default store is a JSON file
under ``.subagents/`` that only its owner can read (mode 0600); ``mcp_token_store`` in
endpoints.yml picks SQLite, PostgreSQL or Redis instead (:mod:`subagents.mcp.token_stores`),
and any object with the four methods of :class:`TokenStore` can replace it.

A record is keyed by the server's name *and* URL, so pointing a name at another server
never sends it the old server's tokens. Token values never reach logs or errors.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

DEFAULT_TOKEN_FILE = ".subagents/mcp-tokens.json"


class TokenStore(Protocol):
    """Storage of one JSON-serialisable record per key (a server name and URL)."""

    async def get(self, key: str) -> dict[str, Any] | None:
        """The record stored under ``key`` (``None`` when there is none)."""
        ...

    async def put(self, key: str, record: dict[str, Any]) -> None:
        """Store ``record`` under ``key``, replacing what was there."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove ``key``; True when there was a record."""
        ...

    async def items(self) -> dict[str, dict[str, Any]]:
        """Every record, by key."""
        ...


class MemoryTokenStore:
    """Tokens held in this process only (tests, or one-shot clients)."""

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}
        self.where = "MCP tokens in memory (this process only)"

    async def get(self, key: str) -> dict[str, Any] | None:
        record = self._records.get(key)
        return dict(record) if record is not None else None

    async def put(self, key: str, record: dict[str, Any]) -> None:
        self._records[key] = dict(record)

    async def delete(self, key: str) -> bool:
        return self._records.pop(key, None) is not None

    async def items(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self._records.items()}


class FileTokenStore:
    """A JSON file readable by its owner only (0600), written atomically.

    Several processes may share the file (``subagents mcp login`` while the assistant
    runs): every write re-reads the file and replaces it in one rename.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.where = f"MCP token file {self.path}"
        self._lock = asyncio.Lock()

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise OSError(
                f"cannot read the MCP token file {self.path}: {exc}; delete it and run "
                "`subagents mcp login SERVER` again"
            ) from None
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".mcp-tokens-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)  # before any secret is written
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> dict[str, Any] | None:
        return self._read().get(key)

    async def put(self, key: str, record: dict[str, Any]) -> None:
        async with self._lock:
            data = self._read()
            data[key] = record
            self._write(data)

    async def delete(self, key: str) -> bool:
        async with self._lock:
            data = self._read()
            found = data.pop(key, None) is not None
            if found:
                self._write(data)
            return found

    async def items(self) -> dict[str, dict[str, Any]]:
        return self._read()


def token_key(server: str, url: str) -> str:
    """The store key of a server: its name and URL."""
    return f"{server} {url}"


def default_token_store(project_root: str | Path | None) -> FileTokenStore:
    """The file store under the project's ``.subagents/`` folder."""
    root = Path(project_root) if project_root is not None else Path.cwd()
    return FileTokenStore(root / DEFAULT_TOKEN_FILE)


class ServerTokenStorage:
    """The SDK's ``TokenStorage`` for one server, kept in a :class:`TokenStore`.

    The record also says when the access token expires (``expires_at``, epoch seconds),
    so that ``subagents mcp status`` can show it without asking the server.
    """

    def __init__(self, store: TokenStore, server: str, url: str) -> None:
        self.store = store
        self.server = server
        self.url = url
        self.key = token_key(server, url)

    async def _record(self) -> dict[str, Any]:
        return await self.store.get(self.key) or {"server": self.server, "url": self.url}

    async def get_tokens(self) -> OAuthToken | None:
        tokens = (await self._record()).get("tokens")
        return OAuthToken.model_validate(tokens) if tokens else None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        record = await self._record()
        record["tokens"] = tokens.model_dump(mode="json", exclude_none=True)
        record["obtained_at"] = time.time()
        if tokens.expires_in is not None:
            record["expires_at"] = time.time() + tokens.expires_in
        else:
            record.pop("expires_at", None)
        await self.store.put(self.key, record)

    async def expires_at(self) -> float | None:
        """When the stored access token expires (epoch seconds), if known."""
        value = (await self._record()).get("expires_at")
        return float(value) if isinstance(value, int | float) else None

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        info = (await self._record()).get("client_info")
        return OAuthClientInformationFull.model_validate(info) if info else None

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        record = await self._record()
        record["client_info"] = client_info.model_dump(mode="json", exclude_none=True)
        await self.store.put(self.key, record)

    async def clear(self) -> bool:
        """Forget this server's tokens and registration (``subagents mcp logout``)."""
        return await self.store.delete(self.key)
