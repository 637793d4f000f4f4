"""A tracker store on PostgreSQL (asyncpg), shared by any number of replicas.

Schema (version :data:`SCHEMA_VERSION`; ``subagents_schema`` holds the version)::

    subagents_conversations(id TEXT PRIMARY KEY, state TEXT, n_events INT, updated_at
                            TIMESTAMPTZ)      -- the state the engine loads every turn
    subagents_events(conversation_id TEXT, seq INT, event TEXT,
                     PRIMARY KEY (conversation_id, seq))   -- the append-only event log

``state`` and ``event`` are JSON text, exactly as the tracker endpoint returns them (cast
with ``event::jsonb`` to query them). ``save`` is ONE statement, so one round trip and one
transaction: it bumps ``n_events`` under the row lock and inserts the new events at the
sequence numbers that gives, so two saves can never write the same ``seq``. Reading a
conversation is one query whatever its length.

The schema is created on first start under an advisory lock (replicas starting together
do not race); an older schema is migrated, a newer one is refused with
:class:`~subagents.errors.SchemaVersionError`.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from subagents.config.models import TrackerStoreConfig
from subagents.errors import SchemaVersionError, StoreUnavailable

logger = logging.getLogger("subagents.stores.postgres")

T = TypeVar("T")

MIGRATIONS: tuple[str, ...] = (
    # 1: conversations and their event log
    """
    CREATE TABLE IF NOT EXISTS subagents_conversations (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        n_events INTEGER NOT NULL DEFAULT 0,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE IF NOT EXISTS subagents_events (
        conversation_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event TEXT NOT NULL,
        PRIMARY KEY (conversation_id, seq)
    );
    """,
    # 2: find idle conversations (clean-up jobs, exports) without a full scan
    """
    CREATE INDEX IF NOT EXISTS subagents_conversations_updated_at
        ON subagents_conversations (updated_at);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
_LOCK_KEY = 0x5EB4A6E7  # advisory lock id held while creating or migrating the schema

_SAVE = """
WITH up AS (
    INSERT INTO subagents_conversations AS c (id, state, n_events, updated_at)
    VALUES ($1, $2, cardinality($3::text[]), now())
    ON CONFLICT (id) DO UPDATE
        SET state = excluded.state,
            n_events = c.n_events + cardinality($3::text[]),
            updated_at = excluded.updated_at
    RETURNING n_events
)
INSERT INTO subagents_events (conversation_id, seq, event)
SELECT $1, (SELECT n_events FROM up) - cardinality($3::text[]) + t.o - 1, t.e
FROM unnest($3::text[]) WITH ORDINALITY AS t(e, o)
"""


def postgres_dsn(cfg: TrackerStoreConfig) -> str:
    """The libpq URL for ``cfg``: ``url`` as given when it is a URL, else built from parts."""
    url = cfg.url or "localhost"
    if "://" in url:
        return url
    auth = ""
    if cfg.username:
        auth = quote(cfg.username, safe="")
        if cfg.password:
            auth += ":" + quote(cfg.password, safe="")
        auth += "@"
    port = f":{cfg.port}" if cfg.port else ""
    db = "/" + quote(str(cfg.db), safe="") if cfg.db is not None else ""
    query = dict(cfg.query)
    if cfg.use_ssl:
        query.setdefault("sslmode", "require")
    return f"postgresql://{auth}{url}{port}{db}" + (f"?{urlencode(query)}" if query else "")


def where(cfg: TrackerStoreConfig) -> str:
    """Host, port and database, for messages (never the password)."""
    if cfg.url and "://" in cfg.url:
        from urllib.parse import urlsplit

        parts = urlsplit(cfg.url)
        return f"{parts.hostname}:{parts.port or 5432}{parts.path or ''}"
    return f"{cfg.url or 'localhost'}:{cfg.port or 5432}/{cfg.db or ''}"


class PostgresTrackerStore:
    """Tracker store in PostgreSQL; connects (and creates the schema) on first use."""

    def __init__(self, cfg: TrackerStoreConfig) -> None:
        self.cfg = cfg
        self.where = where(cfg)
        self._pool: Any = None
        self._opening = asyncio.Lock()
        self._closed = False

    # ------------------------------------------------------------------ connection

    async def open(self) -> None:
        """Connect, create or migrate the schema; raises StoreUnavailable with the reason."""
        await self._get_pool()

    async def _get_pool(self) -> Any:
        if self._pool is not None:
            return self._pool
        if self._closed:
            raise StoreUnavailable(f"tracker store postgresql {self.where} is closed")
        async with self._opening:
            if self._pool is None:
                self._pool = await self._guard(self._create_pool)
        return self._pool

    async def _create_pool(self) -> Any:
        import asyncpg

        if self.cfg.login_db:
            await self._create_database(asyncpg)
        pool = await asyncpg.create_pool(
            postgres_dsn(self.cfg),
            min_size=1,
            max_size=self.cfg.pool_size,
            timeout=self.cfg.timeout,
            command_timeout=self.cfg.timeout,
        )
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
        except BaseException:
            await pool.close()
            raise
        logger.info("store.postgres.open", extra={"where": self.where})
        return pool

    async def _create_database(self, asyncpg: Any) -> None:
        """Rasa's ``login_db``: connect there first and create ``db`` when missing."""
        login = self.cfg.model_copy(update={"db": self.cfg.login_db})
        conn = await asyncpg.connect(postgres_dsn(login), timeout=self.cfg.timeout)
        try:
            exists = await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", str(self.cfg.db)
            )
            if not exists:
                name = str(self.cfg.db).replace('"', '""')
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def _guard(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn``; a server or network failure becomes a StoreUnavailable naming it."""
        import asyncpg

        try:
            return await asyncio.wait_for(fn(), self.cfg.timeout * 2)
        except SchemaVersionError:
            raise
        except (
            OSError,
            TimeoutError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
        ) as exc:
            # The pool drops a connection that failed; the next acquire opens a new one.
            raise StoreUnavailable(
                f"tracker store postgresql {self.where} failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def _query(self, method: str, sql: str, *args: Any, retry: bool = False) -> Any:
        pool = await self._get_pool()

        async def call() -> Any:
            async with pool.acquire() as conn:
                return await getattr(conn, method)(sql, *args)

        try:
            return await self._guard(call)
        except StoreUnavailable:
            if not retry:
                raise
            return await self._guard(call)  # reads are safe to repeat on a fresh connection

    # ------------------------------------------------------------------ TrackerStore

    async def load(self, conversation_id: str) -> dict[str, Any] | None:
        raw = await self._query(
            "fetchval",
            "SELECT state FROM subagents_conversations WHERE id = $1",
            conversation_id,
            retry=True,
        )
        return None if raw is None else json.loads(raw)

    async def events(self, conversation_id: str) -> builtins.list[dict[str, Any]]:
        rows = await self._query(
            "fetch",
            "SELECT event FROM subagents_events WHERE conversation_id = $1 ORDER BY seq",
            conversation_id,
            retry=True,
        )
        return [json.loads(r[0]) for r in rows]

    async def save(
        self,
        conversation_id: str,
        state: dict[str, Any],
        new_events: builtins.list[dict[str, Any]],
    ) -> None:
        # Serialise first: a bad value fails before anything reaches the server.
        state_json = json.dumps(state, ensure_ascii=False)
        events_json = [json.dumps(e, ensure_ascii=False) for e in new_events]
        await self._query("execute", _SAVE, conversation_id, state_json, events_json)

    async def list(self) -> builtins.list[str]:
        rows = await self._query(
            "fetch", "SELECT id FROM subagents_conversations ORDER BY id", retry=True
        )
        return [r[0] for r in rows]

    async def schema_status(self) -> tuple[int, int]:
        """``(found, supported)`` schema versions, without creating or migrating anything."""
        import asyncpg

        async def read() -> int:
            conn = await asyncpg.connect(postgres_dsn(self.cfg), timeout=self.cfg.timeout)
            try:
                exists = await conn.fetchval("SELECT to_regclass('subagents_schema')")
                if exists is None:
                    return 0
                return int(await conn.fetchval("SELECT max(version) FROM subagents_schema") or 0)
            finally:
                await conn.close()

        return await self._guard(read), SCHEMA_VERSION

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the server answers (readiness checks)."""
        await self._query("fetchval", "SELECT 1", retry=True)

    async def aclose(self) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.cfg.timeout)
            except (TimeoutError, OSError):
                pool.terminate()


async def schema_version(conn: Any) -> int:
    """The schema version stored in the database (0 when there is none)."""
    await conn.execute("CREATE TABLE IF NOT EXISTS subagents_schema (version INTEGER NOT NULL)")
    version = await conn.fetchval("SELECT max(version) FROM subagents_schema")
    return int(version or 0)


async def migrate(conn: Any, target: int = SCHEMA_VERSION) -> int:
    """Create or migrate the schema to ``target``; refuse a newer one. Returns the version."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        found = await schema_version(conn)
        if found > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the PostgreSQL tracker store has schema version {found}, newer than this "
                f"subagents understands ({SCHEMA_VERSION}); upgrade subagents on every replica"
            )
        for version in range(found + 1, target + 1):
            await conn.execute(MIGRATIONS[version - 1])
            await conn.execute("DELETE FROM subagents_schema")
            await conn.execute("INSERT INTO subagents_schema (version) VALUES ($1)", version)
            if found:
                logger.info("store.postgres.migrated", extra={"from": found, "to": version})
        return max(found, target)
