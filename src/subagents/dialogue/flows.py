"""Flows compiled once at load: steps with resolved ``next`` targets and parsed conditions.

Step kinds: ``call`` (a sub agent; with ``exit_if`` a task agent), ``action`` (a custom
action or an ``utter_*`` response), ``collect`` (ask for a slot and fill it from the next
user message), ``set_slots``, ``link`` (end this flow and start another) and ``noop``.

``next`` is a step id, ``END``, or a list of branches (``if``/``then`` ... ``else``) whose
``then``/``else`` is a step id, ``END`` or an inline list of steps. Without ``next`` a step
goes on with the following step of its list; the end of the top-level list, and the end of
an inline list, end the flow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from subagents.conditions import Condition, parse_condition, parse_conditions
from subagents.config.models import FlowConfig, FlowsConfig, FlowStep, NextBranch
from subagents.errors import ConfigError, ConfigErrors, ConfigProblem

END = "END"
_FILE = "flows.yml"


@dataclass
class Branch:
    """``if`` condition (``None`` for ``else``) and the step id (or END) it leads to."""

    condition: Condition | None
    target: str


@dataclass
class Step:
    """One compiled step."""

    id: str
    kind: str  # call | action | collect | set_slots | link | noop
    config: FlowStep
    default_next: str
    branches: list[Branch] = field(default_factory=list)
    exit_if: list[str] | None = None
    set_slots: list[tuple[str, Any]] = field(default_factory=list)

    def next_step(self, slots: Mapping[str, Any]) -> str:
        """The id of the step to run after this one (or END)."""
        for branch in self.branches:
            if branch.condition is None or branch.condition.evaluate(slots):
                return branch.target
        return self.default_next if not self.branches else END


@dataclass
class Flow:
    """A compiled flow."""

    id: str
    name: str
    description: str
    guard: Condition | None
    first: str
    steps: dict[str, Step]

    def startable(self, slots: Mapping[str, Any]) -> bool:
        """False when the flow's ``if`` guard does not hold."""
        return self.guard is None or self.guard.evaluate(slots)


def _kind(step: FlowStep) -> str:
    for kind in ("call", "action", "collect", "set_slots", "link"):
        if getattr(step, kind) is not None:
            return kind
    return "noop"


class _Compiler:
    def __init__(self, flow_id: str, flow: FlowConfig) -> None:
        self.flow_id = flow_id
        self.flow = flow
        self.steps: dict[str, Step] = {}
        self.pending: list[tuple[Step, str | list[NextBranch], str]] = []
        self.problems: list[ConfigProblem] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(
            ConfigProblem(_FILE, None, f"flow '{self.flow_id}' {where}: {message}", where)
        )

    def compile_list(self, steps: list[FlowStep], prefix: str, after: str) -> str:
        """Compile ``steps``; returns the id of the first one (or ``after`` if empty)."""
        ids = [s.id or f"{prefix}{i}_{_kind(s)}" for i, s in enumerate(steps)]
        for i, (cfg, sid) in enumerate(zip(steps, ids, strict=True)):
            default_next = ids[i + 1] if i + 1 < len(ids) else after
            where = f"{prefix}steps[{i}]"
            if sid in self.steps:
                self.problem(where, f"duplicate step id '{sid}'")
            step = Step(id=sid, kind=_kind(cfg), config=cfg, default_next=default_next)
            self.steps[sid] = step
            self.compile_step(step, where)
            if cfg.next is not None:
                self.pending.append((step, cfg.next, where))
        return ids[0] if ids else after

    def compile_step(self, step: Step, where: str) -> None:
        cfg = step.config
        if cfg.exit_if:
            try:
                parse_conditions(list(cfg.exit_if))
            except Exception as exc:  # ConditionSyntaxError and friends
                self.problem(where, f"exit_if does not parse: {exc}")
            step.exit_if = list(cfg.exit_if)
        for item in cfg.set_slots or []:
            if not isinstance(item, dict):
                self.problem(where, "set_slots entries must be mappings like {slot: value}")
                continue
            step.set_slots.extend(item.items())

    def resolve(self) -> None:
        # Inline step lists compiled while resolving append to ``pending``: drain it.
        while self.pending:
            step, nxt, where = self.pending.pop(0)
            if isinstance(nxt, str):
                step.default_next = self.target(nxt, where)
                continue
            for j, branch in enumerate(nxt):
                bwhere = f"{where}.next[{j}]"
                if branch.if_ is not None:
                    cond = self.condition(branch.if_, bwhere)
                    target = self.branch_target(branch.then, f"{step.id}.then{j}.", bwhere)
                    step.branches.append(Branch(cond, target))
                else:
                    target = self.branch_target(branch.else_, f"{step.id}.else{j}.", bwhere)
                    step.branches.append(Branch(None, target))

    def branch_target(self, value: str | list[FlowStep] | None, prefix: str, where: str) -> str:
        if value is None:
            return END
        if isinstance(value, str):
            return self.target(value, where)
        return self.compile_list(value, prefix, END)

    def target(self, name: str, where: str) -> str:
        if name == END or name in self.steps:
            return name
        self.problem(where, f"next points to unknown step '{name}' (use a step id or END)")
        return END

    def condition(self, text: str, where: str) -> Condition | None:
        try:
            return parse_condition(text)
        except Exception as exc:
            self.problem(where, f"condition '{text}' does not parse: {exc}")
            return None


def compile_flow(flow_id: str, config: FlowConfig) -> tuple[Flow, list[ConfigProblem]]:
    """Compile one flow; problems are returned, not raised."""
    c = _Compiler(flow_id, config)
    first = c.compile_list(config.steps, "", END)
    c.resolve()
    guard = c.condition(config.if_, "if") if config.if_ else None
    flow = Flow(
        id=flow_id,
        name=config.name or flow_id,
        description=config.description,
        guard=guard,
        first=first,
        steps=c.steps,
    )
    return flow, c.problems


def compile_flows(config: FlowsConfig) -> dict[str, Flow]:
    """Compile every flow; raises :class:`ConfigErrors` listing every problem."""
    flows: dict[str, Flow] = {}
    problems: list[ConfigProblem] = []
    for flow_id, flow_cfg in config.flows.items():
        flow, found = compile_flow(flow_id, flow_cfg)
        flows[flow_id] = flow
        problems.extend(found)
    for flow in flows.values():
        for step in flow.steps.values():
            if step.kind == "link" and step.config.link not in flows:
                problems.append(
                    ConfigProblem(
                        _FILE,
                        None,
                        f"flow '{flow.id}' step '{step.id}': link to unknown flow "
                        f"'{step.config.link}'",
                        "link",
                    )
                )
    if problems:
        raise ConfigErrors(problems)
    return flows


__all__ = ["END", "Branch", "ConfigError", "Flow", "Step", "compile_flow", "compile_flows"]
