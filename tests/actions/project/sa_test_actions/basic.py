"""Plain (non-streaming) test actions."""

from __future__ import annotations

from typing import Any

from ._sdk import Action, ActionExecutionRejection, CollectingDispatcher, SlotSet, Tracker


class ActionGreet(Action):
    def name(self) -> str:
        return "action_greet"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        name = tracker.get_slot("name") or "stranger"
        dispatcher.utter_message(text=f"Hello, {name}!")
        dispatcher.utter_message(response="utter_goodbye")
        responses = sorted((domain or {}).get("responses", {}))
        return [SlotSet("greeted", True), SlotSet("domain_responses", responses)]


class ActionSyncCount(Action):
    """A plain ``def run`` (blocking style) action."""

    def name(self) -> str:
        return "action_sync_count"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        count = (tracker.get_slot("count") or 0) + 1
        dispatcher.utter_message(text=f"count={count}")
        return [SlotSet("count", count)]


class ActionReject(Action):
    def name(self) -> str:
        return "action_reject"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        raise ActionExecutionRejection("action_reject", "not now, thanks")


class ActionCrash(Action):
    def name(self) -> str:
        return "action_crash"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        raise RuntimeError("database is on fire")
