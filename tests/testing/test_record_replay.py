"""Record real traffic with `subagents run --record`, replay it with `subagents test`.

The model is the scripted model over real HTTP (`ScriptedModelServer`), the MCP server a
real stdio server of the project; both are gone when the recording is replayed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conversation_support import run_test
from ruamel.yaml import YAML

from subagents.testing import ScriptedModelServer

SECRET = "clinic-secret-value-1234"

MCP_SERVER = '''
import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("clinic", version="1.0")


@server.tool()
def opening_hours(day: str) -> str:
    """The clinic's opening hours on a day."""
    return f"{day}: 08:00-18:00 (desk key {os.environ['CLINIC_KEY']})"


if __name__ == "__main__":
    server.run("stdio")
'''

PROMPT = """You are the clinic's concierge. Be brief.
{{ description }}
{{ conversation_history }}
"""


def write_project(root: Path, model_url: str) -> Path:
    files = {
        "endpoints.yml": f"""
model_groups:
  - id: default
    models:
      - {{provider: openai, model: scripted, api_base: "{model_url}", retries: 0, timeout: 20}}
mcp_servers:
  - name: clinic
    type: stdio
    command: {sys.executable}
    args: ["clinic_server.py"]
    env: {{CLINIC_KEY: "${{CLINIC_KEY:-unset}}"}}
""",
        "domain.yml": "slots:\n  day: {type: text}\n",
        "flows.yml": """
flows:
  hours:
    description: Opening hours of the clinic.
    steps:
      - call: concierge
""",
        "sub_agents/concierge/config.yml": """
agent: {name: concierge, description: Answers questions about the clinic.}
configuration:
  llm: {model_group: default}
  prompt_template: prompt.jinja2
connections:
  mcp_servers: [{name: clinic}]
""",
        "sub_agents/concierge/prompt.jinja2": PROMPT,
        "clinic_server.py": MCP_SERVER,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip(), encoding="utf-8")
    return root


SCENARIO = {
    "router": {
        "when": {"tool_offered": "start_flow"},
        "steps": [{"tool_calls": [{"name": "start_flow", "arguments": {"flow": "hours"}}]}],
    },
    "concierge": {
        "when": {"tool_offered": "opening_hours"},
        "steps": [
            {"tool_calls": [{"name": "opening_hours", "arguments": {"day": "Monday"}}]},
            {
                "tool_calls": [
                    {"name": "task_completed", "arguments": {"message": "Open 8 to 6 on Monday."}}
                ]
            },
        ],
    },
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def subagents_run(project: Path, record: Path, log: Path) -> Iterator[str]:
    """`subagents run --record` as a subprocess; stopped with SIGTERM by its PID."""
    port = _free_port()
    cmd = [sys.executable, "-m", "subagents", "run", "--project", str(project)]
    cmd += ["--port", str(port), "--record", str(record)]
    # The subagents under test (this checkout), whatever the venv has installed.
    src = str(Path(__file__).resolve().parents[2] / "src")
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "CLINIC_KEY": SECRET, "PYTHONPATH": path}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text(errors="replace")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                time.sleep(0.05)
            else:
                raise AssertionError(f"not healthy: {log.read_text(errors='replace')}")
            yield url
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, log.read_text(errors="replace")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A conversation recorded through `subagents run --record`; (project, record dir)."""
    base = tmp_path_factory.mktemp("recorded")
    record = base / "recorded"
    with ScriptedModelServer(SCENARIO) as model:
        project = write_project(base / "clinic", model.url)
        with subagents_run(project, record, base / "run.log") as url:
            reply = httpx.post(
                url + "/webhooks/rest/webhook",
                json={"sender": "visitor-1", "message": "When are you open on Monday?"},
                timeout=30,
            )
            assert reply.status_code == 200
            assert [m["text"] for m in reply.json()] == ["Open 8 to 6 on Monday."]
    return project, record


def test_recording_writes_a_cassette_and_a_test_case(recorded: tuple[Path, Path]) -> None:
    _, record = recorded
    cassette_text = (record / "cassettes" / "visitor-1.yml").read_text(encoding="utf-8")
    assert SECRET not in cassette_text  # the tool echoed it; the cassette has ***
    assert "desk key ***" in cassette_text
    cassette = YAML(typ="safe").load(cassette_text)
    kinds = [next(iter(i)) for i in cassette["interactions"]]
    # In order: the user's turn, the router's request, the agent's two requests around
    # the MCP call.
    assert kinds == ["user", "llm", "llm", "mcp", "llm"]
    mcp = cassette["interactions"][3]["mcp"]
    assert (mcp["server"], mcp["tool"], mcp["arguments"]) == (
        "clinic",
        "opening_hours",
        {"day": "Monday"},
    )
    assert [t["name"] for t in cassette["servers"]["clinic"]] == ["opening_hours"]
    first = cassette["interactions"][1]["llm"]
    assert (
        first["request"]["messages"] and first["response"]["tool_calls"][0]["name"] == "start_flow"
    )
    test = YAML(typ="safe").load((record / "test_visitor-1.yml").read_text(encoding="utf-8"))
    case = test["test_cases"][0]
    assert case["cassette"] == "cassettes/visitor-1.yml"
    assert case["steps"] == [
        {"user": "When are you open on Monday?"},
        {"flow_started": "hours"},
        {"bot": "Open 8 to 6 on Monday."},
    ]


def test_replay_passes_with_the_model_and_the_mcp_server_gone(
    recorded: tuple[Path, Path], tmp_path: Path
) -> None:
    project, record = recorded
    offline = tmp_path / "offline"
    _copy_project(project, offline)
    (offline / "clinic_server.py").unlink()  # no MCP server could start now
    code, output = run_test(offline, str(record), "--replay")
    assert code == 0, output
    assert "PASSED" in output and "visitor-1" in output and "1 passed" in output


def test_replay_after_a_prompt_change_fails_with_the_diff(
    recorded: tuple[Path, Path], tmp_path: Path
) -> None:
    project, record = recorded
    changed = tmp_path / "changed"
    _copy_project(project, changed)
    prompt = changed / "sub_agents" / "concierge" / "prompt.jinja2"
    prompt.write_text(PROMPT.replace("Be brief.", "Be brief and kind."), encoding="utf-8")
    code, output = run_test(changed, str(record), "--replay")
    assert code == 1, output
    assert "FAILED" in output
    assert "model request #2 differs from the cassette visitor-1.yml (strict)" in output
    assert "-You are the clinic's concierge. Be brief." in output
    assert "+You are the clinic's concierge. Be brief and kind." in output
    # Lenient: the same difference is a warning and the case passes.
    code, output = run_test(changed, str(record), "--replay", "--lenient")
    assert code == 0, output
    assert "warning: model request #2 differs" in output


def test_a_changed_tool_schema_is_reported(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    project, record = recorded
    changed = tmp_path / "schema"
    _copy_project(project, changed)
    cassette = record / "cassettes" / "visitor-1.yml"
    edited = tmp_path / "rec"
    (edited / "cassettes").mkdir(parents=True)
    (edited / "test_visitor-1.yml").write_text(
        (record / "test_visitor-1.yml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    text = cassette.read_text(encoding="utf-8")
    # The request recorded says the tool took a "day"; pretend the server renamed it.
    old = "The clinic's opening hours on a day."
    assert old in text
    (edited / "cassettes" / "visitor-1.yml").write_text(
        text.replace(old, "Opening hours.", 1), encoding="utf-8"
    )
    code, output = run_test(changed, str(edited), "--replay")
    assert code == 1, output
    assert "the tool 'opening_hours' changed (its description or schema)" in output
    assert '-  "description": "The clinic\'s opening hours on a day.",' in output
    assert '+  "description": "Opening hours.",' in output


def test_a_missing_cassette_is_an_invalid_file(tmp_path: Path, recorded: tuple[Path, Path]) -> None:
    project, _ = recorded
    tests = tmp_path / "t"
    tests.mkdir()
    (tests / "c.yml").write_text(
        "test_cases:\n  - test_case: gone\n    cassette: nowhere.yml\n"
        "    steps:\n      - user: hi\n",
        encoding="utf-8",
    )
    code, output = run_test(project, str(tests), "--replay")
    assert code == 2, output
    assert "cannot read the cassette" in output and "gone" in output


def _copy_project(source: Path, target: Path) -> None:
    import shutil

    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".subagents"))


def test_shell_record_then_replay(tmp_path: Path) -> None:
    from conversation_support import write_project as write_small_project
    from typer.testing import CliRunner

    from subagents.cli import app

    project = write_small_project(tmp_path / "small")
    scenario = tmp_path / "chat.yml"
    scenario.write_text(
        """
scenario:
  - user: "sign me up"
  - tool_calls: [{name: start_flow, arguments: {flow: signup}}]
  - text: "What is your name?"
  - user: "Bo"
  - text: ""  # the router: the answer goes to the waiting agent
  - tool_calls: [{name: set_slot_name, arguments: {slot_value: Bo}}]
  - user: "/count"
""",
        encoding="utf-8",
    )
    record = tmp_path / "rec"
    result = CliRunner().invoke(
        app,
        ["shell", "--project", str(project), "--scripted", str(scenario)]
        + ["--sender", "s1", "--record", str(record)],
    )
    assert result.exit_code == 0, result.output
    test = YAML(typ="safe").load((record / "test_s1.yml").read_text(encoding="utf-8"))
    assert test["test_cases"][0]["steps"] == [
        {"user": "sign me up"},
        {"flow_started": "signup"},
        {"bot": "What is your name?"},
        {"user": "Bo"},
        {"slot_was_set": {"name": "Bo"}},
        {"bot": "Hello Bo!"},
        {"user": "/count"},
        {"flow_started": "count"},
        {"bot": "Visit number 1."},
        {"slot_was_set": {"visits": 1.0}},
    ]
    cassette = YAML(typ="safe").load((record / "cassettes" / "s1.yml").read_text("utf-8"))
    items = cassette["interactions"]
    # The agent's reply was streamed to the shell word by word; the cassette has it whole.
    streamed = [i["llm"]["response"] for i in items if "llm" in i and i["llm"]["stream"]]
    assert "What is your name?" in [r["text"] for r in streamed]
    actions = [i["action"] for i in items if "action" in i]
    assert [a["name"] for a in actions] == ["action_count"]
    assert [(e["event"], e["name"], e["value"]) for e in actions[0]["events"]] == [
        ("slot", "visits", 1.0)
    ]
    assert actions[0]["responses"][0]["text"] == "Visit number 1."
    code, output = run_test(project, str(record), "--replay")
    assert code == 0, output
    # The recorded bot reply is now checked: change it and the replay fails.
    path = record / "test_s1.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("Hello Bo!", "Hi Bo!"), "utf-8")
    code, output = run_test(project, str(record), "--replay")
    assert code == 1 and 'expected: a bot message equal to "Hi Bo!"' in output, output


async def test_a_recorder_that_cannot_write_does_not_fail_the_conversation(
    tmp_path: Path,
) -> None:
    from conversation_support import write_project as write_small_project

    from subagents.dialogue.assistant import Assistant
    from subagents.stores import InMemoryTrackerStore
    from subagents.testing.cassette import Recorder

    project = write_small_project(tmp_path / "small")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the recording directory should be", encoding="utf-8")
    recorder = Recorder(blocked)
    assistant = await Assistant.load(
        project, tracker_store=InMemoryTrackerStore(), hooks=recorder.hooks()
    )
    try:
        messages = await assistant.handle_message("c1", "/hours")
    finally:
        await assistant.aclose()
    assert [m["text"] for m in messages] == ["We open at 9."]


def test_replay_needs_every_server_the_project_uses_in_a_cassette(
    recorded: tuple[Path, Path], tmp_path: Path
) -> None:
    project, _ = recorded
    tests = tmp_path / "t"
    (tests / "cassettes").mkdir(parents=True)
    (tests / "cassettes" / "empty.yml").write_text("interactions: []\n", encoding="utf-8")
    (tests / "c.yml").write_text(
        "test_cases:\n  - test_case: no servers\n    cassette: cassettes/empty.yml\n"
        "    steps:\n      - user: /hours\n",
        encoding="utf-8",
    )
    code, output = run_test(project, str(tests), "--replay")
    assert code == 2, output
    assert "MCP server 'clinic': is not in any cassette of this run" in output
