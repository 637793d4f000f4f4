"""Tracker events: Rasa's names (``user``, ``bot``, ``slot``, ``action``, ``restarted``...)
plus ours for flows, agents and tools. Every event carries a ``timestamp`` (seconds).

Ours::

    flow_started      {"flow_id", "called_by"?}   called_by: the flow whose call: step ran it
    flow_completed    {"flow_id"}
    flow_cancelled    {"flow_id", "reason"}
    flow_interrupted  {"flow_id", "by"}          a flow was started on top of it
    flow_resumed      {"flow_id"}                the flow on top ended; this one goes on
    slot_corrected    {"name"}                   a correction (the slot event has the value)
    session_started   {}                         a new session (Rasa's name)
    agent_started     {"agent", "flow_id", "step_id"}
    agent_input_required {"agent", "flow_id", "step_id", "model_calls"?}
    agent_completed   {"agent", "flow_id", "step_id", "model_calls"?, "usage"?}
    agent_cancelled   {"agent", "flow_id", "step_id", "reason", "model_calls"?}
    agent_failed      {"agent", "flow_id", "step_id", "error", "model_calls"?, "usage"?}
    agent_recoverable_error {"agent", "flow_id", "step_id", "error", "attempt"}  run again
    tool_executed     {"agent", "name", "arguments", "result", "is_error",
                       "iteration"?, "duration_ms"?, "server"?, "reconnected"?, "retried"?}

Rasa's ``action`` event gets ``executor``, ``duration_ms``, ``events`` (how many the
action returned) and ``streamed`` (chunks, when it streamed) for a custom action.

``model_calls`` lists the run's model responses (``{"id", "iteration", "model", "duration_ms",
"finish_reason", "usage", "tool_calls"}``, see :func:`subagents.agents.loop.model_call`).

``usage`` (on ``agent_completed`` and ``agent_failed``): the tokens the agent's LLM calls
used for the task, all its runs across turns included: ``{"input_tokens",
"output_tokens", "llm_calls"}``, when the model reported usage.
"""

from __future__ import annotations

import time
from typing import Any


def event(kind: str, /, **fields: Any) -> dict[str, Any]:
    """An event dict ``{"event": kind, "timestamp": now, **fields}``."""
    return {"event": kind, "timestamp": time.time(), **fields}


def user(text: str, *, metadata: dict[str, Any] | None, channel: str | None) -> dict[str, Any]:
    """Rasa's ``user`` event (no NLU here: the intent is empty)."""
    return event(
        "user",
        text=text,
        parse_data={"text": text, "intent": {}, "entities": [], "intent_ranking": []},
        input_channel=channel,
        metadata=metadata or {},
    )


def bot(message: dict[str, Any]) -> dict[str, Any]:
    """Rasa's ``bot`` event for one outgoing message (``recipient_id`` dropped)."""
    data = {k: v for k, v in message.items() if k not in {"text", "recipient_id", "metadata"}}
    return event("bot", text=message.get("text"), data=data, metadata=message.get("metadata", {}))


def slot(name: str, value: Any) -> dict[str, Any]:
    return event("slot", name=name, value=value)


def action(name: str, **fields: Any) -> dict[str, Any]:
    return event("action", name=name, **fields)
