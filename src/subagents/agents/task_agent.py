"""MCPTaskAgent: the task-specific ReAct sub agent.

It fills the slots named in its ``exit_if`` conditions through built-in
``set_slot_<slot>`` tools (typed from the domain's slot definitions). After every slot
update the conditions are evaluated; once all hold, the run completes silently with the
slot sets as ``{"event": "slot", ...}`` events: text the model wrote in that same reply is
dropped (and, when streaming, never reaches ``on_text``: a task agent's text is handed on
per reply, once its calls have run, instead of per token). If they already hold when a run starts,
it completes at once without calling the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Unpack

from subagents.agents.base import AgentOptions, ReActAgent
from subagents.agents.loop import Complete, Continue, Run, StepResult
from subagents.agents.prompt import TASK_AGENT_TEMPLATE, NameList
from subagents.agents.schemas import AgentInput
from subagents.conditions import Condition, ConditionSyntaxError, parse_condition
from subagents.config.models import SlotConfig
from subagents.errors import ConfigError
from subagents.tools.base import ControlResult, Toolset
from subagents.tools.builtin import SetSlotToolset, SlotSet


class MCPTaskAgent(ReActAgent):
    """Task-specific ReAct sub agent (completes when all ``exit_if`` conditions hold).

    ``exit_if`` are condition strings (``"slots.user_name is not null"``); ``slots`` are the
    domain's slot definitions (a slot missing there is treated as ``text``).
    """

    default_template_file = TASK_AGENT_TEMPLATE
    silent_completion = True

    def __init__(
        self,
        name: str,
        description: str = "",
        *,
        exit_if: Sequence[str],
        slots: Mapping[str, SlotConfig] | None = None,
        **kwargs: Unpack[AgentOptions],
    ) -> None:
        super().__init__(name, description, **kwargs)
        if not exit_if:
            raise ConfigError(
                f"agent '{name}': a task agent needs at least one exit_if condition",
                field="exit_if",
            )
        self.exit_if = list(exit_if)
        self.conditions: list[Condition] = [self._parse(text) for text in self.exit_if]
        domain_slots = dict(slots or {})
        problems = [p for c in self.conditions for p in c.check(domain_slots)] if slots else []
        if problems:
            raise ConfigError(
                f"agent '{name}': exit_if cannot be evaluated: " + "; ".join(problems),
                field="exit_if",
            )
        names: list[str] = []
        for condition in self.conditions:
            names.extend(n for n in sorted(condition.slot_names()) if n not in names)
        self.slot_names = NameList(names)
        self.slot_configs = {n: domain_slots.get(n) or SlotConfig(type="text") for n in names}

    def _parse(self, text: str) -> Condition:
        try:
            return parse_condition(text)
        except ConditionSyntaxError as exc:
            raise ConfigError(
                f"agent '{self.name}': invalid exit_if condition: {exc}", field="exit_if"
            ) from None

    def builtin_toolsets(self) -> list[Toolset]:
        return [SetSlotToolset((n, self.slot_configs[n]) for n in self.slot_names)]

    def template_variables(self, run: Run, input: AgentInput) -> dict[str, Any]:
        return {"slot_names": self.slot_names}

    def exit_conditions_met(self, slots: Mapping[str, Any]) -> bool:
        """True when every exit condition holds for ``slots``."""
        return all(condition.evaluate(slots) for condition in self.conditions)

    def initial_step(self, run: Run) -> StepResult | None:
        return Complete(None) if self.exit_conditions_met(run.slots) else None

    async def on_control(self, run: Run, result: ControlResult) -> StepResult:
        if not isinstance(result, SlotSet):
            return Continue()
        slot, value = result.slot, result.value
        run.slots[slot] = value
        run.events = [
            e for e in run.events if not (e.get("event") == "slot" and e.get("name") == slot)
        ]
        run.events.append({"event": "slot", "name": slot, "value": value})
        return Complete(None) if self.exit_conditions_met(run.slots) else Continue()
