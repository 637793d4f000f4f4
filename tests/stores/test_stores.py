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

from subagents.config.models import TrackerStoreConfig
from subagents.errors import ConfigError
from subagents.stores import (
    InMemoryTrackerStore,
    SQLiteTrackerStore,
    TrackerStore,
    create_tracker_store,
)


@pytest.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path):
    s: TrackerStore = (
        SQLiteTrackerStore(tmp_path / "db" / "c.db")
        if request.param == "sqlite"
        else InMemoryTrackerStore()
    )
    yield s
    await s.aclose()


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
    with pytest.raises(ConfigError) as exc:
        create_tracker_store(TrackerStoreConfig(type="redis"), tmp_path)
    assert "tracker_store.type" in str(exc.value.problem.field)
    assert "endpoints.yml" in str(exc.value)


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
