"""`subagents shell` driven by a script: piped stdin, and a scenario's own user turns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from subagents.cli import app

SCENARIO = {
    "scenario": [
        {"user": "when are you open?"},
        {"tool_calls": [{"name": "start_flow", "arguments": {"flow": "clinic_info"}}]},
        {"tool_calls": [{"name": "opening_hours", "arguments": {}}]},
        {
            "tool_calls": [
                {
                    "name": "task_completed",
                    "arguments": {"message": "We are open Mon-Fri 08:00-18:00."},
                }
            ]
        },
        {"user": "/greet"},
    ]
}


def shell(project: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "subagents.cli", "shell", "--project", str(project), *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)


def shell_in_process(project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["shell", "--project", str(project), *args])
    return result.exit_code, result.output


def test_shell_plays_the_user_turns_of_a_scenario(clinic: Path, tmp_path: Path) -> None:
    scenario = tmp_path / "demo.yml"
    scenario.write_text(json.dumps(SCENARIO), encoding="utf-8")
    code, out = shell_in_process(clinic, "--scripted", str(scenario))
    assert code == 0, out
    assert "You: when are you open?" in out
    assert "… concierge is working" in out
    assert "Bot: We are open Mon-Fri 08:00-18:00." in out
    assert out.index("You: /greet") < out.index("Bot: Hello from the clinic!")


def test_shell_reads_piped_stdin_and_streams_action_chunks(clinic: Path, tmp_path: Path) -> None:
    scenario = tmp_path / "s.yml"
    scenario.write_text(
        json.dumps(
            {
                "scenario": [
                    {
                        "tool_calls": [
                            {"name": "start_flow", "arguments": {"flow": "book_appointment"}}
                        ]
                    },
                    {
                        "tool_calls": [
                            {"name": "set_slot_patient_name", "arguments": {"slot_value": "Ann"}},
                            {
                                "name": "set_slot_appointment_date",
                                "arguments": {"slot_value": "2026-03-04"},
                            },
                        ]
                    },
                ]
            }
        ),
        encoding="utf-8",
    )
    result = shell(
        clinic, "--scripted", str(scenario), stdin="/greet\nbook for Ann\n/exit\nnever\n"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Bot: Hello from the clinic!" in out
    assert "Bot: Booked Ann on 2026-03-04." in out
    assert "never" not in out


def test_shell_fails_clearly_when_the_scenario_runs_out(clinic: Path, tmp_path: Path) -> None:
    scenario = tmp_path / "short.yml"
    scenario.write_text(json.dumps({"scenario": [{"user": "book please"}]}), encoding="utf-8")
    code, out = shell_in_process(clinic, "--scripted", str(scenario))
    assert code == 1
    assert "has no more model replies for this conversation" in out  # the bot says so
    assert "ran out of model replies" in out


def test_scripted_replies_that_do_not_fit_the_request_are_warned_per_step(
    clinic: Path, tmp_path: Path
) -> None:
    scenario = tmp_path / "typos.yml"
    scenario.write_text(
        """
scenario:
  - user: "when are you open?"
  - tool_calls: [{name: start_flow, arguments: {flow: clinic_inf}}]
  - user: "when are you open, please?"
  - tool_calls: [{name: start_flow, arguments: {flow: clinic_info}}]
  - tool_calls: [{name: opening_hour, arguments: {}}]
  - tool_calls: [{name: task_completed, arguments: {message: "Open 8-18."}}]
""",
        encoding="utf-8",
    )
    code, out = shell_in_process(clinic, "--scripted", str(scenario))
    # The framework copes with the bad model output, so the run goes on to the end.
    assert code == 0, out
    flow_warning = (
        f"warning: {scenario}: scenario[1]: scripted tool call 'start_flow' gives "
        "flow='clinic_inf', which is not among the values offered (book_appointment, "
        "clinic_info, greet, gated); did you mean 'clinic_info'?"
    )
    tool_warning = (
        f"warning: {scenario}: scenario[4]: scripted tool call 'opening_hour' names a tool "
        "this request did not offer (offered: "
    )
    assert flow_warning in out
    assert tool_warning in out and "did you mean 'opening_hours'?" in out
    # Each warning follows the turn it happened in.
    assert out.index(flow_warning) < out.index("You: when are you open, please?")
    assert out.index("Bot: Open 8-18.") < out.index(tool_warning)
    assert out.count("warning:") == 2
