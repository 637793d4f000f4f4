"""``subagents run --workers N``: N processes serving one port, supervised.

Each worker is a whole ``subagents run`` process (its own event loop, assistant, MCP
connections and stdio servers) bound to the same port with ``SO_REUSEPORT``, so the
kernel spreads connections over them. The supervisor restarts a worker that dies, stops
every worker on SIGINT/SIGTERM, and fails when a worker cannot start (bad config, port in
use, store unreachable). Conversations stay consistent across workers only through a
shared lock store, so more than one worker requires ``lock_store: {type: redis}`` and a
tracker store the processes share (not ``memory``).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger("subagents.workers")

STARTUP_GRACE = 60.0
"""A worker that exits with an error within this many seconds of starting failed to start."""


def check_workers_config(root: Path, workers: int) -> str | None:
    """Why the project cannot run ``workers`` processes, or None when it can."""
    from subagents.config.loader import load_project

    endpoints = load_project(root).endpoints
    if endpoints.lock_store.type != "redis":
        return (
            f"--workers {workers} needs a lock store the processes share, or messages of one "
            "conversation could run at once in two workers: set lock_store: {type: redis, "
            "url: ...} in endpoints.yml (see docs/production.md), or run one worker"
        )
    if endpoints.tracker_store.type == "memory":
        return (
            f"--workers {workers} with tracker_store type memory would give each worker its "
            "own conversations: use sqlite (default), sql or redis"
        )
    return None


def _ready(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def supervise(child_args: list[str], workers: int, host: str, port: int) -> int:
    """Run ``workers`` copies of ``subagents <child_args>``; return the exit code."""
    command = [sys.executable, "-m", "subagents.cli", *child_args]
    procs: dict[int, tuple[subprocess.Popen[bytes], float]] = {}
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for i in range(workers):
            procs[i] = (subprocess.Popen(command), time.monotonic())
        logger.info("workers.started", extra={"workers": workers, "port": port})
        while not stopping:
            time.sleep(0.2)
            for i, (proc, started) in list(procs.items()):
                code = proc.poll()
                if code is None or stopping:
                    continue
                if (
                    code != 0
                    and time.monotonic() - started < STARTUP_GRACE
                    and not _ready(host, port)
                ):
                    logger.error("workers.start_failed", extra={"worker": i, "code": code})
                    return code or 1
                logger.warning("workers.restart", extra={"worker": i, "code": code})
                procs[i] = (subprocess.Popen(command), time.monotonic())
        return 0
    finally:
        for proc, _ in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc, _ in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
