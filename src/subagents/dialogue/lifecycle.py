"""Slot lifecycle: which slots a flow resets when it starts and when it ends.

* When a flow ends (completed or cancelled), the slots its ``collect`` steps fill are
  reset to their initial values, unless the flow lists them in ``persisted_slots`` or the
  step says ``reset_after_flow_ends: false``. A ``link`` hands the slots on: the flow
  that links is not reset, and a called flow (``call: <flow>``) hands its slots back to
  its caller: they are reset when the caller ends.
* When a flow starts, the slots its task agents' ``exit_if`` conditions read are reset,
  so a second booking books again instead of finding the first booking's slots filled
  (and the agent done before it starts). A value given in the same message
  (``set_slots`` beside ``start_flow``) is applied after this reset and kept.

Both lists are computed once per flow (flows change only on reload).
"""

from __future__ import annotations

from collections.abc import Mapping

from subagents.conditions import parse_condition
from subagents.config.flow_graph import CallTarget, Flow, StepKind


class SlotLifecycle:
    """The slots each flow resets, computed on first use."""

    def __init__(self, flows: Mapping[str, Flow]) -> None:
        self.flows = flows
        self._entry: dict[str, tuple[str, ...]] = {}
        self._exit: dict[str, tuple[str, ...]] = {}

    def entry_resets(self, flow_id: str) -> tuple[str, ...]:
        """Slots read by the ``exit_if`` of the flow's task agents."""
        cached = self._entry.get(flow_id)
        if cached is None:
            names: set[str] = set()
            flow = self.flows.get(flow_id)
            for step in flow.steps.values() if flow else ():
                for text in step.exit_if or ():
                    names |= parse_condition(text).slot_names()
            cached = self._entry[flow_id] = tuple(sorted(names))
        return cached

    def exit_resets(self, flow_id: str) -> tuple[str, ...]:
        """Slots the flow's ``collect`` steps fill (and those of the flows it calls),
        minus the persisted ones."""
        cached = self._exit.get(flow_id)
        if cached is None:
            cached = self._exit[flow_id] = tuple(sorted(self._collected(flow_id, set())))
        return cached

    def _collected(self, flow_id: str, seen: set[str]) -> set[str]:
        flow = self.flows.get(flow_id)
        if flow is None or flow_id in seen:
            return set()
        seen.add(flow_id)
        names: set[str] = set()
        for step in flow.steps.values():
            slot = step.config.collect
            if step.kind is StepKind.COLLECT and slot and step.config.reset_after_flow_ends:
                names.add(slot)
            if step.call_target is CallTarget.FLOW and step.config.call:
                names |= self._collected(step.config.call, seen)
        return names - flow.persisted_slots


__all__ = ["SlotLifecycle"]
