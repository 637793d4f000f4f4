"""GET /conversations/{id}/tracker: its shape and the event names users rely on."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from contract_support import call, say, serve, toolbox_stdio, write_project

from subagents.dialogue.assistant import Assistant
from subagents.testing import ScriptedModelServer

ACTIONS = """
from subagents.actions import Action, SlotSet


class Note(Action):
    def name(self):
        return "action_note"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text=f"Noted {tracker.get_slot('city')}.")
        return [SlotSet("notes", 1.0)]
"""


def project(root: Path) -> Path:
    agent = """
        agent:
          name: {name}
          description: {description}
        connections:
          mcp_servers:
            - name: toolbox
              include_tools: [weather]
        """
    return write_project(
        root,
        {
            "endpoints.yml": "mcp_servers:\n"
            + toolbox_stdio()
            + "action_endpoint:\n  actions_module: contract_tracker_actions\n"
            + "tracker_store:\n  type: memory\n",
            "domain.yml": """
                slots:
                  city:
                    type: text
                  notes:
                    type: float
                """,
            "flows.yml": """
                flows:
                  trip:
                    description: Plan a trip to a city.
                    steps:
                      - call: planner
                        exit_if:
                          - slots.city is not null
                      - action: action_note
                  chat:
                    description: Chat about anything.
                    steps:
                      - call: chatter
                """,
            "sub_agents/planner/config.yml": agent.format(name="planner", description="Plans."),
            "sub_agents/chatter/config.yml": agent.format(name="chatter", description="Chats."),
            "contract_tracker_actions/__init__.py": textwrap.dedent(ACTIONS),
        },
    )


def events(tracker: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [e for e in tracker["events"] if e["event"] == name]


async def test_tracker_shape_and_event_names(tmp_path: Path) -> None:
    scenario = [
        call("start_flow", flow="trip"),
        {"text": "Which city?"},
        {"text": ""},  # the router: "Paris" answers the waiting agent
        call("weather", city="Paris"),
        call("set_slot_city", slot_value="Paris"),
        {"text": "What shall we talk about?"},
    ]
    async with ScriptedModelServer(scenario) as model:
        assistant = await Assistant.load(project(tmp_path / "p"), llm_url=model.url)
        try:
            async with serve(assistant) as client:
                assert [m["text"] for m in await say(client, "t1", "a trip")] == ["Which city?"]
                assert [m["text"] for m in await say(client, "t1", "Paris")] == ["Noted Paris."]
                await say(client, "t1", "/chat")  # the agent asks and waits...
                await say(client, "t1", "/restart")  # ...and is cancelled by the restart
                response = await client.get("/conversations/t1/tracker")
        finally:
            await assistant.aclose()

    assert response.status_code == 200
    tracker = response.json()
    assert {"sender_id", "slots", "latest_message", "events"} <= set(tracker)
    assert tracker["sender_id"] == "t1"
    assert tracker["latest_message"]["text"] == "/restart"
    assert all(isinstance(e.get("timestamp"), float) for e in tracker["events"])
    names = {e["event"] for e in tracker["events"]}
    for name in (
        "user",
        "bot",
        "slot",
        "action",
        "agent_started",
        "agent_completed",
        "agent_cancelled",
        "tool_executed",
    ):
        assert name in names, name

    assert [e["text"] for e in events(tracker, "user")] == ["a trip", "Paris", "/chat", "/restart"]
    assert "Which city?" in [e["text"] for e in events(tracker, "bot")]
    assert {"name": "city", "value": "Paris"}.items() <= events(tracker, "slot")[0].items()
    assert [e["name"] for e in events(tracker, "action")] == ["action_note"]
    tools = events(tracker, "tool_executed")
    assert [e["name"] for e in tools] == ["weather", "set_slot_city"]
    tool = tools[0]
    assert tool["agent"] == "planner"
    assert tool["arguments"] == {"city": "Paris"} and "Paris" in tool["result"]
    assert tool["is_error"] is False
    assert [e["agent"] for e in events(tracker, "agent_started")] == ["planner", "chatter"]
    assert [e["agent"] for e in events(tracker, "agent_completed")] == ["planner"]
    (cancelled,) = events(tracker, "agent_cancelled")
    assert cancelled["agent"] == "chatter" and cancelled["flow_id"] == "chat"
    assert cancelled["reason"] == "restart"


RESTART_ACTIONS = """
from subagents.actions import Action, Restarted


class StartOver(Action):
    def name(self):
        return "action_start_over"

    async def run(self, dispatcher, tracker, domain):
        return [Restarted()]
"""


async def test_an_action_restart_cancels_the_waiting_agent(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    (root / "contract_tracker_actions/__init__.py").write_text(
        textwrap.dedent(ACTIONS) + textwrap.dedent(RESTART_ACTIONS)
    )
    flows = (root / "flows.yml").read_text()
    flows += "  over:\n    description: Start over.\n"
    flows += "    steps:\n      - action: action_start_over\n"
    (root / "flows.yml").write_text(flows)
    async with ScriptedModelServer([{"text": "What shall we talk about?"}]) as model:
        assistant = await Assistant.load(root, llm_url=model.url)
        try:
            async with serve(assistant) as client:
                await say(client, "t2", "/chat")  # the agent asks and waits...
                await say(client, "t2", "/over")  # ...and an action's Restarted drops it
                tracker = (await client.get("/conversations/t2/tracker")).json()
        finally:
            await assistant.aclose()

    (cancelled,) = events(tracker, "agent_cancelled")
    assert cancelled["agent"] == "chatter" and cancelled["flow_id"] == "chat"
    assert cancelled["reason"] == "restarted by an action"
    assert tracker["stack"] == []
