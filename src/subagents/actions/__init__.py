"""Custom actions: the SDK action authors import, executors, and the action server.

Actions port from the Rasa SDK by changing imports::

    from subagents.actions import Action, Tracker, CollectingDispatcher
    from subagents.actions.events import SlotSet
"""

from __future__ import annotations

from subagents.actions import events
from subagents.actions.dispatcher import CollectingDispatcher
from subagents.actions.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    AgentUttered,
    AllSlotsReset,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    EventType,
    FollowupAction,
    LoopInterrupted,
    ReminderCancelled,
    ReminderScheduled,
    Restarted,
    SessionEnded,
    SessionStarted,
    SlotSet,
    StoryExported,
    UserUtteranceReverted,
    UserUttered,
)
from subagents.actions.executors.base import ActionExecutor, ActionResult
from subagents.actions.interfaces import (
    Action,
    ActionExecutionRejection,
    ActionMissingDomainException,
    ActionNotFoundException,
    Tracker,
)
from subagents.actions.registry import ActionRegistry

__all__ = [
    "Action",
    "ActionExecuted",
    "ActionExecutionRejected",
    "ActionExecutionRejection",
    "ActionExecutor",
    "ActionMissingDomainException",
    "ActionNotFoundException",
    "ActionRegistry",
    "ActionResult",
    "ActionReverted",
    "ActiveLoop",
    "AgentUttered",
    "AllSlotsReset",
    "BotUttered",
    "CollectingDispatcher",
    "ConversationPaused",
    "ConversationResumed",
    "EventType",
    "FollowupAction",
    "LoopInterrupted",
    "ReminderCancelled",
    "ReminderScheduled",
    "Restarted",
    "SessionEnded",
    "SessionStarted",
    "SlotSet",
    "StoryExported",
    "Tracker",
    "UserUttered",
    "UserUtteranceReverted",
    "events",
]
