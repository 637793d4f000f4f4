"""The ``LLMClient`` seam: one chat completion with tools, streaming or not.

Agents and the flow router talk to the model only through :class:`LLMClient`. The
production implementation lives in :mod:`subagents.llm.client`; tests and offline runs use
the scripted model server in :mod:`subagents.testing`, reached through the same client over
real HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

TextCallback = Callable[[str], Awaitable[None]]

current_conversation: ContextVar[str | None] = ContextVar("current_conversation", default=None)
"""The conversation the current model request belongs to (set by the assistant for each
turn). Clients may use it; the scripted model plays one scenario per conversation."""


@dataclass
class ToolCall:
    """One tool call the model asked for.

    ``arguments`` is the parsed JSON object, or ``None`` when ``raw_arguments`` was not a
    JSON object; then ``parse_error`` says what was wrong, so the loop can tell the model.
    """

    id: str
    name: str
    raw_arguments: str
    arguments: dict[str, Any] | None = None
    parse_error: str | None = None

    @classmethod
    def parse(cls, id: str, name: str, raw_arguments: str | None) -> ToolCall:
        """Build a call from the wire form, flagging malformed argument JSON."""
        raw = raw_arguments if raw_arguments is not None else ""
        if raw.strip() == "":
            return cls(id=id, name=name, raw_arguments=raw, arguments={})
        try:
            value = json.loads(raw)
        except ValueError as exc:
            return cls(id, name, raw, None, f"arguments are not valid JSON ({exc})")
        if not isinstance(value, dict):
            return cls(id, name, raw, None, "arguments must be a JSON object")
        return cls(id=id, name=name, raw_arguments=raw, arguments=value)


@dataclass
class LLMResponse:
    """The parts of one completion the loop needs: text and tool calls."""

    text: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    model: str | None = None
    """The model that answered, as the provider names it (when it says)."""


class ToolPayload:
    """The tools parameter of a request, serialised once and reused on every step.

    Tools do not change between the steps of a run (nor between runs, unless a server's
    list changes), so clients send ``json_bytes`` instead of re-encoding the list.
    """

    __slots__ = ("tools", "_json", "_json_bytes")

    def __init__(self, tools: Sequence[dict[str, Any]]) -> None:
        self.tools: list[dict[str, Any]] = list(tools)
        self._json: str | None = None
        self._json_bytes: bytes | None = None

    @property
    def json(self) -> str:
        """The tools list as a compact JSON string (computed once)."""
        if self._json is None:
            self._json = json.dumps(self.tools, separators=(",", ":"), ensure_ascii=False)
        return self._json

    @property
    def json_bytes(self) -> bytes:
        """:attr:`json` encoded as UTF-8 (computed once)."""
        if self._json_bytes is None:
            self._json_bytes = self.json.encode("utf-8")
        return self._json_bytes

    def __len__(self) -> int:
        return len(self.tools)


class LLMClient(Protocol):
    """A chat-completion client for one model configuration.

    ``complete`` sends ``messages`` (OpenAI chat format) with ``tools``; when ``on_text`` is
    given the response is streamed and each text delta is awaited through it as it arrives.
    Raises :class:`~subagents.errors.LLMUnavailableError` after retries are exhausted.
    """

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: ToolPayload | None = None,
        *,
        on_text: TextCallback | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> LLMResponse: ...

    async def aclose(self) -> None: ...
