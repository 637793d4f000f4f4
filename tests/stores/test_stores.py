"""Tracker stores: SQLite persistence, atomic turns, crash safety; the memory store."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from store_support import open_test_store

from subagents.config.models import TrackerStoreConfig
from subagents.stores import (
    InMemoryTrackerStore,
    SQLiteTrackerStore,
    TrackerStore,
    create_tracker_store,
    ping_store,
)


@pytest.fixture(params=["memory", "sqlite", "postgresql", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path):
    """The same contract suite over every built-in store (server ones: real servers)."""
    async with open_test_store(request.param, tmp_path) as s:
        yield s


async def test_save_load_events_list(store: TrackerStore) -> None:
    assert await store.load("a") is None
    assert await store.events("a") == []
    await store.save("a", {"slots": {"x": 1}}, [{"event": "user", "text": "hi"}])
    await store.save("a", {"slots": {"x": 2}}, [{"event": "bot", "text": "yo"}, {"event": "x"}])
    await store.save("b", {"slots": {}}, [])
    assert await store.load("a") == {"slots": {"x": 2}}
    assert [e["event"] for e in await store.events("a")] == ["user", "bot", "x"]
    assert sorted(await store.list()) == ["a", "b"]


async def test_unserialisable_state_changes_nothing(store: TrackerStore) -> None:
    await store.save("a", {"n": 1}, [{"event": "user"}])
    with pytest.raises(TypeError):
        await store.save("a", {"n": object()}, [{"event": "bot"}])
    assert await store.load("a") == {"n": 1}
    assert len(await store.events("a")) == 1


async def test_unicode_nested_values_and_odd_ids_round_trip(store: TrackerStore) -> None:
    cid = "user:42/ä ü:state"  # separators the stores use in their keys
    state = {"slots": {"city": "Zürich", "tags": ["a", "b"], "n": 1.5, "ok": None}}
    event = {"event": "bot", "text": "Grüße 👋", "data": {"buttons": [{"title": "x"}]}}
    await store.save(cid, state, [event])
    await store.save("user:42/ä ü", {"other": True}, [])
    assert await store.load(cid) == state
    assert await store.events(cid) == [event]
    assert await store.load("user:42/ä ü") == {"other": True}


async def test_concurrent_saves_of_one_conversation_lose_no_event(store: TrackerStore) -> None:
    # Without a lock (the caller's job) state is last-writer-wins, but the event log
    # never loses or overwrites an event: sequence numbers are taken under the store's
    # own atomicity.
    await asyncio.gather(
        *(
            store.save("c", {"i": i}, [{"event": "user", "i": i, "k": k} for k in range(3)])
            for i in range(20)
        )
    )
    events = await store.events("c")
    assert len(events) == 60
    by_turn: dict[int, list[int]] = {}
    for e in events:
        by_turn.setdefault(e["i"], []).append(e["k"])
    assert all(ks == [0, 1, 2] for ks in by_turn.values())  # each turn's events contiguous
    assert [events[j]["i"] for j in range(0, 60, 3)] == [
        events[j + 2]["i"] for j in range(0, 60, 3)
    ]


async def test_a_thousand_turn_conversation_loads_whole(store: TrackerStore) -> None:
    for turn in range(0, 1000, 100):  # 1,000 turns of two events, saved 100 turns at a time
        batch = [{"event": e, "turn": t} for t in range(turn, turn + 100) for e in ("user", "bot")]
        await store.save("long", {"turn": turn + 99}, batch)
    started = time.perf_counter()
    events = await store.events("long")
    elapsed = time.perf_counter() - started
    assert len(events) == 2000 and events[-1] == {"event": "bot", "turn": 999}
    assert elapsed < 2.0, f"loading 2,000 events took {elapsed:.2f}s"


async def test_ping_answers(store: TrackerStore) -> None:
    await ping_store(store)


async def test_sqlite_survives_reopen_and_concurrent_saves(tmp_path: Path) -> None:
    path = tmp_path / "conversations.db"
    s1 = SQLiteTrackerStore(path)
    await asyncio.gather(
        *(s1.save(f"c{i}", {"i": i}, [{"event": "user", "i": i}]) for i in range(50))
    )
    await s1.aclose()
    s2 = SQLiteTrackerStore(path)
    try:
        assert len(await s2.list()) == 50
        assert await s2.load("c7") == {"i": 7}
        assert await s2.events("c7") == [{"event": "user", "i": 7}]
    finally:
        await s2.aclose()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _wal_exists(path: Path) -> bool:
    return Path(f"{path}-wal").exists()


async def test_sqlite_save_racing_aclose_does_not_reopen_the_database(tmp_path: Path) -> None:
    path = tmp_path / "conversations.db"
    store = SQLiteTrackerStore(path)
    await store.save("a", {"i": 1}, [])
    closing = asyncio.create_task(store.aclose())
    await asyncio.sleep(0)  # aclose has handed the close to the store's thread
    with pytest.raises(RuntimeError, match="closed"):
        await store.save("b", {"i": 2}, [])
    await asyncio.wait_for(closing, 10)
    # Every connection is closed: SQLite checkpointed and removed the write-ahead log.
    assert not _wal_exists(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT id FROM conversations").fetchall() == [("a",)]


def test_create_tracker_store_from_config(tmp_path: Path) -> None:
    default = create_tracker_store(None, tmp_path)
    assert isinstance(default, SQLiteTrackerStore)
    assert default.path == tmp_path / ".subagents" / "conversations.db"
    custom = create_tracker_store(TrackerStoreConfig(type="sqlite", path="data/x.db"), tmp_path)
    assert isinstance(custom, SQLiteTrackerStore) and custom.path == tmp_path / "data" / "x.db"
    assert isinstance(
        create_tracker_store(TrackerStoreConfig(type="memory"), tmp_path), InMemoryTrackerStore
    )
    from subagents.stores.postgres import PostgresTrackerStore
    from subagents.stores.redis_store import RedisTrackerStore

    pg = create_tracker_store(TrackerStoreConfig(type="SQL", dialect="postgresql"), tmp_path)
    assert isinstance(pg, PostgresTrackerStore)
    assert isinstance(
        create_tracker_store(TrackerStoreConfig(type="redis"), tmp_path), RedisTrackerStore
    )


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from subagents.stores import SQLiteTrackerStore

    async def main(path):
        store = SQLiteTrackerStore(path)
        turn = 0
        while True:
            turn += 1
            cid = f"c{turn % 7}"
            events = [{"event": "user", "turn": turn, "pad": "x" * 2000} for _ in range(5)]
            await store.save(cid, {"turn": turn, "events": len(events)}, events)
            print(turn, flush=True)

    asyncio.run(main(sys.argv[1]))
    """
)


def test_kill_9_while_writing_leaves_database_intact(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        last = 0
        assert proc.stdout is not None
        while last < 200 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            last = int(line)
        assert last >= 200, proc.stderr.read() if proc.stderr else ""
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    async def check() -> None:
        store = SQLiteTrackerStore(path)
        try:
            ids = await store.list()
            assert len(ids) == 7
            # Every turn the writer reported as saved is there (only one in flight lost).
            turns = [(await store.load(cid) or {})["turn"] for cid in ids]
            assert max(turns) >= last
            for cid in ids:
                state = await store.load(cid)
                events = await store.events(cid)
                assert state is not None
                # State and events were written together: the last saved turn's events
                # are exactly the last five events, whatever moment the kill hit.
                assert len(events) % 5 == 0
                assert [e["turn"] for e in events[-5:]] == [state["turn"]] * 5
        finally:
            await store.aclose()

    asyncio.run(check())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
