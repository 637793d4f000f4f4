"""Private PostgreSQL and Redis instances that a test may stop and start (never the
machine's shared ones): own data directory, own port on 127.0.0.1, stopped by PID."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from cluster import free_port
from services import reachable


def _wait(port: int, up: bool, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if reachable(port, timeout=0.2) == up:
            return
        time.sleep(0.05)
    raise AssertionError(f"port {port} still {'down' if up else 'up'} after {within}s")


class OwnPostgres:
    """``initdb`` into a temp dir (as the ``postgres`` user when we are root), trust auth."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            raise AssertionError("PostgreSQL server binaries (pg_ctl, initdb) are not installed")
        self.bin = Path(found[-1]).parent
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="subagents-pg-"))
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._as_owner(
            str(self.bin / "initdb"),
            "-D",
            f"{self.dir}/data",
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def _as_owner(self, *cmd: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_owner(
            str(self.bin / "pg_ctl"),
            "-D",
            f"{self.dir}/data",
            "-o",
            options,
            "-l",
            f"{self.dir}/log",
            "-w",
            "-t",
            "60",
            "start",
        )
        _wait(self.port, up=True)

    def stop(self) -> None:
        self._as_owner(
            str(self.bin / "pg_ctl"),
            "-D",
            f"{self.dir}/data",
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "stop",
        )
        _wait(self.port, up=False)

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, AssertionError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class OwnRedis:
    """``redis-server`` on its own port, appending every write to disk (survives restart)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="subagents-redis-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            str(self.dir),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self.port, up=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        _wait(self.port, up=False)

    def remove(self) -> None:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            self.stop()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    if shutil.which("runuser") is None and os.geteuid() == 0:
        raise AssertionError("runuser is needed to start PostgreSQL as its own user")
    pg = OwnPostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.remove()


@contextlib.contextmanager
def own_redis() -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        raise AssertionError("redis-server is not installed")
    server = OwnRedis()
    try:
        server.start()
        yield server
    finally:
        server.remove()
