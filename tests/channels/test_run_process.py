"""`subagents run` as a real process: kill -9 mid-conversation, restart with the tracker
intact, then a graceful SIGTERM."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import httpx


def write_scenario(path: Path, steps: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"scenario": steps}), encoding="utf-8")  # JSON is YAML
    return path


def say(url: str, sender: str, text: str) -> list[str]:
    response = httpx.post(
        url + "/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=30
    )
    assert response.status_code == 200, response.text
    return [m.get("text") for m in response.json()]


def tracker(url: str, sender: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/conversations/{sender}/tracker", timeout=10)
    assert response.status_code == 200
    return dict(response.json())


def test_kill_9_and_restart_keeps_the_conversation(
    clinic: Path, tmp_path: Path, run_process: Any
) -> None:
    before = write_scenario(
        tmp_path / "before.yml",
        [
            {"tool_calls": [{"name": "start_flow", "arguments": {"flow": "book_appointment"}}]},
            {"text": "What is your name?"},
            {"text": ""},  # the router: the answer goes to the waiting agent
            {"tool_calls": [{"name": "set_slot_patient_name", "arguments": {"slot_value": "Ann"}}]},
            {"text": "Which date?"},
        ],
    )
    first = run_process(clinic, before)
    assert say(first.url, "ann", "book an appointment") == ["What is your name?"]
    assert say(first.url, "ann", "Ann") == ["Which date?"]
    events_before = tracker(first.url, "ann")["events"]
    assert first.kill(signal.SIGKILL) == -signal.SIGKILL

    after = write_scenario(
        tmp_path / "after.yml",
        [
            {"text": ""},  # the router: the answer goes to the waiting agent
            {
                "tool_calls": [
                    {"name": "set_slot_appointment_date", "arguments": {"slot_value": "2026-03-02"}}
                ]
            },
        ],
    )
    second = run_process(clinic, after)
    restored = tracker(second.url, "ann")
    assert restored["events"] == events_before
    assert restored["slots"]["patient_name"] == "Ann"
    # The waiting agent resumes in the new process with its persisted state.
    assert say(second.url, "ann", "the 2nd") == ["Booked Ann on 2026-03-02."]
    assert tracker(second.url, "ann")["slots"]["appointment_date"] == "2026-03-02"

    # SIGTERM: a graceful shutdown (MCP connections closed, stdio server stopped), exit 0.
    assert second.kill(signal.SIGTERM) == 0
    assert "Traceback" not in second.output()
    assert "server.closed" in second.output()


def test_run_warns_about_scripted_replies_that_do_not_fit(
    clinic: Path, tmp_path: Path, run_process: Any
) -> None:
    scenario = tmp_path / "keyed.yml"
    scenario.write_text(
        """
scenario:
  router:
    when: {tool_offered: start_flow}
    steps:
      - tool_calls: [{name: start_flow, arguments: {flow: greet}}]
      - tool_calls: [{name: start_flow, arguments: {flow: greeting}}]
  booker:
    when: {tool_offered: set_slot_patient_name}
    steps: ["never asked for"]
""",
        encoding="utf-8",
    )
    proc = run_process(clinic, scenario)
    assert say(proc.url, "u1", "hi") == ["Hello from the clinic!"]
    # The bad reply (the same conversation's next) is handled like any bad model output;
    # the server says so at once.
    assert say(proc.url, "u1", "hi again") == ["Sorry, I can't help with that."]
    warning = (
        f"warning: {scenario}: scenario.router.steps[1]: scripted tool call 'start_flow' "
        "gives flow='greeting', which is not among the values offered"
    )
    assert warning in proc.output()
    assert proc.kill(signal.SIGTERM) == 0
    output = proc.output()
    assert [line.startswith("warning: ") for line in output.splitlines()].count(True) == 2
    assert (
        f"warning: {scenario}: 1 scripted model reply was never used "
        "(first unused: scenario.booker.steps[0])"
    ) in output


def test_scripted_run_plays_the_scenario_per_conversation(
    clinic: Path, tmp_path: Path, run_process: Any
) -> None:
    scenario = write_scenario(
        tmp_path / "s.yml",
        [
            {"tool_calls": [{"name": "start_flow", "arguments": {"flow": "book_appointment"}}]},
            {"text": "What is your name?"},
        ],
    )
    served = run_process(clinic, scenario)
    # Each sender gets the scenario from its start, not the next reply of a shared queue.
    assert say(served.url, "ann", "book an appointment") == ["What is your name?"]
    assert say(served.url, "bob", "book an appointment") == ["What is your name?"]
    # Out of replies: the bot says so on every turn, the log says so once.
    for _ in range(2):
        [reply] = say(served.url, "ann", "Ann")
        assert "has no more model replies for this conversation" in reply
    assert served.kill(signal.SIGTERM) == 0
    output = served.log.read_text(errors="replace")  # all of it: the note comes first
    assert "Scripted mode: no model is called" in output
    assert "plays the scenario from its start" in output
    assert output.count("scripted.exhausted") == 1, output
    assert " ERROR " not in output, output


def test_auth_token_from_endpoints_yml_guards_the_tracker(
    clinic: Path, tmp_path: Path, run_process: Any, monkeypatch: Any
) -> None:
    # The token comes from endpoints.yml through ${VAR}, not from a flag.
    endpoints = clinic / "endpoints.yml"
    endpoints.write_text(
        endpoints.read_text() + '\nauth:\n  token: "${CLINIC_API_TOKEN}"\n', encoding="utf-8"
    )
    monkeypatch.setenv("CLINIC_API_TOKEN", "from-the-file-7731")
    scenario = write_scenario(tmp_path / "s.yml", [{"text": "Hello!"}])
    served = run_process(clinic, scenario)
    assert say(served.url, "ann", "hi") == ["Hello!"]  # the webhook stays open
    url = f"{served.url}/conversations/ann/tracker"
    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, params={"token": "wrong"}, timeout=10).status_code == 401
    ok = httpx.get(url, params={"token": "from-the-file-7731"}, timeout=10)
    assert ok.status_code == 200, ok.text
    assert served.kill(signal.SIGTERM) == 0
    assert "from-the-file-7731" not in served.log.read_text(errors="replace")
