"""A tracker store on Redis (redis-py's asyncio client), shared by any number of replicas.

Keys (``key_prefix`` default ``subagents:``; schema version :data:`SCHEMA_VERSION` in
``<prefix>schema_version``)::

    <prefix><id>:state     string  the state JSON the engine loads every turn
    <prefix><id>:events    list    the event log, one JSON event per element, in order
    <prefix>conversations  zset    every conversation id, scored by its last turn (unix s)

``save`` is one MULTI/EXEC (one round trip, all or nothing); reading is one command.
With ``record_exp`` both keys of a conversation expire that many seconds after its last
turn, as Rasa's ``record_exp``.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from subagents.config.models import LockStoreConfig, TrackerStoreConfig
from subagents.errors import SchemaVersionError, StoreUnavailable

logger = logging.getLogger("subagents.stores.redis")

T = TypeVar("T")

SCHEMA_VERSION = 1
DEFAULT_PREFIX = "subagents:"


def redis_client(cfg: TrackerStoreConfig | LockStoreConfig, timeout: float) -> Any:
    """A redis-py asyncio client for ``cfg`` (``url``: host name or ``redis://`` URL)."""
    import redis.asyncio as aioredis

    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 30,
    }
    url = cfg.url or "localhost"
    if "://" in url:
        return aioredis.Redis.from_url(url, **options)
    return aioredis.Redis(
        host=url,
        port=cfg.port or 6379,
        db=int(cfg.db or 0),
        username=cfg.username,
        password=cfg.password,
        ssl=cfg.use_ssl,
        **options,
    )


def redis_where(cfg: TrackerStoreConfig | LockStoreConfig) -> str:
    """Host, port and database, for messages (never the password)."""
    url = cfg.url or "localhost"
    if "://" in url:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        return f"{parts.hostname}:{parts.port or 6379}{parts.path or ''}"
    return f"{url}:{cfg.port or 6379}/{cfg.db or 0}"


async def guard_redis(what: str, coro: Awaitable[T]) -> T:
    """Await ``coro``; a Redis or network failure becomes a StoreUnavailable naming ``what``."""
    from redis.exceptions import RedisError

    try:
        return await coro
    except (RedisError, OSError, TimeoutError) as exc:
        raise StoreUnavailable(f"{what} failed: {type(exc).__name__}: {exc}") from exc


class RedisTrackerStore:
    """Tracker store in Redis; checks (or writes) the schema version on first use."""

    def __init__(self, cfg: TrackerStoreConfig) -> None:
        self.cfg = cfg
        self.prefix = cfg.key_prefix if cfg.key_prefix is not None else DEFAULT_PREFIX
        self.where = f"tracker store redis {redis_where(cfg)}"
        self._redis = redis_client(cfg, cfg.timeout)
        self._ready = False
        self._opening = asyncio.Lock()

    def _keys(self, conversation_id: str) -> tuple[str, str]:
        base = f"{self.prefix}{conversation_id}"
        return f"{base}:state", f"{base}:events"

    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        if not self._ready:
            await self.open()
        return await guard_redis(self.where, fn())

    async def open(self) -> None:
        """Check the server answers and the schema version fits (written when missing)."""
        async with self._opening:
            if self._ready:
                return
            key = f"{self.prefix}schema_version"
            await guard_redis(self.where, self._redis.set(key, SCHEMA_VERSION, nx=True))
            found = int(await guard_redis(self.where, self._redis.get(key)) or 0)
            if found > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"the Redis tracker store at {redis_where(self.cfg)} (key prefix "
                    f"'{self.prefix}') has schema version {found}, newer than this subagents "
                    f"understands ({SCHEMA_VERSION}); upgrade subagents on every replica"
                )
            self._ready = True

    async def load(self, conversation_id: str) -> dict[str, Any] | None:
        raw = await self._call(lambda: self._redis.get(self._keys(conversation_id)[0]))
        return None if raw is None else json.loads(raw)

    async def events(self, conversation_id: str) -> builtins.list[dict[str, Any]]:
        key = self._keys(conversation_id)[1]
        raws = await self._call(lambda: self._redis.lrange(key, 0, -1))
        return [json.loads(r) for r in raws]

    async def save(
        self,
        conversation_id: str,
        state: dict[str, Any],
        new_events: builtins.list[dict[str, Any]],
    ) -> None:
        state_json = json.dumps(state, ensure_ascii=False)
        events_json = [json.dumps(e, ensure_ascii=False) for e in new_events]
        state_key, events_key = self._keys(conversation_id)
        exp = self.cfg.record_exp

        async def write() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(state_key, state_json)
                if events_json:
                    pipe.rpush(events_key, *events_json)
                pipe.zadd(f"{self.prefix}conversations", {conversation_id: time.time()})
                if exp:
                    pipe.expire(state_key, int(exp) or 1)
                    pipe.expire(events_key, int(exp) or 1)
                await pipe.execute()

        await self._call(write)

    async def list(self) -> builtins.list[str]:
        key = f"{self.prefix}conversations"
        if self.cfg.record_exp:
            cutoff = time.time() - self.cfg.record_exp
            await self._call(lambda: self._redis.zremrangebyscore(key, "-inf", cutoff))
        ids = await self._call(lambda: self._redis.zrange(key, 0, -1))
        return sorted(i.decode() if isinstance(i, bytes) else str(i) for i in ids)

    async def schema_status(self) -> tuple[int, int]:
        """``(found, supported)`` schema versions, without writing anything."""
        raw = await guard_redis(self.where, self._redis.get(f"{self.prefix}schema_version"))
        return int(raw or 0), SCHEMA_VERSION

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the server answers (readiness checks)."""
        await self._call(self._redis.ping)

    async def aclose(self) -> None:
        await self._redis.aclose()
