"""The action server: token from the environment or a file, redacted logs, error ids."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from subagents.cli import app

TOKEN = "act-token-7f3a9c2e5b"
ACTIONS = f"""
from subagents.actions import Action


class Leaky(Action):
    def name(self):
        return "action_leaky"

    async def run(self, dispatcher, tracker, domain):
        raise RuntimeError(
            "connect failed: postgres://app:hunter2secret@db/x "
            "token={TOKEN} key sk-abcdefghijklmnopqrstuvwx"
        )


class Hello(Action):
    def name(self):
        return "action_hello"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="hello")
        return []
"""


def call(action: str) -> dict[str, object]:
    tracker = {"sender_id": "u", "slots": {}, "latest_message": {}, "events": []}
    return {"next_action": action, "sender_id": "u", "tracker": tracker, "domain": {}}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "acts"
    package = root / "leaky_actions"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(ACTIONS))
    (root / "endpoints.yml").write_text("action_endpoint:\n  actions_module: leaky_actions\n")
    return root


def start(
    project: Path, port: int, log: Path, *args: str, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "subagents.cli", "actions", "--project", str(project)]
    cmd += ["--port", str(port), *args]
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=log.open("wb"), env={**os.environ, **env}
    )


@pytest.fixture
def stop_all() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the action server exited"
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


def test_token_from_a_file_errors_by_id_and_redacted_log(
    project: Path, tmp_path: Path, free_port: int, stop_all: list[subprocess.Popen[bytes]]
) -> None:
    # Before: the token only on the command line (visible in ps), the exception text in
    # the 500 body, the log unredacted.
    log = tmp_path / "actions.log"
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    proc = start(project, free_port, log, "--token-file", str(token_file), env={})
    stop_all.append(proc)
    url = f"http://127.0.0.1:{free_port}"
    wait_healthy(url, proc)
    assert TOKEN not in Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
    assert httpx.post(f"{url}/webhook", json=call("action_hello")).status_code == 401
    assert httpx.get(f"{url}/actions").status_code == 401
    ok = httpx.post(f"{url}/webhook", json=call("action_hello"), params={"token": TOKEN})
    assert ok.status_code == 200
    assert (
        httpx.post(f"{url}/webhook", json=call("action_hello"), params={"token": "tök"}).status_code
        == 401
    )

    failed = httpx.post(
        f"{url}/webhook", json=call("action_leaky"), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert failed.status_code == 500
    error = failed.json()["error"]
    match = re.search(r"error id ([0-9a-f]{12})", error)
    assert match, error
    for secret in ("hunter2secret", TOKEN, "sk-abcdefghij", "RuntimeError"):
        assert secret not in error
    proc.terminate()
    proc.wait(timeout=10)
    text = log.read_text()
    assert match.group(1) in text and "RuntimeError: connect failed" in text  # the detail is logged
    for secret in ("hunter2secret", TOKEN, "sk-abcdefghij"):
        assert secret not in text


def test_token_file_errors_and_exposed_warning(project: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    empty = tmp_path / "empty"
    empty.write_text("\n")
    result = runner.invoke(app, ["actions", "--project", str(project), "--token-file", str(empty)])
    assert result.exit_code == 1
    assert "is empty" in result.output
    both = runner.invoke(
        app, ["actions", "--project", str(project), "--token", "x", "--token-file", str(empty)]
    )
    assert both.exit_code == 1 and "give the token once" in both.output
    # Not bound: the module does not exist, so the server stops before listening.
    exposed = runner.invoke(
        app, ["actions", "--project", str(project), "--actions", "no_such_mod", "--host", "0.0.0.0"]
    )
    assert "without a token" in exposed.output
    assert exposed.exit_code == 1
    with_env = runner.invoke(
        app,
        ["actions", "--project", str(project), "--actions", "no_such_mod", "--host", "0.0.0.0"],
        env={"SUBAGENTS_ACTIONS_TOKEN": TOKEN},
    )
    assert "without a token" not in with_env.output
