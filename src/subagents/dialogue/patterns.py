"""Conversation patterns: the flows the engine runs for cancel, correction, errors...

Each pattern is a flow (as in Rasa): the runtime ships a default for each, and a project
overrides one by defining a flow of the same id in flows.yml. A pattern runs on top of the
stack with a *context* whose keys are template variables of the responses it sends
(``{flow_name}``, ``{slot}``, ...). Patterns are never offered to the router and cannot be
started with ``/<id>``.

``pattern_completed``, ``pattern_collect_information`` and ``pattern_session_start`` do
nothing visible by default beyond what the runtime does itself (the ``collect`` asks its
question), so they run only when the project defines them: a conversation that does not
use them has no extra events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from subagents.config.flow_graph import Flow, compile_flow
from subagents.config.models import FlowConfig

CANCEL: Final = "pattern_cancel_flow"
CORRECTION: Final = "pattern_correction"
CLARIFICATION: Final = "pattern_clarification"
CHITCHAT: Final = "pattern_chitchat"
CANNOT_HANDLE: Final = "pattern_cannot_handle"
HUMAN_HANDOFF: Final = "pattern_human_handoff"
INTERNAL_ERROR: Final = "pattern_internal_error"
COMPLETED: Final = "pattern_completed"
CONTINUE_INTERRUPTED: Final = "pattern_continue_interrupted"
COLLECT_INFORMATION: Final = "pattern_collect_information"
SESSION_START: Final = "pattern_session_start"

ASK_COLLECT: Final = "action_ask_collect"
"""Built-in action of ``pattern_collect_information``: asks the question of the
``collect`` step that started the pattern (``utter:``, ``action_ask_<slot>`` or
``utter_ask_<slot>``)."""

DEFAULT_PATTERNS: dict[str, dict[str, Any]] = {
    CANCEL: {
        "description": "The user cancelled a flow; context: flow_name, flow_id.",
        "steps": [{"action": "utter_flow_cancelled"}],
    },
    CORRECTION: {
        "description": "A slot was corrected; context: slot, value.",
        "steps": [{"action": "utter_corrected_previous_input"}],
    },
    CLARIFICATION: {
        "description": "The message could mean several flows; context: options, buttons.",
        "steps": [{"action": "utter_clarification_options"}],
    },
    CHITCHAT: {
        "description": "Small talk; context: response (the router's reply).",
        "steps": [{"action": "utter_free_chitchat_response"}],
    },
    CANNOT_HANDLE: {
        "description": "Nothing the assistant can do matches the message.",
        "steps": [{"action": "utter_fallback"}],
    },
    HUMAN_HANDOFF: {
        "description": "The user asked for a human.",
        "steps": [{"action": "utter_human_handoff_not_available"}],
    },
    INTERNAL_ERROR: {
        "description": "Something failed; the current flow was cancelled.",
        "steps": [{"action": "utter_internal_error"}],
    },
    COMPLETED: {
        "description": "The last flow on the stack completed; context: flow_name, flow_id.",
        "steps": [{"noop": True, "next": "END"}],
    },
    CONTINUE_INTERRUPTED: {
        "description": "A flow that was interrupted goes on; context: flow_name, flow_id.",
        "steps": [{"action": "utter_flow_continue_interrupted"}],
    },
    COLLECT_INFORMATION: {
        "description": "A collect step asks its question; context: collect, utter.",
        "steps": [{"action": ASK_COLLECT}],
    },
    SESSION_START: {
        "description": "A new session started.",
        "steps": [{"noop": True, "next": "END"}],
    },
}
"""The default pattern flows, as they would be written in flows.yml."""

ONLY_WHEN_DEFINED: Final = frozenset({COMPLETED, COLLECT_INFORMATION, SESSION_START})
"""Patterns that run only when the project defines them."""
REASK_AFTER: Final = frozenset(
    {CONTINUE_INTERRUPTED, CHITCHAT, CLARIFICATION, CANNOT_HANDLE, HUMAN_HANDOFF}
)
"""After these, what waits below asks its question again (a digression was answered)."""
QUIET_OVER_WAITING: Final = frozenset({COLLECT_INFORMATION, CORRECTION, SESSION_START})
"""After these, what waits below just goes on waiting."""

_COMPILED: dict[str, Flow] = {}


def is_pattern(flow_id: str) -> bool:
    """Whether ``flow_id`` names a conversation pattern (``pattern_*``)."""
    return flow_id.startswith("pattern_")


def default_patterns() -> dict[str, Flow]:
    """The default pattern flows, compiled once per process."""
    if not _COMPILED:
        for flow_id, data in DEFAULT_PATTERNS.items():
            flow, problems = compile_flow(flow_id, FlowConfig.model_validate(data))
            assert not problems, problems  # the defaults are ours: a test compiles them
            _COMPILED[flow_id] = flow
    return dict(_COMPILED)


def with_patterns(flows: Mapping[str, Flow]) -> dict[str, Flow]:
    """The project's flows plus every default pattern it does not define itself."""
    return {**default_patterns(), **flows}


__all__ = [
    "ASK_COLLECT",
    "CANCEL",
    "CANNOT_HANDLE",
    "CHITCHAT",
    "CLARIFICATION",
    "COLLECT_INFORMATION",
    "COMPLETED",
    "CONTINUE_INTERRUPTED",
    "CORRECTION",
    "DEFAULT_PATTERNS",
    "HUMAN_HANDOFF",
    "INTERNAL_ERROR",
    "ONLY_WHEN_DEFINED",
    "QUIET_OVER_WAITING",
    "REASK_AFTER",
    "SESSION_START",
    "default_patterns",
    "is_pattern",
    "with_patterns",
]
