"""Pick the SDK: the Rasa SDK inside its own venv, subagents.actions everywhere else."""

try:  # pragma: no cover - only inside the Rasa SDK's virtual environment
    from rasa_sdk import Action, Tracker
    from rasa_sdk.events import FollowupAction, SlotSet
    from rasa_sdk.executor import CollectingDispatcher
    from rasa_sdk.interfaces import ActionExecutionRejection
except ImportError:
    from subagents.actions import (
        Action,
        ActionExecutionRejection,
        CollectingDispatcher,
        FollowupAction,
        SlotSet,
        Tracker,
    )

__all__ = [
    "Action",
    "ActionExecutionRejection",
    "CollectingDispatcher",
    "FollowupAction",
    "SlotSet",
    "Tracker",
]
