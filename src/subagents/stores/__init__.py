"""Tracker stores: where conversations live between turns.

``create_tracker_store(config, project_root)`` builds the store endpoints.yml asks for:
SQLite (default, ``<project>/.subagents/conversations.db``, ``path`` overrides it) or
``memory``. See :class:`TrackerStore` for the interface other stores implement.
"""

from __future__ import annotations

from pathlib import Path

from subagents.config.models import TrackerStoreConfig
from subagents.errors import ConfigError
from subagents.stores.base import TrackerStore
from subagents.stores.memory import InMemoryTrackerStore
from subagents.stores.sqlite import SQLiteTrackerStore

DEFAULT_SQLITE_PATH = ".subagents/conversations.db"


def create_tracker_store(
    config: TrackerStoreConfig | None, project_root: str | Path
) -> TrackerStore:
    """The tracker store described by ``tracker_store`` in endpoints.yml.

    A relative ``path`` is relative to the project root. Types that need a server
    (redis, sql, postgresql) are not built in yet and raise a ConfigError saying so.
    """
    cfg = config or TrackerStoreConfig()
    if cfg.type == "memory":
        return InMemoryTrackerStore()
    if cfg.type == "sqlite":
        path = Path(cfg.path or DEFAULT_SQLITE_PATH)
        if not path.is_absolute():
            path = Path(project_root) / path
        return SQLiteTrackerStore(path)
    raise ConfigError(
        f"tracker_store type '{cfg.type}' is not available in this version; "
        "use 'sqlite' (default) or 'memory'",
        file="endpoints.yml",
        field="tracker_store.type",
    )


__all__ = [
    "DEFAULT_SQLITE_PATH",
    "InMemoryTrackerStore",
    "SQLiteTrackerStore",
    "TrackerStore",
    "create_tracker_store",
]
