"""Custom tools defined in Python by an agent subclass (``get_custom_tool_definitions``).

Each definition is an OpenAI function dict with an extra ``tool_executor`` key: an async
callable taking the arguments dict and returning an :class:`AgentToolResult`. An executor
that declares a second parameter also receives a :class:`ToolContext`. An exception the
executor raises becomes a :class:`~subagents.errors.ToolExecutionError` here, at the
toolset's boundary, so the model reads it as the tool's failure.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from subagents.errors import ConfigError, SubagentsError, ToolExecutionError, UnknownToolError
from subagents.tools.base import (
    ToolContext,
    ToolKind,
    ToolOutcome,
    Toolset,
    ToolSpec,
    truncate_for_model,
)
from subagents.tools.schemas import AgentToolResult

logger = logging.getLogger("subagents.tools.custom")

ToolExecutor = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class _CustomTool:
    spec: ToolSpec
    executor: ToolExecutor
    wants_context: bool


def wants_context(executor: ToolExecutor) -> bool:
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


def definition_location(owner: type) -> tuple[str, int | None]:
    """File and line of ``owner.get_custom_tool_definitions`` (for error messages)."""
    method = getattr(owner, "get_custom_tool_definitions", owner)
    try:
        file = inspect.getsourcefile(method) or ""
        line: int | None = inspect.getsourcelines(method)[1]
    except (OSError, TypeError):
        return "", None
    return file, line


def _is_plain_function(executor: Any) -> bool:
    """A ``def`` function or method (not ``async def``): it would block the event loop."""
    target = inspect.unwrap(executor)
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        return False  # a callable object, partial, builtin: checked by its result
    if target.__name__ == "<lambda>":
        return False  # a lambda may return a coroutine
    return not inspect.iscoroutinefunction(target)


def _check_executor(
    executor: Any, name: str, where: str, file: str, line: int | None
) -> ToolExecutor:
    if executor is None or not callable(executor):
        raise ConfigError(
            f"{where}: custom tool '{name}' needs a callable 'tool_executor' "
            "(an async function taking the arguments dict)",
            file=file,
            line=line,
            field=where,
        )
    if inspect.isasyncgenfunction(executor) or _is_plain_function(executor):
        label = getattr(executor, "__qualname__", repr(executor))
        raise ConfigError(
            f"{where}: the 'tool_executor' of custom tool '{name}' ({label}) must be an "
            "`async def` function returning an AgentToolResult; a plain function would "
            "block every other conversation while it runs",
            file=file,
            line=line,
            field=where,
        )
    return executor  # type: ignore[no-any-return]


def _check_parameters(
    parameters: Any, name: str, where: str, file: str, line: int | None
) -> dict[str, Any]:
    if parameters is None or (isinstance(parameters, Mapping) and not parameters):
        return {"type": "object", "properties": {}}
    problem = ""
    if not isinstance(parameters, Mapping):
        problem = f"is a {type(parameters).__name__}"
    elif parameters.get("type", "object") != "object":
        problem = f"has type {parameters.get('type')!r}"
    else:
        try:
            validator_for(parameters, default=Draft202012Validator).check_schema(parameters)
        except SchemaError as exc:
            problem = f"is not a valid JSON schema ({exc.message})"
    if problem:
        raise ConfigError(
            f"{where}: 'function.parameters' of custom tool '{name}' {problem}; give a JSON "
            "schema such as {'type': 'object', 'properties': {...}}",
            file=file,
            line=line,
            field=f"{where}.function.parameters",
        )
    return dict(parameters)


def _parse_definition(
    definition: Mapping[str, Any], where: str, file: str = "", line: int | None = None
) -> _CustomTool:
    if not isinstance(definition, Mapping):
        raise ConfigError(
            f"{where}: a custom tool definition must be a dict", file=file, line=line, field=where
        )
    fn = definition.get("function")
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"]:
        raise ConfigError(
            f"{where}: expected {{'type': 'function', 'function': {{'name': ..., ...}}, "
            "'tool_executor': ...}}",
            file=file,
            line=line,
            field=where,
        )
    executor = _check_executor(definition.get("tool_executor"), fn["name"], where, file, line)
    parameters = _check_parameters(fn.get("parameters"), fn["name"], where, file, line)
    spec = ToolSpec(
        name=fn["name"],
        description=str(fn.get("description", "")),
        input_schema=parameters,
        strict=bool(fn.get("strict", definition.get("strict", False))),
        source="custom",
        kind=ToolKind.CUSTOM,
    )
    return _CustomTool(spec=spec, executor=executor, wants_context=wants_context(executor))


class CustomToolset(Toolset):
    """A toolset over custom tool definitions; names must be unique."""

    def __init__(self, definitions: Sequence[Mapping[str, Any]], *, owner: str | type = "") -> None:
        """``owner``: the agent class (or its name), named in error messages."""
        file, line = definition_location(owner) if isinstance(owner, type) else ("", None)
        name = owner.__name__ if isinstance(owner, type) else owner
        self._tools: dict[str, _CustomTool] = {}
        for index, definition in enumerate(definitions):
            where = f"{name}.get_custom_tool_definitions()[{index}]".lstrip(".")
            tool = _parse_definition(definition, where, file, line)
            if tool.spec.name in self._tools:
                raise ConfigError(
                    f"{where}: custom tool name '{tool.spec.name}' is defined twice",
                    file=file,
                    line=line,
                    field=where,
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
        try:
            if tool.wants_context:
                result = tool.executor(arguments, context or ToolContext())
            else:
                result = tool.executor(arguments)
            if inspect.isawaitable(result):
                result = await result
        except SubagentsError:
            raise  # already a signal for the model or a failure of the run
        except Exception as exc:  # the executor's own error: the model reads it and adapts
            logger.warning(
                "agent.tool.exception", extra={"tool": name, "error_type": type(exc).__name__}
            )
            raise ToolExecutionError(name, f"{type(exc).__name__}: {exc}") from exc
        return to_outcome(name, result)


def to_outcome(name: str, result: Any) -> ToolOutcome:
    """Convert what an executor returned, cut to what the model may read."""
    outcome = _convert(name, result)
    outcome.text = truncate_for_model(outcome.text)
    return outcome


def _convert(name: str, result: Any) -> ToolOutcome:
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
