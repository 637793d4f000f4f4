"""Fixtures of the inspector tests: the example assistant (the repo root project) copied
to a temp dir, and `subagents inspect` as a real process, stopped by PID."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECT_PARTS = (
    "domain.yml",
    "endpoints.yml",
    "flows.yml",
    "sub_agents",
    "mcp_servers",
    "actions",
    "prompts",
    "scenarios",
)
HERE = Path(__file__).parent


def copy_example(target: Path) -> Path:
    """The example assistant of the repo root, copied (its SQLite store lands in target)."""
    target.mkdir(parents=True, exist_ok=True)
    for part in PROJECT_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, target / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / part)
    return target


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A fresh copy of the example assistant."""
    return copy_example(tmp_path / "example")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class InspectProcess:
    """`subagents inspect --scripted` as a subprocess; its printed URL; stopped by PID."""

    def __init__(self, project: Path, scenario: Path, log: Path, *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        cmd = [sys.executable, "-m", "subagents", "inspect", "--project", str(project)]
        cmd += ["--port", str(self.port), "--scripted", str(scenario), *args]
        self._log_file = log.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, stdout=self._log_file, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float = 90) -> str:
        """Wait for the printed URL and a healthy server; return the URL."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"subagents inspect exited: {self.output()}")
            printed = re.search(r"Inspector: (\S+)", self.output())
            if printed:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                        return printed.group(1)
            time.sleep(0.05)
        raise AssertionError(f"subagents inspect not ready after {timeout}s: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` and wait (bounded) for the exit code; SIGKILL if it hangs."""
        try:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, sig)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
                message = f"subagents inspect ignored {sig!r}: {self.output()}"
                raise AssertionError(message) from None
        finally:
            self._log_file.close()


@pytest.fixture
def inspect_process(tmp_path: Path) -> Iterator[Any]:
    """Factory: start `subagents inspect` on a project and scenario; killed at teardown."""
    started: list[InspectProcess] = []

    def start(project: Path, scenario: Path, *args: str) -> InspectProcess:
        log = tmp_path / f"inspect-{len(started)}.log"
        proc = InspectProcess(project, scenario, log, *args)
        started.append(proc)
        proc.wait_ready()
        return proc

    yield start
    for proc in started:
        if proc.proc.poll() is None:
            os.kill(proc.proc.pid, signal.SIGKILL)
            proc.proc.wait(10)
