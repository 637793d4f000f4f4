"""Conversation patterns (overridable flows) and collect options, in-process with the
scripted router: what a user sees and what the tracker records."""

from __future__ import annotations

from typing import Any

from dialogue_helpers import texts

from subagents.config.flow_checks import DEFAULT_RESPONSES as CHECKED_RESPONSES
from subagents.config.flow_checks import PATTERN_IDS
from subagents.dialogue.domain import DEFAULT_RESPONSES
from subagents.dialogue.patterns import DEFAULT_PATTERNS, default_patterns
from subagents.llm.scripted import ScriptPlayer, scripted_clients

ACTIONS = """
from subagents.actions import Action, SlotSet


class AskColor(Action):
    def name(self):
        return "action_ask_color"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="Pick a colour (asked by an action).")
        return []


class ValidateAmount(Action):
    def name(self):
        return "validate_amount"

    async def run(self, dispatcher, tracker, domain):
        amount = tracker.get_slot("amount")
        if amount > 1000:
            dispatcher.utter_message(text="That is over the limit.")
            return [SlotSet("amount", None)]
        return [SlotSet("amount", round(amount))]  # transforms the value
"""

DOMAIN: dict[str, Any] = {
    "slots": {
        "name": {"type": "text"},
        "age": {"type": "float"},
        "amount": {"type": "float"},
        "color": {"type": "text"},
        "tier": {
            "type": "categorical",
            "values": ["gold", "silver"],
            "mappings": [{"type": "controlled"}],
        },
    },
    "responses": {
        "utter_ask_name": [{"text": "What is your name?"}],
        "utter_ask_age": [{"text": "How old are you?"}],
        "utter_ask_amount": [{"text": "How much?"}],
        "utter_ask_tier": [{"text": "Which tier?"}],
        "utter_too_young": [{"text": "You must be 18 or older."}],
        "utter_done": [{"text": "Done: {name}, {age}."}],
        "utter_paid": [{"text": "Paid {amount}."}],
        "utter_tier": [{"text": "Tier {tier}."}],
        "utter_stopped": [{"text": "Stopped {flow_name} as you asked."}],
        "utter_anything_else": [{"text": "Anything else?"}],
        "utter_color": [{"text": "Colour {color}."}],
    },
    "actions": ["action_ask_color", "validate_amount"],
}

FLOWS: dict[str, Any] = {
    "signup": {
        "name": "sign-up",
        "description": "Sign up.",
        "steps": [
            {"collect": "name", "reset_after_flow_ends": False},
            {
                "collect": "age",
                "rejections": [{"if": "slots.age < 18", "utter": "utter_too_young"}],
            },
            {"action": "utter_done"},
        ],
    },
    "pay": {
        "description": "Pay an amount.",
        "steps": [{"collect": "amount"}, {"action": "utter_paid"}],
    },
    "paint": {
        "description": "Choose a colour.",
        "steps": [{"collect": "color"}, {"action": "utter_color"}],
    },
    "upgrade": {
        "description": "Choose a tier.",
        "steps": [{"collect": "tier"}, {"action": "utter_tier"}],
    },
}


def router(*steps: dict[str, Any]) -> Any:
    """An in-process scripted router replying with ``steps`` in order."""
    player = ScriptPlayer({"router": {"steps": list(steps) or [{"text": ""}]}})
    return scripted_clients(player, exhausted="raise")


def tool(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def flow_ids(tracker: dict[str, Any], event: str) -> list[str]:
    return [e["flow_id"] for e in tracker["events"] if e["event"] == event]


def test_the_default_patterns_compile_and_their_responses_are_known() -> None:
    assert set(default_patterns()) == set(DEFAULT_PATTERNS) == PATTERN_IDS
    assert set(DEFAULT_RESPONSES) <= CHECKED_RESPONSES  # validate knows every default


async def test_chitchat_while_a_collect_waits_then_the_question_again(
    make_project: Any, load_assistant: Any
) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    llm = router(tool("chitchat", response="I'm fine, thanks!"), {"text": ""})
    assistant = await load_assistant(root, llm_factory=llm)
    await assistant.handle_message("c", "/signup")
    assert texts(await assistant.handle_message("c", "how are you?")) == [
        "I'm fine, thanks!",
        "What is your name?",
    ]
    assert texts(await assistant.handle_message("c", "Ada")) == ["How old are you?"]
    tracker = await assistant.get_tracker("c")
    assert flow_ids(tracker, "flow_completed") == ["pattern_chitchat"]


async def test_clarify_offers_buttons_that_start_the_flow(
    make_project: Any, load_assistant: Any
) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    llm = router(tool("clarify", flows=["pay", "upgrade"]))
    assistant = await load_assistant(root, llm_factory=llm)
    [message] = await assistant.handle_message("k", "I want to change my plan")
    assert message["text"] == "I can help with pay or upgrade. Which one do you mean?"
    assert message["buttons"] == [
        {"title": "pay", "payload": "/pay"},
        {"title": "upgrade", "payload": "/upgrade"},
    ]
    assert texts(await assistant.handle_message("k", message["buttons"][1]["payload"])) == [
        "Which tier?"
    ]


async def test_human_handoff_and_cannot_handle(make_project: Any, load_assistant: Any) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    llm = router(tool("human_handoff"), tool("cannot_handle"))
    assistant = await load_assistant(root, llm_factory=llm)
    assert texts(await assistant.handle_message("h", "a human please")) == [
        "I understand you want to talk to a person, but I can't connect you right now."
    ]
    assert texts(await assistant.handle_message("h", "fly me to the moon")) == [
        "Sorry, I can't help with that."
    ]


async def test_a_project_overrides_patterns_by_defining_the_flow(
    make_project: Any, load_assistant: Any
) -> None:
    flows = {
        **FLOWS,
        "pattern_cancel_flow": {"steps": [{"action": "utter_stopped"}]},
        "pattern_completed": {"steps": [{"action": "utter_anything_else"}]},
    }
    root = make_project(domain=DOMAIN, flows=flows, actions=ACTIONS)
    assistant = await load_assistant(root, llm_factory=router(tool("cancel_flow")))
    await assistant.handle_message("o", "/signup")
    assert texts(await assistant.handle_message("o", "forget it")) == [
        "Stopped sign-up as you asked."
    ]
    # The project's pattern_completed runs when the last flow completes (not the default).
    assert texts(await assistant.handle_message("o", "/upgrade")) == ["Which tier?"]
    assert texts(await assistant.handle_message("o", "/SetSlots(tier=gold)")) == [
        "Tier gold.",
        "Anything else?",
    ]
    # Patterns are not flows the user can start.
    assert texts(await assistant.handle_message("o", "/pattern_completed")) == [
        "Sorry, I can't help with that."
    ]


async def test_rejections_refuse_a_value_and_ask_again(
    make_project: Any, load_assistant: Any
) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    assistant = await load_assistant(root)
    await assistant.handle_message("r", "/signup")
    await assistant.handle_message("r", "Bo")
    assert texts(await assistant.handle_message("r", "12")) == [
        "You must be 18 or older.",
        "How old are you?",
    ]
    assert texts(await assistant.handle_message("r", "30")) == ["Done: Bo, 30."]
    slots = (await assistant.get_tracker("r"))["slots"]
    assert slots["name"] == "Bo"  # reset_after_flow_ends: false
    assert slots["age"] is None  # collected, so reset when the flow ended


async def test_validate_action_rejects_or_transforms_and_action_ask_asks(
    make_project: Any, load_assistant: Any
) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    assistant = await load_assistant(root)
    assert texts(await assistant.handle_message("v", "/pay")) == ["How much?"]
    assert texts(await assistant.handle_message("v", "5000")) == [
        "That is over the limit.",
        "How much?",
    ]
    assert texts(await assistant.handle_message("v", "12,6")) == ["Paid 13."]
    # action_ask_color (listed under actions:) asks instead of a response.
    assert texts(await assistant.handle_message("v", "/paint")) == [
        "Pick a colour (asked by an action)."
    ]


async def test_a_controlled_slot_takes_buttons_not_text(
    make_project: Any, load_assistant: Any
) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    assistant = await load_assistant(root)
    await assistant.handle_message("t", "/upgrade")
    assert texts(await assistant.handle_message("t", "gold")) == [
        "Sorry, 'gold' is not a valid value for tier.",
        "Which tier?",
    ]
    assert texts(await assistant.handle_message("t", "/SetSlots(tier=Gold)")) == ["Tier gold."]


async def test_pattern_collect_information_asks_when_defined(
    make_project: Any, load_assistant: Any
) -> None:
    flows = {
        **FLOWS,
        "pattern_collect_information": {
            "steps": [{"action": "utter_anything_else"}, {"action": "action_ask_collect"}]
        },
    }
    root = make_project(domain=DOMAIN, flows=flows, actions=ACTIONS)
    assistant = await load_assistant(root)
    assert texts(await assistant.handle_message("p", "/signup")) == [
        "Anything else?",
        "What is your name?",
    ]
    assert texts(await assistant.handle_message("p", "Cy")) == [
        "Anything else?",
        "How old are you?",
    ]


async def test_pattern_session_start_greets_and_slots_carry_over(
    make_project: Any, load_assistant: Any
) -> None:
    flows = {
        **FLOWS,
        "pattern_session_start": {"steps": [{"action": "utter_anything_else"}]},
    }
    domain = {**DOMAIN, "session_config": {"session_expiration_time": 5}}
    root = make_project(domain=domain, flows=flows, actions=ACTIONS)
    assistant = await load_assistant(root)
    # The first message starts the first session: the project's pattern greets first.
    assert texts(await assistant.handle_message("s", "/upgrade")) == [
        "Anything else?",
        "Which tier?",
    ]
    assert texts(await assistant.handle_message("s", "/SetSlots(tier=silver)")) == ["Tier silver."]
    # A button that sets a slot with no flow active: set silently, no reply.
    assert await assistant.handle_message("s", "/SetSlots(color=red)") == []
    await assistant.handle_message("s", "/pay")  # a collect waits for the amount
    now = assistant.engine.clock()
    assistant.engine.clock = lambda: now + 6 * 60
    # Six minutes later: a new session; the waiting collect is gone, the slots carry over.
    assert texts(await assistant.handle_message("s", "/signup")) == [
        "Anything else?",
        "What is your name?",
    ]
    tracker = await assistant.get_tracker("s")
    assert tracker["slots"]["color"] == "red"
    assert tracker["slots"]["tier"] is None  # collected by upgrade: reset when it ended
    kinds = [e["event"] for e in tracker["events"]]
    assert kinds.count("session_started") == 2 and "reset_slots" not in kinds
    assert ("flow_cancelled", "pay") in [(e["event"], e.get("flow_id")) for e in tracker["events"]]
