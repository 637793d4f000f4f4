"""Helpers shared by the benchmarks: child processes, free ports, RSS, statistics."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
PYTHON = sys.executable


class Child:
    """A child process started by a benchmark, stopped by its PID (never by name)."""

    def __init__(
        self, args: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
    ):
        self.args = list(args)
        self.proc = subprocess.Popen(
            self.args,
            cwd=str(cwd or ROOT),
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        # Both pipes are always drained, so a chatty child (access logs) never blocks.
        self.stderr_lines: list[str] = []
        self.stdout_lines: list[str] = []
        self._new_line = threading.Condition()
        for target in (self._drain_stderr, self._drain_stdout):
            threading.Thread(target=target, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line)
            del self.stderr_lines[:-50]

    def _drain_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._new_line:
                if len(self.stdout_lines) < 100:  # only the first lines matter (banners)
                    self.stdout_lines.append(line)
                self._new_line.notify_all()
        with self._new_line:
            self._new_line.notify_all()

    def wait_line(self, prefix: str, timeout: float = 30.0) -> str:
        """The rest of the first stdout line starting with ``prefix`` (bounded wait)."""
        deadline = time.monotonic() + timeout
        with self._new_line:
            while True:
                for line in self.stdout_lines:
                    if line.startswith(prefix):
                        return line[len(prefix) :].strip()
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    break
                self._new_line.wait(min(left, 0.1))
        self.stop()
        tail = "".join(self.stderr_lines[-20:])
        raise RuntimeError(f"{self.args!r} did not print {prefix!r} in {timeout}s:\n{tail}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the child's process group, then SIGKILL after ``timeout``."""
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout)
        except ProcessLookupError:
            pass


def start_model_server() -> tuple[Child, str]:
    """Start :mod:`benchmarks.model_server` in its own process; returns it and its URL."""
    child = Child([PYTHON, "-m", "benchmarks.model_server"])
    return child, child.wait_line("listening ")


def start_http_mcp_server() -> tuple[Child, str]:
    """Start the bench MCP server over streamable HTTP; returns it and its URL."""
    child = Child([PYTHON, str(BENCH_DIR / "bench_mcp_server.py"), "--http"])
    url = child.wait_line("listening ")
    wait_http(url, timeout=30.0, accept_any_status=True, child=child)
    return child, url


def wait_http(
    url: str,
    timeout: float = 30.0,
    accept_any_status: bool = False,
    child: Child | None = None,
) -> float:
    """Poll ``url`` until it answers (200, or any status); returns the time it took.

    Gives up early when ``child`` (the process that should serve it) has exited.
    """
    start = time.perf_counter()
    deadline = start + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.perf_counter() < deadline:
            try:
                response = client.get(url)
                if accept_any_status or response.status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                pass
            if child is not None and child.proc.poll() is not None:
                tail = "".join(child.stderr_lines[-8:])
                raise RuntimeError(f"{child.args[:4]!r} exited ({child.proc.returncode}):\n{tail}")
            time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """``VmRSS`` (or ``VmHWM``, the peak) of a process in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    """Median, NaN for no values."""
    return statistics.median(values) if values else float("nan")


def cell(text: str, limit: int = 160) -> str:
    """``text`` flattened for one markdown table cell (last lines kept, ``|`` escaped)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    flat = " / ".join(lines[-3:]).replace("|", "\\|")
    return flat if len(flat) <= limit else "…" + flat[-limit:]
