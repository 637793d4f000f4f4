"""Custom actions of the salon example: one streaming, one plain."""

from __future__ import annotations

from typing import Any

from subagents.actions import Action, CollectingDispatcher, SlotSet, Tracker


class ActionConfirmBooking(Action):
    """Streams the booking confirmation word by word and counts the bookings made.

    On a streaming channel (``?stream=true``, the shell) each chunk reaches the user as it
    is produced; on the plain REST channel the chunks arrive as one message.
    """

    def name(self) -> str:
        return "action_confirm_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        name = tracker.get_slot("customer_name")
        text = (
            f"All set{', ' + name if name else ''}! Your "
            f"{tracker.get_slot('appointment_service')} is booked for "
            f"{tracker.get_slot('appointment_date')} at {tracker.get_slot('appointment_time')}."
            " See you then!"
        )
        await dispatcher.stream_start()
        for word in _words(text):
            await dispatcher.stream_chunk(text=word)
        await dispatcher.stream_end()
        made = float(tracker.get_slot("bookings_made") or 0) + 1
        return [SlotSet("bookings_made", made)]


class ActionSalonSummary(Action):
    """A plain (non-streaming) action: what the assistant knows about this conversation."""

    def name(self) -> str:
        return "action_salon_summary"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        made = int(tracker.get_slot("bookings_made") or 0)
        name = tracker.get_slot("customer_name")
        who = f", {name}" if name else ""
        dispatcher.utter_message(text=f"You have made {made} booking(s) with us{who}.")
        return []


def _words(text: str) -> list[str]:
    """Split into words keeping the spaces, so the chunks join back to ``text``."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]
