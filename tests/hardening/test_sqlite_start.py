"""A damaged SQLite tracker store is refused at start, naming the file and the recovery."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from subagents.cli import app
from subagents.errors import StoreUnavailable
from subagents.stores import SQLiteTrackerStore

from .conftest import write_project


def db_path(root: Path) -> Path:
    return root / ".subagents" / "conversations.db"


async def fill(path: Path) -> None:
    store = SQLiteTrackerStore(path)
    try:
        for i in range(200):
            event = {"event": "user", "text": f"message {i} " + "x" * 500}
            await store.save(f"c{i}", {"sender_id": f"c{i}"}, [event])
    finally:
        await store.aclose()


def damage(path: Path, how: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if how == "empty":
        path.write_bytes(b"")  # before: silently started with no conversations
    elif how == "garbage":
        path.write_bytes(b"this is not a database\n" * 200)
    else:  # truncated mid-file: before, /health said ok and every turn failed
        asyncio.run(fill(path))
        for extra in ("-wal", "-shm"):
            Path(f"{path}{extra}").unlink(missing_ok=True)
        size = path.stat().st_size
        with path.open("r+b") as f:
            f.truncate(size // 2)


@pytest.mark.parametrize("how", ["empty", "garbage", "truncated"])
def test_run_refuses_a_damaged_store_with_the_recovery(tmp_path: Path, how: str) -> None:
    root = write_project(tmp_path / "p", {})  # the default store: SQLite in the project
    damage(db_path(root), how)
    result = CliRunner().invoke(app, ["run", "--project", str(root), "--port", "1"])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert f"tracker store {db_path(root)} is damaged" in text
    assert "move the file away" in text and ".recover" in text


async def test_a_healthy_store_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "ok.db"
    await fill(path)
    store = SQLiteTrackerStore(path)
    try:
        assert (await store.load("c7")) == {"sender_id": "c7"}
    finally:
        await store.aclose()
    with pytest.raises(StoreUnavailable):
        bad = tmp_path / "bad.db"
        bad.write_bytes(b"")
        broken = SQLiteTrackerStore(bad)
        try:
            await broken.open()
        finally:
            await broken.aclose()
