"""Keeping the valid parts of a domain.yml that failed validation.

One bad slot must not throw the whole domain away: the flows would then be checked against
an empty domain and every slot, response and action they use would be reported as
unknown, burying the one real mistake. :func:`salvage_domain` validates the domain entry
by entry (its errors are already reported by the full validation) and records what could
not be read in :class:`DomainGaps`, so that the flow checks stay silent about those names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from subagents.config.models import DomainConfig, ResponseVariation, SlotConfig
from subagents.config.source import model_keys

_RESPONSE = TypeAdapter(list[ResponseVariation])


@dataclass
class DomainGaps:
    """Parts of domain.yml that could not be read; checks that depend on them are skipped."""

    slots: set[str] = field(default_factory=set)
    """Slots declared with an error (known to exist, type unknown)."""
    responses: set[str] = field(default_factory=set)
    """Responses declared with an error."""
    all_slots: bool = False
    """The slots could not be read at all (broken YAML, ``slots:`` not a mapping...)."""
    all_responses: bool = False
    all_actions: bool = False

    @classmethod
    def everything(cls) -> DomainGaps:
        """Nothing of the domain is known (the file is not valid YAML)."""
        return cls(all_slots=True, all_responses=True, all_actions=True)

    def slot_unknown(self, name: str) -> bool:
        """Whether nothing reliable is known about slot ``name``."""
        return self.all_slots or name in self.slots

    def response_unknown(self, name: str) -> bool:
        """Whether nothing reliable is known about response ``name``."""
        return self.all_responses or name in self.responses


def salvage_domain(data: Any) -> tuple[DomainConfig, DomainGaps]:
    """The valid entries of a domain that failed validation, and what is missing."""
    if not isinstance(data, dict):
        return DomainConfig(), DomainGaps.everything()
    gaps = DomainGaps()
    kept: dict[str, Any] = {}
    slots, gaps.slots, gaps.all_slots = _entries(data.get("slots", {}), SlotConfig.model_validate)
    responses, gaps.responses, gaps.all_responses = _entries(
        data.get("responses", {}), _RESPONSE.validate_python
    )
    kept["slots"], kept["responses"] = slots, responses
    actions = data.get("actions", [])
    if isinstance(actions, list):
        kept["actions"] = [a for a in actions if isinstance(a, str)]
        gaps.all_actions = len(kept["actions"]) != len(actions)
    else:
        gaps.all_actions = True
    for key in ("version", "session_config", "intents", "entities"):
        if key in data and _valid({key: data[key]}):
            kept[key] = data[key]
    unknown = {str(key) for key in data if key not in model_keys(DomainConfig)}
    if unknown:
        # A misspelt top-level key (``slot:``) may be a missing section, and a slot or
        # response indented too little lands at the top level: trust none of those.
        gaps.all_slots |= "slots" not in data
        gaps.all_responses |= "responses" not in data
        gaps.all_actions |= "actions" not in data
        gaps.slots |= unknown
        gaps.responses |= unknown
    try:
        return DomainConfig.model_validate(kept), gaps
    except ValidationError:  # should not happen: every part was validated on its own
        return DomainConfig(), DomainGaps.everything()


def _entries(section: Any, validate: Any) -> tuple[dict[str, Any], set[str], bool]:
    """(valid entries, names of broken entries, whether the whole section is broken)."""
    if not isinstance(section, dict):
        return {}, set(), True
    good: dict[str, Any] = {}
    bad: set[str] = set()
    for name, value in section.items():
        try:
            good[str(name)] = validate(value)
        except ValidationError:
            bad.add(str(name))
    return good, bad, False


def _valid(part: dict[str, Any]) -> bool:
    try:
        DomainConfig.model_validate(part)
    except ValidationError:
        return False
    return True
