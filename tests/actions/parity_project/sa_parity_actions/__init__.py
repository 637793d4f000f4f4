"""One action that reports what its tracker says; importable by subagents and the Rasa SDK."""

from __future__ import annotations

from typing import Any

try:  # pragma: no cover - only inside the Rasa SDK's virtual environment
    from rasa_sdk import Action, Tracker
    from rasa_sdk.events import SlotSet
    from rasa_sdk.executor import CollectingDispatcher
except ImportError:
    from subagents.actions import Action, CollectingDispatcher, SlotSet, Tracker


class ActionTrackerEcho(Action):
    """Returns ``SlotSet("seen", {...})`` with the answers of the tracker's helpers."""

    def name(self) -> str:
        return "action_tracker_echo"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        last_action = tracker.get_last_event_for("action", exclude=["action_listen"])
        seen = {
            "sender_id": tracker.sender_id,
            "slots": tracker.current_slot_values(),
            "city": tracker.get_slot("city"),
            "text": tracker.latest_message.get("text"),
            "intent": tracker.get_intent_of_latest_message(),
            "destination": list(tracker.get_latest_entity_values("city", "destination")),
            "channel": tracker.get_latest_input_channel(),
            "paused": tracker.is_paused(),
            "active_loop_name": tracker.active_loop_name,
            "latest_action_name": tracker.latest_action_name,
            "followup_action": tracker.followup_action,
            "events_since_restart": len(tracker.events_after_latest_restart()),
            "applied_events": len(tracker.applied_events()),
            "last_action": last_action and last_action.get("name"),
            "slots_to_validate": tracker.slots_to_validate(),
            "stack": tracker.stack,
            "domain_slots": sorted((domain or {}).get("slots", {})),
        }
        dispatcher.utter_message(text=f"seen {tracker.sender_id}")
        return [SlotSet("seen", seen)]
