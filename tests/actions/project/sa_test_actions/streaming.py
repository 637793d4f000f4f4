"""Streaming test actions; the slot ``tokens`` lists the chunks, ``delay`` spaces them."""

from __future__ import annotations

import asyncio
from typing import Any

from ._sdk import Action, CollectingDispatcher, SlotSet, Tracker


class ActionStream(Action):
    def name(self) -> str:
        return "action_stream"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        tokens = tracker.get_slot("tokens") or ["Hel", "lo ", "world"]
        delay = float(tracker.get_slot("delay") or 0)
        await dispatcher.stream_start()
        for token in tokens:
            if delay:
                await asyncio.sleep(delay)
            await dispatcher.stream_chunk(text=token)
        await dispatcher.stream_end()
        dispatcher.utter_message(text="after the stream")
        return [SlotSet("streamed", True)]


class ActionStreamRich(Action):
    def name(self) -> str:
        return "action_stream_rich"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        await dispatcher.stream_start()
        await dispatcher.stream_chunk(text="Pick one:")
        await dispatcher.stream_chunk(
            buttons=[{"title": "Yes", "payload": "/yes"}], json_message={"k": 1}
        )
        await dispatcher.stream_end()
        return []
