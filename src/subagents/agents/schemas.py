"""Public data shapes of sub agents: what goes into a run and what comes out.

Events are Rasa SDK-style dicts (``{"event": "slot", "name": ..., "value": ...}``), the
same shape custom actions return, so an agent's output events can be applied to the
tracker like an action's.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from subagents.config.slots import SlotTypeName


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


class AgentToolResult(BaseModel):
    """What a custom tool executor returns (the reference's shape)."""

    tool_name: str
    result: str | None = None
    is_error: bool = False
    error_message: str | None = None


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


class AgentToolSchema(BaseModel):
    """A tool in the OpenAI function-calling shape."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    strict: bool = False
    type: Literal["function"] = "function"

    def to_openai(self) -> dict[str, Any]:
        """``{"type": "function", "function": {...}}`` as sent to the model."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
                "strict": self.strict,
            },
        }

    @classmethod
    def from_openai(cls, definition: dict[str, Any]) -> AgentToolSchema:
        """Parse ``{"type": "function", "function": {...}}`` (extra keys ignored)."""
        fn = definition.get("function", definition)
        return cls(
            name=fn["name"],
            description=fn.get("description", ""),
            parameters=fn.get("parameters") or {"type": "object", "properties": {}},
            strict=bool(fn.get("strict", False)),
        )
