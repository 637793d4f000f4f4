"""Lock stores: one turn at a time per conversation, in arrival order, waiting bounded.

``lock_store`` in endpoints.yml picks one:

* ``in_memory`` (default): :class:`InMemoryLockStore`, ``asyncio`` locks in this process.
  Enough for one process; several processes or replicas need
* ``redis``: :class:`~subagents.stores.redis_lock.RedisLockStore`, a ticket lock in
  Redis shared by every replica (fair, expires when its holder dies).

``async with lock_store.hold(conversation_id) as lease:`` waits for the conversation's
turn (raising :class:`~subagents.errors.ConversationBusy` after ``wait_timeout``), and
``lease.check()`` raises :class:`~subagents.errors.StoreUnavailable` when the lock was
lost meanwhile (its holder must then not save the turn).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol, runtime_checkable

from subagents.errors import ConversationBusy

DEFAULT_WAIT_TIMEOUT = 60.0


class Lease(Protocol):
    """A held conversation lock."""

    def check(self) -> None:
        """Raise StoreUnavailable if the lock was lost (expired, lock store restarted)."""
        ...


@runtime_checkable
class LockStore(Protocol):
    """Hands out per-conversation locks (see the module docstring)."""

    def hold(self, conversation_id: str) -> AbstractAsyncContextManager[Lease]:
        """Wait for the conversation's turn; hold it inside the ``async with``."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the lock store answers."""
        ...

    async def aclose(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


class _HeldInProcess:
    """An in-process lock cannot be lost."""

    def check(self) -> None:
        return None


_HELD = _HeldInProcess()


class InMemoryLockStore:
    """One ``asyncio.Lock`` per conversation id, dropped when nobody holds or waits for it.

    Messages to one conversation run in arrival order (asyncio locks are FIFO); different
    conversations run concurrently. A lock lives only while a turn holds or waits for it,
    so a server with millions of conversations keeps only the active ones in memory.
    """

    def __init__(self, wait_timeout: float = DEFAULT_WAIT_TIMEOUT) -> None:
        self.wait_timeout = wait_timeout
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[Lease]:
        lock, users = self._locks.get(conversation_id, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[conversation_id] = (lock, users + 1)
        try:
            try:
                async with asyncio.timeout(self.wait_timeout):  # no task: cheap when free
                    await lock.acquire()
            except TimeoutError:
                raise ConversationBusy(
                    f"conversation {conversation_id!r} was busy for {self.wait_timeout:g}s"
                ) from None
            try:
                yield _HELD
            finally:
                lock.release()
        finally:
            lock, users = self._locks[conversation_id]
            if users <= 1:
                del self._locks[conversation_id]
            else:
                self._locks[conversation_id] = (lock, users - 1)

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._locks)
