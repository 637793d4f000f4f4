"""``RecordingToolset``: in-process tools for unit tests of agents, no server, no port.

Define each tool by a fixed result or a Python function; every call that reaches the
toolset is recorded with its arguments. Give it to an agent like any MCP server::

    tools = RecordingToolset("weather").add(
        "get_weather",
        lambda args: f"{args['city']}: 17°C",
        schema={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    agent = MCPOpenAgent(name="helper", llm=llm, toolsets=[tools])
    ...
    assert tools.calls == [("get_weather", {"city": "Paris"})]

A result may be a string, a :class:`~subagents.tools.base.ToolOutcome`, an
:class:`~subagents.AgentToolResult` (``is_error=True`` for a tool error), any
JSON-serialisable value, or an exception instance (raised at the call, e.g.
:class:`~subagents.errors.ToolTimeoutError`). A function gets the arguments dict (and,
if it declares a second parameter, the :class:`~subagents.tools.base.ToolContext`), may
be ``async``, and returns any of those.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from subagents.errors import UnknownToolError
from subagents.tools.base import ToolContext, ToolKind, ToolOutcome, Toolset, ToolSpec
from subagents.tools.custom import to_outcome, wants_context

ToolResult = Any
"""What a recorded tool answers: see the module docstring."""

_EMPTY_SCHEMA: Mapping[str, Any] = {"type": "object", "properties": {}}


class RecordedCall(NamedTuple):
    """One call that reached the toolset (compares equal to ``(name, arguments)``)."""

    name: str
    arguments: dict[str, Any]


class RecordingToolset(Toolset):
    """In-process tools that record every call (see the module docstring).

    ``source`` names the toolset in messages (like an MCP server's name); ``kind`` is
    the :class:`~subagents.tools.base.ToolKind` of its tools (``MCP`` by default: they
    behave like an MCP server's, validated against their schema before the call).
    ``tools_version`` changes whenever a tool is added or removed, so an agent offers a
    tool added mid-run on its very next step, as with a server's ``tools/list_changed``.
    """

    def __init__(self, source: str = "recording", *, kind: ToolKind = ToolKind.MCP) -> None:
        self.source = source
        self.kind = kind
        self._specs: dict[str, ToolSpec] = {}
        self._results: dict[str, ToolResult] = {}
        self._version = 0
        self.calls: list[RecordedCall] = []
        """Every call that reached the toolset, in order (invalid ones never do)."""
        self.contexts: list[ToolContext | None] = []
        """The context of each call in :attr:`calls` (conversation id, slots, metadata)."""
        self.list_count = 0
        """How many times the tools were listed."""

    # ------------------------------------------------------------------ defining tools

    def add(
        self,
        name: str,
        result: ToolResult | Callable[..., Any] = None,
        *,
        schema: Mapping[str, Any] | None = None,
        description: str = "",
        annotations: Mapping[str, Any] | None = None,
    ) -> RecordingToolset:
        """Define (or redefine) tool ``name``; returns ``self`` so calls chain.

        ``result`` is what every call answers, or a function computing it; ``None``
        answers ``"<name> ok"``. ``schema`` is the JSON schema of the arguments (default:
        an object with no declared properties).
        """
        self._specs[name] = ToolSpec(
            name=name,
            description=description or f"The {name} tool.",
            input_schema=dict(schema or _EMPTY_SCHEMA),
            annotations=annotations,
            source=self.source,
            kind=self.kind,
        )
        self._results[name] = f"{name} ok" if result is None else result
        self._version += 1
        return self

    def error(
        self,
        name: str,
        message: str,
        *,
        schema: Mapping[str, Any] | None = None,
        description: str = "",
        annotations: Mapping[str, Any] | None = None,
    ) -> RecordingToolset:
        """Define tool ``name`` that always reports ``message`` as a tool error (the
        options are :meth:`add`'s)."""
        outcome = ToolOutcome(text=message, is_error=True)
        return self.add(
            name, outcome, schema=schema, description=description, annotations=annotations
        )

    def remove(self, name: str) -> RecordingToolset:
        """Stop offering tool ``name`` (calls to it are then unknown-tool errors)."""
        self._specs.pop(name, None)
        self._results.pop(name, None)
        self._version += 1
        return self

    # ------------------------------------------------------------------ inspecting calls

    def calls_to(self, name: str) -> list[dict[str, Any]]:
        """The arguments of every call to ``name``, in order."""
        return [call.arguments for call in self.calls if call.name == name]

    @property
    def tool_names(self) -> list[str]:
        """The names of the tools offered now."""
        return list(self._specs)

    # ------------------------------------------------------------------ Toolset

    @property
    def tools_version(self) -> int:
        return self._version

    async def list_tools(self) -> list[ToolSpec]:
        self.list_count += 1
        return list(self._specs.values())

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: ToolContext | None = None
    ) -> ToolOutcome:
        if name not in self._results:
            raise UnknownToolError(name, f"Tool '{name}' is not available to this agent.")
        self.calls.append(RecordedCall(name, arguments))
        self.contexts.append(context)
        result = self._results[name]
        if callable(result) and not isinstance(result, BaseException):
            if wants_context(result):
                result = result(arguments, context or ToolContext())
            else:
                result = result(arguments)
            if inspect.isawaitable(result):
                result = await result
        if isinstance(result, BaseException):
            raise result
        if isinstance(result, ToolOutcome):
            return result
        return to_outcome(name, result)
