"""The domain at run time: typed slots and responses, compiled once at load.

Slot values are coerced to the slot's type (:meth:`Domain.coerce`, by the rules of
:mod:`subagents.config.slots`). Responses are
rendered with ``{slot_name}`` replaced by the slot's value (``None`` renders as an empty
string; a name that is not a slot is left as written). Choosing a variation: variations
whose ``condition`` holds win over unconditional ones; among the candidates one is picked
at random with the domain's own ``random.Random`` (pass ``seed`` for determinism).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from subagents.config.models import DomainConfig, ResponseVariation, SlotConfig
from subagents.config.slots import Slot, SlotValueError

DEFAULT_RESPONSES: dict[str, str] = {
    "utter_internal_error": "Sorry, something went wrong. Please try again.",
    "utter_fallback": "Sorry, I can't help with that.",
    "utter_busy": "I'm still working on your previous message. Please try again in a moment.",
    "utter_restart": "Okay, let's start over.",
    "utter_flow_continue_interrupted": "Let's get back to {flow_name}.",
    "utter_invalid_value": "Sorry, '{value}' is not a valid value for {slot}.",
    "utter_flow_cancelled": "Okay, I've stopped {flow_name}.",
    "utter_corrected_previous_input": "Okay, I've changed {slot} to {value}.",
    "utter_clarification_options": "I can help with {options}. Which one do you mean?",
    "utter_free_chitchat_response": "{response}",
    "utter_human_handoff_not_available": (
        "I understand you want to talk to a person, but I can't connect you right now."
    ),
}
"""Responses the runtime sends itself; a domain response of the same name overrides."""

_VAR = re.compile(r"\{(\w+)\}")


class _Template:
    """A string with ``{name}`` holes, split once so rendering is a join."""

    __slots__ = ("parts", "names")

    def __init__(self, text: str) -> None:
        self.parts: list[str] = _VAR.split(text)  # even: literal, odd: variable name
        self.names = frozenset(self.parts[1::2])

    def render(self, values: Mapping[str, Any]) -> str:
        if not self.names:
            return self.parts[0]
        out: list[str] = []
        for i, part in enumerate(self.parts):
            if i % 2 == 0:
                out.append(part)
            elif part in values:
                value = values[part]
                out.append("" if value is None else _fmt(value))
            else:
                out.append("{" + part + "}")
        return "".join(out)


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@dataclass
class _Variation:
    text: _Template | None
    body: dict[str, Any]  # everything but text/condition, e.g. buttons, image, custom
    condition: list[dict[str, Any]]

    def matches(self, slots: Mapping[str, Any]) -> bool:
        for cond in self.condition:
            if cond.get("type", "slot") == "slot" and slots.get(cond.get("name", "")) != cond.get(
                "value"
            ):
                return False
        return True


class Domain:
    """Slots and responses of a project, ready for the hot path."""

    def __init__(self, config: DomainConfig | None = None, *, seed: int | None = None) -> None:
        self.config = config or DomainConfig()
        self.rng = random.Random(seed)
        self.slots: dict[str, Slot] = {
            name: cfg.slot(name) for name, cfg in self.config.slots.items()
        }
        self._responses: dict[str, list[_Variation]] = {
            name: [_compile_variation(v) for v in variations]
            for name, variations in self.config.responses.items()
        }
        for name, text in DEFAULT_RESPONSES.items():
            self._responses.setdefault(name, [_Variation(_Template(text), {}, [])])
        self.mappings: dict[str, str] = {
            name: slot_mapping(cfg) for name, cfg in self.config.slots.items()
        }
        self.llm_slots: dict[str, Slot] = {
            name: slot for name, slot in self.slots.items() if self.mappings[name] == FROM_LLM
        }
        """Slots the router's ``set_slots`` / ``correct_slot`` may fill."""
        self._rasa_dict: dict[str, Any] | None = None

    def initial_slots(self) -> dict[str, Any]:
        """Every slot at its initial value."""
        return {name: slot.initial_value for name, slot in self.slots.items()}

    def slot_config(self, name: str) -> SlotConfig | None:
        return self.config.slots.get(name)

    def coerce(self, name: str, value: Any) -> Any:
        """``value`` converted for slot ``name`` (lenient: :meth:`SlotType.coerce`), or
        :class:`SlotValueError`; unknown slots keep the value as is."""
        slot = self.slots.get(name)
        return value if slot is None else slot.coerce(value)

    def has_response(self, name: str) -> bool:
        return name in self._responses

    def render(
        self,
        name: str,
        slots: Mapping[str, Any],
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """The message for response ``name`` (text/buttons/image/custom...), or ``None``.

        ``extra`` adds template variables (they win over slots of the same name).
        """
        variations = self._responses.get(name)
        if not variations:
            return None
        conditional = [v for v in variations if v.condition and v.matches(slots)]
        candidates = conditional or [v for v in variations if not v.condition]
        if not candidates:
            return None
        chosen = candidates[0] if len(candidates) == 1 else self.rng.choice(candidates)
        values: Mapping[str, Any] = {**slots, **extra} if extra else slots
        message = dict(chosen.body)
        if chosen.text is not None:
            message["text"] = chosen.text.render(values)
        if "buttons" in message:
            message["buttons"] = [_render_button(b, values) for b in message["buttons"]]
        return message

    def as_rasa_dict(self) -> dict[str, Any]:
        """The domain in the shape action servers expect (computed once)."""
        if self._rasa_dict is None:
            cfg = self.config
            self._rasa_dict = {
                "config": {"store_entities_as_slots": True},
                "session_config": dict(cfg.session_config),
                "intents": list(cfg.intents),
                "entities": list(cfg.entities),
                "slots": {
                    name: {
                        "type": s.type,
                        "initial_value": s.initial_value,
                        "influence_conversation": bool(s.influence_conversation),
                        "mappings": s.mappings or [],
                        **({"values": s.values} if s.values is not None else {}),
                    }
                    for name, s in cfg.slots.items()
                },
                "responses": {
                    name: [v.model_dump(exclude_none=True) for v in variations]
                    for name, variations in cfg.responses.items()
                },
                "actions": list(cfg.actions),
                "forms": {},
                "e2e_actions": [],
            }
        return self._rasa_dict


FROM_LLM = "from_llm"
FROM_TEXT = "from_text"
CONTROLLED = "controlled"
SLOT_MAPPINGS = (FROM_LLM, FROM_TEXT, CONTROLLED)
"""Slot mapping types: the router's LLM fills the slot (default), a ``collect`` takes the
raw message, or only actions and buttons (``/SetSlots``) set it."""


def slot_mapping(config: SlotConfig) -> str:
    """The mapping type of a slot: its first mapping of a known type (``custom`` counts as
    ``controlled``); ``from_llm`` when none is given."""
    for mapping in config.mappings or []:
        kind = mapping.get("type") if isinstance(mapping, dict) else None
        if kind == "custom":
            return CONTROLLED
        if kind in SLOT_MAPPINGS:
            return str(kind)
    return FROM_LLM


def _compile_variation(variation: ResponseVariation) -> _Variation:
    data = variation.model_dump(exclude_none=True)
    text = data.pop("text", None)
    condition = data.pop("condition", None) or []
    return _Variation(_Template(text) if text is not None else None, data, condition)


def _render_button(button: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(button, dict) and isinstance(button.get("title"), str):
        return {**button, "title": _Template(button["title"]).render(values)}
    return button


__all__ = [
    "CONTROLLED",
    "DEFAULT_RESPONSES",
    "FROM_LLM",
    "FROM_TEXT",
    "SLOT_MAPPINGS",
    "Domain",
    "Slot",
    "SlotValueError",
    "slot_mapping",
]
