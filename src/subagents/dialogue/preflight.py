"""Preparing every agent the flows call, when the assistant loads.

Each ``call:`` step's agent is built (an MCPTaskAgent per ``exit_if``) and prepared: its
tools are listed and its payload built. A problem that only shows with the tools in hand
(a ``set_slot_<slot>`` built-in clashing with an MCP or custom tool of the same name) is
then a load error naming flows.yml, the line, the flow and the step, instead of a
``fatal_error`` at the first conversation that reaches the step.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from subagents.config.flow_graph import CallTarget, FlowGraph, compile_flows
from subagents.config.models import FlowsConfig, FlowStep
from subagents.errors import ConfigError, ConfigErrors, ConfigProblem

logger = logging.getLogger("subagents.dialogue.preflight")

FLOWS_FILE = "flows.yml"
StepPath = tuple[str | int, ...]


class CallPreparer(Protocol):
    """What preflight needs from the agents registry."""

    async def prepare_call(self, name: str, exit_if: Sequence[str] | None = None) -> Any: ...


def call_steps(flows: FlowsConfig | FlowGraph) -> Iterator[tuple[str, StepPath, FlowStep]]:
    """Every ``call:`` step of an agent as ``(flow_id, path in flows.yml, step)``, inline
    ones included (a call of a flow or of an MCP tool has no agent to prepare)."""
    graph = compile_flows(flows) if isinstance(flows, FlowsConfig) else flows
    for flow_id, flow in graph.flows.items():
        for step in flow.steps.values():
            if step.call_target is CallTarget.AGENT:
                yield flow_id, step.path, step.config


async def prepare_called_agents(
    agents: CallPreparer, flows: FlowsConfig | FlowGraph, root: Path
) -> None:
    """Prepare the agent of every call step; raise ConfigErrors listing every failure."""
    failures: list[tuple[str, StepPath, FlowStep, ConfigError]] = []
    for flow_id, path, step in call_steps(flows):
        try:
            await agents.prepare_call(step.call or "", step.exit_if or None)
        except ConfigError as exc:
            failures.append((flow_id, path, step, exc))
    if not failures:
        return
    lines = _line_finder(root)
    problems = [
        ConfigProblem(
            FLOWS_FILE,
            lines(path),
            f"flow '{flow_id}' step {_step_label(step, path)}: {_describe_call(step)}: "
            f"{exc.problem.message}",
            _format(path),
        )
        for flow_id, path, step, exc in failures
    ]
    raise ConfigErrors(problems)


def _describe_call(step: FlowStep) -> str:
    if step.exit_if:
        return f"agent '{step.call}' with exit_if cannot be prepared"
    return f"agent '{step.call}' cannot be prepared"


def _step_label(step: FlowStep, path: StepPath) -> str:
    return f"'{step.id}'" if step.id else _format(path[2:])


def _format(path: StepPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_finder(root: Path) -> Callable[[StepPath], int | None]:
    """``path -> line`` in flows.yml (read again: this only runs on the error path)."""
    try:
        from subagents.config.source import Problems, read_yaml

        src = read_yaml(root / FLOWS_FILE, FLOWS_FILE, Problems(), env=dict(os.environ))
    except Exception:  # line numbers are a nicety; the message names flow and step anyway
        logger.debug("dialogue.preflight.no_lines", exc_info=True)
        src = None
    if src is None:
        return lambda path: None
    line: Callable[[StepPath], int | None] = src.line
    return line
