"""Exercise an action SDK (ours or the real Rasa SDK) and return the results as JSON.

Runs unchanged in both interpreters: ``probe("subagents")`` in the test process and
``python sdk_parity_probe.py rasa_sdk`` inside the Rasa SDK venv, so the two outputs can
be compared value for value (and key order for key order, via the JSON text).
Only the standard library and the SDK under test are imported here.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import importlib
import json
import sys
import warnings
from collections.abc import Callable
from typing import Any

WHEN = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.UTC)
BUTTONS = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]

# (constructor, positional args, keyword args): defaults, positional and keyword forms.
EVENT_CALLS: list[tuple[str, list[Any], dict[str, Any]]] = [
    ("UserUttered", ["hi"], {}),
    ("UserUttered", ["hi", {"intent": {"name": "greet"}}, 1.5, "rest"], {}),
    ("UserUttered", [None], {"input_channel": "socketio"}),
    ("BotUttered", [], {}),
    ("BotUttered", ["hello", {"buttons": BUTTONS}, {"m": 1}, 2.0], {}),
    ("SlotSet", ["city"], {}),
    ("SlotSet", ["city", "Paris", 3.0], {}),
    ("SlotSet", [], {"key": "n", "value": [1, {"a": None}]}),
    ("Restarted", [], {}),
    ("Restarted", [4.0], {}),
    ("SessionStarted", [], {"timestamp": 5.0}),
    ("SessionEnded", [], {}),
    ("SessionEnded", [6.0, {"reason": "done"}], {}),
    ("UserUtteranceReverted", [], {}),
    ("AllSlotsReset", [7.0], {}),
    ("ReminderScheduled", ["remind", WHEN], {}),
    ("ReminderScheduled", ["remind", WHEN, [{"entity": "x", "value": 1}], "r1", False, 8.0], {}),
    ("ReminderScheduled", [], {"intent_name": "remind", "trigger_date_time": WHEN}),
    ("ReminderCancelled", [], {}),
    ("ReminderCancelled", ["r1", "remind", {"x": "1"}, 9.0], {}),
    ("ActionReverted", [], {}),
    ("StoryExported", [10.0], {}),
    ("FollowupAction", ["action_next"], {}),
    ("FollowupAction", [], {"name": "action_next", "timestamp": 11.0}),
    ("ConversationPaused", [], {}),
    ("ConversationResumed", [12.0], {}),
    ("ActionExecuted", ["action_x"], {}),
    ("ActionExecuted", ["action_x", "policy_1", 0.9, 13.0], {}),
    ("AgentUttered", [], {}),
    ("AgentUttered", ["human here", {"k": "v"}, 14.0], {}),
    ("ActiveLoop", [None], {}),
    ("ActiveLoop", ["booking_form", 15.0], {}),
    ("LoopInterrupted", [True], {}),
    ("LoopInterrupted", [False, 16.0], {}),
    ("ActionExecutionRejected", ["action_x"], {}),
    ("ActionExecutionRejected", ["action_x", "p", 0.5, 17.0], {}),
]


def _user(text: str, intent: str | None, channel: str | None, **extra: Any) -> dict[str, Any]:
    parse = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}
    return {
        "event": "user",
        "timestamp": 1.0,
        "text": text,
        "parse_data": parse,
        "input_channel": channel,
        **extra,
    }


def _action(name: str) -> dict[str, Any]:
    return {"event": "action", "timestamp": 1.0, "name": name, "policy": None, "confidence": 1.0}


def _slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "timestamp": 1.0, "name": name, "value": value}


def _bot(text: str) -> dict[str, Any]:
    return {"event": "bot", "timestamp": 1.0, "text": text, "data": {}, "metadata": {}}


# A booking conversation: a restart, an undone action, a rewound user message and a
# trailing run of slot events (what a form validates next).
CONVERSATION = [
    {"event": "session_started", "timestamp": 0.5},
    _action("action_listen"),
    _user("hello", "greet", "socketio"),
    _action("utter_greet"),
    _bot("Hi!"),
    {"event": "restart", "timestamp": 1.0},
    _action("action_listen"),
    _user("book a table for 2 in Paris", "book", "rest"),
    _action("action_lookup"),
    {"event": "undo", "timestamp": 1.0},
    _action("booking_form"),
    {"event": "active_loop", "timestamp": 1.0, "name": "booking_form"},
    _action("action_listen"),
    _user("oops", "chitchat", "rest"),
    {"event": "rewind", "timestamp": 1.0},
    _user("for 4 people", "inform", "rest"),
    _slot("city", "Paris"),
    _slot("people", 2),
    _slot("people", 4),
    _slot("outdoor", None),
]

TRACKERS: list[dict[str, Any]] = [
    {
        "sender_id": "u-42",
        "slots": {"city": "Paris", "people": 4, "outdoor": None, "requested_slot": "time"},
        "latest_message": {
            "text": "for 4 people",
            "intent": {"name": "inform", "confidence": 0.93},
            "intent_ranking": [
                {"name": "inform", "confidence": 0.93},
                {"name": "book", "confidence": 0.05},
            ],
            "entities": [
                {"entity": "number", "value": 4},
                {"entity": "city", "value": "Paris", "role": "destination"},
                {"entity": "city", "value": "Lyon", "role": "origin"},
                {"entity": "city", "value": "Nice", "group": "2"},
            ],
        },
        "latest_event_time": 1.0,
        "followup_action": "action_confirm",
        "paused": False,
        "events": CONVERSATION,
        "latest_input_channel": "rest",
        "active_loop": {"name": "booking_form", "validate": True, "rejected": False},
        "latest_action_name": "action_listen",
        "stack": [{"type": "flow", "flow_id": "book_table", "step_id": "ask_time"}],
        "user_id": "user-7",
    },
    {  # the top intent is the NLU fallback
        "sender_id": "u-fallback",
        "slots": {},
        "latest_message": {
            "text": "blorp",
            "intent": {"name": "nlu_fallback", "confidence": 0.3},
            "intent_ranking": [{"name": "nlu_fallback"}, {"name": "greet"}],
            "entities": [],
        },
        "events": [_action("action_listen"), _user("blorp", "nlu_fallback", None)],
        "paused": True,
        "active_loop": {"name": "should_not_be_set"},
    },
    {  # only the fallback is ranked
        "sender_id": "u-only-fallback",
        "latest_message": {"text": "?", "intent_ranking": [{"name": "nlu_fallback"}]},
        "events": [_user("?", "nlu_fallback", "cmdline")],
    },
    {  # an intent without a ranking (e.g. a hand-built state), no user event, no loop
        "sender_id": "u-no-ranking",
        "slots": {"x": 1},
        "latest_message": {"text": "hi", "intent": {"name": "greet"}, "entities": []},
        "events": [_action("action_listen"), _slot("x", 1), _bot("hey")],
        "latest_input_channel": "rest",
        "active_loop": {},
    },
    {"sender_id": "u-empty"},  # a brand-new conversation
]


def _tracker_ops(tracker_cls: type) -> list[tuple[str, Callable[[Any], Any]]]:
    """(label, operation on a fresh tracker); every public Tracker member both SDKs share."""
    added = [
        {"event": "slot", "timestamp": 2.0, "name": "time", "value": "19:00"},
        {"event": "bot", "timestamp": 2.0, "text": "ignored"},
    ]

    def add_slots(t: Any) -> Any:
        t.add_slots(copy.deepcopy(added))
        return [t.current_slot_values(), t.events[-2:], t.slots_to_validate()]

    def copied(t: Any) -> Any:
        twin = t.copy()
        twin.slots["mutated"] = True  # a copy is independent of the original
        return [twin == t, twin.current_state(), "mutated" in t.slots]

    return [
        ("current_state", lambda t: t.current_state()),
        ("current_slot_values", lambda t: t.current_slot_values()),
        ("get_slot(city)", lambda t: t.get_slot("city")),
        ("get_slot(outdoor)", lambda t: t.get_slot("outdoor")),
        ("get_slot(unknown)", lambda t: t.get_slot("unknown")),
        ("get_latest_entity_values(city)", lambda t: list(t.get_latest_entity_values("city"))),
        (
            "get_latest_entity_values(city, origin)",
            lambda t: list(t.get_latest_entity_values("city", "origin")),
        ),
        (
            "get_latest_entity_values(city, group=2)",
            lambda t: list(t.get_latest_entity_values("city", entity_group="2")),
        ),
        ("get_latest_entity_values(number)", lambda t: list(t.get_latest_entity_values("number"))),
        ("get_latest_input_channel", lambda t: t.get_latest_input_channel()),
        ("is_paused", lambda t: t.is_paused()),
        ("idx_after_latest_restart", lambda t: t.idx_after_latest_restart()),
        ("events_after_latest_restart", lambda t: t.events_after_latest_restart()),
        ("active_loop_name", lambda t: t.active_loop_name),
        ("applied_events", lambda t: t.applied_events()),
        ("get_last_event_for(action)", lambda t: t.get_last_event_for("action")),
        (
            "get_last_event_for(action, exclude=[action_listen])",
            lambda t: t.get_last_event_for("action", exclude=["action_listen"]),
        ),
        ("get_last_event_for(user, skip=1)", lambda t: t.get_last_event_for("user", skip=1)),
        ("get_last_event_for(slot)", lambda t: t.get_last_event_for("slot")),
        (
            "last_executed_action_has(booking_form)",
            lambda t: t.last_executed_action_has("booking_form"),
        ),
        (
            "last_executed_action_has(utter_greet)",
            lambda t: t.last_executed_action_has("utter_greet"),
        ),
        (
            "last_executed_action_has(skip=1)",
            lambda t: t.last_executed_action_has("action_lookup", skip=1),
        ),
        ("slots_to_validate", lambda t: t.slots_to_validate()),
        ("get_intent_of_latest_message()", lambda t: t.get_intent_of_latest_message()),
        (
            "get_intent_of_latest_message(skip_fallback_intent=False)",
            lambda t: t.get_intent_of_latest_message(skip_fallback_intent=False),
        ),
        ("add_slots", add_slots),
        ("copy", copied),
        (
            "from_dict(current_state()) == tracker",
            lambda t: tracker_cls.from_dict(t.current_state()) == t,
        ),
        ("attributes", lambda t: [t.sender_id, t.latest_action_name, t.followup_action, t.user_id]),
    ]


def _dispatcher_runs() -> list[tuple[str, Callable[[Any], Any]]]:
    """(label, what to do with a fresh dispatcher); the messages it collects are compared."""

    async def streamed(d: Any) -> None:
        await d.stream_start()
        await d.stream_chunk(text="Hel")
        await d.stream_chunk(text="lo", json_message={"k": 1}, buttons=BUTTONS, extra="x")
        await d.stream_chunk(image="https://x/i.png", attachment="a.pdf", elements=[{"e": 1}])
        await d.stream_end()

    async def implicit_start(d: Any) -> None:
        await d.stream_chunk(text="no explicit start")
        await d.stream_end()

    return [
        ("text", lambda d: d.utter_message("hi")),
        ("response", lambda d: d.utter_message(response="utter_greet", name="Ada")),
        ("template", lambda d: d.utter_message(template="utter_old")),
        (
            "everything",
            lambda d: d.utter_message(
                text="t",
                image="i",
                json_message={"j": 1},
                attachment="a",
                buttons=BUTTONS,
                elements=[{"e": 1}],
                quick_replies=[1],
            ),
        ),
        ("utter_custom_json", lambda d: d.utter_custom_json({"payload": 1}, tag="x")),
        ("utter_image_url", lambda d: d.utter_image_url("https://x/i.png")),
        ("utter_attachment", lambda d: d.utter_attachment("doc.pdf")),
        ("utter_button_message", lambda d: d.utter_button_message("Pick", BUTTONS)),
        ("utter_elements", lambda d: d.utter_elements({"a": 1}, {"b": 2}, text="els")),
        ("utter_custom_message", lambda d: d.utter_custom_message({"a": 1})),
        ("utter_template", lambda d: d.utter_template("utter_greet", None, name="Ada")),
        ("utter_button_template", lambda d: d.utter_button_template("utter_pick", BUTTONS, None)),
        ("stream without a sink", lambda d: asyncio.run(streamed(d))),
        ("stream_chunk starts a stream", lambda d: asyncio.run(implicit_start(d))),
    ]


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return {"ok": fn()}
    except Exception as exc:  # an error is a result too: both SDKs must agree on it
        return {"error": type(exc).__name__}


def _public(cls: type) -> list[str]:
    return sorted(n for n in dir(cls) if not n.startswith("_"))


def probe(package: str) -> dict[str, Any]:
    """Run every call against ``package`` (``subagents`` or ``rasa_sdk``); JSON-safe."""
    if package == "rasa_sdk":
        events = importlib.import_module("rasa_sdk.events")
        tracker_cls = importlib.import_module("rasa_sdk.interfaces").Tracker
        dispatcher_cls = importlib.import_module("rasa_sdk.executor").CollectingDispatcher
        exceptions = importlib.import_module("rasa_sdk.interfaces")
    else:
        events = importlib.import_module(f"{package}.actions.events")
        tracker_cls = importlib.import_module(f"{package}.actions").Tracker
        dispatcher_cls = importlib.import_module(f"{package}.actions").CollectingDispatcher
        exceptions = importlib.import_module(f"{package}.actions.interfaces")
    warnings.simplefilter("ignore")  # the Rasa SDK warns about its deprecated helpers
    ops = _tracker_ops(tracker_cls)
    return {
        "event_names": sorted(
            n
            for n, obj in vars(events).items()
            if n[:1].isupper() and getattr(obj, "__module__", None) == events.__name__
        ),
        "events": [_safe(lambda c=c: getattr(events, c[0])(*c[1], **c[2])) for c in EVENT_CALLS],
        "tracker_api": _public(tracker_cls),
        "tracker_ops": [label for label, _ in ops],
        "trackers": [
            [_safe(lambda op=op, s=s: op(tracker_cls.from_dict(copy.deepcopy(s)))) for _, op in ops]
            for s in TRACKERS
        ],
        "dispatcher_api": _public(dispatcher_cls),
        "dispatcher": [
            _safe(lambda run=run: _collect(dispatcher_cls, run)) for _, run in _dispatcher_runs()
        ],
        "exceptions": [
            str(exceptions.ActionExecutionRejection("action_x")),
            str(exceptions.ActionExecutionRejection("action_x", "not now")),
            str(exceptions.ActionNotFoundException("action_x")),
        ],
    }


def _collect(dispatcher_cls: type, run: Callable[[Any], Any]) -> list[dict[str, Any]]:
    dispatcher = dispatcher_cls()
    run(dispatcher)
    return list(dispatcher.messages)


if __name__ == "__main__":
    json.dump(probe(sys.argv[1]), sys.stdout, default=repr)
