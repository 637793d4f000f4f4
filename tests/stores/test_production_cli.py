"""The production commands: `run --workers N`, `copy-store`, `validate --connect` on stores."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cluster import Client, Replica, check_conversation, endpoints_yml, tracker, write_project
from services import PG_DSN, REDIS_URL, require, unique
from store_support import drop_redis_prefix, pg_config, pg_schema

from subagents.stores import SQLiteTrackerStore
from subagents.stores.postgres import PostgresTrackerStore

pytestmark = pytest.mark.timeout(180)


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "subagents.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(p) for p in text.split()}


def test_workers_without_a_shared_lock_store_are_refused(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", endpoints_yml("http://127.0.0.1:9/v1", tracker=""))
    result = cli("run", "--project", str(root), "--workers", "2")
    assert result.returncode == 1
    assert "--workers 2 needs a lock store the processes share" in result.stderr
    assert "lock_store: {type: redis" in result.stderr


async def test_two_workers_serve_one_port_and_a_dead_worker_is_replaced(tmp_path: Path) -> None:
    require("postgresql")
    require("redis")
    prefix = unique("lk") + ":"
    async with pg_schema() as schema:
        stores = (
            f'tracker_store: {{type: sql, url: "{PG_DSN}?search_path={schema}"}}\n'
            f'lock_store: {{type: redis, url: "{REDIS_URL}", key_prefix: "{prefix}"}}\n'
        )
        root = write_project(tmp_path / "p", endpoints_yml("http://127.0.0.1:9/v1", tracker=stores))
        server = Replica(root, tmp_path / "workers.log", args=["--workers", "2"])
        try:
            await asyncio.to_thread(server.wait_healthy)
            await _wait_children(server.proc.pid, 2)
            workers = _children(server.proc.pid)
            client = Client([server.url])
            async with httpx.AsyncClient() as http:
                await asyncio.gather(*(client.send(http, f"w{k % 8}", k, 0) for k in range(48)))
                assert all(a.n is not None for a in client.answers)
                for k in range(8):
                    events = (await tracker(http, server.url, f"w{k}"))["events"]
                    check_conversation(events, client.committed(f"w{k}"))
                victim = sorted(workers)[0]
                import os

                os.kill(victim, signal.SIGKILL)
                await _wait_children(server.proc.pid, 2, exclude=victim)
                await client.send(http, "w0", 100, 0)
                assert client.answers[-1].n == 7
            assert server.stop(signal.SIGTERM) == 0
            assert not _children_or_empty(workers)  # the workers stopped with it
        finally:
            server.stop(signal.SIGKILL)
            await drop_redis_prefix(prefix)


def _children_or_empty(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


async def _wait_children(pid: int, count: int, exclude: int | None = None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        kids = _children_or_empty(_children(pid)) - {exclude}
        if len(kids) == count and all(_listening(k) for k in kids):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {count} serving workers, have {_children(pid)}")


def _listening(pid: int) -> bool:
    """The worker has loaded its assistant: its log line is not needed, its socket is."""
    try:
        return any("socket:" in str(p.readlink()) for p in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


async def test_copy_store_moves_sqlite_conversations_to_postgresql(tmp_path: Path) -> None:
    require("postgresql")
    root = write_project(tmp_path / "p", endpoints_yml("http://127.0.0.1:9/v1", tracker=""))
    sqlite = SQLiteTrackerStore(root / ".subagents" / "conversations.db")
    for k in range(30):
        events = [{"event": "user", "text": f"hi {k}"}, {"event": "bot", "text": "yo"}]
        await sqlite.save(f"c{k}", {"slots": {"k": k}}, events)
    await sqlite.aclose()
    async with pg_schema() as schema:
        target = tmp_path / "endpoints.production.yml"
        target.write_text("tracker_store:\n  type: sql\n  url: ${PG_URL}\n", encoding="utf-8")
        import os

        os.environ["PG_URL"] = f"{PG_DSN}?search_path={schema}"
        try:
            first = await asyncio.to_thread(
                cli, "copy-store", "--project", str(root), "--to", str(target)
            )
            again = await asyncio.to_thread(
                cli, "copy-store", "--project", str(root), "--to", str(target)
            )
        finally:
            del os.environ["PG_URL"]
        assert first.returncode == 0, first.stderr
        assert "Copied 30 conversations (60 events); 0 already in the target" in first.stdout
        assert "Copied 0 conversations (0 events); 30 already in the target" in again.stdout
        assert schema not in first.stdout + first.stderr  # the URL came from ${PG_URL}
        pg = PostgresTrackerStore(pg_config(schema))
        try:
            assert len(await pg.list()) == 30
            assert await pg.load("c7") == {"slots": {"k": 7}}
            assert [e["text"] for e in await pg.events("c7")] == ["hi 7", "yo"]
        finally:
            await pg.aclose()


def test_validate_connect_reaches_each_store(tmp_path: Path) -> None:
    require("redis")
    dead = "127.0.0.1:1"
    stores = (
        f"tracker_store: {{type: redis, url: redis://{dead}/0, timeout: 1}}\n"
        f"lock_store: {{type: redis, url: {REDIS_URL}}}\n"
    )
    root = write_project(tmp_path / "p", endpoints_yml("http://127.0.0.1:9/v1", tracker=stores))
    result = cli("validate", "--project", str(root), "--connect")
    assert result.returncode == 1
    assert "endpoints.yml: tracker_store.url: cannot reach it: tracker store redis 127.0.0.1:1" in (
        result.stdout
    )
    assert "lock_store" not in result.stdout
