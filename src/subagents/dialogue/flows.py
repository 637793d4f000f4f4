"""Flows as the dialogue engine runs them: the graph of :mod:`subagents.config.flow_graph`.

The project loader compiles flows.yml once (``Project.flow_graph``); the assistant runs
that graph. :func:`compile_flows` is for flows built in code: it compiles them with the
same compiler and raises :class:`~subagents.errors.ConfigErrors` naming flow and step.
"""

from __future__ import annotations

from subagents.config.flow_graph import (
    END,
    Branch,
    CallTarget,
    Flow,
    FlowProblem,
    Step,
    StepKind,
)
from subagents.config.flow_graph import compile_flow as compile_one
from subagents.config.flow_graph import compile_flows as compile_graph
from subagents.config.models import FlowConfig, FlowsConfig
from subagents.config.source import format_path
from subagents.errors import ConfigErrors, ConfigProblem

_FILE = "flows.yml"


def compile_flows(config: FlowsConfig) -> dict[str, Flow]:
    """Compile every flow; raises :class:`ConfigErrors` listing every problem."""
    graph = compile_graph(config)
    if graph.problems:
        raise ConfigErrors([_located(p) for p in graph.problems])
    return graph.flows


def compile_flow(flow_id: str, config: FlowConfig) -> tuple[Flow, list[ConfigProblem]]:
    """Compile one flow on its own (``link`` targets unchecked); problems are returned."""
    flow, problems = compile_one(flow_id, config)
    return flow, [_located(p) for p in problems]


def _located(problem: FlowProblem) -> ConfigProblem:
    where = format_path(problem.path[2:])
    prefix = f"flow '{problem.flow_id}' {where}" if where else f"flow '{problem.flow_id}'"
    return ConfigProblem(_FILE, None, f"{prefix}: {problem.message}", where or None)


__all__ = [
    "END",
    "Branch",
    "CallTarget",
    "Flow",
    "Step",
    "StepKind",
    "compile_flow",
    "compile_flows",
]
