"""The CLI's log lines carry the structured ``extra`` fields of our events, redacted."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from subagents.cli import EventFormatter
from subagents.scaffold import write_project

SECRET = "sk-qa-cli-log-secret-9931"

LEAKY_ACTION = '''

class ActionLeak(Action):
    """Fails with the model key in its error text, as a careless action might."""

    def name(self) -> str:
        return "action_leak"

    async def run(self, dispatcher, tracker, domain):
        import os

        raise RuntimeError("upstream rejected key " + os.environ["QA_CLI_LOG_KEY"])
'''

SCENARIO = """
user: ["leak it"]
scenario:
  - tool_calls: [{name: start_flow, arguments: {flow: leak}}]
"""


def leaky_project(root: Path) -> Path:
    """The `subagents init` project plus a flow whose custom action fails."""
    write_project(root)
    endpoints = root / "endpoints.yml"
    text = endpoints.read_text().replace("${OPENAI_API_KEY:-}", "${QA_CLI_LOG_KEY}")
    endpoints.write_text(text)
    with (root / "flows.yml").open("a") as flows:
        flows.write("\n  leak:\n    description: Leak.\n    steps:\n      - action: action_leak\n")
    with (root / "domain.yml").open("a") as domain:
        domain.write("  - action_leak\n")
    with (root / "actions/actions.py").open("a") as actions:
        actions.write(LEAKY_ACTION)
    (root / "scenarios/leak.yml").write_text(SCENARIO)
    return root


def test_shell_logs_show_event_fields_with_secrets_redacted(tmp_path: Path) -> None:
    root = leaky_project(tmp_path / "p")
    command = [sys.executable, "-m", "subagents.cli", "shell", "--project", str(root)]
    command += ["--scripted", str(root / "scenarios/leak.yml"), "--log-level", "info"]
    env = {**os.environ, "QA_CLI_LOG_KEY": SECRET}
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, env=env)
    logs = result.stderr
    assert "You: leak it" in result.stdout, logs
    connected = next(line for line in logs.splitlines() if "mcp.connected" in line)
    assert " INFO subagents.mcp mcp.connected server=clock protocol=" in connected
    failed = next(line for line in logs.splitlines() if "dialogue.action.failed" in line)
    assert "dialogue.action.failed action=action_leak error=" in failed
    assert "upstream rejected key ***" in failed  # the error text, secret redacted
    assert SECRET not in result.stdout + result.stderr
    assert "HTTP Request" not in logs  # the HTTP libraries' per-request lines stay quiet


def format_with_extra(**extra: object) -> str:
    record = logging.getLogger("subagents.qa").makeRecord(
        "subagents.qa", logging.WARNING, __file__, 1, "some.event", (), None, extra=extra
    )
    return EventFormatter("%(levelname)s %(message)s").format(record)


def test_event_fields_stay_on_one_compact_line() -> None:
    line = format_with_extra(
        server="clock",
        error="boom\nsecond line",
        tools=["a", "b"],
        attempt=2,
        event="some.event",  # repeats the event name: left out
        long="x" * 1000,
    )
    assert "\n" not in line
    assert line.startswith(
        'WARNING some.event server=clock error="boom\\nsecond line" tools=["a","b"] attempt=2 '
    )
    assert "event=" not in line
    assert line.endswith("…") and len(line) < 400
    assert format_with_extra() == "WARNING some.event"


HELLO_ACTIONS = """
from subagents.actions import Action


class ActionHello(Action):
    def name(self) -> str:
        return "action_hello"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="hello " + (tracker.get_slot("name") or ""))
        return []
"""


def wait_healthy(url: str, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"the action server at {url} did not answer within {timeout} s")


def test_action_server_logs_each_request_and_its_shutdown(tmp_path: Path) -> None:
    (tmp_path / "actions.py").write_text(HELLO_ACTIONS)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "subagents.cli", "actions", "--project", str(tmp_path)]
    proc = subprocess.Popen(
        [*command, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        tracker = {"sender_id": "u1", "slots": {"name": "Private Person"}, "events": []}
        call = {"next_action": "action_hello", "tracker": tracker, "domain": {}}
        assert httpx.post(url + "/webhook", json=call, timeout=10).status_code == 200
        missing = {**call, "next_action": "action_nope"}
        assert httpx.post(url + "/webhook", json=missing, timeout=10).status_code == 404
    finally:
        proc.send_signal(signal.SIGINT)
        _, logs = proc.communicate(timeout=30)
    lines = logs.splitlines()
    served = [line for line in lines if "actions.server.request" in line]
    assert len(served) == 2, logs
    assert " INFO subagents.actions.server actions.server.request action=action_hello " in served[0]
    assert "status=200 ms=" in served[0]
    assert "action=action_nope status=404 ms=" in served[1]
    assert "Private Person" not in logs  # never the payload
    assert any("actions.server.stopped" in line for line in lines), logs
