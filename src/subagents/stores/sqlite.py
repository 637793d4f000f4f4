"""The default tracker store: one embedded SQLite file.

Every sqlite call runs on ONE dedicated thread that owns the connection, so the event loop
never blocks on disk and the connection is never shared between threads. The database is
in WAL mode with ``synchronous=NORMAL``: a committed turn survives the process being
killed (kill -9); a turn in flight is lost whole, never half-written, because ``save``
writes state and events in one transaction.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from subagents.errors import SchemaVersionError, StoreUnavailable

logger = logging.getLogger("subagents.stores.sqlite")

T = TypeVar("T")

MIGRATIONS: tuple[str, ...] = (
    # 1: conversations and their event log (databases from before versioning have these)
    """
    CREATE TABLE IF NOT EXISTS conversations (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        n_events INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS events (
        conversation_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event TEXT NOT NULL,
        PRIMARY KEY (conversation_id, seq)
    ) WITHOUT ROWID;
    """,
    # 2: find idle conversations without a full scan
    "CREATE INDEX IF NOT EXISTS conversations_updated_at ON conversations (updated_at);",
)
SCHEMA_VERSION = len(MIGRATIONS)
"""Kept in ``PRAGMA user_version``."""


def migrate(conn: sqlite3.Connection, path: Path, target: int = SCHEMA_VERSION) -> int:
    """Create or migrate the schema to ``target``; refuse a newer one. Returns the version."""
    conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait (busy_timeout)
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{path} has schema version {found}, newer than this subagents understands "
                f"({SCHEMA_VERSION}); upgrade subagents"
            )
        for version in range(found + 1, target + 1):
            for statement in MIGRATIONS[version - 1].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return max(found, target)


def _check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a damaged file at start, rather than failing every turn later.

    ``quick_check`` reads every page once (O(file size), no index cross-checks).
    """
    rows = conn.execute("PRAGMA quick_check").fetchall()
    problems = [str(r[0]) for r in rows if r and r[0] != "ok"]
    if problems:
        raise _damaged(path, "; ".join(problems[:3]))


def _damaged(path: Path, detail: str) -> StoreUnavailable:
    return StoreUnavailable(
        f"tracker store {path} is damaged ({detail}); to start with an empty store move the "
        f"file away (e.g. mv {path} {path}.broken), or restore it from a backup "
        f"(sqlite3 {path} .recover can salvage what is readable)"
    )


class SQLiteTrackerStore:
    """Tracker store in a SQLite file (created with its parent folder when missing)."""

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        if synchronous.upper() not in {"NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        self._synchronous = synchronous.upper()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="subagents-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    # ------------------------------------------------------------------ thread side

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.is_file() and self.path.stat().st_size == 0:
                raise _damaged(self.path, "it is empty (0 bytes), not a database")
            conn = sqlite3.connect(self.path, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self._synchronous}")
                conn.execute("PRAGMA busy_timeout=5000")
                _check_integrity(conn, self.path)
                migrate(conn, self.path)
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise _damaged(self.path, str(exc)) from exc
            except BaseException:
                conn.close()
                raise
            self._conn = conn
            logger.debug("store.sqlite.open", extra={"path": str(self.path)})
        return self._conn

    def _load(self, conversation_id: str) -> dict[str, Any] | None:
        row = (
            self._connect()
            .execute("SELECT state FROM conversations WHERE id = ?", (conversation_id,))
            .fetchone()
        )
        return None if row is None else json.loads(row[0])

    def _events(self, conversation_id: str) -> builtins.list[dict[str, Any]]:
        rows = (
            self._connect()
            .execute(
                "SELECT event FROM events WHERE conversation_id = ? ORDER BY seq",
                (conversation_id,),
            )
            .fetchall()
        )
        return [json.loads(r[0]) for r in rows]

    def _save(self, conversation_id: str, state_json: str, events_json: builtins.list[str]) -> None:
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT n_events FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            start = row[0] if row else 0
            conn.executemany(
                "INSERT INTO events (conversation_id, seq, event) VALUES (?, ?, ?)",
                [(conversation_id, start + i, e) for i, e in enumerate(events_json)],
            )
            conn.execute(
                "INSERT INTO conversations (id, state, n_events, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET state = excluded.state,"
                " n_events = excluded.n_events, updated_at = excluded.updated_at",
                (conversation_id, state_json, start + len(events_json), time.time()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _list(self) -> builtins.list[str]:
        rows = self._connect().execute("SELECT id FROM conversations ORDER BY id").fetchall()
        return [r[0] for r in rows]

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ async side

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise RuntimeError(f"tracker store {self.path} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def load(self, conversation_id: str) -> dict[str, Any] | None:
        return await self._run(self._load, conversation_id)

    async def events(self, conversation_id: str) -> builtins.list[dict[str, Any]]:
        return await self._run(self._events, conversation_id)

    async def save(
        self,
        conversation_id: str,
        state: dict[str, Any],
        new_events: builtins.list[dict[str, Any]],
    ) -> None:
        # Serialise on the caller's side: a bad value fails before the transaction starts.
        state_json = json.dumps(state, ensure_ascii=False)
        events_json = [json.dumps(e, ensure_ascii=False) for e in new_events]
        await self._run(self._save, conversation_id, state_json, events_json)

    async def list(self) -> builtins.list[str]:
        return await self._run(self._list)

    async def open(self) -> None:
        """Open the file and create or migrate the schema (errors surface at start)."""
        await self._run(self._connect)

    async def ping(self) -> None:
        """Raise unless the database answers (readiness checks)."""
        await self._run(lambda: self._connect().execute("SELECT 1").fetchone())

    async def aclose(self) -> None:
        if self._closed:
            return
        # Closed first: a save arriving meanwhile must fail, not queue behind _close and
        # reopen a connection that nobody closes.
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)
