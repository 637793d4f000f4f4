"""Public data shapes of sub agents: what goes into a run and what comes out.

Events are Rasa SDK-style dicts (``{"event": "slot", "name": ..., "value": ...}``), the
same shape custom actions return, so an agent's output events can be applied to the
tracker like an action's. The tool shapes (``AgentToolResult``, ``AgentToolSchema``) live
in :mod:`subagents.tools.schemas` and are re-exported here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from subagents.config.slots import SlotTypeName
from subagents.tools.schemas import AgentToolResult, AgentToolSchema


class AgentStatus(StrEnum):
    """How a run ended."""

    COMPLETED = "completed"
    INPUT_REQUIRED = "input_required"
    FATAL_ERROR = "fatal_error"
    RECOVERABLE_ERROR = "recoverable_error"
    CANCELLED = "cancelled"


class AgentInputSlot(BaseModel):
    """A slot as the agent sees it (``type``: a slot type of domain.yml)."""

    name: str
    value: Any = None
    type: SlotTypeName = "any"
    allowed_values: list[Any] | None = None


class AgentInput(BaseModel):
    """Everything one run of an agent receives.

    ``id`` identifies the conversation (the run's context id). ``conversation_history`` is
    the rendered transcript the default prompt shows; ``events`` are the tracker events
    the caller chose to pass; ``metadata`` is free-form (channel metadata, ...).
    """

    model_config = ConfigDict(extra="allow")

    id: str = "default"
    user_message: str = ""
    slots: list[AgentInputSlot] = Field(default_factory=list)
    conversation_history: str = ""
    events: list[dict[str, Any]] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def slot_values(self) -> dict[str, Any]:
        """Slots as a ``{name: value}`` dict."""
        return {s.name: s.value for s in self.slots}


class AgentOutput(BaseModel):
    """The result of one run.

    ``response_message`` is sent to the user (``None`` when a task agent completes
    silently). ``events`` carry slot sets (``{"event": "slot", ...}``).
    ``structured_results`` lists the tool results of the run (name, arguments, result,
    is_error) for the tracker. ``metadata`` is free-form (iterations used, ...).
    """

    id: str = "default"
    status: AgentStatus
    response_message: str | None = None
    events: list[dict[str, Any]] = Field(default_factory=list)
    structured_results: list[dict[str, Any]] = Field(default_factory=list)
    error_message: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


__all__ = [
    "AgentInput",
    "AgentInputSlot",
    "AgentOutput",
    "AgentStatus",
    "AgentToolResult",
    "AgentToolSchema",
]
