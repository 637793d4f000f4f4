"""Checks of flows.yml: its structure (the compiler's problems) and its references.

The structure is checked by compiling (:mod:`subagents.config.flow_graph`); this module
reports those problems with file and line, then checks what the compiled steps refer to:
unknown agents, slots, responses and flows are errors; an action the domain does not list
is a warning (it may live in the actions module), except an ``utter_*`` without a
response. Every condition is checked against the domain's slots (their types decide which
comparisons make sense).
"""

from __future__ import annotations

from collections.abc import Mapping

from subagents.config.checks import Context, slot_value_problem, suggest
from subagents.config.flow_graph import CallTarget, Flow, FlowGraph, Step
from subagents.config.models import AgentConfig, DomainConfig, FlowsConfig, SlotConfig
from subagents.config.source import PathT, SourceFile

DEFAULT_RESPONSES = frozenset(
    {
        "utter_internal_error",
        "utter_fallback",
        "utter_busy",
        "utter_restart",
        "utter_flow_continue_interrupted",
        "utter_invalid_value",
        "utter_flow_cancelled",
        "utter_corrected_previous_input",
        "utter_clarification_options",
        "utter_free_chitchat_response",
        "utter_human_handoff_not_available",
    }
)
"""Responses the runtime provides when the domain does not define them (the keys of
``subagents.dialogue.domain.DEFAULT_RESPONSES``; a test keeps the two in step)."""
BUILTIN_ACTIONS = frozenset(
    {
        "action_listen",
        "action_restart",
        "action_session_start",
        "action_default_fallback",
        "action_ask_collect",
    }
)
PATTERN_IDS = frozenset(
    {
        "pattern_cancel_flow",
        "pattern_correction",
        "pattern_clarification",
        "pattern_chitchat",
        "pattern_cannot_handle",
        "pattern_human_handoff",
        "pattern_internal_error",
        "pattern_completed",
        "pattern_continue_interrupted",
        "pattern_collect_information",
        "pattern_session_start",
    }
)
"""The conversation patterns a project may override (``subagents.dialogue.patterns``)."""


def check_flows(
    src: SourceFile,
    flows: FlowsConfig,
    graph: FlowGraph,
    ctx: Context,
    agents: Mapping[str, AgentConfig],
) -> None:
    """Report the compiler's problems and check every compiled flow's references."""
    for problem in graph.problems:
        ctx.problems.error(src, problem.path, problem.message)
    checker = _References(src, flows, ctx, agents)
    for flow in graph.flows.values():
        checker.check_flow(flow)


class _References:
    def __init__(
        self, src: SourceFile, flows: FlowsConfig, ctx: Context, agents: Mapping[str, AgentConfig]
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

    def error(self, path: PathT, message: str) -> None:
        self.ctx.problems.error(self.src, path, message)

    def warning(self, path: PathT, message: str) -> None:
        self.ctx.problems.warning(self.src, path, message)

    def check_flow(self, flow: Flow) -> None:
        base: PathT = ("flows", flow.id)
        if flow.id.startswith("pattern_") and flow.id not in PATTERN_IDS:
            self.warning(
                base,
                f"'{flow.id}' is not a conversation pattern, so it never runs by itself"
                + suggest(flow.id, PATTERN_IDS, "patterns"),
            )
        for j, slot in enumerate(self.flows.flows[flow.id].persisted_slots):
            self.check_slot(slot, (*base, "persisted_slots", j))
        for step in flow.steps.values():
            self.check_step(step)
        if self.gaps.all_slots:
            return  # domain.yml's slots could not be read: nothing to check against
        for site in flow.conditions:
            for problem in site.condition.check(self.slot_types):
                self.error(site.path, f'{site.where}: condition "{site.condition}": {problem}')

    def check_step(self, step: Step) -> None:
        config, path = step.config, step.path
        if config.call is not None:
            self.check_call(step)
        if config.action is not None:
            self.check_action(config.action, (*path, "action"))
        if config.collect is not None:
            self.check_collect(step)
        for j, item in enumerate(config.set_slots or []):
            if isinstance(item, dict) and len(item) == 1:  # else: a compiler problem
                ((slot, value),) = item.items()
                self.check_set_slot(str(slot), value, (*path, "set_slots", j, slot))

    def check_call(self, step: Step) -> None:
        name = step.config.call or ""
        if step.call_target is CallTarget.MCP_TOOL:
            self.check_tool_call(step)
            return
        if step.call_target is CallTarget.FLOW:
            if name in self.agents:
                self.warning(
                    (*step.path, "call"),
                    f"'{name}' is both a flow and an agent; call: runs the flow (a flow id"
                    " wins, as in Rasa): rename one of them to call the agent",
                )
            return
        if step.config.mcp_server is not None or step.config.mapping is not None:
            return  # half a tool step: the compiler said what is missing
        if name not in self.agents and name not in self.ctx.broken_agents:
            hint = suggest(
                name,
                [*self.agents, *self.flows.flows],
                "agents (sub_agents/*/config.yml agent.name) or flows",
            )
            message = f"unknown agent '{name}' (no agent or flow has that name){hint}"
            self.error((*step.path, "call"), message)
            return
        agent = self.agents.get(name)
        if agent is not None and agent.agent.protocol == "A2A":
            if step.config.exit_if:
                self.error(
                    (*step.path, "exit_if"),
                    f"agent '{name}' is an A2A agent: it decides itself when it is done;"
                    " exit_if works only with ReAct sub agents (protocol: RASA): remove it",
                )
            return

    def check_tool_call(self, step: Step) -> None:
        """The server is in endpoints.yml; every mapped slot is in the domain."""
        config, path = step.config, step.path
        server = config.mcp_server or ""
        servers = [s.name for s in self.ctx.endpoints.mcp_servers] if self.ctx.endpoints else []
        if self.ctx.endpoints is not None and server not in servers:
            self.error(
                (*path, "mcp_server"),
                f"unknown MCP server '{server}' for tool '{config.call}'"
                + suggest(server, servers, "MCP servers")
                + " (add it under mcp_servers: in endpoints.yml)",
            )
        mapping = config.mapping
        if mapping is None:
            return
        params: set[str] = set()
        for j, item in enumerate(mapping.input):
            self.check_slot(item.slot, (*path, "mapping", "input", j, "slot"))
            if item.param in params:
                self.error(
                    (*path, "mapping", "input", j, "param"),
                    f"parameter '{item.param}' is mapped twice; map each parameter once",
                )
            params.add(item.param)
        for j, out in enumerate(mapping.output):
            self.check_slot(out.slot, (*path, "mapping", "output", j, "slot"))

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

    def check_collect(self, step: Step) -> None:
        config, path = step.config, step.path
        slot = config.collect or ""
        self.check_slot(slot, (*path, "collect"))
        for j, rejection in enumerate(config.rejections or []):
            self.check_action(rejection.utter, (*path, "rejections", j, "utter"))
        if config.utter is not None:
            self.check_action(config.utter, (*path, "utter"))
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

    def check_set_slot(self, slot: str, value: object, path: PathT) -> None:
        if self.check_slot(slot, path):
            problem = slot_value_problem(slot, self.domain.slots[slot], value)
            if problem:
                self.error(path, problem)
