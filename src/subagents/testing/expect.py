"""Checking a turn's expectations against the events the turn produced.

``bot`` and ``utter`` steps are matched in order against the turn's bot messages (each
one after the message the previous step matched; messages no step names are allowed).
Every other step (``slot_was_set``, ``flow_started``, ``tool_called``...) holds when the
turn produced a matching event anywhere. The first step that does not hold is reported
with what was expected and what the turn actually did.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from subagents.testing.cases import ANY, Expectation, compact, is_subset
from subagents.testing.doubles import ToolCallRecord


@dataclass
class Mismatch:
    """One expectation that did not hold."""

    expectation: Expectation
    expected: str
    actual: str


class TurnChecker:
    """Checks the expectations of one turn (see the module docstring)."""

    def __init__(
        self,
        events: Sequence[Mapping[str, Any]],
        tool_calls: Sequence[ToolCallRecord],
        responses: Mapping[str, list[str]],
    ) -> None:
        self.events = events
        self.tool_calls = tool_calls
        self.responses = responses
        self.bots = [e for e in events if e.get("event") == "bot" and e.get("text") is not None]
        self.next_bot = 0

    def check(self, expectations: Sequence[Expectation]) -> Mismatch | None:
        """The first expectation that does not hold, or None."""
        for exp in expectations:
            mismatch = self.check_one(exp)
            if mismatch is not None:
                return mismatch
        return None

    def check_one(self, exp: Expectation) -> Mismatch | None:
        kind = exp.kind
        if kind in ("bot", "utter"):
            return self.bot(exp)
        if kind == "slot_was_set":
            return self.slot_set(exp)
        if kind == "slot_was_not_set":
            return self.slot_not_set(exp)
        if kind.startswith("flow_"):
            return self.named(exp, kind, "flow_id", "flow events")
        if kind == "action_executed":
            return self.named(exp, "action", "name", "actions run")
        if kind == "agent_called":
            return self.agent(exp)
        return self.tool(exp)

    # ------------------------------------------------------------------ bot messages

    def bot(self, exp: Expectation) -> Mismatch | None:
        for index in range(self.next_bot, len(self.bots)):
            if self.bot_matches(exp, str(self.bots[index]["text"])):
                self.next_bot = index + 1
                return None
        said = [str(b["text"]) for b in self.bots]
        rest = said[self.next_bot :]
        where = "" if self.next_bot == 0 else f" after the {self.next_bot} matched already"
        actual = (
            f"bot said {len(rest)} message(s){where}: " + " | ".join(compact(t) for t in rest)
            if rest
            else f"no bot message{where} in this turn"
        )
        expected = f"a bot message {self.describe_bot(exp)}"
        return Mismatch(exp, expected, actual)

    def bot_matches(self, exp: Expectation, text: str) -> bool:
        if exp.kind == "utter":
            return any(_template_matches(t, text) for t in self.responses.get(exp.value, []))
        if isinstance(exp.value, Mapping):
            return re.search(str(exp.value["matches"]), text) is not None
        return bool(text == exp.value)

    def describe_bot(self, exp: Expectation) -> str:
        if exp.kind == "utter":
            return f"from response '{exp.value}'"
        if isinstance(exp.value, Mapping):
            return f"matching /{exp.value['matches']}/"
        return f"equal to {compact(exp.value)}"

    # ------------------------------------------------------------------ slots

    def slot_events(self) -> list[Mapping[str, Any]]:
        return [e for e in self.events if e.get("event") == "slot"]

    def slots_text(self) -> str:
        sets = [f"{e.get('name')}={compact(e.get('value'))}" for e in self.slot_events()]
        return "slots set in this turn: " + (", ".join(sets) if sets else "none")

    def slot_set(self, exp: Expectation) -> Mismatch | None:
        for name, value in exp.value.items():
            if not any(
                e.get("name") == name and (value is ANY or is_subset(value, e.get("value")))
                for e in self.slot_events()
            ):
                want = name if value is ANY else f"{name}={compact(value)}"
                return Mismatch(exp, f"slot {want} set in this turn", self.slots_text())
        return None

    def slot_not_set(self, exp: Expectation) -> Mismatch | None:
        value = exp.value
        pairs = value.items() if isinstance(value, Mapping) else ((n, ANY) for n in value)
        for name, unwanted in pairs:
            for event in self.slot_events():
                if event.get("name") == name and (
                    unwanted is ANY or is_subset(unwanted, event.get("value"))
                ):
                    what = name if unwanted is ANY else f"{name}={compact(unwanted)}"
                    return Mismatch(exp, f"slot {what} not set in this turn", self.slots_text())
        return None

    # ------------------------------------------------------------------ flows, actions, agents

    def named(self, exp: Expectation, event: str, key: str, label: str) -> Mismatch | None:
        if any(e.get("event") == event and e.get(key) == exp.value for e in self.events):
            return None
        if event == "action":
            seen = [str(e.get("name")) for e in self.events if e.get("event") == "action"]
        else:
            seen = [
                f"{e['event']} {e.get('flow_id')}"
                for e in self.events
                if str(e.get("event", "")).startswith("flow_")
            ]
        expected = f"{exp.kind.replace('_', ' ')} '{exp.value}'"
        return Mismatch(exp, expected, f"{label} in this turn: " + (", ".join(seen) or "none"))

    def agent(self, exp: Expectation) -> Mismatch | None:
        value = exp.value if isinstance(exp.value, Mapping) else {"name": exp.value}
        name, status = value["name"], value.get("status")
        for event in self.events:
            kind = str(event.get("event", ""))
            if not kind.startswith("agent_") or event.get("agent") != name:
                continue
            if status is None or kind == f"agent_{status}":
                return None
        seen = [
            f"{e.get('agent')} {str(e['event'])[6:]}"
            for e in self.events
            if str(e.get("event", "")).startswith("agent_")
        ]
        expected = f"agent '{name}'" + (f" with status {status}" if status else " called")
        return Mismatch(exp, expected, "agents in this turn: " + (", ".join(seen) or "none"))

    def tool(self, exp: Expectation) -> Mismatch | None:
        value = exp.value if isinstance(exp.value, Mapping) else {"name": exp.value}
        name, server, args = value["name"], value.get("server"), value.get("arguments")
        calls: list[tuple[str | None, str, Any]]
        if server is not None:
            calls = [(c.server, c.name, c.arguments) for c in self.tool_calls]
        else:
            calls = [
                (None, str(e.get("name")), e.get("arguments"))
                for e in self.events
                if e.get("event") == "tool_executed"
            ]
        for call_server, call_name, call_args in calls:
            if call_name != name or (server is not None and call_server != server):
                continue
            if args is None or is_subset(args, call_args):
                return None
        seen = [(f"{s}." if s else "") + f"{n}({compact(a)})" for s, n, a in calls]
        expected = f"tool {(server + '.') if server else ''}{name}" + (
            f" called with arguments containing {compact(args)}" if args is not None else " called"
        )
        return Mismatch(exp, expected, "tool calls in this turn: " + ("; ".join(seen) or "none"))


def _template_matches(template: str, text: str) -> bool:
    """Whether ``text`` is ``template`` with its ``{slot}`` placeholders filled in."""
    parts = re.split(r"\{[A-Za-z_][A-Za-z0-9_]*\}", template)
    pattern = "(?s)" + ".*?".join(re.escape(p) for p in parts)
    return re.fullmatch(pattern, text) is not None
