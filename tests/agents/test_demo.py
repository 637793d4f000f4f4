"""`subagents agent`: one agent from the command line, offline.

Runs the command in-process (the real loader, agent and scripted model) on a
small project with a task agent and no MCP servers, and checks what the user reads.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import typer.main

from subagents.cli import app

DOMAIN = """
slots:
  city: {type: text}
  people: {type: float}
  note: {type: text}
"""
AGENT = """
agent:
  name: collector
  description: Collects the city of a booking.
"""
ASK_THEN_SET = """
scenario:
  - text: "Which city?"
  - tool_calls: [{name: set_slot_city, arguments: {slot_value: Paris}}]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "domain.yml").write_text(DOMAIN, encoding="utf-8")
    agent_dir = tmp_path / "sub_agents" / "collector"
    agent_dir.mkdir(parents=True)
    (agent_dir / "config.yml").write_text(AGENT, encoding="utf-8")
    (tmp_path / "s.yml").write_text(ASK_THEN_SET, encoding="utf-8")
    return tmp_path


def main(argv: list[str]) -> int:
    """`subagents agent ARGV...` in-process; its exit code."""
    command = typer.main.get_command(app)
    code = command.main(["agent", *argv], prog_name="subagents", standalone_mode=False)
    return int(code or 0)


def run(project: Path, *args: str) -> list[str]:
    return ["--project", str(project), "--scenario", str(project / "s.yml"), *args]


EXIT = ["--agent", "collector", "--exit-if", "slots.city is not null"]


def test_task_agent_over_two_messages(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(run(project, *EXIT, "book a table", "Paris"))
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[:3] == [
        "user: book a table",
        "agent: Which city?",
        "  (input_required, 1 LLM calls)",
    ]
    assert lines[3:] == [
        "user: Paris",
        '  [tool ok] set_slot_city({"slot_value": "Paris"}) -> Slot \'city\' set to "Paris".',
        '  [slot] city = "Paris"',
        "  (completed, 1 LLM calls)",
    ]


def test_preset_slots_are_parsed_as_json_when_possible(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Ordering compares two numbers only: "people > 1" holds only if 2 arrived as a number.
    done = ["--exit-if", "slots.people > 1", "--exit-if", "slots.note = 'by the window'"]
    args = ["--agent", "collector", *done, "--slot", "people=2", "--slot", "note=by the window"]
    assert main(run(project, *args, "--json", "book a table")) == 0
    out = capsys.readouterr().out
    output = json.loads(out[out.index("{") :])
    assert output["status"] == "completed"
    assert output["metadata"]["iterations"] == 0  # the conditions held: no model call


def test_stream_prints_text_as_it_arrives(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(run(project, *EXIT, "--stream", "book a table")) == 0
    out = capsys.readouterr().out
    assert out.count("Which city?") == 1  # streamed once, not printed again at the end
    assert "agent: Which city?\n" in out


def test_scenario_running_out_is_reported(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(run(project, "--agent", "collector", "one", "two", "three"))
    captured = capsys.readouterr()
    assert code == 1
    assert "error: scripted scenario exhausted after 2 replies" in captured.out  # says why
    assert f"error: {project / 's.yml'}: the scenario ran out of model replies" in captured.err
    assert "add the missing replies" in captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agent", "nobody", "hi"], "error: unknown agent 'nobody' (known agents: collector)"),
        (
            ["--agent", "collector", "--slot", "city", "hi"],
            "error: --slot expects name=value (e.g. --slot city=Paris), got 'city'",
        ),
    ],
)
def test_usage_errors(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(run(project, *args)) == 2
    assert capsys.readouterr().err.strip() == message


def test_mcp_server_that_cannot_start_is_named(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crash = "import sys; sys.stderr.write('no database configured'); sys.exit(3)"
    (project / "endpoints.yml").write_text(
        "mcp_servers:\n"
        "  - name: inventory\n"
        "    type: stdio\n"
        f"    command: {json.dumps(sys.executable)}\n"
        f"    args: [-c, {json.dumps(crash)}]\n",
        encoding="utf-8",
    )
    config = project / "sub_agents" / "collector" / "config.yml"
    config.write_text(AGENT + "connections:\n  mcp_servers:\n    - name: inventory\n")
    assert main(run(project, "--agent", "collector", "hi")) == 1
    err = capsys.readouterr().err
    assert "inventory" in err and "no database configured" in err
