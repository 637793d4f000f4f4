"""Per-conversation locks: one turn at a time per conversation, no leak when idle.

The implementations live in :mod:`subagents.stores.locks` (in-process) and
:mod:`subagents.stores.redis_lock` (shared by replicas); ``lock_store`` in endpoints.yml
picks one. ``ConversationLocks`` is the in-process one, under its former name.
"""

from __future__ import annotations

from subagents.stores.locks import InMemoryLockStore, Lease, LockStore

ConversationLocks = InMemoryLockStore

__all__ = ["ConversationLocks", "Lease", "LockStore"]
