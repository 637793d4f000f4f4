"""OAuth token stores on SQLite, PostgreSQL and Redis, chosen by ``mcp_token_store``.

Each store holds the same JSON record per key (a server's name and URL) as the file
store: the tokens, their expiry and the client registration. Several processes (every
replica of the assistant, and ``subagents mcp login`` run on an operator's machine) share
one store; the last write of a record wins, which is right for tokens: a refresh replaces
the old access token wholesale.

Every operation opens its own connection and closes it: tokens are read when a server's
connection starts and written on login and refresh (a few times an hour), so a pool
would only hold sockets open, and a store used by ``asyncio.run`` in a command and by the
server's loop must not keep connections bound to one event loop.

Layout (schema version :data:`SCHEMA_VERSION`, kept apart from the tracker store's, so
both may share one database or Redis)::

    redis       <prefix>mcp_tokens                  hash    key -> record JSON
                <prefix>mcp_tokens:schema_version   string
    postgresql  subagents_mcp_tokens(key TEXT PRIMARY KEY, record TEXT, updated_at)
                subagents_mcp_tokens_schema(version)
    sqlite      the same two tables, in a file created with mode 0600

Records are stored as they are, not encrypted (see docs/mcp-auth.md for why and how to
protect them). Errors name the store (host, port, database; never the password) and the
driver's reason; they never contain a record.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from subagents.config.models import MCPTokenStoreConfig, TrackerStoreConfig
from subagents.errors import SchemaVersionError, StoreUnavailable

from .tokens import DEFAULT_TOKEN_FILE, FileTokenStore, TokenStore

logger = logging.getLogger("subagents.mcp.tokens")

T = TypeVar("T")

DEFAULT_SQLITE_TOKEN_FILE = ".subagents/mcp-tokens.db"
DEFAULT_KEY_PREFIX = "subagents:"

MIGRATIONS: tuple[str, ...] = (
    # 1: one JSON record per server (name and URL)
    """
    CREATE TABLE IF NOT EXISTS subagents_mcp_tokens (
        key TEXT PRIMARY KEY,
        record TEXT NOT NULL,
        updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
    )
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
_SCHEMA_TABLE = "subagents_mcp_tokens_schema"
_PG_LOCK_KEY = 0x5EB4A6E8  # advisory lock held while creating or migrating the schema


def create_token_store(
    config: MCPTokenStoreConfig | None, project_root: str | Path | None
) -> TokenStore:
    """The token store ``mcp_token_store`` describes (default: the 0600 JSON file).

    A relative ``path`` is relative to the project root. Nothing connects here.
    """
    cfg = config or MCPTokenStoreConfig()
    root = Path(project_root) if project_root is not None else Path.cwd()
    if cfg.type == "redis":
        return RedisTokenStore(cfg)
    if cfg.type in ("sql", "postgresql"):
        return PostgresTokenStore(cfg)
    default = DEFAULT_SQLITE_TOKEN_FILE if cfg.type == "sqlite" else DEFAULT_TOKEN_FILE
    path = Path(cfg.path or default)
    if not path.is_absolute():
        path = root / path
    if cfg.type == "sqlite":
        return SQLiteTokenStore(path)
    return FileTokenStore(path)


def _connection_settings(cfg: MCPTokenStoreConfig) -> TrackerStoreConfig:
    """The tracker store's connection settings with ours (same keys, same meaning)."""
    return TrackerStoreConfig(
        type="redis" if cfg.type == "redis" else "sql",
        url=cfg.url,
        port=cfg.port,
        db=cfg.db,
        username=cfg.username,
        password=cfg.password,
        use_ssl=cfg.use_ssl,
        query=cfg.query,
        timeout=cfg.timeout,
    )


def _newer(where: str, found: int) -> SchemaVersionError:
    return SchemaVersionError(
        f"{where} has token schema version {found}, newer than this subagents understands "
        f"({SCHEMA_VERSION}); upgrade subagents where it uses this store"
    )


# --------------------------------------------------------------------------- redis


class RedisTokenStore:
    """Token records in one Redis hash (``<key_prefix>mcp_tokens``)."""

    def __init__(self, cfg: MCPTokenStoreConfig) -> None:
        from subagents.stores.redis_store import redis_where

        self.cfg = cfg
        self._conn = _connection_settings(cfg)
        prefix = cfg.key_prefix if cfg.key_prefix is not None else DEFAULT_KEY_PREFIX
        self.hash_key = f"{prefix}mcp_tokens"
        self.version_key = f"{prefix}mcp_tokens:schema_version"
        self.where = f"MCP token store redis {redis_where(self._conn)} ({self.hash_key})"
        self._ready = False

    async def _run(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        from subagents.stores.redis_store import guard_redis, redis_client

        client = redis_client(self._conn, self.cfg.timeout)
        try:
            if not self._ready:
                await guard_redis(self.where, client.set(self.version_key, SCHEMA_VERSION, nx=True))
                found = int(await guard_redis(self.where, client.get(self.version_key)) or 0)
                if found > SCHEMA_VERSION:
                    raise _newer(self.where, found)
                self._ready = True
            return await guard_redis(self.where, fn(client))
        finally:
            await client.aclose()

    async def get(self, key: str) -> dict[str, Any] | None:
        raw = await self._run(lambda r: r.hget(self.hash_key, key))
        return None if raw is None else _record(raw)

    async def put(self, key: str, record: dict[str, Any]) -> None:
        data = json.dumps(record, sort_keys=True)
        await self._run(lambda r: r.hset(self.hash_key, key, data))

    async def delete(self, key: str) -> bool:
        return bool(await self._run(lambda r: r.hdel(self.hash_key, key)))

    async def items(self) -> dict[str, dict[str, Any]]:
        raw = await self._run(lambda r: r.hgetall(self.hash_key))
        return {_text(k): _record(v) for k, v in raw.items()}

    async def schema_status(self) -> tuple[int, int]:
        """``(found, supported)`` schema versions, without writing anything."""
        found = await self._run_unchecked(lambda r: r.get(self.version_key))
        return int(found or 0), SCHEMA_VERSION

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the server answers."""
        await self._run_unchecked(lambda r: r.ping())

    async def _run_unchecked(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        from subagents.stores.redis_store import guard_redis, redis_client

        client = redis_client(self._conn, self.cfg.timeout)
        try:
            return await guard_redis(self.where, fn(client))
        finally:
            await client.aclose()

    async def aclose(self) -> None:
        """Nothing stays open between operations."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _record(raw: bytes | str) -> dict[str, Any]:
    value = json.loads(raw)
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------- postgresql


class PostgresTokenStore:
    """Token records in the table ``subagents_mcp_tokens`` of a PostgreSQL database."""

    def __init__(self, cfg: MCPTokenStoreConfig) -> None:
        from subagents.stores.postgres import where

        self.cfg = cfg
        self._conn = _connection_settings(cfg)
        self.where = f"MCP token store postgresql {where(self._conn)}"
        self._ready = False

    async def _run(self, fn: Callable[[Any], Awaitable[T]], *, migrate: bool = True) -> T:
        import asyncpg

        from subagents.stores.postgres import postgres_dsn

        async def call() -> T:
            conn = await asyncpg.connect(postgres_dsn(self._conn), timeout=self.cfg.timeout)
            try:
                if migrate and not self._ready:
                    await self._migrate(conn)
                    self._ready = True
                return await fn(conn)
            finally:
                await conn.close()

        try:
            return await asyncio.wait_for(call(), self.cfg.timeout * 2)
        except SchemaVersionError:
            raise
        except (
            OSError,
            TimeoutError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
        ) as exc:
            raise StoreUnavailable(f"{self.where} failed: {type(exc).__name__}: {exc}") from exc

    async def _migrate(self, conn: Any) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _PG_LOCK_KEY)
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_SCHEMA_TABLE} (version INTEGER NOT NULL)"
            )
            found = int(await conn.fetchval(f"SELECT max(version) FROM {_SCHEMA_TABLE}") or 0)
            if found > SCHEMA_VERSION:
                raise _newer(self.where, found)
            for version in range(found + 1, SCHEMA_VERSION + 1):
                await conn.execute(MIGRATIONS[version - 1])
                await conn.execute(f"DELETE FROM {_SCHEMA_TABLE}")
                await conn.execute(f"INSERT INTO {_SCHEMA_TABLE} (version) VALUES ($1)", version)
                logger.info("mcp.token_store.migrated", extra={"from": found, "to": version})

    async def get(self, key: str) -> dict[str, Any] | None:
        sql = "SELECT record FROM subagents_mcp_tokens WHERE key = $1"
        raw = await self._run(lambda c: c.fetchval(sql, key))
        return None if raw is None else _record(raw)

    async def put(self, key: str, record: dict[str, Any]) -> None:
        sql = (
            "INSERT INTO subagents_mcp_tokens (key, record, updated_at) VALUES ($1, $2, now())"
            " ON CONFLICT (key) DO UPDATE SET record = excluded.record,"
            " updated_at = excluded.updated_at"
        )
        data = json.dumps(record, sort_keys=True)
        await self._run(lambda c: c.execute(sql, key, data))

    async def delete(self, key: str) -> bool:
        sql = "DELETE FROM subagents_mcp_tokens WHERE key = $1"
        status = await self._run(lambda c: c.execute(sql, key))
        return str(status).endswith(" 1")

    async def items(self) -> dict[str, dict[str, Any]]:
        rows = await self._run(lambda c: c.fetch("SELECT key, record FROM subagents_mcp_tokens"))
        return {r[0]: _record(r[1]) for r in rows}

    async def schema_status(self) -> tuple[int, int]:
        """``(found, supported)`` schema versions, without creating anything."""

        async def read(conn: Any) -> int:
            if await conn.fetchval("SELECT to_regclass($1)", _SCHEMA_TABLE) is None:
                return 0
            return int(await conn.fetchval(f"SELECT max(version) FROM {_SCHEMA_TABLE}") or 0)

        return await self._run(read, migrate=False), SCHEMA_VERSION

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the server answers."""
        await self._run(lambda c: c.fetchval("SELECT 1"), migrate=False)

    async def aclose(self) -> None:
        """Nothing stays open between operations."""


# --------------------------------------------------------------------------- sqlite


class SQLiteTokenStore:
    """Token records in a SQLite file readable by its owner only (0600)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.where = f"MCP token store sqlite {self.path}"
        self._ready = False

    def _connect(self, *, create: bool = True) -> sqlite3.Connection:
        if create and not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Created private before sqlite writes anything into it.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        if not self._ready and create:
            try:
                self._migrate(conn)
            except BaseException:
                conn.close()
                raise
            self._ready = True
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait
        try:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {_SCHEMA_TABLE} (version INTEGER NOT NULL)")
            row = conn.execute(f"SELECT max(version) FROM {_SCHEMA_TABLE}").fetchone()
            found = int(row[0] or 0)
            if found > SCHEMA_VERSION:
                raise _newer(self.where, found)
            for version in range(found + 1, SCHEMA_VERSION + 1):
                conn.execute(MIGRATIONS[version - 1])
                conn.execute(f"DELETE FROM {_SCHEMA_TABLE}")
                conn.execute(f"INSERT INTO {_SCHEMA_TABLE} (version) VALUES (?)", (version,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, create: bool = True) -> T:
        def call() -> T:
            conn = self._connect(create=create)
            try:
                return fn(conn)
            finally:
                conn.close()

        try:
            return await asyncio.to_thread(call)
        except SchemaVersionError:
            raise
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"{self.where} failed: {type(exc).__name__}: {exc}") from exc

    async def get(self, key: str) -> dict[str, Any] | None:
        sql = "SELECT record FROM subagents_mcp_tokens WHERE key = ?"
        row = await self._run(lambda c: c.execute(sql, (key,)).fetchone())
        return None if row is None else _record(row[0])

    async def put(self, key: str, record: dict[str, Any]) -> None:
        sql = (
            "INSERT INTO subagents_mcp_tokens (key, record, updated_at)"
            " VALUES (?, ?, CURRENT_TIMESTAMP) ON CONFLICT (key) DO UPDATE SET"
            " record = excluded.record, updated_at = excluded.updated_at"
        )
        data = json.dumps(record, sort_keys=True)
        await self._run(lambda c: c.execute(sql, (key, data)))

    async def delete(self, key: str) -> bool:
        sql = "DELETE FROM subagents_mcp_tokens WHERE key = ?"
        return bool(await self._run(lambda c: c.execute(sql, (key,)).rowcount))

    async def items(self) -> dict[str, dict[str, Any]]:
        sql = "SELECT key, record FROM subagents_mcp_tokens"
        rows = await self._run(lambda c: c.execute(sql).fetchall())
        return {r[0]: _record(r[1]) for r in rows}

    async def schema_status(self) -> tuple[int, int]:
        """``(found, supported)`` schema versions, without creating anything."""
        if not self.path.exists():
            return 0, SCHEMA_VERSION

        def read(conn: sqlite3.Connection) -> int:
            sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
            if conn.execute(sql, (_SCHEMA_TABLE,)).fetchone() is None:
                return 0
            row = conn.execute(f"SELECT max(version) FROM {_SCHEMA_TABLE}").fetchone()
            return int(row[0] or 0)

        return await self._run(read, create=False), SCHEMA_VERSION

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the file can be opened (or created)."""
        await self._run(lambda c: c.execute("SELECT 1").fetchone())

    async def aclose(self) -> None:
        """Nothing stays open between operations."""


# --------------------------------------------------------------------------- validate --connect


async def check_token_store(
    config: MCPTokenStoreConfig, project_root: Path
) -> list[tuple[tuple[str, ...], str, str]]:
    """``subagents validate --connect``: reach ``mcp_token_store``; nothing is created.

    Findings are ``(field path, "error" | "warning", message)``, as
    :func:`subagents.stores.check.check_endpoint_stores` returns them. A missing schema is
    fine (created at the first login), a newer one an error.
    """
    if config.type == "file":
        return []  # created at the first login; an unreadable file is reported at use
    store: Any = create_token_store(config, project_root)
    field = ("mcp_token_store", "path" if config.type == "sqlite" else "url")
    try:
        version, supported = await store.schema_status()
    except StoreUnavailable as exc:
        return [(field, "error", f"cannot reach it: {exc}")]
    if version > supported:
        message = (
            f"{store.where} has schema version {version}, newer than this subagents "
            f"understands ({supported}); upgrade subagents"
        )
        return [(("mcp_token_store", "type"), "error", message)]
    return []
