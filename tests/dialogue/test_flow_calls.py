"""``call: <flow_id>``: a flow runs another as a child and goes on when it ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dialogue_helpers import texts

from subagents.stores import SQLiteTrackerStore

ACTIONS = """
from subagents.actions import Action


class Boom(Action):
    def name(self):
        return "action_boom"

    async def run(self, dispatcher, tracker, domain):
        raise RuntimeError("card service down")
"""

DOMAIN: dict[str, Any] = {
    "actions": ["action_boom"],
    "slots": {
        "card": {"type": "text"},
        "amount": {"type": "float"},
        "verified": {"type": "bool", "initial_value": False},
    },
    "responses": {
        "utter_ask_card": [{"text": "Which card?"}],
        "utter_ask_amount": [{"text": "How much?"}],
        "utter_start": [{"text": "Let's pay."}],
        "utter_paid": [{"text": "Paid {amount} with {card}."}],
        "utter_not_verified": [{"text": "Not verified."}],
        "utter_verifying": [{"text": "Verifying."}],
        "utter_help": [{"text": "Help is here."}],
    },
}

FLOWS: dict[str, Any] = {
    "pay": {
        "description": "Pay a bill.",
        "steps": [
            {"action": "utter_start"},
            {
                "call": "verify",
                # The branch is taken on the slots as the called flow left them.
                "next": [
                    {"if": "slots.verified", "then": "amount"},
                    {"else": [{"action": "utter_not_verified"}]},
                ],
            },
            {"id": "amount", "collect": "amount"},
            {"action": "utter_paid"},
        ],
    },
    "verify": {
        "description": "Verify the card.",
        "steps": [{"call": "log"}, {"collect": "card"}, {"set_slots": [{"verified": True}]}],
    },
    "log": {"description": "Say what happens.", "steps": [{"action": "utter_verifying"}]},
    "help": {"description": "Help.", "steps": [{"action": "utter_help"}]},
    "pay_broken": {
        "description": "A payment whose called flow fails.",
        "steps": [{"call": "broken"}, {"action": "utter_paid"}],
    },
    "broken": {"description": "Fails.", "steps": [{"action": "action_boom"}]},
}


def flow_events(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["event"], e["flow_id"], *([e["called_by"]] if "called_by" in e else []))
        for e in events
        if e["event"].startswith("flow_")
    ]


async def test_called_flow_returns_to_the_next_step_of_its_caller(
    make_project, load_assistant, tmp_path: Path
) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    # A real store: the caller/called frames survive between turns as stored JSON.
    store = SQLiteTrackerStore(tmp_path / "calls.db")
    assistant = await load_assistant(root, tracker_store=store)

    # `verify` calls `log`, which ends at once; `verify` goes on and asks for the card.
    assert texts(await assistant.handle_message("u", "/pay")) == [
        "Let's pay.",
        "Verifying.",
        "Which card?",
    ]
    tracker = await assistant.get_tracker("u")
    assert tracker["active_flow"] == "verify"
    assert tracker["stack"] == [
        {"flow_id": "pay", "step_id": "1_call", "waiting": None},
        {
            "flow_id": "verify",
            "step_id": "1_collect",
            "waiting": {"kind": "collect", "slot": "card"},
            "called": True,
        },
    ]
    # The called flow ends; the caller's branch sees the slot it set and goes on.
    assert texts(await assistant.handle_message("u", "visa")) == ["How much?"]
    assert texts(await assistant.handle_message("u", "12")) == ["Paid 12 with visa."]
    tracker = await assistant.get_tracker("u")
    assert tracker["stack"] == []
    assert flow_events(tracker["events"]) == [
        ("flow_started", "pay"),
        ("flow_started", "verify", "pay"),
        ("flow_started", "log", "verify"),
        ("flow_completed", "log"),
        ("flow_completed", "verify"),
        ("flow_completed", "pay"),
    ]


async def test_an_interrupted_called_flow_resumes_then_returns(
    make_project, load_assistant
) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    assistant = await load_assistant(root)
    await assistant.handle_message("i", "/pay")
    assert texts(await assistant.handle_message("i", "/help")) == [
        "Help is here.",
        "Let's get back to verify.",
        "Which card?",
    ]
    assert texts(await assistant.handle_message("i", "amex")) == ["How much?"]


async def test_a_failing_called_flow_cancels_its_caller(make_project, load_assistant) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    assistant = await load_assistant(root)
    await assistant.handle_message("f", "/help")  # nothing below: the group is all there is
    await assistant.handle_message("f", "/pay")
    # `pay` waits in its called flow; the user starts another payment that fails.
    reply = await assistant.handle_message("f", "/pay_broken")
    assert texts(reply) == [
        "Sorry, something went wrong. Please try again.",
        "Let's get back to verify.",
        "Which card?",
    ]
    tracker = await assistant.get_tracker("f")
    cancelled = [
        (e["flow_id"], e["reason"]) for e in tracker["events"] if e["event"] == "flow_cancelled"
    ]
    assert [flow for flow, _ in cancelled] == ["broken", "pay_broken"]
    assert "card service down" in cancelled[0][1]
    assert "called flow 'broken' was cancelled" in cancelled[1][1]
    # The paid step of the cancelled caller never ran; `pay` below goes on as before.
    assert [f["flow_id"] for f in tracker["stack"]] == ["pay", "verify"]


async def test_starting_a_called_flow_again_drops_its_caller_group(
    make_project, load_assistant
) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    assistant = await load_assistant(root)
    await assistant.handle_message("g", "/pay")
    # `/verify` restarts that flow on its own: the caller that waited for it goes too,
    # so no orphaned `pay` frame is left at its call step.
    assert texts(await assistant.handle_message("g", "/verify")) == ["Verifying.", "Which card?"]
    tracker = await assistant.get_tracker("g")
    assert [(f["flow_id"], f.get("called", False)) for f in tracker["stack"]] == [("verify", False)]
    assert texts(await assistant.handle_message("g", "visa")) == []
    assert (await assistant.get_tracker("g"))["slots"]["verified"] is True
