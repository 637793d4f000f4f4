"""`subagents shell` as a user drives it: rich messages, /restart, blank lines, Ctrl-D.

A small project without agents or MCP servers (``/flow`` commands need no model), so
these runs are quick; the interactive one talks to the shell through a real pseudo
terminal, like a person at a keyboard.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from subagents.cli import app

FILES = {
    "endpoints.yml": "action_endpoint:\n  actions_module: actions\n",
    "domain.yml": """
slots:
  visits:
    type: float
    initial_value: 0
responses:
  utter_card:
    - text: "Pick a size"
      buttons:
        - {title: Small, payload: /small}
        - {title: Large, payload: /visit}
      image: https://example.org/sizes.png
  utter_payload:
    - custom: {kind: map, zoom: 3}
""",
    "flows.yml": """
flows:
  card:
    description: Show the size card.
    steps:
      - action: utter_card
  payload:
    description: Send a custom payload.
    steps:
      - action: utter_payload
  visit:
    description: Count a visit.
    steps:
      - action: action_visit
""",
    "actions/__init__.py": "",
    "actions/visits.py": """
from subagents.actions import Action, SlotSet


class ActionVisit(Action):
    def name(self):
        return "action_visit"

    async def run(self, dispatcher, tracker, domain):
        visits = int(tracker.get_slot("visits") or 0) + 1
        dispatcher.utter_message(text=f"visit #{visits}")
        return [SlotSet("visits", float(visits))]
""",
}


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip(), encoding="utf-8")
    (tmp_path / "none.yml").write_text("scenario: []\n", encoding="utf-8")
    return root


def shell(project: Path, stdin: str, *args: str) -> tuple[int, str]:
    scenario = project.parent / "none.yml"
    result = CliRunner().invoke(
        app, ["shell", "--project", str(project), "--scripted", str(scenario), *args], input=stdin
    )
    return result.exit_code, result.output


def test_buttons_image_and_custom_payloads_are_shown(shop: Path) -> None:
    code, out = shell(shop, "/card\n/payload\n")
    assert code == 0, out
    assert "Bot: Pick a size [1: Small | 2: Large] (image: https://example.org/sizes.png)" in out
    assert "Bot: (custom: {'kind': 'map', 'zoom': 3})" in out


def test_typing_a_button_number_sends_its_payload(shop: Path) -> None:
    code, out = shell(shop, "/card\n2\n")
    assert code == 0, out
    lines = out.splitlines()
    # "2" picked the second button: its payload ran the visit flow without the model.
    assert "  → Large (/visit)" in lines
    assert "Bot: visit #1" in lines


def test_restart_forgets_the_conversation(shop: Path) -> None:
    code, out = shell(shop, "/visit\n/visit\n/restart\n/visit\n", "--sender", "ann")
    assert code == 0, out
    bot = [line for line in out.splitlines() if line.startswith("Bot: visit")]
    assert bot == ["Bot: visit #1", "Bot: visit #2", "Bot: visit #1"]
    # Continuing the same conversation id later keeps its slots (SQLite store).
    code, out = shell(shop, "/visit\n", "--sender", "ann")
    assert "Bot: visit #2" in out


def test_blank_lines_are_skipped_and_exit_stops_reading(shop: Path) -> None:
    code, out = shell(shop, "\n   \n/visit\n/quit\n/visit\n")
    assert code == 0, out
    assert out.count("You:") == 1  # the blank lines were not sent
    assert out.count("Bot: visit") == 1  # nothing after /quit


def test_interactive_prompt_and_ctrl_d(shop: Path) -> None:
    """On a terminal the shell prompts `You:`; Ctrl-D ends the session with exit code 0."""
    master, slave = pty.openpty()
    cmd = [sys.executable, "-m", "subagents.cli", "shell", "--project", str(shop)]
    cmd += ["--scripted", str(shop.parent / "none.yml")]
    proc = subprocess.Popen(
        cmd, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    os.close(slave)
    try:
        # The terminal hands over one line per read; Ctrl-D at a line start is EOF.
        os.write(master, b"/visit\n\x04")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        os.close(master)
    assert proc.returncode == 0, err
    assert "/restart starts over, /exit or Ctrl-D quits" in out
    # Prompted, answered, prompted again; Ctrl-D then ends the line and the session.
    assert out.index("You: ") < out.index("Bot: visit #1") < out.rindex("You: \n")
    assert "You: /visit" not in out  # the terminal echoes what was typed, not the shell
