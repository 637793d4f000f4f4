"""Serving as a newcomer (and a container) meets it (issue 16, items 5, 10 and 11): SIGTERM
stops every server cleanly with exit 0 and a stop line; every gRPC call is logged like an
HTTP one; `run` binds its port before starting anything; uvicorn's lines look like ours;
the help shows flags as flags and the log levels; `--version`."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from typer.testing import CliRunner

from subagents.actions import wire
from subagents.actions.protos import action_webhook_pb2_grpc as pb_grpc
from subagents.cli import app

SRC = str(Path(__file__).resolve().parents[1] / "src")
ACTIONS = """
from subagents.actions import Action


class ActionHello(Action):
    def name(self) -> str:
        return "action_hello"

    async def run(self, dispatcher, tracker, domain):
        await dispatcher.stream_start()
        await dispatcher.stream_chunk(text="hel")
        await dispatcher.stream_chunk(text="lo")
        await dispatcher.stream_end()
        return []
"""
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) \S+ ")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC}


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    """Start ``subagents <args>`` as a process; stopped (by PID) after the test."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "subagents.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
            cwd=tmp_path,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


def _wait_for(check: object, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if check():  # type: ignore[operator]
                return
        except (httpx.TransportError, grpc.RpcError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"not ready within {timeout} s")


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_http_action_server_stops_cleanly_on_sigterm(tmp_path: Path, serve: object) -> None:
    (tmp_path / "actions.py").write_text(ACTIONS)
    port = _free_port()
    proc = serve("actions", "--project", str(tmp_path), "--port", str(port))  # type: ignore[operator]
    url = f"http://127.0.0.1:{port}/health"
    _wait_for(lambda: httpx.get(url, timeout=2).status_code == 200, proc)
    code, out, err = _stop(proc)
    assert code == 0, err
    assert "subagents action server stopped (SIGTERM)" in out
    assert "actions.server.stopped" in err


def test_grpc_action_server_logs_each_call_and_stops_cleanly_on_sigterm(
    tmp_path: Path, serve: object
) -> None:
    (tmp_path / "actions.py").write_text(ACTIONS)
    port = _free_port()
    proc = serve("actions", "--project", str(tmp_path), "--port", str(port), "--grpc")  # type: ignore[operator]
    tracker = {"sender_id": "u1", "slots": {}, "events": []}
    call = {"next_action": "action_hello", "tracker": tracker, "domain": {}}
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.ActionServiceStub(channel)  # type: ignore[no-untyped-call]
        _wait_for(lambda: stub.Webhook(wire.request_to_proto(call), timeout=5) is not None, proc)
        chunks = list(stub.WebhookStream(wire.request_to_proto(call), timeout=10))
        assert len(chunks) >= 2
        with pytest.raises(grpc.RpcError) as missing:
            stub.Webhook(wire.request_to_proto({**call, "next_action": "nope"}), timeout=5)
        assert missing.value.code() is grpc.StatusCode.NOT_FOUND
    code, out, err = _stop(proc)
    assert code == 0, err
    assert "subagents action server stopped (SIGTERM)" in out
    served = [line for line in err.splitlines() if "actions.server.request" in line]
    assert [
        re.sub(r" ms=[\d.]+$", "", line.split(" actions.server.request ")[1]) for line in served
    ][-3:] == [
        "rpc=Webhook action=action_hello status=OK",
        "rpc=WebhookStream action=action_hello status=OK",
        "rpc=Webhook action=nope status=NOT_FOUND",
    ]
    assert all(LINE.match(line) for line in served)


PROJECT = {
    "flows.yml": "flows:\n  hi:\n    description: hi\n    steps:\n      - action: utter_hi\n",
    "domain.yml": "responses:\n  utter_hi:\n    - text: Hi\n",
    "endpoints.yml": "tracker_store: {type: memory}\n",
}


def _project(root: Path, extra: dict[str, str] | None = None) -> Path:
    for name, text in {**PROJECT, **(extra or {})}.items():
        (root / name).write_text(text)
    return root


def test_run_stops_cleanly_on_sigterm_and_logs_access_lines_like_ours(
    tmp_path: Path, serve: object
) -> None:
    port = _free_port()
    proc = serve("run", "--project", str(_project(tmp_path)), "--port", str(port))  # type: ignore[operator]
    url = f"http://127.0.0.1:{port}"
    _wait_for(lambda: httpx.get(url + "/health", timeout=2).status_code == 200, proc)
    reply = httpx.post(url + "/webhooks/rest/webhook", json={"sender": "a", "message": "/hi"})
    assert reply.json() == [{"recipient_id": "a", "text": "Hi"}]
    code, _, err = _stop(proc)
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.strip()]
    access = [line for line in lines if " uvicorn.access " in line]
    assert access, err
    assert "INFO uvicorn.access 127.0.0.1:" in access[-1]
    assert '"POST /webhooks/rest/webhook HTTP/1.1" 200' in access[-1]
    # Every line, ours and uvicorn's, has the one format.
    assert all(LINE.match(line) for line in lines), err
    assert "config.loaded" in err and "1 flow" in err  # what it found, at start
    assert lines[-1].endswith("server.closed signal=SIGTERM"), err


def test_run_on_a_busy_port_fails_before_starting_mcp_servers(tmp_path: Path) -> None:
    marker = tmp_path / "mcp-started"
    server = f"import pathlib, time; pathlib.Path({str(marker)!r}).touch(); time.sleep(30)"
    endpoints = (
        "tracker_store: {type: memory}\nmcp_servers:\n  - name: slow\n    type: stdio\n"
        f"    command: python\n    args: ['-c', {server!r}]\n"
    )
    agent = "agent:\n  name: a\n  description: a\nconnections:\n  mcp_servers:\n    - name: slow\n"
    _project(tmp_path, {"endpoints.yml": endpoints})
    (tmp_path / "sub_agents" / "a").mkdir(parents=True)
    (tmp_path / "sub_agents" / "a" / "config.yml").write_text(agent)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        result = CliRunner().invoke(app, ["run", "--project", str(tmp_path), "--port", str(port)])
        elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert f"could not serve on 127.0.0.1:{port}" in result.output
    assert "pick another with --port" in result.output
    assert not marker.exists()  # the MCP server was never started
    assert elapsed < 2.5, elapsed


def test_version() -> None:
    from subagents import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"subagents {__version__}\n"


def test_help_shows_flags_as_flags_and_the_log_levels() -> None:
    help_text = CliRunner().invoke(app, ["actions", "--help"], terminal_width=100).output
    assert "<bool>" not in help_text
    assert re.search(r"^  --grpc +Serve gRPC instead of HTTP\.", help_text, re.MULTILINE)
    assert re.search(r"^  --help +Show this message and exit\.", help_text, re.MULTILINE)
    assert "--log-level <debug|info|warning|error>" in help_text
    init_help = CliRunner().invoke(app, ["init", "--help"], terminal_width=100).output
    assert "Usage: subagents init [OPTIONS] DIRECTORY\n" in init_help
    assert "{" not in init_help


def test_a_wrong_log_level_names_the_choices(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--project", str(tmp_path), "--log-level", "loud"])
    assert result.exit_code == 2
    assert "'loud' is not one of 'debug', 'info', 'warning', 'error'" in result.output
