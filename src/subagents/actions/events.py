"""Events returned by custom actions, as Rasa SDK-style dicts.

Every helper returns a plain ``dict`` with an ``event`` key, exactly the shape the open
source Rasa SDK produces, so actions written for it port by changing the import and the
dicts travel unchanged over HTTP and gRPC.
"""

from __future__ import annotations

import datetime
from typing import Any

EventType = dict[str, Any]


def UserUttered(
    text: str | None,
    parse_data: dict[str, Any] | None = None,
    timestamp: float | None = None,
    input_channel: str | None = None,
) -> EventType:
    """The user said something."""
    return {
        "event": "user",
        "timestamp": timestamp,
        "text": text,
        "parse_data": parse_data,
        "input_channel": input_channel,
    }


def BotUttered(
    text: str | None = None,
    data: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    timestamp: float | None = None,
) -> EventType:
    """The bot said something (recorded without being sent again)."""
    return {
        "event": "bot",
        "timestamp": timestamp,
        "text": text,
        "data": data,
        "metadata": metadata,
    }


def SlotSet(key: str, value: Any = None, timestamp: float | None = None) -> EventType:
    """Set slot ``key`` to ``value``."""
    return {"event": "slot", "timestamp": timestamp, "name": key, "value": value}


def Restarted(timestamp: float | None = None) -> EventType:
    """Restart the conversation (forget history and slots)."""
    return {"event": "restart", "timestamp": timestamp}


def SessionStarted(timestamp: float | None = None) -> EventType:
    """A new session started."""
    return {"event": "session_started", "timestamp": timestamp}


def SessionEnded(
    timestamp: float | None = None, metadata: dict[str, Any] | None = None
) -> EventType:
    """End the conversation session."""
    return {"event": "session_ended", "timestamp": timestamp, "metadata": metadata}


def UserUtteranceReverted(timestamp: float | None = None) -> EventType:
    """Undo the latest user message (and what followed it)."""
    return {"event": "rewind", "timestamp": timestamp}


def AllSlotsReset(timestamp: float | None = None) -> EventType:
    """Reset every slot to its initial value."""
    return {"event": "reset_slots", "timestamp": timestamp}


def ReminderScheduled(
    intent_name: str,
    trigger_date_time: datetime.datetime,
    entities: list[dict[str, Any]] | dict[str, str] | None = None,
    name: str | None = None,
    kill_on_user_message: bool = True,
    timestamp: float | None = None,
) -> EventType:
    """Schedule a reminder that triggers ``intent_name`` at ``trigger_date_time``."""
    return {
        "event": "reminder",
        "timestamp": timestamp,
        "intent": intent_name,
        "entities": entities,
        "date_time": trigger_date_time.isoformat(),
        "name": name,
        "kill_on_user_msg": kill_on_user_message,
    }


def ReminderCancelled(
    name: str | None = None,
    intent_name: str | None = None,
    entities: list[dict[str, Any]] | dict[str, str] | None = None,
    timestamp: float | None = None,
) -> EventType:
    """Cancel scheduled reminders matching name / intent / entities."""
    return {
        "event": "cancel_reminder",
        "timestamp": timestamp,
        "intent": intent_name,
        "entities": entities,
        "name": name,
    }


def ActionReverted(timestamp: float | None = None) -> EventType:
    """Undo the latest action."""
    return {"event": "undo", "timestamp": timestamp}


def StoryExported(timestamp: float | None = None) -> EventType:
    """Export the conversation as a story (kept for compatibility)."""
    return {"event": "export", "timestamp": timestamp}


def FollowupAction(name: str, timestamp: float | None = None) -> EventType:
    """Run action ``name`` next."""
    return {"event": "followup", "timestamp": timestamp, "name": name}


def ConversationPaused(timestamp: float | None = None) -> EventType:
    """Pause the conversation: the bot stops answering."""
    return {"event": "pause", "timestamp": timestamp}


def ConversationResumed(timestamp: float | None = None) -> EventType:
    """Resume a paused conversation."""
    return {"event": "resume", "timestamp": timestamp}


def ActionExecuted(
    action_name: str,
    policy: str | None = None,
    confidence: float | None = None,
    timestamp: float | None = None,
) -> EventType:
    """An action was executed."""
    return {
        "event": "action",
        "name": action_name,
        "policy": policy,
        "confidence": confidence,
        "timestamp": timestamp,
    }


def AgentUttered(
    text: str | None = None, data: Any = None, timestamp: float | None = None
) -> EventType:
    """A human agent said something."""
    return {"event": "agent", "text": text, "data": data, "timestamp": timestamp}


def ActiveLoop(name: str | None, timestamp: float | None = None) -> EventType:
    """Activate loop/form ``name`` (``None`` deactivates)."""
    return {"event": "active_loop", "name": name, "timestamp": timestamp}


def LoopInterrupted(is_interrupted: bool, timestamp: float | None = None) -> EventType:
    """Mark the active loop as interrupted (or not)."""
    return {"event": "loop_interrupted", "is_interrupted": is_interrupted, "timestamp": timestamp}


def ActionExecutionRejected(
    action_name: str,
    policy: str | None = None,
    confidence: float | None = None,
    timestamp: float | None = None,
) -> EventType:
    """An action rejected its execution."""
    return {
        "event": "action_execution_rejected",
        "name": action_name,
        "policy": policy,
        "confidence": confidence,
        "timestamp": timestamp,
    }


__all__ = [
    "ActionExecuted",
    "ActionExecutionRejected",
    "ActionReverted",
    "ActiveLoop",
    "AgentUttered",
    "AllSlotsReset",
    "BotUttered",
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
    "UserUttered",
    "UserUtteranceReverted",
]
