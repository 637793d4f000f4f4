"""The ``Toolset`` seam: one interface for MCP servers, custom tools and built-ins.

A toolset lists :class:`ToolSpec` objects and calls a tool by its own name with an
arguments dict. Filtering (include/exclude) is a wrapper (:class:`FilteredToolset`), never
an ``if`` inside the ReAct loop: a tool that is filtered out is neither listed nor callable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from subagents.errors import UnknownToolError


@dataclass(frozen=True)
class ToolSpec:
    """A tool as offered to the model.

    ``name`` is the tool's own name in its toolset (an MCP server's name, unchanged).
    ``input_schema`` is the JSON schema as published; ``strict`` says whether it is sent
    with ``strict: true``. ``annotations`` carries MCP hints (``readOnlyHint``,
    ``idempotentHint``...). ``source`` names where it came from (server name, ``custom``,
    ``builtin``).
    """

    name: str
    description: str
    input_schema: Mapping[str, Any]
    strict: bool = False
    annotations: Mapping[str, Any] | None = None
    source: str = ""


@dataclass
class ToolOutcome:
    """What a tool call produced, already converted to text for the model."""

    text: str
    is_error: bool = False
    structured: Any = None


MAX_RESULT_CHARS = 100_000
"""Characters of tool output sent to the model before truncation (about 100 KB)."""


def truncate_for_model(text: str, max_chars: int = MAX_RESULT_CHARS) -> str:
    """``text`` cut to ``max_chars`` with a note telling the model it was cut."""
    if len(text) <= max_chars:
        return text
    return (
        text[:max_chars] + f"\n\n[truncated: the tool returned {len(text)} characters; "
        f"only the first {max_chars} are shown]"
    )


@dataclass
class ToolContext:
    """Per-call context given to tools that ask for it (custom tool executors)."""

    conversation_id: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Toolset(Protocol):
    """Lists tools and calls them by name.

    ``call_tool`` returns a :class:`ToolOutcome` (``is_error`` for errors the tool itself
    reported). It raises a :class:`~subagents.errors.ToolSignal` for problems to feed back
    to the model, and a :class:`~subagents.errors.RunFailure` when the run cannot go on.
    """

    async def list_tools(self) -> list[ToolSpec]: ...

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: ToolContext | None = None
    ) -> ToolOutcome: ...


class FilteredToolset:
    """Wraps a toolset so that only allowed tools are listed and callable.

    Exactly one of ``include`` / ``exclude`` may be given (checked at config load).
    A call to a tool that is not allowed raises :class:`UnknownToolError` and never
    reaches the inner toolset.
    """

    def __init__(
        self,
        inner: Toolset,
        *,
        include: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
    ) -> None:
        self.inner = inner
        self._include = frozenset(include) if include is not None else None
        self._exclude = frozenset(exclude or ())

    @property
    def tools_version(self) -> int | None:
        """The inner toolset's ``tools_version`` (``None`` when it has none).

        The toolbox compares it on every step, so a ``tools/list_changed`` of the wrapped
        MCP server is noticed without re-listing; without it the toolbox re-lists once
        per run.
        """
        version = getattr(self.inner, "tools_version", None)
        return version if isinstance(version, int) else None

    def allows(self, name: str) -> bool:
        """True when ``name`` passes the include/exclude lists."""
        if self._include is not None and name not in self._include:
            return False
        return name not in self._exclude

    async def list_tools(self) -> list[ToolSpec]:
        return [t for t in await self.inner.list_tools() if self.allows(t.name)]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: ToolContext | None = None
    ) -> ToolOutcome:
        if not self.allows(name):
            raise UnknownToolError(name, f"Tool '{name}' is not available to this agent.")
        return await self.inner.call_tool(name, arguments, context)
