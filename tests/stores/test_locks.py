"""Lock stores: one turn at a time per conversation, fair, bounded, expiring with a dead holder."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from services import REDIS_URL, require, unique
from store_support import drop_redis_prefix

from subagents.config.models import LockStoreConfig
from subagents.errors import ConversationBusy, StoreUnavailable
from subagents.stores import InMemoryLockStore, LockStore, create_lock_store
from subagents.stores.redis_lock import RedisLockStore


@pytest_asyncio.fixture
async def redis_locks() -> AsyncIterator[list[RedisLockStore]]:
    """Three lock stores on one Redis prefix: three replicas' view of the same locks."""
    require("redis")
    prefix = unique("lk") + ":"
    cfg = LockStoreConfig(
        type="redis", url=REDIS_URL, key_prefix=prefix, lock_lifetime=1.5, wait_timeout=5
    )
    stores = [RedisLockStore(cfg) for _ in range(3)]
    yield stores
    for store in stores:
        await store.aclose()
    await drop_redis_prefix(prefix)


tickets: list[int] = []


async def _record_turns(locks: list[LockStore], n: int) -> list[tuple[str, int]]:
    """``n`` turns of one conversation spread over ``locks``; the (enter/exit, i) log."""
    log: list[tuple[str, int]] = []
    tickets.clear()
    for lock in locks:
        await lock.ping()  # connected: arrival order at the server is the order sent

    async def turn(i: int) -> None:
        async with locks[i % len(locks)].hold("c1") as lease:
            log.append(("in", i))
            tickets.append(getattr(lease, "ticket", i))
            await asyncio.sleep(0.005)
            lease.check()
            log.append(("out", i))

    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(turn(i)))
        await asyncio.sleep(0.004)  # arrival order = i
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    return log


async def test_redis_lock_turns_never_interleave_and_run_in_arrival_order(
    redis_locks: list[RedisLockStore],
) -> None:
    log = await _record_turns(list(redis_locks), 30)
    # Strictly alternating in/out of the same turn: no two turns overlapped.
    assert all(log[j][0] == "in" and log[j + 1] == ("out", log[j][1]) for j in range(0, 60, 2))
    # Fair: turns run in the order their tickets were taken, i.e. the order they reached
    # Redis (the arrival order, give or take the network).
    assert tickets == sorted(tickets) and len(set(tickets)) == 30


async def test_in_memory_lock_keeps_the_same_promises() -> None:
    log = await _record_turns([InMemoryLockStore()], 30)
    assert [i for kind, i in log if kind == "in"] == list(range(30))


async def test_other_conversations_do_not_wait(redis_locks: list[RedisLockStore]) -> None:
    a, b, _ = redis_locks
    async with a.hold("busy"):
        started = time.monotonic()
        async with b.hold("free"):
            pass
        assert time.monotonic() - started < 0.5


async def test_waiting_is_bounded_by_wait_timeout() -> None:
    require("redis")
    prefix = unique("lk") + ":"
    cfg = LockStoreConfig(type="redis", url=REDIS_URL, key_prefix=prefix, wait_timeout=0.3)
    holder, waiter = RedisLockStore(cfg), RedisLockStore(cfg)
    memory = InMemoryLockStore(wait_timeout=0.3)
    try:
        for first, second in ((holder, waiter), (memory, memory)):
            async with first.hold("c"):
                started = time.monotonic()
                with pytest.raises(ConversationBusy, match="busy for 0.3s"):
                    async with second.hold("c"):
                        pass
                assert time.monotonic() - started < 2
            async with second.hold("c"):  # the timed-out waiter left no ticket behind
                pass
    finally:
        await holder.aclose()
        await waiter.aclose()
        await drop_redis_prefix(prefix)


async def test_a_dead_holders_lock_expires_within_its_lifetime(
    redis_locks: list[RedisLockStore],
) -> None:
    dead, alive, _ = redis_locks
    held = dead.hold("c")
    await held.__aenter__()  # a replica takes the lock, then dies without releasing it
    assert dead._renewer is not None
    dead._renewer.cancel()  # ...and stops renewing it, as a killed process would
    started = time.monotonic()
    async with alive.hold("c") as lease:
        waited = time.monotonic() - started
        lease.check()
    assert 0.5 < waited < 1.5 + 0.5, waited  # lifetime is 1.5 s


async def test_a_long_turn_keeps_its_lock_by_renewal(redis_locks: list[RedisLockStore]) -> None:
    a, b, _ = redis_locks
    order: list[str] = []
    entered = asyncio.Event()

    async def long_turn() -> None:
        async with a.hold("c") as lease:
            order.append("a-in")
            entered.set()
            await asyncio.sleep(4.0)  # longer than twice the lifetime (1.5 s)
            lease.check()  # still ours
            order.append("a-out")

    task = asyncio.create_task(long_turn())
    await entered.wait()
    await asyncio.sleep(3.3)  # a newcomer after every idle expiry would have passed
    async with b.hold("c"):
        order.append("b-in")
    await task
    assert order == ["a-in", "a-out", "b-in"]


async def test_a_lost_lock_is_reported_before_saving(redis_locks: list[RedisLockStore]) -> None:
    import redis.asyncio as aioredis

    a = redis_locks[0]
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        async with a.hold("c") as lease:
            # What a Redis restart does to the lock: its keys are gone.
            keys = [k async for k in client.scan_iter(match=f"{a.prefix}c:*")]
            await client.delete(*keys)
            await asyncio.sleep(1.5 / 3 + 0.3)  # one renewal round
            with pytest.raises(StoreUnavailable, match="lock of conversation 'c' was lost"):
                lease.check()
    finally:
        await client.aclose()


def test_create_lock_store_from_config() -> None:
    assert isinstance(create_lock_store(None), InMemoryLockStore)
    assert isinstance(create_lock_store(LockStoreConfig(type="Redis")), RedisLockStore)


async def test_a_message_that_waits_too_long_is_answered_busy(tmp_path: Path) -> None:
    from cluster import endpoints_yml, write_project

    from subagents.dialogue.assistant import Assistant

    stores = "tracker_store: {type: memory}\nlock_store: {type: in_memory, wait_timeout: 0.2}"
    root = write_project(tmp_path / "p", endpoints_yml("http://127.0.0.1:9/v1", tracker=stores))
    assistant = await Assistant.load(root)
    try:
        await assistant.ping_stores()
        async with assistant._locks.hold("c"):  # a turn of "c" that takes too long
            reply = await assistant.handle_message("c", "/count")
        assert [m["text"] for m in reply] == [
            "I'm still working on your previous message. Please try again in a moment."
        ]
        assert (await assistant.get_tracker("c"))["events"] == []  # not handled, not saved
        assert [m["text"] for m in await assistant.handle_message("c", "/count")] == ["n=1 i=None"]
    finally:
        await assistant.aclose()
