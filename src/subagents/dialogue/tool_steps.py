"""Flow steps that call an MCP tool directly: ``call: <tool>`` + ``mcp_server`` + ``mapping``.

One step runs as:

1. arguments from slots (``mapping.input``): each slot value converted to its parameter's
   schema type (:func:`~subagents.tools.schema.coerce_to_schema`; an empty slot is left
   out) and the whole set validated against the tool's input schema;
2. the call, over the server's shared long-lived connection (the one agents use);
3. every ``mapping.output`` expression evaluated over ``result`` (the ``CallToolResult``
   as a dict: ``content``, ``structuredContent``, ``isError``) and converted to its slot's
   type; only when all of them succeed are the slots set.

A tool that is not offered, arguments that do not validate, a tool error (``isError``),
a timeout, a server that cannot be reached, an expression that fails and a value that does
not fit its slot all take the internal-error path: ``utter_internal_error``, the flow
cancelled, nothing set, and one ``dialogue.tool_step.failed`` log line naming the flow,
the step, the server and the tool (never arguments or results).

The tracker gets a ``tool_executed`` event as an agent's tool call does (``name``,
``arguments``, ``result``, ``is_error``, plus ``mcp_server``, ``flow_id``, ``step_id``),
with the project's secrets redacted, followed by the ``slot`` events.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import subagents.telemetry as telemetry
from subagents.config.flow_graph import Step, ToolCallSpec
from subagents.config.secrets import redact, redact_data, secret_values
from subagents.dialogue import events as ev
from subagents.dialogue.domain import Domain, SlotValueError
from subagents.dialogue.turn import Turn
from subagents.errors import SubagentsError
from subagents.tools.base import ToolOutcome, Toolset, ToolSpec
from subagents.tools.schema import coerce_to_schema, compile_validator, validation_error

logger = logging.getLogger("subagents.dialogue.tool_steps")

ToolsetFor = Callable[[str], Toolset]
"""Server name → its toolset (raises :class:`SubagentsError` for an unknown server)."""
Fail = Callable[[Turn, str], Awaitable[None]]


class _StepFailed(SubagentsError):
    """Why a tool step failed (never leaves this module: it becomes the failure reason)."""


class ToolStepRunner:
    """Runs the MCP tool steps of flows; one per engine (it caches validators)."""

    def __init__(
        self, toolsets: ToolsetFor | None, domain: Domain, fail: Fail, secrets: tuple[str, ...]
    ) -> None:
        self.toolsets = toolsets
        self.domain = domain
        self.fail = fail
        self.secrets = secret_values(secrets)
        self._validators: dict[tuple[str, str, int | None], Any] = {}

    async def run(self, turn: Turn, flow_id: str, step: Step) -> bool:
        """Run ``step``; True when its slots are set, False after the internal-error path."""
        spec = step.tool
        assert spec is not None  # the compiler sets it for every MCP tool step
        try:
            await self._run(turn, flow_id, step, spec)
        except SubagentsError as exc:
            reason = redact(str(exc), self.secrets)
            logger.error(
                "dialogue.tool_step.failed",
                extra={
                    "flow": flow_id,
                    "step": step.id,
                    "server": spec.server,
                    "tool": spec.tool,
                    "error": reason,
                },
            )
            await self.fail(turn, f"step '{step.id}' (tool '{spec.tool}'): {reason}")
            return False
        return True

    async def _run(self, turn: Turn, flow_id: str, step: Step, spec: ToolCallSpec) -> None:
        if self.toolsets is None:
            raise _StepFailed(f"no MCP server '{spec.server}' is connected")
        toolset = self.toolsets(spec.server)
        arguments = await self._arguments(turn, toolset, spec)
        await turn.progress("tool_started", spec.tool, kind="tool", mcp_server=spec.server)
        try:
            with telemetry.span(f"execute_tool {spec.tool}", _tool_attributes(spec)) as span:
                outcome = await toolset.call_tool(spec.tool, arguments)
                if outcome.is_error:
                    span.error("tool_error")
        finally:
            await turn.progress("tool_finished", spec.tool, kind="tool", mcp_server=spec.server)
        result = self._result(outcome)
        turn.log(
            ev.event(
                "tool_executed",
                name=spec.tool,
                arguments=arguments,
                result=redact_data(outcome.text, self.secrets),
                is_error=outcome.is_error,
                mcp_server=spec.server,
                flow_id=flow_id,
                step_id=step.id,
            )
        )
        if outcome.is_error:
            raise _StepFailed(f"the tool returned an error: {_first_line(outcome.text)}")
        values = self._outputs(spec, result)
        for slot, value in values:
            turn.set_slot(slot, value)

    async def _arguments(self, turn: Turn, toolset: Toolset, spec: ToolCallSpec) -> dict[str, Any]:
        tool = await _find_tool(toolset, spec)
        properties = tool.input_schema.get("properties") or {}
        arguments = {
            param: coerce_to_schema(turn.state.slots[slot], properties.get(param))
            for param, slot in spec.inputs
            if turn.state.slots.get(slot) is not None
        }
        key = (spec.server, spec.tool, toolset.tools_version)
        validator = self._validators.get(key)
        if validator is None:
            validator = self._validators[key] = compile_validator(tool.input_schema, tool.name)
        problem = validation_error(validator, arguments)
        if problem is not None:
            raise _StepFailed(f"the arguments from the slots do not fit the tool: {problem}")
        return arguments

    def _result(self, outcome: ToolOutcome) -> dict[str, Any]:
        """The ``result`` the output expressions see (secrets redacted)."""
        raw = outcome.raw
        if raw is not None and hasattr(raw, "model_dump"):
            dumped = raw.model_dump(by_alias=True, mode="json", exclude_none=True)
        else:  # a toolset that is not MCP: rebuild the shape from the outcome
            dumped = {"content": [{"type": "text", "text": outcome.text}]}
            if outcome.structured is not None:
                dumped["structuredContent"] = outcome.structured
        result = {
            "content": dumped.get("content") or [],
            "structuredContent": dumped.get("structuredContent"),
            "isError": bool(dumped.get("isError", outcome.is_error)),
        }
        redacted: dict[str, Any] = redact_data(result, self.secrets)
        return redacted

    def _outputs(self, spec: ToolCallSpec, result: dict[str, Any]) -> list[tuple[str, Any]]:
        """Every output value, converted to its slot's type (all or nothing)."""
        values: list[tuple[str, Any]] = []
        for slot, text, expression in spec.outputs:
            try:
                value = expression(result=result)
            except Exception as exc:  # Jinja's UndefinedError, SecurityError, a filter's error
                raise _StepFailed(
                    f"output for slot '{slot}': '{text}' failed: {_first_line(str(exc))}"
                ) from None
            try:
                values.append((slot, self.domain.coerce(slot, value)))
            except SlotValueError as exc:
                raise _StepFailed(f"output for slot '{slot}': {exc}") from None
        return values


def _tool_attributes(spec: ToolCallSpec) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": spec.tool,
        "subagents.tool.kind": "mcp",
        "subagents.tool.source": spec.server,
    }


async def _find_tool(toolset: Toolset, spec: ToolCallSpec) -> ToolSpec:
    for tool in await toolset.list_tools():
        if tool.name == spec.tool:
            return tool
    raise _StepFailed(f"MCP server '{spec.server}' offers no tool '{spec.tool}'")


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "(no text)"
    return line if len(line) <= limit else line[: limit - 1] + "…"


__all__ = ["ToolStepRunner", "ToolsetFor"]
