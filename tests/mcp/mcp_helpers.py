"""Helpers for the MCP tests: configs for the toolbox server and HTTP server processes."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from subagents.config.models import MCPServerConfig

SERVERS = Path(__file__).resolve().parents[1] / "servers"
TOOLBOX = SERVERS / "toolbox_server.py"
INTERACTIVE = SERVERS / "interactive_server.py"


def stdio_config(name: str = "toolbox", **fields: Any) -> MCPServerConfig:
    """The toolbox server over stdio, run by this interpreter."""
    fields.setdefault("timeout", 10.0)
    fields.setdefault("connect_timeout", 20.0)
    return MCPServerConfig(
        name=name, type="stdio", command=sys.executable, args=[str(TOOLBOX), "stdio"], **fields
    )


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_until_dead(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.02)
    return False


class HttpServerProcess:
    """The toolbox server over HTTP (``kind`` = "http" or "sse") in a child process."""

    def __init__(
        self,
        kind: str,
        *,
        record: Path | None = None,
        legacy_only: bool = False,
        port: int = 0,
        extra_args: tuple[str, ...] = (),
        script: Path = TOOLBOX,
    ) -> None:
        self.kind = kind
        self.script = script
        self.record = record
        self.legacy_only = legacy_only
        self.port = port
        self.extra_args = extra_args
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        path = "/mcp" if self.kind == "http" else "/sse"
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> HttpServerProcess:
        args = [sys.executable, str(self.script), self.kind, "--port", str(self.port)]
        if self.record is not None:
            args += ["--record", str(self.record)]
        if self.legacy_only:
            args.append("--legacy-only")
        args += list(self.extra_args)
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("PORT "):
                    self.port = int(line.split()[1])
                    return self
                if not line:
                    break
        self.stop()
        raise RuntimeError(f"toolbox {self.kind} server did not start")

    def stop(self) -> None:
        """Kill the server by PID and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def recorded(self) -> list[dict[str, Any]]:
        """Requests the server saw (method and lower-cased headers)."""
        assert self.record is not None
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]
