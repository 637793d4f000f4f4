"""Tracker stores, lock stores and event brokers: where conversations live between turns.

``create_tracker_store(config, project_root)`` builds the store endpoints.yml asks for:
SQLite (default, ``<project>/.subagents/conversations.db``, ``path`` overrides it),
``memory``, ``sql`` (PostgreSQL) or ``redis``. ``create_lock_store`` and
``create_event_broker`` build the lock store (``in_memory`` or ``redis``) and the event
broker (``pika``, or none). Drivers (asyncpg, redis, aio-pika) are imported only when
their store is configured. See :class:`TrackerStore`, :class:`LockStore` and
:class:`EventBroker` for the interfaces; every built-in one also has ``open()`` (connect,
create or check the schema) and ``ping()`` (raise
:class:`~subagents.errors.StoreUnavailable` unless reachable) for readiness checks.
"""

from __future__ import annotations

from pathlib import Path

from subagents.config.models import EventBrokerConfig, LockStoreConfig, TrackerStoreConfig
from subagents.stores.base import TrackerStore
from subagents.stores.broker import EventBroker
from subagents.stores.locks import InMemoryLockStore, Lease, LockStore
from subagents.stores.memory import InMemoryTrackerStore
from subagents.stores.sqlite import SQLiteTrackerStore

DEFAULT_SQLITE_PATH = ".subagents/conversations.db"


def create_tracker_store(
    config: TrackerStoreConfig | None, project_root: str | Path
) -> TrackerStore:
    """The tracker store described by ``tracker_store`` in endpoints.yml.

    A relative SQLite ``path`` is relative to the project root. Server stores connect on
    ``open()`` (or their first use), not here.
    """
    cfg = config or TrackerStoreConfig()
    if cfg.type == "memory":
        return InMemoryTrackerStore()
    if cfg.type in ("sql", "postgresql"):
        from subagents.stores.postgres import PostgresTrackerStore

        return PostgresTrackerStore(cfg)
    if cfg.type == "redis":
        from subagents.stores.redis_store import RedisTrackerStore

        return RedisTrackerStore(cfg)
    path = Path(cfg.path or DEFAULT_SQLITE_PATH)
    if not path.is_absolute():
        path = Path(project_root) / path
    return SQLiteTrackerStore(path)


def create_lock_store(config: LockStoreConfig | None) -> LockStore:
    """The lock store described by ``lock_store`` (default: in this process)."""
    cfg = config or LockStoreConfig()
    if cfg.type == "redis":
        from subagents.stores.redis_lock import RedisLockStore

        return RedisLockStore(cfg)
    return InMemoryLockStore(cfg.wait_timeout)


def create_event_broker(config: EventBrokerConfig | None) -> EventBroker | None:
    """The event broker described by ``event_broker``, or None when there is none."""
    if config is None:
        return None
    from subagents.stores.broker import PikaEventBroker

    return PikaEventBroker(config)


async def open_store(store: TrackerStore | LockStore | EventBroker) -> None:
    """Connect a store or broker that has ``open()`` (custom stores may not)."""
    opener = getattr(store, "open", None)
    if opener is not None:
        await opener()


async def ping_store(store: TrackerStore | LockStore | EventBroker) -> None:
    """Raise StoreUnavailable unless ``store`` answers (a store without ``ping`` passes)."""
    ping = getattr(store, "ping", None)
    if ping is not None:
        await ping()


def describe(store: TrackerStore | LockStore | EventBroker) -> str:
    """What a store is, for messages: its ``where`` when it has one, else its class."""
    return str(getattr(store, "where", None) or type(store).__name__)


__all__ = [
    "DEFAULT_SQLITE_PATH",
    "EventBroker",
    "InMemoryLockStore",
    "InMemoryTrackerStore",
    "Lease",
    "LockStore",
    "SQLiteTrackerStore",
    "TrackerStore",
    "create_event_broker",
    "create_lock_store",
    "create_tracker_store",
    "describe",
    "open_store",
    "ping_store",
]
