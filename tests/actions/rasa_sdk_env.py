"""A real Rasa SDK (from PyPI) in its own virtual environment, and its action servers.

The venv is created once in ``~/.cache/subagents-tests/rasa-sdk-3.21.1`` and reused.
Servers bind 127.0.0.1 on a free port, run in their own process group (Sanic forks a
worker) and are stopped by that group's id.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

RASA_SDK_VERSION = "3.21.1"
CACHE = Path.home() / ".cache" / "subagents-tests" / f"rasa-sdk-{RASA_SDK_VERSION}"
HERE = Path(__file__).parent
INSTALL_TIMEOUT = 600
START_TIMEOUT = 60


def rasa_python() -> Path:
    """The python of the Rasa SDK venv, creating the venv on first use."""
    python = CACHE / "bin" / "python"
    marker = CACHE / ".subagents-ready"
    if marker.is_file() and python.is_file():
        return python
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(CACHE)], check=True, timeout=120)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"rasa-sdk=={RASA_SDK_VERSION}"],
        check=True,
        timeout=INSTALL_TIMEOUT,
    )
    marker.write_text(RASA_SDK_VERSION)
    return python


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RasaServer:
    """A running Rasa SDK action server."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def rasa_action_server(
    project: Path, module: str, *, grpc: bool, log_dir: Path
) -> Iterator[RasaServer]:
    """Run ``python -m rasa_sdk --actions module --port N [--grpc]`` while the block runs."""
    python = rasa_python()
    port = free_port()
    log = log_dir / f"rasa-sdk-{'grpc' if grpc else 'http'}-{port}.log"
    cmd = [str(python), str(HERE / "rasa_launch.py"), "--actions", module, "--port", str(port)]
    if grpc:
        cmd.append("--grpc")
    env = {
        **os.environ,
        "SANIC_HOST": "127.0.0.1",
        "PYTHONPATH": str(project),
        "PYTHONWARNINGS": "ignore",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd, cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = RasaServer(port, process, log)
    try:
        _wait_ready(server, grpc)
        yield server
    finally:
        _stop(process)


def _wait_ready(server: RasaServer, grpc: bool) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"Rasa SDK server exited:\n{server.log.read_text()[-2000:]}")
        if _ready(server, grpc):
            return
        time.sleep(0.1)
    raise TimeoutError(f"Rasa SDK server not ready in {START_TIMEOUT}s:\n{server.log.read_text()}")


def _ready(server: RasaServer, grpc: bool) -> bool:
    if not grpc:
        try:
            return httpx.get(f"{server.http_url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False
    import grpc as grpc_lib
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc_lib.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="ActionServer"), timeout=1
            )
        except grpc_lib.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the process group we started (the server and Sanic's worker)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break  # the whole group is gone
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            time.sleep(0.2)  # bounded grace for the forked worker, then SIGKILL the rest
