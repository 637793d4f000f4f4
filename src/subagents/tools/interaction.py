"""What a running tool may tell or ask the user: progress, and questions (elicitation).

A toolset (the MCP layer) calls the hooks of the :class:`~subagents.tools.base.ToolContext`
it was given; the agent loop supplies them. Nothing here knows MCP: a question is a
message plus the JSON schema of the fields wanted, an answer is an action plus content.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class ToolProgress:
    """One progress report of a running tool (an MCP ``notifications/progress``)."""

    tool: str
    """The tool's own name."""
    source: str
    """Where the tool comes from (the MCP server's name)."""
    progress: float
    total: float | None = None
    message: str | None = None

    @property
    def percent(self) -> int | None:
        """``progress`` as a whole percentage of ``total`` (``None`` without a total)."""
        if not self.total or self.total <= 0:
            return None
        return max(0, min(100, round(100 * self.progress / self.total)))

    def describe(self) -> str:
        """One short line for people: ``40% indexing files``, ``3 of ?: scanning``."""
        percent = self.percent
        amount = f"{percent}%" if percent is not None else f"{self.progress:g}"
        return f"{amount} {self.message}" if self.message else f"{amount} ({self.tool})"


ProgressHook = Callable[[ToolProgress], Awaitable[None]]
"""Receives a running tool's progress reports."""


@dataclass(frozen=True)
class Question:
    """A running tool asks the user something (an MCP elicitation).

    ``mode`` ``form``: ``schema`` is the JSON schema of the fields wanted (a flat object
    of strings, numbers, booleans and enums). ``url``: the user is sent to ``url`` (to
    pay, to sign in somewhere); no data comes back through us.
    """

    tool: str
    source: str
    message: str
    schema: Mapping[str, Any] = field(default_factory=dict)
    mode: Literal["form", "url"] = "form"
    url: str | None = None


@dataclass(frozen=True)
class Answer:
    """The user's answer: ``accept`` (with ``content`` in form mode), ``decline`` or ``cancel``."""

    action: Literal["accept", "decline", "cancel"]
    content: dict[str, Any] | None = None


AskHook = Callable[[Question], Awaitable[Answer]]
"""Asks the user a running tool's question and returns the answer (may take turns)."""


@dataclass(frozen=True)
class SamplingRequest:
    """A running tool asks the assistant's model to write something (MCP sampling).

    ``messages`` are in the chat format (a ``system`` message first when the tool gave a
    system prompt); ``max_tokens`` is already capped by the server's configuration.
    """

    tool: str
    source: str
    messages: list[dict[str, Any]]
    max_tokens: int
    model_group: str | None = None
    max_requests: int = 5
    temperature: float | None = None


@dataclass(frozen=True)
class SamplingResult:
    """The model's answer to a :class:`SamplingRequest`."""

    text: str
    model: str
    stop_reason: str | None = None


SampleHook = Callable[[SamplingRequest], Awaitable["SamplingResult | None"]]
"""Answers a tool's sampling request; ``None`` refuses it (e.g. the per-run limit)."""
