"""What a running tool may tell or ask the user: progress, and questions (elicitation).

A toolset (the MCP layer) calls the hooks of the :class:`~subagents.tools.base.ToolContext`
it was given; the agent loop supplies them. Nothing here knows MCP: a question is a
message plus the JSON schema of the fields wanted, an answer is an action plus content.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


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
