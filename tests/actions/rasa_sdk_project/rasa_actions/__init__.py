# ruff: noqa: UP006, UP019, UP035  (written as Rasa SDK users write actions: typing.Dict, Text)
"""Actions written for the Rasa SDK, as a Rasa user has them: they import only rasa_sdk."""

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import ActionExecutionRejection


class ActionGreet(Action):
    def name(self) -> Text:
        return "action_rasa_greet"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        # The Rasa SDK's own classes, not look-alikes.
        kinds = f"{type(tracker).__module__}/{type(dispatcher).__module__}"
        dispatcher.utter_message(text=f"Hello, {tracker.get_slot('name')}! ({kinds})")
        dispatcher.utter_message(response="utter_thanks")
        return [SlotSet("greeted", True)]


class ActionStream(Action):
    def name(self) -> Text:
        return "action_rasa_stream"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="before")
        await dispatcher.stream_start()
        for word in ["one ", "two ", "three"]:
            await dispatcher.stream_chunk(text=word)
        await dispatcher.stream_end()
        dispatcher.utter_message(text="after")
        return [SlotSet("streamed", True)]


class ActionBlocking(Action):
    """A plain ``def run`` (it may block), as many Rasa actions are written."""

    def name(self) -> Text:
        return "action_rasa_blocking"

    def run(self, dispatcher, tracker, domain):
        latest = tracker.latest_message.get("text")
        dispatcher.utter_message(text=f"you said {latest}")
        return []


class ActionReject(Action):
    def name(self) -> Text:
        return "action_rasa_reject"

    async def run(self, dispatcher, tracker, domain):
        raise ActionExecutionRejection(self.name(), "not today")
