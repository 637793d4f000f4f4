"""Custom tools defined in Python by an agent subclass (``get_custom_tool_definitions``).

Each definition is an OpenAI function dict with an extra ``tool_executor`` key: an async
callable taking the arguments dict and returning an :class:`AgentToolResult`. An executor
that declares a second parameter also receives a :class:`ToolContext`.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from subagents.agents.schemas import AgentToolResult
from subagents.errors import ConfigError, ToolExecutionError, UnknownToolError
from subagents.tools.base import ToolContext, ToolOutcome, ToolSpec

logger = logging.getLogger("subagents.tools.custom")

ToolExecutor = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class _CustomTool:
    spec: ToolSpec
    executor: ToolExecutor
    wants_context: bool


def _wants_context(executor: ToolExecutor) -> bool:
    """True when the executor declares a second positional parameter (the context)."""
    try:
        params = inspect.signature(executor).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional)


def _parse_definition(definition: Mapping[str, Any], where: str) -> _CustomTool:
    if not isinstance(definition, Mapping):
        raise ConfigError(f"{where}: a custom tool definition must be a dict", field=where)
    fn = definition.get("function")
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"]:
        raise ConfigError(
            f"{where}: expected {{'type': 'function', 'function': {{'name': ..., ...}}, "
            "'tool_executor': ...}}",
            field=where,
        )
    executor = definition.get("tool_executor")
    if executor is None or not callable(executor):
        raise ConfigError(
            f"{where}: custom tool '{fn['name']}' needs a callable 'tool_executor' "
            "(an async function taking the arguments dict)",
            field=where,
        )
    parameters = fn.get("parameters") or {"type": "object", "properties": {}}
    spec = ToolSpec(
        name=fn["name"],
        description=str(fn.get("description", "")),
        input_schema=parameters,
        strict=bool(fn.get("strict", definition.get("strict", False))),
        source="custom",
    )
    return _CustomTool(spec=spec, executor=executor, wants_context=_wants_context(executor))


class CustomToolset:
    """A toolset over custom tool definitions; names must be unique."""

    def __init__(self, definitions: Sequence[Mapping[str, Any]], *, owner: str = "") -> None:
        self._tools: dict[str, _CustomTool] = {}
        for index, definition in enumerate(definitions):
            where = f"{owner}.get_custom_tool_definitions()[{index}]".lstrip(".")
            tool = _parse_definition(definition, where)
            if tool.spec.name in self._tools:
                raise ConfigError(
                    f"{where}: custom tool name '{tool.spec.name}' is defined twice", field=where
                )
            self._tools[tool.spec.name] = tool
        self._specs = [t.spec for t in self._tools.values()]

    def __len__(self) -> int:
        return len(self._tools)

    async def list_tools(self) -> list[ToolSpec]:
        return list(self._specs)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: ToolContext | None = None
    ) -> ToolOutcome:
        tool = self._tools.get(name)
        if tool is None:
            raise UnknownToolError(name, f"Tool '{name}' is not available to this agent.")
        if tool.wants_context:
            result = tool.executor(arguments, context or ToolContext())
        else:
            result = tool.executor(arguments)
        if inspect.isawaitable(result):
            result = await result
        return _to_outcome(name, result)


def _to_outcome(name: str, result: Any) -> ToolOutcome:
    """Convert what an executor returned; anything but AgentToolResult/str is tolerated."""
    if isinstance(result, AgentToolResult):
        if result.is_error:
            text = result.error_message or result.result or "the tool reported an error"
            return ToolOutcome(text=text, is_error=True)
        return ToolOutcome(text=result.result or "")
    if isinstance(result, str):
        return ToolOutcome(text=result)
    if result is None:
        return ToolOutcome(text="")
    try:
        return ToolOutcome(text=json.dumps(result, ensure_ascii=False, default=str))
    except (TypeError, ValueError):
        raise ToolExecutionError(
            name, f"the tool returned {type(result).__name__}, expected AgentToolResult"
        ) from None
