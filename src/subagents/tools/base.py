"""The ``Toolset`` seam: one interface for MCP servers, custom tools and built-ins.

A :class:`Toolset` lists :class:`ToolSpec` objects and calls a tool by its own name with
an arguments dict. It is an abstract base class: every toolset (MCP server, custom tools,
the control tools ``task_completed`` / ``set_slot_*``, the recording fake of
:mod:`subagents.testing`) subclasses it, and the two optional capabilities the toolbox
relies on, :attr:`Toolset.tools_version` and :attr:`Toolset.validates_arguments`, are
declared here with their defaults, so nothing probes for them with ``getattr``.

Wrappers (include/exclude filtering, secret redaction, any future one) subclass
:class:`ForwardingToolset`, which passes everything through to the wrapped toolset by
default and overrides only what it changes. Filtering is such a wrapper
(:class:`FilteredToolset`), never an ``if`` inside the ReAct loop: a tool that is filtered
out is neither listed nor callable.

What a tool is for is :attr:`ToolSpec.kind` (:class:`ToolKind`): ``mcp`` and ``custom``
tools do work and run concurrently; ``control`` tools steer the run and return a typed
:class:`ControlResult` in :attr:`ToolOutcome.control` that the agent applies in call order.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from subagents.errors import UnknownToolError
from subagents.tools.interaction import AskHook, ProgressHook, SampleHook


class ToolKind(enum.Enum):
    """What a tool is: where it runs and how the loop treats its result."""

    MCP = "mcp"
    """A tool of an MCP server (or any external toolset): its result goes to the model."""
    CUSTOM = "custom"
    """A Python tool of the agent class (``get_custom_tool_definitions``)."""
    CONTROL = "control"
    """A built-in that steers the run (``task_completed``, ``set_slot_*``)."""


@dataclass(frozen=True)
class ControlResult:
    """Base of the typed results of control tools (see :mod:`subagents.tools.builtin`)."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool as offered to the model.

    ``name`` is the tool's own name in its toolset (an MCP server's name, unchanged).
    ``input_schema`` is the JSON schema as published; ``strict`` says whether it is sent
    with ``strict: true``. ``annotations`` carries MCP hints (``readOnlyHint``,
    ``idempotentHint``...). ``kind`` says what it is (:class:`ToolKind`); ``source``
    names where it came from (the MCP server's name; free text for other toolsets).
    """

    name: str
    description: str
    input_schema: Mapping[str, Any]
    strict: bool = False
    annotations: Mapping[str, Any] | None = None
    source: str = ""
    kind: ToolKind = ToolKind.MCP

    @property
    def origin(self) -> str:
        """Where the tool comes from, for messages: ``builtin``, ``custom`` or the source."""
        if self.kind is ToolKind.CONTROL:
            return "builtin"
        if self.kind is ToolKind.CUSTOM:
            return "custom"
        return self.source


@dataclass
class ToolOutcome:
    """What a tool call produced, already converted to text for the model.

    ``control`` is set only by control tools: what the agent must apply (typed).
    """

    text: str
    is_error: bool = False
    structured: Any = None
    control: ControlResult | None = None
    raw: Any = field(default=None, compare=False, repr=False)
    """The protocol's own result (MCP: the ``CallToolResult``) for callers that map it
    themselves (flow tool steps); never sent to the model, and dropped by wrappers."""
    reconnected: bool = False
    """The server's connection was re-opened since its previous tool call."""
    retried: bool = False
    """The connection broke during the call and the call was sent again."""


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
    """Per-call context given to tools that ask for it (custom tool executors).

    ``on_progress`` (set by the agent loop) receives a running tool's progress reports
    (:class:`~subagents.tools.interaction.ToolProgress`); ``ask_user`` asks the user a
    running tool's question (:class:`~subagents.tools.interaction.Question`) and returns
    the answer, which may come on a later turn; ``sample`` answers a running tool's
    request for the assistant's model to write something (MCP sampling).
    """

    conversation_id: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    on_progress: ProgressHook | None = None
    ask_user: AskHook | None = None
    sample: SampleHook | None = None


class Toolset(ABC):
    """Lists tools and calls them by name (subclass it; see the module docstring).

    ``call_tool`` returns a :class:`ToolOutcome` (``is_error`` for errors the tool itself
    reported). It raises a :class:`~subagents.errors.ToolSignal` for problems to feed back
    to the model, and a :class:`~subagents.errors.RunFailure` when the run cannot go on.
    """

    @abstractmethod
    async def list_tools(self) -> list[ToolSpec]:
        """The tools offered, with their own names."""

    @abstractmethod
    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: ToolContext | None = None
    ) -> ToolOutcome:
        """Call tool ``name`` with already parsed ``arguments``."""

    @property
    def tools_version(self) -> int | None:
        """A number that changes whenever the tool list may have changed; ``None``: unknown.

        The toolbox compares it on every step, so a toolset that keeps it (the MCP layer
        bumps it on ``tools/list_changed``) has a new tool offered on the very next step
        without re-listing. A toolset without one (``None``) is re-listed once per run.
        """
        return None

    @property
    def validates_arguments(self) -> bool:
        """True when ``call_tool`` validates its own arguments (the control tools do).

        Otherwise the toolbox validates the model's arguments against the tool's
        ``input_schema`` before the call, and an invalid call never reaches the toolset.
        """
        return False

    @property
    def may_ask_user(self) -> bool:
        """True when a call may ask the user a question (``ToolContext.ask_user``) and so
        wait for a later turn; the loop then runs the calls in a task it can leave
        pending (an MCP server with ``elicitation: true``)."""
        return False


class ForwardingToolset(Toolset):
    """A wrapper that passes everything through to ``inner`` unless it overrides it.

    Subclasses override only what they change (``list_tools``, ``call_tool``); the
    capabilities (``tools_version``, ``validates_arguments``) are the inner toolset's.
    """

    def __init__(self, inner: Toolset) -> None:
        self.inner = inner

    @property
    def tools_version(self) -> int | None:
        return self.inner.tools_version

    @property
    def validates_arguments(self) -> bool:
        return self.inner.validates_arguments

    @property
    def may_ask_user(self) -> bool:
        return self.inner.may_ask_user

    async def list_tools(self) -> list[ToolSpec]:
        return await self.inner.list_tools()

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: ToolContext | None = None
    ) -> ToolOutcome:
        return await self.inner.call_tool(name, arguments, context)


class FilteredToolset(ForwardingToolset):
    """Wraps a toolset so that only allowed tools are listed and callable.

    Exactly one of ``include`` / ``exclude`` may be given (checked at config load).
    A call to a tool that is not allowed raises :class:`UnknownToolError` and never
    reaches the inner toolset. ``tools_version`` is the inner one's, so a
    ``tools/list_changed`` of the wrapped MCP server is noticed without re-listing.
    """

    def __init__(
        self,
        inner: Toolset,
        *,
        include: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
    ) -> None:
        super().__init__(inner)
        self._include = frozenset(include) if include is not None else None
        self._exclude = frozenset(exclude or ())

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
