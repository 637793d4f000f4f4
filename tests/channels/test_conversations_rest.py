"""Conversations a person would have, over REST (real uvicorn, httpx) with the scripted
model: change of topic, cancel, correction, several slots from one sentence, buttons, a
second booking. Each story asserts the replies, the tracker events and, where it
matters, what the router was told or that no model was called at all."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from serve_support import events_named, serve_project

ENDPOINTS = """
model_groups:
  - id: default
    models:
      - provider: openai
        model: scripted
        api_key: not-a-key
        retries: 0
        timeout: 20
"""

DOMAIN = """
slots:
  service: {type: categorical, values: [haircut, coloring]}
  date: {type: text}
  time: {type: text}
  confirmed: {type: bool}
  table_date: {type: text}
  city: {type: text}
responses:
  utter_ask_service:
    - text: "Which service would you like?"
      buttons:
        - {title: Haircut, payload: "/SetSlots(service=haircut)"}
        - {title: Coloring, payload: "/SetSlots(service=coloring)"}
  utter_ask_date:
    - text: "Which day?"
  utter_ask_time:
    - text: "What time?"
  utter_ask_confirmed:
    - text: "Book a {service} on {date} at {time}?"
  utter_booked:
    - text: "Booked a {service} on {date} at {time}."
  utter_not_booked:
    - text: "Okay, not booked."
  utter_reserved:
    - text: "Table reserved for {table_date}."
"""

FLOWS = """
flows:
  book:
    name: your booking
    description: Book a salon appointment (service, day and time).
    steps:
      - collect: service
      - collect: date
      - collect: time
      - collect: confirmed
        next:
          - if: slots.confirmed
            then:
              - action: utter_booked
          - else:
              - action: utter_not_booked
  reserve:
    name: the table reservation
    description: Reserve a table at the restaurant.
    steps:
      - call: reserver
        exit_if: ["slots.table_date is not null"]
      - action: utter_reserved
  weather:
    description: Tell the weather in a city.
    steps:
      - call: weather_agent
"""

RESERVER = """
agent:
  name: reserver
  description: Reserves tables. Asks for the date.
configuration:
  llm: {model_group: default}
"""

WEATHER = """
agent:
  name: weather_agent
  description: Tells the weather.
configuration:
  llm: {model_group: default}
"""


@pytest.fixture
def salon(tmp_path: Path) -> Path:
    root = tmp_path / "salon"
    files = {
        "endpoints.yml": ENDPOINTS,
        "domain.yml": DOMAIN,
        "flows.yml": FLOWS,
        "sub_agents/reserver/config.yml": RESERVER,
        "sub_agents/weather_agent/config.yml": WEATHER,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip(), encoding="utf-8")
    return root


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def start(flow: str) -> dict[str, Any]:
    return {"tool_calls": [call("start_flow", flow=flow)]}


CONTINUE: dict[str, Any] = {"text": ""}
"""The router's reply that sends the message to what waits (no tool call)."""


def router(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"when": {"tool_offered": "start_flow"}, "steps": list(steps)}


def system_text(request: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in request["messages"] if m["role"] == "system")


def flow_events(tracker: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["event"], e["flow_id"]) for e in tracker["events"] if e["event"].startswith("flow_")]


async def test_change_of_topic_while_the_agent_asks_then_back_to_it(salon: Path) -> None:
    scenario = {
        "router": router(
            start("reserve"),
            start("weather"),
            {"text": "This answers the agent's question."},  # no tool call: not shown
            start("reserve"),
        ),
        "reserver": {
            "when": {"tool_offered": "set_slot_table_date"},
            "steps": [
                {"text": "For which day shall I reserve?"},
                {"tool_calls": [call("set_slot_table_date", slot_value="Friday")]},
                {"text": "For which day shall I reserve?"},
            ],
        },
        "weather": {
            "when": {"tool_offered": "task_completed"},
            "steps": [{"tool_calls": [call("task_completed", message="Sunny in Paris.")]}],
        },
    }
    async with serve_project(salon, scenario) as app:
        assert await app.texts("ann", "I'd like to reserve a table") == [
            "For which day shall I reserve?"
        ]
        # A clear change of topic: the weather flow runs, then the reservation comes back
        # by asking its pending question again (not by answering the digression).
        assert await app.texts("ann", "wait, what's the weather in Paris?") == [
            "Sunny in Paris.",
            "Let's get back to the table reservation.",
            "For which day shall I reserve?",
        ]
        # The router was told what waits: the agent and its pending question.
        told = system_text(app.model.requests[2])
        assert "reserver" in told and '"For which day shall I reserve?"' in told
        assert "do not call any tool" in told
        # The answer goes to the waiting agent (router: no tool call, its text not shown).
        assert await app.texts("ann", "Friday please") == ["Table reserved for Friday."]
        agent_request = app.model.requests[-1]
        users = [m["content"] for m in agent_request["messages"] if m["role"] == "user"]
        assert users[-1] == "Friday please"

        tracker = await app.tracker("ann")
        assert flow_events(tracker) == [
            ("flow_started", "reserve"),
            ("flow_interrupted", "reserve"),
            ("flow_started", "weather"),
            ("flow_completed", "weather"),
            ("flow_resumed", "reserve"),
            # The pattern says "Let's get back to ...", then the agent's question again.
            ("flow_started", "pattern_continue_interrupted"),
            ("flow_completed", "pattern_continue_interrupted"),
            ("flow_completed", "reserve"),
        ]
        assert len(events_named(tracker, "agent_input_required")) == 1

        # A second reservation books again: the agent's exit_if slot was reset when the
        # flow started, so the agent runs (and asks) instead of finishing at once.
        assert await app.texts("ann", "reserve another table") == ["For which day shall I reserve?"]
        tracker = await app.tracker("ann")
        assert tracker["slots"]["table_date"] is None
        assert [e["agent"] for e in events_named(tracker, "agent_started")] == [
            "reserver",
            "weather_agent",
            "reserver",
        ]
        assert app.model.remaining() == 0


async def test_never_mind_cancels_the_waiting_agent(salon: Path) -> None:
    scenario = {
        "router": router(start("reserve"), {"tool_calls": [call("cancel_flow")]}),
        "reserver": {
            "when": {"tool_offered": "set_slot_table_date"},
            "steps": [{"text": "For which day shall I reserve?"}],
        },
    }
    async with serve_project(salon, scenario) as app:
        await app.say("bo", "reserve a table")
        assert await app.texts("bo", "never mind") == ["Okay, I've stopped the table reservation."]
        tools = [t["function"]["name"] for t in app.model.requests[-1]["tools"]]
        assert tools[0] == "start_flow" and "cancel_flow" in tools
        tracker = await app.tracker("bo")
        assert tracker["stack"] == []
        assert events_named(tracker, "agent_cancelled")[0]["agent"] == "reserver"
        assert events_named(tracker, "flow_cancelled")[0]["flow_id"] == "reserve"


async def test_one_sentence_fills_three_slots_then_a_correction(salon: Path) -> None:
    fill = {
        "tool_calls": [
            call("start_flow", flow="book"),
            call(
                "set_slots",
                slots=[
                    {"slot": "service", "value": "Haircut"},
                    {"slot": "date", "value": "Monday"},
                    {"slot": "time", "value": "10:00"},
                ],
            ),
        ]
    }
    correct = {"tool_calls": [call("correct_slot", slot="date", value="Tuesday")]}
    async with serve_project(salon, {"router": router(fill, correct)}) as app:
        # Service (matched case-insensitively), date and time from one sentence: the
        # three collect steps are skipped.
        assert await app.texts("cy", "a haircut on Monday at 10 please") == [
            "Book a haircut on Monday at 10:00?"
        ]
        assert await app.texts("cy", "actually make it Tuesday") == [
            "Okay, I've changed date to Tuesday.",
            "Book a haircut on Tuesday at 10:00?",
        ]
        requests = len(app.model.requests)
        # "yes" fits the bool slot as it is: no router call.
        assert await app.texts("cy", "yes") == ["Booked a haircut on Tuesday at 10:00."]
        assert len(app.model.requests) == requests
        tracker = await app.tracker("cy")
        assert events_named(tracker, "slot_corrected") == [
            {**events_named(tracker, "slot_corrected")[0], "name": "date"}
        ]
        # The collected slots are reset when the flow ends.
        assert {k: tracker["slots"][k] for k in ("service", "date", "time", "confirmed")} == {
            "service": None,
            "date": None,
            "time": None,
            "confirmed": None,
        }


async def test_a_button_sets_a_slot_without_the_model(salon: Path) -> None:
    async with serve_project(salon, {"router": router(CONTINUE)}) as app:
        reply = await app.say("di", "/book")
        assert reply[0]["text"] == "Which service would you like?"
        assert reply[0]["buttons"][1] == {
            "title": "Coloring",
            "payload": "/SetSlots(service=coloring)",
        }
        assert await app.texts("di", reply[0]["buttons"][1]["payload"]) == ["Which day?"]
        assert app.model.requests == []  # payloads never call the model
        # A text answer to a text collect costs one router call (it could be a new topic).
        assert await app.texts("di", "next Monday") == ["What time?"]
        assert len(app.model.requests) == 1
        tracker = await app.tracker("di")
        assert tracker["slots"]["service"] == "coloring"
        assert tracker["slots"]["date"] == "next Monday"


async def test_buttons_in_the_stream_and_a_button_answers_the_collect(salon: Path) -> None:
    async with serve_project(salon, {"router": router(CONTINUE)}) as app:
        lines: list[dict[str, Any]] = []
        async with app.client.stream(
            "POST", "/webhooks/rest/webhook?stream=true", json={"sender": "fa", "message": "/book"}
        ) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line:
                    lines.append(json.loads(line))
        # Rasa's channel shape: the buttons ride on the whole message.
        assert lines == [
            {
                "recipient_id": "fa",
                "text": "Which service would you like?",
                "buttons": [
                    {"title": "Haircut", "payload": "/SetSlots(service=haircut)"},
                    {"title": "Coloring", "payload": "/SetSlots(service=coloring)"},
                ],
            }
        ]
        assert await app.texts("fa", lines[0]["buttons"][0]["payload"]) == ["Which day?"]
        assert app.model.requests == []


async def test_invalid_commands_are_dropped_with_a_log_line(
    salon: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = {
        "tool_calls": [
            call("start_flow", flow="no_such_flow"),
            call("set_slots", slots=[{"slot": "service", "value": "perm"}]),
            call("set_slots", slots=[{"slot": "nonsense", "value": "1"}]),
        ]
    }
    caplog.set_level(logging.WARNING, logger="subagents.dialogue.commands")
    async with serve_project(salon, {"router": router(bad)}) as app:
        assert await app.texts("ed", "gibberish") == ["Sorry, I can't help with that."]
        tracker = await app.tracker("ed")
        assert events_named(tracker, "slot") == [] and tracker["stack"] == []
    dropped = [r for r in caplog.records if r.getMessage() == "router.command.dropped"]
    assert [r.command for r in dropped] == ["StartFlow", "SetSlot", "SetSlot"]
    assert "perm" not in " ".join(r.reason for r in dropped)  # no values logged


async def test_the_session_expires_and_starts_fresh(salon: Path) -> None:
    (salon / "domain.yml").write_text(
        (salon / "domain.yml").read_text()
        + "session_config:\n"
        + "  session_expiration_time: 30\n"
        + "  carry_over_slots_to_new_session: false\n"
        + "actions: [action_session_start]\n",
        encoding="utf-8",
    )
    (salon / "actions").mkdir()
    (salon / "actions" / "__init__.py").write_text(
        "from subagents.actions import Action, SlotSet\n\n\n"
        "class SessionStart(Action):\n"
        "    def name(self):\n"
        "        return 'action_session_start'\n\n"
        "    async def run(self, dispatcher, tracker, domain):\n"
        "        dispatcher.utter_message(text='Welcome back!')\n"
        "        return [SlotSet('city', 'Paris')]\n",
        encoding="utf-8",
    )
    (salon / "endpoints.yml").write_text(
        ENDPOINTS + "action_endpoint:\n  actions_module: actions\n", encoding="utf-8"
    )
    async with serve_project(salon, {"router": router(CONTINUE)}) as app:
        # The first message starts the first session (a custom action_session_start).
        assert await app.texts("fi", "/book") == ["Welcome back!", "Which service would you like?"]
        assert await app.texts("fi", "/SetSlots(service=haircut)") == ["Which day?"]
        # Within 30 minutes: the same session, the collect still waits.
        engine = app.assistant.engine
        now = engine.clock()
        engine.clock = lambda: now + 29 * 60
        assert await app.texts("fi", "/SetSlots(date=Friday)") == ["What time?"]
        # 31 minutes of silence later: a new session. The booking is cancelled, the slots
        # are not carried over (the custom action sets its own), the message is routed
        # afresh (no router call: a payload).
        engine.clock = lambda: now + 31 * 60 + 29 * 60
        assert await app.texts("fi", "/book") == ["Welcome back!", "Which service would you like?"]
        tracker = await app.tracker("fi")
        assert app.model.requests == []
    kinds = [e["event"] for e in tracker["events"]]
    assert kinds.count("session_started") == 2
    second = len(kinds) - 1 - kinds[::-1].index("session_started")
    assert ("flow_cancelled", "book") in [
        (e["event"], e.get("flow_id")) for e in tracker["events"][:second]
    ]
    assert kinds[second + 1] == "reset_slots"
    assert tracker["slots"]["service"] is None and tracker["slots"]["city"] == "Paris"


async def test_correcting_a_slot_an_agent_filled_runs_the_steps_after_it_again(
    salon: Path,
) -> None:
    """"Actually Saturday" after the agent reserved for Friday: the correction goes back to
    the agent's call, which completes at once (its exit_if holds, no model call), and the
    steps after it run again with the new value."""
    flows = salon / "flows.yml"
    flows.write_text(
        flows.read_text().replace(
            "      - action: utter_reserved\n",
            "      - action: utter_reserved\n      - collect: time\n",
        )
    )
    scenario = {
        "router": router(
            start("reserve"),
            {"tool_calls": [call("correct_slot", slot="table_date", value="Saturday")]},
        ),
        "reserver": {
            "when": {"tool_offered": "set_slot_table_date"},
            "steps": [{"tool_calls": [call("set_slot_table_date", slot_value="Friday")]}],
        },
    }
    async with serve_project(salon, scenario) as app:
        assert await app.texts("zoe", "reserve a table for Friday") == [
            "Table reserved for Friday.",
            "What time?",
        ]
        requests = len(app.model.requests)
        assert await app.texts("zoe", "actually make it Saturday") == [
            "Okay, I've changed table_date to Saturday.",
            "Table reserved for Saturday.",
            "What time?",
        ]
        assert len(app.model.requests) == requests + 1  # the router only: no agent call
        tracker = await app.tracker("zoe")
        assert tracker["slots"]["table_date"] == "Saturday"
        assert [e["name"] for e in events_named(tracker, "slot_corrected")] == ["table_date"]
        assert app.model.remaining() == 0
