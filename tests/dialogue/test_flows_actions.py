"""Flows without agents: routing, collect, set_slots, branches, link, actions, restart."""

from __future__ import annotations

from typing import Any

from dialogue_helpers import texts

from subagents.stores import InMemoryTrackerStore

ACTIONS = """
from subagents.actions import Action, SlotSet, FollowupAction


class Summarise(Action):
    def name(self):
        return "action_summarise"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(
            text=f"{tracker.get_slot('name')} ({tracker.get_slot('age'):g}) confirmed"
        )
        return [SlotSet("confirmed", True)]


class Stream(Action):
    def name(self):
        return "action_stream"

    async def run(self, dispatcher, tracker, domain):
        await dispatcher.stream_start()
        for word in ["Hello ", "there ", "friend"]:
            await dispatcher.stream_chunk(text=word)
        await dispatcher.stream_end()
        dispatcher.utter_message(response="utter_done")
        return [FollowupAction("action_after")]


class After(Action):
    def name(self):
        return "action_after"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="after " + str(tracker.latest_message.get("text")))
        return []


class Boom(Action):
    def name(self):
        return "action_boom"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="never sent")
        raise RuntimeError("database down")
"""

DOMAIN: dict[str, Any] = {
    "slots": {
        "name": {"type": "text"},
        "age": {"type": "float"},
        "plan": {"type": "categorical", "values": ["basic", "premium"]},
        "confirmed": {"type": "bool", "initial_value": False},
        "tier": {"type": "text"},
    },
    "responses": {
        "utter_ask_name": [{"text": "What is your name?"}],
        "utter_ask_age": [{"text": "How old are you, {name}?"}],
        "utter_ask_plan": [
            {"text": "Which plan?", "buttons": [{"title": "Basic", "payload": "basic"}]}
        ],
        "utter_done": [{"text": "Done, {name}."}],
        "utter_premium": [{"text": "Premium it is."}],
        "utter_basic": [{"text": "Basic it is."}],
        "utter_greet": [{"text": "Hi!"}],
    },
}

FLOWS: dict[str, Any] = {
    "signup": {
        "description": "Sign the user up for a plan.",
        "persisted_slots": ["age"],
        "steps": [
            {"collect": "name"},
            {"collect": "age"},
            {"action": "action_summarise"},
            {"set_slots": [{"tier": "gold"}]},
            {"action": "utter_done"},
        ],
    },
    "choose_plan": {
        "description": "Choose a subscription plan.",
        "steps": [
            {
                "collect": "plan",
                "next": [
                    {"if": "slots.plan = 'premium'", "then": [{"action": "utter_premium"}]},
                    {"else": "basic_step"},
                ],
            },
            {"id": "basic_step", "action": "utter_basic", "next": "END"},
        ],
    },
    "greet": {
        "description": "Say hello.",
        "steps": [{"action": "utter_greet"}, {"link": "choose_plan"}],
    },
    "stream": {"description": "Stream a message.", "steps": [{"action": "action_stream"}]},
    "boom": {
        "description": "Fails.",
        "steps": [{"action": "action_boom"}, {"action": "utter_greet"}],
    },
}


async def test_slash_flow_collects_slots_runs_action(make_project, load_assistant) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    assistant = await load_assistant(root)

    assert texts(await assistant.handle_message("u1", "/signup")) == ["What is your name?"]
    assert texts(await assistant.handle_message("u1", "Ada")) == ["How old are you, Ada?"]
    # A value that does not fit a float slot is refused and asked again.
    assert texts(await assistant.handle_message("u1", "old")) == [
        "Sorry, 'old' is not a valid value for age.",
        "How old are you, Ada?",
    ]
    reply = await assistant.handle_message("u1", "36")
    assert reply == [
        {"recipient_id": "u1", "text": "Ada (36) confirmed"},
        {"recipient_id": "u1", "text": "Done, Ada."},
    ]
    tracker = await assistant.get_tracker("u1")
    assert tracker["slots"]["age"] == 36.0  # persisted_slots: kept after the flow ended
    assert tracker["slots"]["name"] is None  # collected, so reset when the flow ended
    assert tracker["slots"]["confirmed"] is True
    assert tracker["slots"]["tier"] == "gold"
    kinds = [e["event"] for e in tracker["events"]]
    assert kinds.count("user") == 4
    assert "flow_started" in kinds and kinds[-1] == "flow_completed"
    assert {"event", "timestamp"} <= set(tracker["events"][0])
    assert any(
        e["event"] == "action" and e["name"] == "action_summarise" for e in tracker["events"]
    )
    assert tracker["stack"] == []


async def test_branch_inline_steps_and_link(make_project, load_assistant) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    assistant = await load_assistant(root)
    reply = await assistant.handle_message("u", "/greet")
    assert texts(reply) == ["Hi!", "Which plan?"]
    assert reply[1]["buttons"] == [{"title": "Basic", "payload": "basic"}]
    assert texts(await assistant.handle_message("u", "gold")) == [
        "Sorry, 'gold' is not a valid value for plan.",
        "Which plan?",
    ]
    # Categorical values match case-insensitively and are stored as declared.
    assert texts(await assistant.handle_message("u", "PREMIUM")) == ["Premium it is."]
    tracker = await assistant.get_tracker("u")
    plan_values = [e["value"] for e in tracker["events"] if e["event"] == "slot"]
    assert plan_values == ["premium", None]  # stored as declared; reset when the flow ended
    assert tracker["slots"]["plan"] is None
    await assistant.handle_message("v", "/choose_plan")
    assert texts(await assistant.handle_message("v", "basic")) == ["Basic it is."]
    events = (await assistant.get_tracker("u"))["events"]
    flow_events = [(e["event"], e["flow_id"]) for e in events if e["event"].startswith("flow_")]
    assert flow_events == [
        ("flow_started", "greet"),
        ("flow_completed", "greet"),
        ("flow_started", "choose_plan"),
        ("flow_completed", "choose_plan"),
    ]


async def test_streaming_action_chunks_then_whole_messages(make_project, load_assistant) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    assistant = await load_assistant(root)
    seen: list[dict[str, Any]] = []
    progress: list[dict[str, Any]] = []

    async def on_message(msg: dict[str, Any]) -> None:
        seen.append(msg)

    async def on_progress(event: dict[str, Any]) -> None:
        progress.append(event)

    reply = await assistant.handle_message(
        "s", "/stream", on_message=on_message, on_progress=on_progress
    )
    assert [m for m in seen if m.get("chunk")] == [
        {"recipient_id": "s", "text": "Hello ", "chunk": True},
        {"recipient_id": "s", "text": "there ", "chunk": True},
        {"recipient_id": "s", "text": "friend", "chunk": True},
    ]
    # The streamed message is not repeated whole; later messages come whole.
    assert [m["text"] for m in seen if not m.get("chunk")] == ["Done, .", "after /stream"]
    assert texts(reply) == ["Hello there friend", "Done, .", "after /stream"]
    started = {"event": "tool_started", "name": "action_stream", "kind": "action"}
    assert {**started, "executor": "in-process"} in progress
    finished = next(e for e in progress if e["event"] == "tool_finished")
    assert finished["is_error"] is False and finished["duration_ms"] >= 0
    # The tracker's action event says how the action ran (the inspector shows it).
    stored = (await assistant.get_tracker("s"))["events"]
    action = next(e for e in stored if e["event"] == "action" and e["name"] == "action_stream")
    assert action["executor"] == "in-process" and action["streamed"] == 3
    assert action["duration_ms"] >= 0 and action["events"] >= 0
    # Without a streaming caller the chunks arrive as one joined message.
    assert texts(await assistant.handle_message("t", "/stream")) == texts(reply)


async def test_failing_action_cancels_flow(make_project, load_assistant) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    assistant = await load_assistant(root)
    reply = await assistant.handle_message("b", "/boom")
    assert texts(reply) == ["Sorry, something went wrong. Please try again."]
    tracker = await assistant.get_tracker("b")
    assert tracker["stack"] == []
    cancelled = [e for e in tracker["events"] if e["event"] == "flow_cancelled"]
    assert cancelled and "database down" in cancelled[0]["reason"]


async def test_unknown_command_restart_and_no_router(make_project, load_assistant) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    assistant = await load_assistant(root)
    assert texts(await assistant.handle_message("r", "/nope")) == ["Sorry, I can't help with that."]
    await assistant.handle_message("r", "/signup")
    await assistant.handle_message("r", "Ada")
    assert texts(await assistant.handle_message("r", "/restart")) == ["Okay, let's start over."]
    tracker = await assistant.get_tracker("r")
    assert tracker["slots"]["name"] is None and tracker["slots"]["confirmed"] is False
    assert tracker["stack"] == []
    # After the restart a plain message goes to the router, not to the old collect step.
    assert texts(await assistant.handle_message("r", "/signup")) == ["What is your name?"]


async def test_interrupting_collect_with_another_flow(make_project, load_assistant) -> None:
    root = make_project(domain=DOMAIN, flows=FLOWS, actions=ACTIONS)
    assistant = await load_assistant(root, tracker_store=InMemoryTrackerStore())
    await assistant.handle_message("i", "/signup")
    reply = await assistant.handle_message("i", "/choose_plan")
    assert texts(reply) == ["Which plan?"]
    reply = await assistant.handle_message("i", "basic")
    assert texts(reply) == ["Basic it is.", "Let's get back to signup.", "What is your name?"]
    assert texts(await assistant.handle_message("i", "Bob")) == ["How old are you, Bob?"]
