"""A small project for conversation tests: an utter flow, a custom action, a task agent
over the built-in slot tools (no MCP server), and a helper to run `subagents test`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from subagents.cli import app

DOMAIN = """
version: "3.1"
slots:
  name: {type: text}
  visits: {type: float, initial_value: 0}
responses:
  utter_hello:
    - text: "Hello {name}!"
  utter_hours:
    - text: "We open at 9."
actions:
  - action_count
"""

FLOWS = """
flows:
  hello:
    description: Say hello.
    steps:
      - action: utter_hello
  hours:
    description: Opening hours.
    steps:
      - action: utter_hours
  count:
    description: Count visits.
    steps:
      - action: action_count
  signup:
    description: Ask the user's name.
    steps:
      - call: namer
        exit_if: [slots.name is not null]
      - action: utter_hello
"""

ENDPOINTS = """
model_groups:
  - id: main
    models:
      - {provider: openai, model: gpt-4o, api_key: "${NO_SUCH_KEY:-}"}
action_endpoint:
  actions_module: actions
"""

ACTIONS = """
from subagents.actions import Action, SlotSet


class ActionCount(Action):
    def name(self):
        return "action_count"

    async def run(self, dispatcher, tracker, domain):
        visits = float(tracker.get_slot("visits") or 0) + 1
        dispatcher.utter_message(text=f"Visit number {int(visits)}.")
        return [SlotSet("visits", visits)]
"""

AGENT = """
agent:
  name: namer
  description: Asks for the user's name.
configuration:
  llm: {model_group: main}
"""


def write_project(root: Path) -> Path:
    """Write the project into ``root``; return it."""
    (root / "sub_agents" / "namer").mkdir(parents=True)
    (root / "actions").mkdir()
    (root / "domain.yml").write_text(DOMAIN, encoding="utf-8")
    (root / "flows.yml").write_text(FLOWS, encoding="utf-8")
    (root / "endpoints.yml").write_text(ENDPOINTS, encoding="utf-8")
    (root / "actions" / "__init__.py").write_text(ACTIONS, encoding="utf-8")
    (root / "sub_agents" / "namer" / "config.yml").write_text(AGENT, encoding="utf-8")
    (root / "tests").mkdir()
    return root


def run_test(root: Path, *args: str) -> tuple[int, str]:
    """``subagents test --project root ARGS`` in-process: exit code and output."""
    result = CliRunner().invoke(app, ["test", "--project", str(root), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output
