"""The flow compiler: flows.yml into its typed step graph, once, for validate and runtime.

:func:`compile_flows` checks the structure of every flow (one kind per step, step ids,
``next`` targets, branches, ``link`` targets, conditions that parse) and builds the graph
the dialogue engine runs: :class:`Flow` s of :class:`Step` s with resolved ``next``
targets and parsed conditions. Problems are returned with their path in flows.yml, so
``subagents validate`` names file and line and the runtime names flow and step. What a
flow refers to outside flows.yml (slots, responses, agents) is checked by
:mod:`subagents.config.flow_checks` on the compiled graph.

Step kinds: ``call`` (another flow, run as a child that returns to the next step; with
``mcp_server`` and ``mapping`` a tool of that MCP server; else a sub agent, with ``exit_if``
a task agent), ``action`` (a custom action or an ``utter_*``
response), ``collect`` (ask for a slot and fill it from the next
user message), ``set_slots``, ``link`` (end this flow and start another) and ``noop``.

``next`` is a step id, ``END``, or a list of branches (``if``/``then`` ... ``else``) whose
``then``/``else`` is a step id, ``END`` or an inline list of steps. Without ``next`` a step
goes on with the following step of its list; the end of the top-level list, and the end of
an inline list, end the flow. Steps without an ``id`` get one from their position
(``0_action``, ``ask.then0.1_collect``): these ids are stored in conversation state, so
they must not change.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol

from subagents.conditions import Condition, ConditionSyntaxError, parse_condition
from subagents.config.checks import suggest
from subagents.config.models import FlowConfig, FlowsConfig, FlowStep, NextBranch
from subagents.config.source import PathT

END: Final = "END"
"""The ``next`` target (and stack position) that ends a flow."""
RESERVED_FLOW_IDS = frozenset({"exit", "restart"})
"""Flow ids the shell and the router use themselves (``/exit``, ``/restart``)."""
_FLOW_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


class StepKind(StrEnum):
    """What a step does (exactly one key of the step in flows.yml)."""

    CALL = "call"
    ACTION = "action"
    COLLECT = "collect"
    SET_SLOTS = "set_slots"
    LINK = "link"
    NOOP = "noop"


class CallTarget(StrEnum):
    """What a ``call:`` step runs, resolved at compile time in Rasa's order.

    A flow id wins; then a direct MCP tool call (``mcp_server`` and ``mapping`` set); then
    an agent (whether it exists is checked against sub_agents/ by the reference checks).
    """

    FLOW = "flow"
    MCP_TOOL = "mcp_tool"
    AGENT = "agent"


class OutputExpression(Protocol):
    """A compiled ``mapping.output`` value: called with ``result=...``, returns the value."""

    def __call__(self, **context: Any) -> Any: ...


@dataclass(frozen=True)
class ToolCallSpec:
    """A compiled MCP tool step: ``call: tool``, ``mcp_server`` and its ``mapping``."""

    server: str
    tool: str
    inputs: list[tuple[str, str]]
    """``(param, slot)`` pairs, in order."""
    outputs: list[tuple[str, str, OutputExpression]]
    """``(slot, expression text, compiled expression)``, in order."""


@dataclass(frozen=True)
class Branch:
    """``if`` condition (``None`` for ``else``) and the step id (or END) it leads to."""

    condition: Condition | None
    target: str


@dataclass
class Step:
    """One compiled step; ``config`` is the step as written, ``path`` where in flows.yml."""

    id: str
    kind: StepKind
    config: FlowStep
    path: PathT
    default_next: str
    branches: list[Branch] = field(default_factory=list)
    exit_if: list[str] | None = None
    set_slots: list[tuple[str, Any]] = field(default_factory=list)
    call_target: CallTarget | None = None
    """For a ``call`` step: what it runs (None for other kinds)."""
    tool: ToolCallSpec | None = None
    """For a call of an MCP tool: the server, tool and compiled mapping."""

    rejections: list[tuple[Condition, str]] = field(default_factory=list)
    """A ``collect``'s rejections: (condition, response) pairs."""

    def next_step(self, slots: Mapping[str, Any]) -> str:
        """The id of the step to run after this one (or END)."""
        for branch in self.branches:
            if branch.condition is None or branch.condition.evaluate(slots):
                return branch.target
        return self.default_next if not self.branches else END


@dataclass(frozen=True)
class ConditionSite:
    """A parsed condition and where it is written (for the checks against the domain)."""

    condition: Condition
    path: PathT
    where: str
    """How messages name it: ``the flow guard``, ``flow 'f', step 'ask'``."""


@dataclass
class Flow:
    """A compiled flow."""

    id: str
    name: str
    description: str
    guard: Condition | None
    first: str
    steps: dict[str, Step]
    conditions: list[ConditionSite] = field(default_factory=list)
    persisted_slots: frozenset[str] = frozenset()
    """Slots kept when the flow ends (``persisted_slots:``)."""

    def startable(self, slots: Mapping[str, Any]) -> bool:
        """False when the flow's ``if`` guard does not hold."""
        return self.guard is None or self.guard.evaluate(slots)


@dataclass(frozen=True)
class FlowProblem:
    """A structural problem of flows.yml at ``path`` (always an error)."""

    path: PathT
    message: str

    @property
    def flow_id(self) -> str:
        return str(self.path[1]) if len(self.path) > 1 else ""


@dataclass
class FlowGraph:
    """Every compiled flow, and the problems found while compiling them."""

    flows: dict[str, Flow] = field(default_factory=dict)
    problems: list[FlowProblem] = field(default_factory=list)


def compile_flows(config: FlowsConfig) -> FlowGraph:
    """Compile every flow of flows.yml; problems are collected, never raised."""
    graph = FlowGraph()
    for flow_id, flow_config in config.flows.items():
        compiler = _FlowCompiler(flow_id, config.flows)
        graph.flows[flow_id] = compiler.compile(flow_config)
        graph.problems.extend(compiler.problems)
    graph.problems.extend(_called_flow_problems(graph.flows))
    return graph


def compile_output_expression(text: str) -> OutputExpression:
    """``result.structuredContent.status`` (or ``{{ ... }}``) compiled in Jinja's immutable
    sandbox; an undefined name or attribute raises when evaluated instead of giving None.

    Raises ValueError naming the syntax error.
    """
    from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    global _SANDBOX
    if _SANDBOX is None:
        _SANDBOX = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    source = text.strip()
    if source.startswith("{{") and source.endswith("}}"):
        source = source[2:-2].strip()
    try:
        compiled = _SANDBOX.compile_expression(source, undefined_to_none=False)
    except TemplateSyntaxError as exc:
        raise ValueError(
            f"invalid expression '{text}': {exc.message}; write an expression over result,"
            " e.g. result.structuredContent.status"
        ) from None

    def evaluate(**context: Any) -> Any:
        value = compiled(**context)
        if isinstance(value, Undefined):  # ``result.nope``: undefined, not None
            value._fail_with_undefined_error()
        return value

    return evaluate


_SANDBOX: Any = None


def tool_servers(graph: FlowGraph) -> set[str]:
    """The MCP servers that ``call:`` steps of MCP tools use."""
    return {
        step.tool.server
        for flow in graph.flows.values()
        for step in flow.steps.values()
        if step.tool is not None
    }


def flow_calls(flow: Flow) -> list[tuple[Step, str]]:
    """The ``call:`` steps of ``flow`` that call another flow, with the called flow id."""
    return [
        (step, step.config.call or "")
        for step in flow.steps.values()
        if step.call_target is CallTarget.FLOW
    ]


def _called_flow_problems(flows: Mapping[str, Flow]) -> list[FlowProblem]:
    """A called flow must return: no ``link`` in it (as Rasa), and no call cycle."""
    problems: list[FlowProblem] = []
    for flow in flows.values():
        for step, called in flow_calls(flow):
            target = flows.get(called)
            links = [s for s in target.steps.values() if s.kind is StepKind.LINK] if target else []
            if links:
                problems.append(
                    FlowProblem(
                        (*step.path, "call"),
                        f"flow '{called}' is called here but ends with link: at"
                        f" {_label(links[0].config, links[0].path)}; a called flow must"
                        f" return to its caller: use call: instead of link: in '{called}',"
                        f" or link: {called} here",
                    )
                )
    for cycle in _call_cycles(flows):
        step = next(s for s, called in flow_calls(flows[cycle[0]]) if called == cycle[1])
        problems.append(
            FlowProblem(
                (*step.path, "call"),
                "flows call each other in a cycle ("
                + " -> ".join(f"'{f}'" for f in cycle)
                + "); a called flow must end for its caller to go on: break the cycle"
                " (link: never returns, if the loop is meant)",
            )
        )
    return problems


def _call_cycles(flows: Mapping[str, Flow]) -> list[list[str]]:
    """Cycles of ``call:`` steps between flows, as ``[a, b, ..., a]`` (one per loop found;
    each flow is explored once, so every flow on a cycle is reported in one of them)."""
    edges = {fid: sorted({c for _, c in flow_calls(f) if c in flows}) for fid, f in flows.items()}
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    done: set[str] = set()

    def visit(fid: str, path: list[str]) -> None:
        if fid in path:
            cycle = [*path[path.index(fid) :], fid]
            if frozenset(cycle) not in seen:
                seen.add(frozenset(cycle))
                cycles.append(cycle)
            return
        if fid in done:
            return
        for called in edges[fid]:
            visit(called, [*path, fid])
        done.add(fid)

    for fid in edges:
        visit(fid, [])
    return cycles


def compile_flow(
    flow_id: str, config: FlowConfig, flow_ids: Collection[str] | None = None
) -> tuple[Flow, list[FlowProblem]]:
    """Compile one flow; ``link`` targets are checked against ``flow_ids`` when given."""
    compiler = _FlowCompiler(flow_id, flow_ids)
    return compiler.compile(config), compiler.problems


def step_kinds(step: FlowStep) -> list[StepKind]:
    """The kinds a step is written with (exactly one is valid)."""
    return [k for k in StepKind if getattr(step, k.value) not in (None, False)]


def _label(step: FlowStep, path: PathT) -> str:
    return f"step '{step.id}'" if step.id else f"step #{int(path[-1]) + 1}"


class _FlowCompiler:
    """Compiles one flow: a pass for explicit ids, then one over the steps."""

    def __init__(self, flow_id: str, flows: Collection[str] | None) -> None:
        self.flow_id = flow_id
        self.flows = flows
        self.steps: dict[str, Step] = {}
        self.step_ids: set[str] = set()
        self.conditions: list[ConditionSite] = []
        self.problems: list[FlowProblem] = []

    def error(self, path: PathT, message: str) -> None:
        self.problems.append(FlowProblem(path, message))

    def compile(self, config: FlowConfig) -> Flow:
        base: PathT = ("flows", self.flow_id)
        if self.flow_id in RESERVED_FLOW_IDS:
            self.error(
                base,
                f"'{self.flow_id}' is reserved (/{self.flow_id} is a command); rename the flow",
            )
        elif not _FLOW_ID_RE.match(self.flow_id):
            self.error(base, "flow ids may contain letters, digits, '_' and '-' only")
        guard = None
        if config.if_ is not None:
            guard = self.condition(config.if_, (*base, "if"), "the flow guard")
        self.collect_ids(config.steps, (*base, "steps"))
        first = self.compile_list(config.steps, (*base, "steps"), "")
        return Flow(
            id=self.flow_id,
            name=config.name or self.flow_id,
            description=config.description,
            guard=guard,
            first=first,
            steps=self.steps,
            conditions=self.conditions,
            persisted_slots=frozenset(config.persisted_slots),
        )

    def collect_ids(self, steps: list[FlowStep], path: PathT) -> None:
        """Every explicit step id, inline lists included (``next`` may point anywhere)."""
        for i, step in enumerate(steps):
            if step.id is not None:
                if step.id in self.step_ids or step.id == END:
                    self.error((*path, i, "id"), f"duplicate step id '{step.id}' in this flow")
                self.step_ids.add(step.id)
            for j, branch in enumerate(step.next if isinstance(step.next, list) else []):
                for key, target in (("then", branch.then), ("else", branch.else_)):
                    if isinstance(target, list):
                        self.collect_ids(target, (*path, i, "next", j, key))

    def compile_list(self, steps: list[FlowStep], path: PathT, prefix: str) -> str:
        """Compile ``steps``; returns the id of the first one (END for an empty list)."""
        kinds = [(step_kinds(s) or [StepKind.NOOP])[0] for s in steps]
        ids = [
            s.id or f"{prefix}{i}_{kind}"
            for i, (s, kind) in enumerate(zip(steps, kinds, strict=True))
        ]
        for i, (config, sid) in enumerate(zip(steps, ids, strict=True)):
            here: PathT = (*path, i)
            if config.id is None and sid in self.step_ids:
                self.error(here, f"the generated step id '{sid}' is taken; give this step an id")
            step = Step(
                id=sid,
                kind=kinds[i],
                config=config,
                path=here,
                default_next=ids[i + 1] if i + 1 < len(ids) else END,
            )
            self.steps.setdefault(sid, step)
            self.check_step(step)
            self.compile_next(step)
        return ids[0] if ids else END

    # ------------------------------------------------------------------ steps

    def check_step(self, step: Step) -> None:
        config, path = step.config, step.path
        kinds = step_kinds(config)
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            self.error(path, f"a step needs exactly one of {', '.join(StepKind)} (found {found})")
        if config.exit_if is not None:
            self.compile_exit_if(step)
        if config.collect is None and (config.utter is not None or config.ask_before_filling):
            self.error((*path, "utter"), "utter and ask_before_filling belong to a collect step")
        if config.collect is None and (config.rejections or not config.reset_after_flow_ends):
            key = "rejections" if config.rejections else "reset_after_flow_ends"
            self.error((*path, key), f"{key} belongs to a collect step")
        self.compile_rejections(step)
        for j, item in enumerate(config.set_slots or []):
            if not isinstance(item, dict) or len(item) != 1:
                self.error(
                    (*path, "set_slots", j), "each set_slots item is one 'slot_name: value' pair"
                )
                continue
            step.set_slots.extend(item.items())
        if config.link is not None:
            if self.flows is not None and config.link not in self.flows:
                self.error(
                    (*path, "link"),
                    f"unknown flow '{config.link}'" + suggest(config.link, self.flows, "flows"),
                )
            if config.next is not None:
                self.error((*path, "next"), "a link step ends the flow; remove next:")
        if config.noop and config.next is None:
            self.error((*path, "noop"), "a noop step needs next:")
        if config.call is not None:
            self.resolve_call(step)

    def resolve_call(self, step: Step) -> None:
        """Rasa's order: a flow id wins, then an MCP tool (``mcp_server`` and ``mapping``
        set), else an agent (checked against sub_agents/).

        Except a flow's call of its own id: that can only be a cycle, so it names the agent
        (a flow ``weather`` whose step is ``call: weather`` runs the agent ``weather``,
        the common way to name a flow after the agent it hands the work to).
        """
        config, path = step.config, step.path
        tool_keys = [k for k in ("mcp_server", "mapping") if getattr(config, k) is not None]
        calls_itself = config.call == self.flow_id
        if self.flows is not None and config.call in self.flows and not calls_itself:
            step.call_target = CallTarget.FLOW
            if config.exit_if is not None:
                self.error(
                    (*path, "exit_if"),
                    f"'{config.call}' is a flow: exit_if belongs to a call of an agent;"
                    " remove it (the called flow ends by itself)",
                )
            for key in tool_keys:
                self.error(
                    (*path, key),
                    f"'{config.call}' is a flow: {key} belongs to a call of an MCP tool;"
                    " remove it, or rename the flow",
                )
            return
        if len(tool_keys) == 1:
            missing = "mapping" if tool_keys[0] == "mcp_server" else "mcp_server"
            self.error(
                (*path, tool_keys[0]),
                f"a call of an MCP tool needs both mcp_server and mapping; add {missing}:"
                f" (or remove {tool_keys[0]}: to call an agent '{config.call}')",
            )
        if len(tool_keys) == 2:
            step.call_target = CallTarget.MCP_TOOL
            step.tool = self.compile_tool(step)
            if config.exit_if is not None:
                self.error(
                    (*path, "exit_if"),
                    "exit_if belongs to a call of an agent, not of an MCP tool: remove it",
                )
            return
        step.call_target = CallTarget.AGENT

    def compile_tool(self, step: Step) -> ToolCallSpec:
        """The tool step's mapping; each output ``value`` compiled as a sandboxed Jinja
        expression (a syntax error is a problem at its path)."""
        config, path = step.config, step.path
        mapping = config.mapping
        assert mapping is not None and config.mcp_server is not None  # resolve_call checked
        outputs: list[tuple[str, str, OutputExpression]] = []
        for j, item in enumerate(mapping.output):
            try:
                outputs.append((item.slot, item.value, compile_output_expression(item.value)))
            except ValueError as exc:
                self.error((*path, "mapping", "output", j, "value"), str(exc))
        return ToolCallSpec(
            server=config.mcp_server,
            tool=config.call or "",
            inputs=[(item.param, item.slot) for item in mapping.input],
            outputs=outputs,
        )

    def compile_rejections(self, step: Step) -> None:
        where = f"flow '{self.flow_id}', {_label(step.config, step.path)}"
        for j, rejection in enumerate(step.config.rejections or []):
            here = (*step.path, "rejections", j)
            condition = self.condition(rejection.if_, (*here, "if"), where)
            if condition is not None:
                step.rejections.append((condition, rejection.utter))

    def compile_exit_if(self, step: Step) -> None:
        config, path = step.config, step.path
        texts = config.exit_if or []
        if config.call is None:
            self.error((*path, "exit_if"), "exit_if belongs to a call step")
            return
        if not texts:
            self.error(
                (*path, "exit_if"),
                "exit_if is empty; list conditions, or remove it for a general-purpose call",
            )
        where = f"flow '{self.flow_id}', {_label(config, path)}"
        for j, text in enumerate(texts):
            self.condition(text, (*path, "exit_if", j), where)
        step.exit_if = list(texts) or None

    # ------------------------------------------------------------------ next

    def compile_next(self, step: Step) -> None:
        nxt, path = step.config.next, step.path
        if isinstance(nxt, str):
            step.default_next = self.target(nxt, (*path, "next"))
            return
        where = f"flow '{self.flow_id}', {_label(step.config, path)}"
        for j, branch in enumerate(nxt or []):
            step.branches.append(self.branch(step, branch, (*path, "next", j), j, where))

    def branch(self, step: Step, branch: NextBranch, path: PathT, j: int, where: str) -> Branch:
        if branch.if_ is not None:
            condition = self.condition(branch.if_, (*path, "if"), where)
            if branch.then is None:
                self.error(path, "a branch with if: needs then:")
            if branch.else_ is not None:
                self.error((*path, "else"), "write else: as its own branch after the if:")
                self.branch_target(branch.else_, (*path, "else"), f"{step.id}.else{j}.")
            target = self.branch_target(branch.then, (*path, "then"), f"{step.id}.then{j}.")
            return Branch(condition, target)
        if branch.else_ is None:
            self.error(path, "a branch needs if: and then:, or else:")
        return Branch(
            None, self.branch_target(branch.else_, (*path, "else"), f"{step.id}.else{j}.")
        )

    def branch_target(self, value: str | list[FlowStep] | None, path: PathT, prefix: str) -> str:
        if value is None:
            return END
        if isinstance(value, str):
            return self.target(value, path)
        return self.compile_list(value, path, prefix)

    def target(self, name: str, path: PathT) -> str:
        if name == END or name in self.step_ids:
            return name
        self.error(
            path,
            f"unknown step id '{name}' in flow '{self.flow_id}'"
            + suggest(name, self.step_ids, "step ids")
            + f" (use {END} to end the flow)",
        )
        return END

    def condition(self, text: str, path: PathT, where: str) -> Condition | None:
        try:
            parsed = parse_condition(text)
        except ConditionSyntaxError as exc:
            self.error(path, f"invalid condition in {where}: {exc}")
            return None
        self.conditions.append(ConditionSite(parsed, path, where))
        return parsed


__all__ = [
    "END",
    "RESERVED_FLOW_IDS",
    "Branch",
    "CallTarget",
    "ConditionSite",
    "Flow",
    "FlowGraph",
    "FlowProblem",
    "OutputExpression",
    "Step",
    "StepKind",
    "ToolCallSpec",
    "compile_flow",
    "compile_output_expression",
    "compile_flows",
    "flow_calls",
    "step_kinds",
    "tool_servers",
]
