"""``subagents validate --connect``: is each configured store reachable, does its schema fit?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from subagents.config.models import EndpointsConfig
from subagents.errors import StoreUnavailable

Finding = tuple[tuple[str, ...], str, str]
"""``(field path in endpoints.yml, "error" | "warning", message)``."""


async def check_endpoint_stores(endpoints: EndpointsConfig, root: Path) -> list[Finding]:
    """Reach the tracker store, lock store and event broker endpoints.yml configures.

    Nothing is created or migrated: a missing schema is fine (created at first start), an
    older one is a warning (migrated at first start), a newer one an error.
    """
    from subagents.stores import (
        create_event_broker,
        create_lock_store,
        create_tracker_store,
        ping_store,
    )

    found: list[Finding] = []
    store: Any = create_tracker_store(endpoints.tracker_store, root)
    try:
        if not hasattr(store, "schema_status"):
            await ping_store(store)
        else:
            version, supported = await store.schema_status()
            if version > supported:
                found.append(
                    (
                        ("tracker_store", "type"),
                        "error",
                        f"{store.where} has schema version {version}, newer than this "
                        f"subagents understands ({supported}); upgrade subagents",
                    )
                )
            elif 0 < version < supported:
                found.append(
                    (
                        ("tracker_store", "type"),
                        "warning",
                        f"{store.where} has schema version {version}; it is migrated to "
                        f"{supported} when the assistant starts",
                    )
                )
    except StoreUnavailable as exc:
        found.append((("tracker_store", "url"), "error", f"cannot reach it: {exc}"))
    finally:
        await store.aclose()
    locks = create_lock_store(endpoints.lock_store)
    try:
        await locks.ping()
    except StoreUnavailable as exc:
        found.append((("lock_store", "url"), "error", f"cannot reach it: {exc}"))
    finally:
        await locks.aclose()
    broker: Any = create_event_broker(endpoints.event_broker)
    if broker is not None:
        try:
            await broker.open()
            await broker.ping()
        except StoreUnavailable as exc:
            found.append((("event_broker", "url"), "error", f"cannot reach it: {exc}"))
        finally:
            await broker.aclose()
    return found
