"""A fair, expiring per-conversation lock in Redis, shared by every replica.

A ticket lock, as Rasa's: each message takes the next ticket of its conversation and
runs when its ticket is the lowest live one. Keys (``key_prefix`` default
``subagents:lock:``)::

    <prefix><id>:seq       counter   the last ticket handed out
    <prefix><id>:queue     zset      tickets waiting or holding, scored by number
    <prefix><id>:t:<n>     string    ticket n is alive (expires after lock_lifetime)

Every ticket, waiting or holding, is kept alive by its owner: waiters refresh theirs at
each poll, holders through one renewal task per process (every ``lock_lifetime / 3``).
A ticket whose owner died expires and is skipped, so a killed replica's conversations
go on after at most ``lock_lifetime``. Taking, checking and dropping a ticket are each
one Lua script (atomic, one round trip); an uncontended turn costs two round trips.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from subagents.config.models import LockStoreConfig
from subagents.errors import ConversationBusy, StoreUnavailable
from subagents.stores.redis_store import guard_redis, redis_client, redis_where

logger = logging.getLogger("subagents.stores.redis_lock")

DEFAULT_PREFIX = "subagents:lock:"

# KEYS: queue, seq. ARGV: ticket key prefix, lifetime ms, idle ms.
_TAKE = """
local n = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], n, n)
redis.call('SET', ARGV[1] .. n, 1, 'PX', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if head == tostring(n) then return {n, 1} end
  if redis.call('EXISTS', ARGV[1] .. head) == 1 then return {n, 0} end
  redis.call('ZREM', KEYS[1], head)
end
"""
# KEYS: queue, seq. ARGV: ticket key prefix, lifetime ms, idle ms, ticket.
# Returns 1 = our turn, 0 = wait, -1 = our ticket is gone (expired or Redis restarted).
_CHECK = """
if redis.call('PEXPIRE', ARGV[1] .. ARGV[4], ARGV[2]) == 0 then return -1 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if head == nil then return -1 end
  if head == ARGV[4] then return 1 end
  if redis.call('EXISTS', ARGV[1] .. head) == 1 then return 0 end
  redis.call('ZREM', KEYS[1], head)
end
"""
# KEYS: queue. ARGV: ticket key prefix, ticket.
_DROP = """
redis.call('ZREM', KEYS[1], ARGV[2])
return redis.call('DEL', ARGV[1] .. ARGV[2])
"""


class RedisLease:
    """A held ticket; :meth:`check` tells whether it is still ours."""

    def __init__(self, store: RedisLockStore, conversation_id: str, ticket: int) -> None:
        self.store = store
        self.conversation_id = conversation_id
        self.ticket = ticket
        self.renewed = time.monotonic()
        self.lost = False

    def check(self) -> None:
        stale = time.monotonic() - self.renewed > self.store.lifetime
        if self.lost or stale:
            raise StoreUnavailable(
                f"the lock of conversation {self.conversation_id!r} was lost (the lock store "
                "restarted or was unreachable for longer than lock_lifetime); the turn was "
                "not saved"
            )


class RedisLockStore:
    """Ticket locks in Redis (see the module docstring)."""

    def __init__(self, cfg: LockStoreConfig, *, poll_min: float = 0.005, poll_max: float = 0.1):
        self.cfg = cfg
        self.prefix = cfg.key_prefix if cfg.key_prefix is not None else DEFAULT_PREFIX
        self.lifetime = cfg.lock_lifetime
        self.wait_timeout = cfg.wait_timeout
        self.where = f"lock store redis {redis_where(cfg)}"
        self._lifetime_ms = max(1, int(cfg.lock_lifetime * 1000))
        self._idle_ms = self._lifetime_ms * 2
        self._poll = (poll_min, poll_max)
        self._redis = redis_client(cfg, min(5.0, cfg.lock_lifetime / 3))
        self._take = self._redis.register_script(_TAKE)
        self._check = self._redis.register_script(_CHECK)
        self._drop = self._redis.register_script(_DROP)
        self._held: set[RedisLease] = set()
        self._renewer: asyncio.Task[None] | None = None

    def _keys(self, conversation_id: str) -> tuple[list[str], str]:
        base = f"{self.prefix}{conversation_id}"
        return [f"{base}:queue", f"{base}:seq"], f"{base}:t:"

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[RedisLease]:
        keys, tickets = self._keys(conversation_id)
        args = [tickets, self._lifetime_ms, self._idle_ms]
        ticket, ours = await guard_redis(self.where, self._take(keys=keys, args=args))
        try:
            if not ours:
                await self._wait(conversation_id, keys, [*args, ticket])
            lease = RedisLease(self, conversation_id, int(ticket))
            self._held.add(lease)
            self._start_renewer()
            try:
                yield lease
            finally:
                self._held.discard(lease)
        finally:
            # Shielded: a cancelled turn must still hand the conversation on promptly.
            with contextlib.suppress(StoreUnavailable):
                drop = self._drop(keys=keys[:1], args=[tickets, ticket])
                await asyncio.shield(guard_redis(self.where, drop))

    async def _wait(self, conversation_id: str, keys: list[str], args: list[Any]) -> None:
        deadline = time.monotonic() + self.wait_timeout
        delay = self._poll[0]
        while True:
            if time.monotonic() + delay > deadline:
                raise ConversationBusy(
                    f"conversation {conversation_id!r} was busy for {self.wait_timeout:g}s"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._poll[1])
            status = await guard_redis(self.where, self._check(keys=keys, args=args))
            if status == 1:
                return
            if status == -1:  # our ticket expired (we stalled) or Redis restarted: retake
                ticket, ours = await guard_redis(self.where, self._take(keys=keys, args=args[:3]))
                args[3] = ticket
                if ours:
                    return

    def _start_renewer(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_forever(), name="lock-renewer")

    async def _renew_forever(self) -> None:
        while self._held:
            await asyncio.sleep(self.lifetime / 3)
            leases = list(self._held)
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for lease in leases:
                        (queue, seq), tickets = self._keys(lease.conversation_id)
                        pipe.pexpire(f"{tickets}{lease.ticket}", self._lifetime_ms)
                        # The queue and counter must outlive a turn longer than their idle
                        # expiry, or a newcomer would restart the tickets and get in.
                        pipe.pexpire(queue, self._idle_ms)
                        pipe.pexpire(seq, self._idle_ms)
                    results = (await pipe.execute())[::3]
            except Exception as exc:  # Redis down: leases go stale after lock_lifetime
                logger.warning("lock.renew.failed", extra={"error": f"{type(exc).__name__}"})
                continue
            now = time.monotonic()
            for lease, alive in zip(leases, results, strict=True):
                if alive:
                    lease.renewed = now
                else:
                    lease.lost = True

    async def ping(self) -> None:
        """Raise StoreUnavailable unless Redis answers."""
        await guard_redis(self.where, self._redis.ping())

    async def aclose(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        await self._redis.aclose()
