"""Open each built-in tracker store in a namespace of its own (the contract suite's fixture)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from services import PG_DSN, REDIS_URL, require, unique

from subagents.config.models import TrackerStoreConfig
from subagents.stores import InMemoryTrackerStore, SQLiteTrackerStore, TrackerStore


@contextlib.asynccontextmanager
async def pg_schema() -> AsyncIterator[str]:
    """A fresh PostgreSQL schema on the machine's server, dropped afterwards."""
    import asyncpg

    require("postgresql")
    name = unique("t")
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f"CREATE SCHEMA {name}")
        yield name
    finally:
        await conn.execute(f"DROP SCHEMA {name} CASCADE")
        await conn.close()


def pg_config(schema: str, **extra: object) -> TrackerStoreConfig:
    """A tracker_store config whose tables live in ``schema``."""
    return TrackerStoreConfig.model_validate(
        {"type": "sql", "url": f"{PG_DSN}?search_path={schema}", **extra}
    )


async def drop_redis_prefix(prefix: str, url: str = REDIS_URL) -> None:
    """Delete every key under ``prefix``."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def open_test_store(kind: str, tmp_path: Path) -> AsyncIterator[TrackerStore]:
    """An opened tracker store of ``kind``, empty, cleaned up on exit."""
    if kind == "memory":
        store: TrackerStore = InMemoryTrackerStore()
    elif kind == "sqlite":
        store = SQLiteTrackerStore(tmp_path / "db" / "c.db")
    elif kind == "postgresql":
        from subagents.stores.postgres import PostgresTrackerStore

        async with pg_schema() as schema:
            store = PostgresTrackerStore(pg_config(schema))
            await store.open()
            try:
                yield store
            finally:
                await store.aclose()
        return
    else:
        from subagents.stores.redis_store import RedisTrackerStore

        require("redis")
        prefix = unique("t") + ":"
        store = RedisTrackerStore(
            TrackerStoreConfig(type="redis", url=REDIS_URL, key_prefix=prefix)
        )
        try:
            yield store
        finally:
            await store.aclose()
            await drop_redis_prefix(prefix)
        return
    try:
        yield store
    finally:
        await store.aclose()
