"""Public data shapes of tools: what a custom tool executor returns, and a tool's schema.

Re-exported by :mod:`subagents` and :mod:`subagents.agents.schemas`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class AgentToolResult(BaseModel):
    """What a custom tool executor returns (the reference's shape)."""

    tool_name: str
    result: str | None = None
    is_error: bool = False
    error_message: str | None = None


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
