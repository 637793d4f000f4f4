"""Store schemas are created on first start, migrated forward, and refused when newer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from services import REDIS_URL, require, unique
from store_support import drop_redis_prefix, pg_config, pg_schema

from subagents.config.models import TrackerStoreConfig
from subagents.errors import SchemaVersionError
from subagents.stores import SQLiteTrackerStore


async def test_postgres_migrates_an_older_schema_and_refuses_a_newer_one() -> None:
    import asyncpg

    from subagents.stores import postgres

    async with pg_schema() as schema:
        cfg = pg_config(schema)
        conn = await asyncpg.connect(postgres.postgres_dsn(cfg))
        try:
            assert await postgres.migrate(conn, target=1) == 1  # what an older release made
            await conn.execute(
                "INSERT INTO subagents_conversations (id, state, n_events) VALUES ('old', '{}', 0)"
            )
            store = postgres.PostgresTrackerStore(cfg)
            await store.open()
            assert await store.load("old") == {}  # kept through the migration
            await store.aclose()
            assert await postgres.schema_version(conn) == postgres.SCHEMA_VERSION
            assert await conn.fetchval(
                "SELECT count(*) FROM pg_indexes WHERE indexname = "
                "'subagents_conversations_updated_at'"
            )
            await conn.execute("UPDATE subagents_schema SET version = 99")
        finally:
            await conn.close()
        newer = postgres.PostgresTrackerStore(cfg)
        with pytest.raises(SchemaVersionError, match="schema version 99, newer than"):
            await newer.open()
        await newer.aclose()


def test_sqlite_migrates_a_database_from_before_versioning(tmp_path: Path) -> None:
    import asyncio

    from subagents.stores import sqlite as sqlite_store

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # what releases before schema versions wrote
        conn.executescript(sqlite_store.MIGRATIONS[0])
        conn.execute("INSERT INTO conversations VALUES ('old', '{\"a\": 1}', 0, 0)")

    async def reopen() -> None:
        store = SQLiteTrackerStore(path)
        try:
            assert await store.load("old") == {"a": 1}
        finally:
            await store.aclose()

    asyncio.run(reopen())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == sqlite_store.SCHEMA_VERSION
        conn.execute("PRAGMA user_version = 99")

    async def refuse() -> None:
        store = SQLiteTrackerStore(path)
        try:
            with pytest.raises(SchemaVersionError, match=r"old\.db has schema version 99"):
                await store.open()
        finally:
            await store.aclose()

    asyncio.run(refuse())


async def test_redis_refuses_a_newer_schema() -> None:
    import redis.asyncio as aioredis

    from subagents.stores.redis_store import RedisTrackerStore

    require("redis")
    prefix = unique("t") + ":"
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        store = RedisTrackerStore(
            TrackerStoreConfig(type="redis", url=REDIS_URL, key_prefix=prefix)
        )
        await store.open()
        await store.aclose()
        assert await client.get(f"{prefix}schema_version") == b"1"
        await client.set(f"{prefix}schema_version", 7)
        newer = RedisTrackerStore(
            TrackerStoreConfig(type="redis", url=REDIS_URL, key_prefix=prefix)
        )
        with pytest.raises(SchemaVersionError, match="schema version 7, newer than"):
            await newer.save("a", {}, [])
        await newer.aclose()
    finally:
        await client.aclose()
        await drop_redis_prefix(prefix)


async def test_unreachable_server_is_a_clear_store_error() -> None:
    import socket

    from services import reachable

    from subagents.errors import StoreUnavailable
    from subagents.stores.postgres import PostgresTrackerStore
    from subagents.stores.redis_store import RedisTrackerStore

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert not reachable(port)
    pg = PostgresTrackerStore(
        TrackerStoreConfig(type="sql", url="127.0.0.1", port=port, password="s3cret-pw", timeout=2)
    )
    with pytest.raises(StoreUnavailable, match=f"postgresql 127.0.0.1:{port}") as exc:
        await pg.load("a")
    assert "s3cret-pw" not in str(exc.value)
    await pg.aclose()
    rd = RedisTrackerStore(TrackerStoreConfig(type="redis", url="127.0.0.1", port=port, timeout=2))
    with pytest.raises(StoreUnavailable, match=f"redis 127.0.0.1:{port}"):
        await rd.load("a")
    await rd.aclose()
