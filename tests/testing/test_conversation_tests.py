"""`subagents test`: YAML conversation tests run in-process, with stubbed model and actions."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conversation_support import run_test, write_project

PASSING = """
fixtures:
  known: {name: Ann}
test_cases:
  - test_case: hello by payload
    fixtures: [known]
    steps:
      - user: /hello
      - flow_started: hello
      - bot: "Hello Ann!"
      - flow_completed: hello
  - test_case: routed by the model
    steps:
      - user: "when do you open?"
        llm:
          - tool_calls: [{name: start_flow, arguments: {flow: hours}}]
      - bot: {matches: "open at \\\\d"}
      - user: /hours
      - utter: utter_hours
  - test_case: agent asks, then fills the slot
    steps:
      - user: "sign me up"
        llm:
          - tool_calls: [{name: start_flow, arguments: {flow: signup}}]
          - text: "What is your name?"
      - agent_called: {name: namer, status: input_required}
      - bot: "What is your name?"
      - slot_was_not_set: [name]
      - user: "Bo"
        llm:
          - text: ""
          - tool_calls: [{name: set_slot_name, arguments: {slot_value: Bo}}]
      - tool_called: {name: set_slot_name, arguments: {slot_value: Bo}}
      - slot_was_set: {name: Bo}
      - agent_called: {name: namer, status: completed}
      - bot: "Hello Bo!"
  - test_case: action runs for real
    steps:
      - user: /count
      - action_executed: action_count
      - slot_was_set: {visits: 1}
      - bot: "Visit number 1."
      - user: /count
      - bot: "Visit number 2."
  - test_case: action stubbed
    steps:
      - user: /count
        actions:
          action_count:
            events: [{event: slot, name: visits, value: 41}]
            responses: [{text: "stubbed count"}]
      - slot_was_set: {visits: 41}
      - bot: "stubbed count"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj")


def test_passing_cases_exit_0_with_a_line_per_case_summary_and_coverage(project: Path) -> None:
    (project / "tests" / "chat.yml").write_text(PASSING, encoding="utf-8")
    code, output = run_test(project, "--workers", "2", "--junit-xml", str(project / "j.xml"))
    assert code == 0, output
    for name in ("hello by payload", "routed by the model", "action stubbed"):
        assert f"PASSED tests/chat.yml::{name}" in output
    assert "5 passed" in output
    # Coverage: every flow was started; the agent ran; the one action ran.
    assert "flows" in output and "4/4" in output
    assert "agents" in output and "1/1" in output
    suite = ET.parse(project / "j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "5" and suite.get("failures") == "0"


def test_a_mismatch_reports_case_step_expected_actual_and_transcript(project: Path) -> None:
    (project / "tests" / "chat.yml").write_text(
        """
test_cases:
  - test_case: wrong greeting
    steps:
      - user: /hours
      - bot: "We open at 10."
""",
        encoding="utf-8",
    )
    code, output = run_test(project, "--junit-xml", str(project / "j.xml"))
    assert code == 1, output
    assert "FAILED tests/chat.yml::wrong greeting" in output
    assert "step test_cases[0].steps[1].bot (line 6)" in output
    assert 'expected: a bot message equal to "We open at 10."' in output
    assert 'actual:   bot said 1 message(s): "We open at 9."' in output
    assert "user: /hours" in output and "bot: We open at 9." in output
    failure = ET.parse(project / "j.xml").getroot().find("testsuite/testcase/failure")
    assert failure is not None and "We open at 10." in (failure.text or "")


def test_unused_and_missing_model_replies_fail_the_turn(project: Path) -> None:
    (project / "tests" / "chat.yml").write_text(
        """
test_cases:
  - test_case: too many replies
    steps:
      - user: /hours
        llm: ["never asked"]
  - test_case: too few replies
    steps:
      - user: "sign me up"
        llm:
          - tool_calls: [{name: start_flow, arguments: {flow: signup}}]
""",
        encoding="utf-8",
    )
    code, output = run_test(project)
    assert code == 1, output
    assert "1 reply(ies) the model was never asked for" in output
    assert "FAILED tests/chat.yml::too few replies" in output
    assert "the model was asked for reply #2 of this turn but its `llm:` stub has only 1" in output
    assert "set_slot_name" in output


def test_offline_run_fails_a_turn_nothing_answers_without_calling_the_model(
    project: Path,
) -> None:
    (project / "tests" / "chat.yml").write_text(
        "test_cases:\n  - test_case: unstubbed\n    steps:\n      - user: hi\n",
        encoding="utf-8",
    )
    code, output = run_test(project, "--replay")
    assert code == 1, output
    assert "no `llm:` stub or cassette answers (offline run: --replay)" in output


def test_k_selects_cases(project: Path) -> None:
    (project / "tests" / "chat.yml").write_text(PASSING, encoding="utf-8")
    code, output = run_test(project, "-k", "action and not stubbed")
    assert code == 0, output
    assert "1 passed" in output and "action runs for real" in output


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("test_cases:\n  - test_case: a\n    steps:\n      - bott: hi\n", 4, "did you mean 'bot'"),
        (
            "test_cases:\n  - test_case: a\n    steps:\n      - user: hi\n"
            "      - flow_started: nope\n",
            5,
            "unknown flow 'nope'",
        ),
        (
            "test_cases:\n  - test_case: a\n    steps:\n      - user: hi\n"
            "        llm: [{txt: hi}]\n",
            5,
            "did you mean 'text'",
        ),
        ("test_cases:\n  - test_case: a\n    steps:\n      - bot: hi\n", 4, "follow a `user:`"),
        (
            "test_cases:\n  - test_case: a\n    fixtures: [vip]\n    steps:\n      - user: hi\n",
            3,
            "unknown fixture",
        ),
        (
            "test_cases:\n  - test_case: a\n    steps:\n      - user: hi\n"
            "      - slot_was_set: {nmae: x}\n",
            5,
            "did you mean 'name'",
        ),
    ],
)
def test_invalid_files_exit_2_with_file_line_errors(
    project: Path, text: str, line: int, message: str
) -> None:
    (project / "tests" / "bad.yml").write_text(text, encoding="utf-8")
    code, output = run_test(project)
    assert code == 2, output
    assert f"tests/bad.yml:{line}: " in output and message in output, output
    assert "nothing ran" in output


def test_yaml_files_without_test_cases_are_not_read(project: Path) -> None:
    (project / "tests" / "data.yml").write_text("just: [data, {not: tests}]\n", encoding="utf-8")
    code, output = run_test(project)
    assert code == 0 and "no test cases selected" in output


MEET_ACTION = '''

import asyncio
import os
from pathlib import Path


class ActionMeet(Action):
    """Waits (bounded) until another conversation runs this action too."""

    def name(self):
        return "action_meet"

    async def run(self, dispatcher, tracker, domain):
        room = Path(os.environ["MEET_ROOM"])
        (room / tracker.sender_id).touch()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while len(list(room.iterdir())) < 2 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        met = len(list(room.iterdir())) >= 2
        dispatcher.utter_message(text="met" if met else "alone")
        return []
'''


def test_workers_run_cases_concurrently(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two cases whose action only finishes once the other case's action has started.
    (project / "actions" / "__init__.py").open("a").write(MEET_ACTION)
    domain = (project / "domain.yml").read_text()
    (project / "domain.yml").write_text(domain + "  - action_meet\n")
    flows = (project / "flows.yml").read_text()
    meet = "  meet:\n    description: Meet.\n    steps:\n      - action: action_meet\n"
    (project / "flows.yml").write_text(flows + meet)
    room = tmp_path / "room"
    room.mkdir()
    monkeypatch.setenv("MEET_ROOM", str(room))
    case = "  - test_case: {0}\n    steps:\n      - user: /meet\n      - bot: met\n"
    (project / "tests" / "meet.yml").write_text(
        "test_cases:\n" + case.format("a") + case.format("b")
    )
    code, output = run_test(project, "--workers", "2")
    assert code == 0, output
    assert "2 passed" in output


TOOL_SERVER = '''
from mcp.server.mcpserver import MCPServer

server = MCPServer("hours", version="1.0")


@server.tool()
def opening_hours(day: str) -> str:
    """The opening hours on a day."""
    return f"{day}: 09:00-17:00"


if __name__ == "__main__":
    server.run("stdio")
'''


def test_a_flow_tool_step_is_stubbed_like_an_agent_tool(project: Path) -> None:
    import sys

    (project / "hours_server.py").write_text(TOOL_SERVER, encoding="utf-8")
    endpoints = (project / "endpoints.yml").read_text()
    server = (
        f"mcp_servers:\n  - name: hours\n    type: stdio\n    command: {sys.executable}\n"
        '    args: ["hours_server.py"]\n'
    )
    (project / "endpoints.yml").write_text(endpoints + server)
    domain = (
        (project / "domain.yml")
        .read_text()
        .replace(
            "slots:\n",
            "slots:\n  day: {type: text, initial_value: Monday}\n  hours: {type: text}\n",
        )
    )
    domain = domain.replace(
        "responses:\n", 'responses:\n  utter_hours_are:\n    - text: "Hours: {hours}"\n'
    )
    (project / "domain.yml").write_text(domain)
    step = """
  hours_tool:
    description: Opening hours from the server.
    steps:
      - call: opening_hours
        mcp_server: hours
        mapping:
          input:
            - {param: day, slot: day}
          output:
            - {slot: hours, value: "result.content[0].text"}
      - action: utter_hours_are
"""
    (project / "flows.yml").write_text((project / "flows.yml").read_text() + step)
    (project / "tests" / "tool.yml").write_text(
        """
test_cases:
  - test_case: real server
    steps:
      - user: /hours_tool
      - tool_called: {name: opening_hours, server: hours, arguments: {day: Monday}}
      - bot: "Hours: Monday: 09:00-17:00"
  - test_case: stubbed
    steps:
      - user: /hours_tool
        tools:
          - {name: opening_hours, server: hours, result: "closed for holidays"}
      - slot_was_set: {hours: "closed for holidays"}
      - bot: "Hours: closed for holidays"
""",
        encoding="utf-8",
    )
    code, output = run_test(project, str(project / "tests" / "tool.yml"))
    assert code == 0, output
    assert "2 passed" in output
