"""Checks of flows.yml against the domain, the agents and itself.

Unknown agents, slots, step ids and flows are errors; an action the domain does not list
is a warning (it may live in the actions module), except an ``utter_*`` without a response.
Every ``exit_if`` / ``if`` condition is parsed and checked against the domain's slots.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from subagents.conditions import ConditionSyntaxError, parse_condition
from subagents.config.agent_module import defined_at
from subagents.config.checks import Context, slot_value_problem, suggest
from subagents.config.models import DomainConfig, FlowConfig, FlowsConfig, FlowStep, SlotConfig
from subagents.config.source import PathT, SourceFile

if TYPE_CHECKING:
    from subagents.config.loader import LoadedAgent

RESERVED_FLOW_IDS = frozenset({"exit", "restart"})
"""Flow ids the shell and the router use themselves (``/exit``, ``/restart``)."""
DEFAULT_RESPONSES = frozenset({"utter_internal_error", "utter_fallback", "utter_busy"})
"""Responses the runtime provides when the domain does not define them."""
BUILTIN_ACTIONS = frozenset(
    {"action_listen", "action_restart", "action_session_start", "action_default_fallback"}
)
END = "END"
_STEP_KINDS = ("call", "action", "collect", "set_slots", "link", "noop")
_FLOW_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


def check_flows(
    src: SourceFile, flows: FlowsConfig, ctx: Context, agents: Mapping[str, LoadedAgent]
) -> None:
    """Check every flow of flows.yml."""
    checker = _FlowChecker(src, flows, ctx, agents)
    for flow_id, flow in flows.flows.items():
        checker.check_flow(flow_id, flow)


class _FlowChecker:
    def __init__(
        self,
        src: SourceFile,
        flows: FlowsConfig,
        ctx: Context,
        agents: Mapping[str, LoadedAgent],
    ) -> None:
        self.src = src
        self.flows = flows
        self.ctx = ctx
        self.agents = agents
        self.domain = ctx.domain or DomainConfig()
        self.gaps = ctx.domain_gaps
        # Slots declared with an error count as known, of any type: no consequential
        # "unknown slot" / type errors in conditions.
        self.slot_types: dict[str, SlotConfig] = {
            **{name: SlotConfig() for name in self.gaps.slots},
            **self.domain.slots,
        }
        self.flow_id = ""
        self.step_ids: set[str] = set()

    def error(self, path: PathT, message: str) -> None:
        self.ctx.problems.error(self.src, path, message)

    def warning(self, path: PathT, message: str) -> None:
        self.ctx.problems.warning(self.src, path, message)

    # ------------------------------------------------------------------ flows

    def check_flow(self, flow_id: str, flow: FlowConfig) -> None:
        base: PathT = ("flows", flow_id)
        self.flow_id = flow_id
        if flow_id in RESERVED_FLOW_IDS:
            self.error(base, f"'{flow_id}' is reserved (/{flow_id} is a command); rename the flow")
        elif not _FLOW_ID_RE.match(flow_id):
            self.error(base, "flow ids may contain letters, digits, '_' and '-' only")
        if flow.if_ is not None:
            self.condition(flow.if_, (*base, "if"), "the flow guard")
        self.step_ids = set()
        self.collect_ids(flow.steps, (*base, "steps"))
        self.walk(flow.steps, (*base, "steps"))

    def collect_ids(self, steps: list[FlowStep], path: PathT) -> None:
        for i, step in enumerate(steps):
            if step.id is not None:
                if step.id in self.step_ids or step.id == END:
                    self.error((*path, i, "id"), f"duplicate step id '{step.id}' in this flow")
                self.step_ids.add(step.id)
            for j, branch in enumerate(step.next if isinstance(step.next, list) else []):
                for key, target in (("then", branch.then), ("else", branch.else_)):
                    if isinstance(target, list):
                        self.collect_ids(target, (*path, i, "next", j, key))

    def walk(self, steps: list[FlowStep], path: PathT) -> None:
        for i, step in enumerate(steps):
            self.check_step(step, (*path, i))

    # ------------------------------------------------------------------ steps

    def label(self, step: FlowStep, path: PathT) -> str:
        where = f"step '{step.id}'" if step.id else f"step #{int(path[-1]) + 1}"
        return f"flow '{self.flow_id}', {where}"

    def check_step(self, step: FlowStep, path: PathT) -> None:
        kinds = [k for k in _STEP_KINDS if getattr(step, k) not in (None, False)]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            self.error(
                path, f"a step needs exactly one of {', '.join(_STEP_KINDS)} (found {found})"
            )
        if step.exit_if is not None and step.call is None:
            self.error((*path, "exit_if"), "exit_if belongs to a call step")
        if step.call is not None:
            self.check_call(step, path)
        if step.action is not None:
            self.check_action(step.action, (*path, "action"))
        if step.collect is not None:
            self.check_collect(step, path)
        elif step.utter is not None or step.ask_before_filling:
            self.error((*path, "utter"), "utter and ask_before_filling belong to a collect step")
        if step.set_slots is not None:
            self.check_set_slots(step.set_slots, (*path, "set_slots"))
        if step.link is not None:
            self.check_link(step, path)
        if step.noop and step.next is None:
            self.error((*path, "noop"), "a noop step needs next:")
        self.check_next(step, path)

    def check_call(self, step: FlowStep, path: PathT) -> None:
        name = step.call or ""
        agent = self.agents.get(name)
        if agent is None and name not in self.ctx.broken_agents:
            hint = (
                f"; '{name}' is a flow: use link: {name}"
                if name in self.flows.flows
                else suggest(name, self.agents, "agents (sub_agents/*/config.yml agent.name)")
            )
            self.error((*path, "call"), f"unknown agent '{name}'{hint}")
        if step.exit_if is not None:
            if not step.exit_if:
                self.error(
                    (*path, "exit_if"),
                    "exit_if is empty; list conditions, or remove it for a general-purpose call",
                )
            for j, text in enumerate(step.exit_if):
                self.condition(text, (*path, "exit_if", j), self.label(step, path))
        if agent is not None and agent.config.agent.protocol == "A2A":
            if step.exit_if:
                self.error(
                    (*path, "exit_if"),
                    f"agent '{name}' is an A2A agent: it decides itself when it is done;"
                    " exit_if works only with ReAct sub agents (protocol: RASA): remove it",
                )
        elif agent is not None:
            self.check_agent_kind(name, step, path)

    def check_agent_kind(self, name: str, step: FlowStep, path: PathT) -> None:
        cls = self.ctx.agent_classes.get(name)
        if cls is None:
            return
        from subagents.agents.open_agent import MCPOpenAgent
        from subagents.agents.task_agent import MCPTaskAgent

        where = f"{cls.__name__} ({defined_at(cls, self.ctx.root)})"
        if step.exit_if and not issubclass(cls, MCPTaskAgent):
            self.error(
                (*path, "exit_if"),
                f"agent '{name}' uses {where}, a general-purpose agent (MCPOpenAgent);"
                " a call with exit_if needs an MCPTaskAgent subclass: subclass MCPTaskAgent"
                " there, or remove exit_if from this call",
            )
        elif not step.exit_if and not issubclass(cls, MCPOpenAgent):
            self.error(
                (*path, "call"),
                f"agent '{name}' uses {where}, a task agent (MCPTaskAgent); add exit_if"
                " conditions to this call or subclass MCPOpenAgent there",
            )

    def check_action(self, name: str, path: PathT) -> None:
        if name.startswith("utter_"):
            if self.gaps.response_unknown(name):
                return
            if name not in self.domain.responses and name not in DEFAULT_RESPONSES:
                self.error(
                    path,
                    f"response '{name}' is not defined"
                    + suggest(name, self.domain.responses, "responses")
                    + " (add it under responses: in domain.yml)",
                )
        elif (
            name not in self.domain.actions
            and name not in BUILTIN_ACTIONS
            and not self.gaps.all_actions
        ):
            self.warning(
                path,
                f"action '{name}' is not listed under actions: in domain.yml"
                + suggest(name, self.domain.actions, "actions"),
            )

    def check_collect(self, step: FlowStep, path: PathT) -> None:
        slot = step.collect or ""
        self.check_slot(slot, (*path, "collect"))
        if step.utter is not None:
            self.check_action(step.utter, (*path, "utter"))
        elif (
            slot in self.domain.slots
            and f"utter_ask_{slot}" not in self.domain.responses
            and not self.gaps.response_unknown(f"utter_ask_{slot}")
        ):
            self.warning(
                (*path, "collect"),
                f"no response 'utter_ask_{slot}' in domain.yml and no utter: on the step;"
                " add one so the bot can ask for the slot",
            )

    def check_slot(self, slot: str, path: PathT) -> bool:
        """Whether ``slot`` is declared (and readable); reports an unknown slot."""
        if slot in self.domain.slots:
            return True
        if self.gaps.slot_unknown(slot):
            return False  # its declaration has an error, reported in domain.yml
        self.error(
            path,
            f"unknown slot '{slot}'"
            + suggest(slot, self.domain.slots, "slots")
            + " (declare it under slots: in domain.yml)",
        )
        return False

    def check_set_slots(self, items: list[dict[str, object]], path: PathT) -> None:
        for j, item in enumerate(items):
            if not isinstance(item, dict) or len(item) != 1:
                self.error((*path, j), "each set_slots item is one 'slot_name: value' pair")
                continue
            ((slot, value),) = item.items()
            if self.check_slot(str(slot), (*path, j, slot)):
                problem = slot_value_problem(str(slot), self.domain.slots[str(slot)], value)
                if problem:
                    self.error((*path, j, slot), problem)

    def check_link(self, step: FlowStep, path: PathT) -> None:
        target = step.link or ""
        if target not in self.flows.flows:
            self.error(
                (*path, "link"),
                f"unknown flow '{target}'" + suggest(target, self.flows.flows, "flows"),
            )
        if step.next is not None:
            self.error((*path, "next"), "a link step ends the flow; remove next:")

    # ------------------------------------------------------------------ next / conditions

    def check_next(self, step: FlowStep, path: PathT) -> None:
        if isinstance(step.next, str):
            self.check_target(step.next, (*path, "next"))
            return
        for j, branch in enumerate(step.next or []):
            bpath: PathT = (*path, "next", j)
            if branch.if_ is not None:
                self.condition(branch.if_, (*bpath, "if"), self.label(step, path))
                if branch.then is None:
                    self.error(bpath, "a branch with if: needs then:")
                if branch.else_ is not None:
                    self.error((*bpath, "else"), "write else: as its own branch after the if:")
            elif branch.else_ is None:
                self.error(bpath, "a branch needs if: and then:, or else:")
            for key, target in (("then", branch.then), ("else", branch.else_)):
                if isinstance(target, str):
                    self.check_target(target, (*bpath, key))
                elif isinstance(target, list):
                    self.walk(target, (*bpath, key))

    def check_target(self, target: str, path: PathT) -> None:
        if target != END and target not in self.step_ids:
            self.error(
                path,
                f"unknown step id '{target}' in flow '{self.flow_id}'"
                + suggest(target, self.step_ids, "step ids")
                + f" (use {END} to end the flow)",
            )

    def condition(self, text: str, path: PathT, where: str) -> None:
        try:
            parsed = parse_condition(text)
        except ConditionSyntaxError as exc:
            self.error(path, f"invalid condition in {where}: {exc}")
            return
        if self.gaps.all_slots:
            return  # domain.yml's slots could not be read: nothing to check against
        for problem in parsed.check(self.slot_types):
            self.error(path, f'{where}: condition "{text}": {problem}')
