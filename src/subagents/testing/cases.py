"""Conversation test files: ``test_cases:`` in YAML, read with ``file:line`` errors.

A test file is any YAML file with a top-level ``test_cases:`` list (see
``docs/testing-assistant.md`` for every key)::

    fixtures:
      returning_customer: {customer_name: Alex}
    test_cases:
      - test_case: weather in Paris
        fixtures: [returning_customer]
        steps:
          - user: "What's the weather in Paris?"
            llm:                                   # the model's replies in this turn
              - tool_calls: [{name: start_flow, arguments: {flow: weather}}]
              - tool_calls: [{name: get_weather, arguments: {city: Paris}}]
              - tool_calls: [{name: task_completed, arguments: {message: "Sunny."}}]
            tools:                                 # MCP results, no server call
              - {name: get_weather, result: "Paris: 17°C, sunny"}
          - flow_started: weather
          - tool_called: {name: get_weather, arguments: {city: Paris}}
          - bot: "Sunny."

:func:`load_test_file` reads one file into :class:`TestFile`; every problem is collected
and raised together as :class:`~subagents.errors.ConfigErrors` (``file:line: field:
message``), like ``subagents validate``. :func:`check_against_project` then checks the
names (slots, flows, responses, agents, actions) against the loaded project.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subagents.config.source import PathT, Problems, SourceFile, format_path, read_yaml
from subagents.errors import ConfigError, ConfigErrors, ConfigProblem
from subagents.llm.scenario import Script, parse_scenario, unknown_keys_message

TOP_KEYS = ("fixtures", "test_cases")
CASE_KEYS = ("test_case", "fixtures", "metadata", "steps", "cassette")
USER_KEYS = ("user", "metadata", "llm", "tools", "actions")
EXPECTATIONS = (
    "bot",
    "utter",
    "slot_was_set",
    "slot_was_not_set",
    "flow_started",
    "flow_completed",
    "flow_cancelled",
    "agent_called",
    "tool_called",
    "action_executed",
)
AGENT_STATUSES = ("started", "completed", "input_required", "cancelled", "failed")
TOOL_STUB_KEYS = ("name", "server", "arguments", "result", "is_error")
REPLAY_MODES = ("strict", "lenient")


@dataclass
class ToolStub:
    """A tool result to answer with, for calls to ``name`` (on ``server``) whose
    arguments contain ``arguments``; the MCP server is not called."""

    name: str
    result: Any
    is_error: bool = False
    server: str | None = None
    arguments: dict[str, Any] | None = None
    where: str = ""

    def matches(self, server: str, name: str, arguments: Mapping[str, Any]) -> bool:
        """True when this stub answers a call of ``name`` on ``server`` with ``arguments``."""
        if name != self.name or (self.server is not None and self.server != server):
            return False
        return self.arguments is None or is_subset(self.arguments, arguments)


@dataclass
class ActionStub:
    """What custom action ``name`` returns instead of running: events and responses."""

    name: str
    events: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Expectation:
    """One checked step: ``kind`` (``bot``, ``slot_was_set``...) and its value."""

    kind: str
    value: Any
    line: int | None
    where: str

    def describe(self) -> str:
        """The step as written, on one line (``bot: "Hi!"``)."""
        return f"{self.kind}: {compact(self.value)}"


@dataclass
class UserTurn:
    """A ``user`` step, its stubs and the expectations that follow it."""

    text: str
    line: int | None
    where: str
    metadata: dict[str, Any] = field(default_factory=dict)
    llm: list[Script] | None = None
    tools: list[ToolStub] = field(default_factory=list)
    actions: dict[str, ActionStub] = field(default_factory=dict)
    expectations: list[Expectation] = field(default_factory=list)


@dataclass
class CassetteRef:
    """A case's recorded cassette and how strictly requests must match it."""

    path: Path
    mode: str = "strict"


@dataclass
class TestCase:
    """One conversation: initial slots, metadata and its turns."""

    __test__ = False  # not a pytest class, whatever its name

    name: str
    file: str
    line: int | None
    fixtures: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    turns: list[UserTurn] = field(default_factory=list)
    cassette: CassetteRef | None = None

    @property
    def id(self) -> str:
        """``file::name``, as the runner and pytest name the case."""
        return f"{self.file}::{self.name}"


@dataclass
class TestFile:
    """One test file and its cases."""

    __test__ = False

    path: Path
    rel: str
    cases: list[TestCase] = field(default_factory=list)
    src: SourceFile | None = None


def is_subset(expected: Any, actual: Any) -> bool:
    """True when ``expected`` is contained in ``actual`` (mappings: a subset of keys,
    compared recursively; anything else: equal)."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and is_subset(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            is_subset(e, a) for e, a in zip(expected, actual, strict=True)
        )
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return not isinstance(expected, bool) and float(expected) == float(actual)
    return bool(expected == actual)


def compact(value: Any) -> str:
    """A value as short YAML-ish text for reports."""
    import json

    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, default=str)


def is_test_file(path: Path) -> bool:
    """Whether ``path`` is a YAML file whose top level has ``test_cases:`` (cheap check:
    a line starting with ``test_cases:``, so fixtures of other kinds are never read)."""
    if path.suffix not in (".yml", ".yaml") or not path.is_file():
        return False
    try:
        with path.open(encoding="utf-8") as handle:
            return any(line.startswith("test_cases:") for line in handle)
    except (OSError, UnicodeDecodeError):
        return False


def find_test_files(paths: Sequence[Path]) -> list[Path]:
    """The test files in ``paths`` (files, or directories searched recursively)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*.y*ml")) if is_test_file(p))
        elif path.exists():
            found.append(path)
    return list(dict.fromkeys(found))


# --------------------------------------------------------------------------- reading


def load_test_file(path: Path, rel: str | None = None) -> TestFile:
    """Read one test file; raise :class:`ConfigErrors` listing every problem in it."""
    rel = rel or str(path)
    problems = Problems()
    src = read_yaml(path, rel, problems, env=os.environ)
    out = TestFile(path=path, rel=rel, src=src)
    if src is not None:
        _Reader(src, problems, out).read()
    if problems.errors:
        raise ConfigErrors(problems.errors)
    return out


class _Reader:
    def __init__(self, src: SourceFile, problems: Problems, out: TestFile) -> None:
        self.src = src
        self.problems = problems
        self.out = out
        self.fixtures: dict[str, dict[str, Any]] = {}

    def error(self, path: PathT, message: str) -> None:
        self.problems.error(self.src, path, message)

    def read(self) -> None:
        data = self.src.data
        if not isinstance(data, Mapping) or "test_cases" not in data:
            self.error((), "expected a top-level 'test_cases:' list of test cases")
            return
        self.unknown(data, TOP_KEYS, ())
        if "fixtures" in data:
            self.fixtures = self.read_fixtures(data["fixtures"])
        cases = data["test_cases"]
        if not isinstance(cases, list) or not cases:
            self.error(("test_cases",), "must be a non-empty list of test cases")
            return
        names: set[str] = set()
        for i, case in enumerate(cases):
            read = self.read_case(case, ("test_cases", i))
            if read is None:
                continue
            if read.name in names:
                self.error(("test_cases", i, "test_case"), f"duplicate test case '{read.name}'")
            names.add(read.name)
            self.out.cases.append(read)

    def unknown(self, data: Mapping[str, Any], allowed: Sequence[str], path: PathT) -> bool:
        bad = [k for k in data if k not in allowed]
        if bad:
            self.error((*path, str(bad[0])), unknown_keys_message(bad, set(allowed)))
        return bool(bad)

    def read_fixtures(self, value: Any) -> dict[str, dict[str, Any]]:
        """``{name: {slot: value}}``, or Rasa's list of ``- name: [{slot: value}, ...]``."""
        path: PathT = ("fixtures",)
        out: dict[str, dict[str, Any]] = {}
        items: list[tuple[PathT, Any, Any]] = []
        if isinstance(value, Mapping):
            items = [((*path, k), k, v) for k, v in value.items()]
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, Mapping) or len(item) != 1:
                    self.error((*path, i), "a fixture is `name: {slot: value, ...}`")
                    continue
                name, slots = next(iter(item.items()))
                items.append(((*path, i, name), name, slots))
        else:
            self.error(path, "must map fixture names to slots: `name: {slot: value}`")
        for where, name, slots in items:
            parsed = self.slot_map(slots, where)
            if parsed is not None:
                out[str(name)] = parsed
        return out

    def slot_map(self, value: Any, path: PathT) -> dict[str, Any] | None:
        if isinstance(value, Mapping):
            return {str(k): v for k, v in value.items()}
        if isinstance(value, list) and all(isinstance(x, Mapping) for x in value):
            return {str(k): v for item in value for k, v in item.items()}
        self.error(path, "must be a mapping of slot names to values: `{slot: value}`")
        return None

    def read_case(self, value: Any, path: PathT) -> TestCase | None:
        if not isinstance(value, Mapping):
            self.error(path, "a test case is a mapping with 'test_case' (its name) and 'steps'")
            return None
        self.unknown(value, CASE_KEYS, path)
        name = value.get("test_case")
        if not isinstance(name, str) or not name.strip():
            self.error((*path, "test_case"), "every test case needs a name: `test_case: NAME`")
            name = f"case {path[-1]}"
        case = TestCase(name=name, file=self.out.rel, line=self.src.line(path))
        case.fixtures = self.case_fixtures(value.get("fixtures"), (*path, "fixtures"))
        case.metadata = self.mapping(value.get("metadata"), (*path, "metadata"))
        if "cassette" in value:
            case.cassette = self.cassette(value["cassette"], (*path, "cassette"))
        steps = value.get("steps")
        if not isinstance(steps, list) or not steps:
            self.error((*path, "steps"), "must be a non-empty list of steps (start with `user:`)")
            return case
        for i, step in enumerate(steps):
            self.read_step(case, step, (*path, "steps", i))
        return case

    def case_fixtures(self, value: Any, path: PathT) -> dict[str, Any]:
        if value is None:
            return {}
        if isinstance(value, Mapping):
            return dict(self.slot_map(value, path) or {})
        if not isinstance(value, list):
            self.error(path, "must be a list of fixture names or a mapping `{slot: value}`")
            return {}
        slots: dict[str, Any] = {}
        for i, name in enumerate(value):
            if name not in self.fixtures:
                known = ", ".join(sorted(self.fixtures)) or "none"
                self.error(
                    (*path, i),
                    f"unknown fixture {compact(name)} (defined under top-level 'fixtures:': "
                    f"{known})",
                )
                continue
            slots.update(self.fixtures[name])
        return slots

    def mapping(self, value: Any, path: PathT) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.error(path, "must be a mapping")
            return {}
        return dict(value)

    def cassette(self, value: Any, path: PathT) -> CassetteRef | None:
        mode = "strict"
        if isinstance(value, Mapping):
            self.unknown(value, ("path", "mode"), path)
            mode = value.get("mode", "strict")
            if mode not in REPLAY_MODES:
                self.error((*path, "mode"), f"must be one of {', '.join(REPLAY_MODES)}")
                mode = "strict"
            value = value.get("path")
        if not isinstance(value, str) or not value:
            self.error(path, "must be a path to a cassette file (relative to this file)")
            return None
        return CassetteRef(self.out.path.parent / value, mode)

    def read_step(self, case: TestCase, step: Any, path: PathT) -> None:
        if not isinstance(step, Mapping) or not step:
            self.error(path, "a step is a mapping such as `user: ...` or `bot: ...`")
            return
        if "user" in step:
            turn = self.user_turn(step, path)
            if turn is not None:
                case.turns.append(turn)
            return
        if len(step) != 1:
            keys = ", ".join(str(k) for k in step)
            self.error(path, f"a step has exactly one key (got {keys}); split it into steps")
            return
        kind, value = next(iter(step.items()))
        if kind not in EXPECTATIONS:
            self.error((*path, str(kind)), unknown_keys_message([kind], {*EXPECTATIONS, "user"}))
            return
        if not case.turns:
            self.error(path, f"'{kind}' must follow a `user:` step (it checks that turn)")
            return
        checked = self.expectation(str(kind), value, (*path, str(kind)))
        if checked is not None:
            case.turns[-1].expectations.append(checked)

    def user_turn(self, step: Mapping[str, Any], path: PathT) -> UserTurn | None:
        self.unknown(step, USER_KEYS, path)
        text = step["user"]
        if isinstance(text, bool) or not isinstance(text, str | int | float):
            self.error((*path, "user"), "must be the user's text (or a `/flow_id` payload)")
            return None
        turn = UserTurn(str(text), self.src.line(path), format_path(path))
        turn.metadata = self.mapping(step.get("metadata"), (*path, "metadata"))
        if "llm" in step:
            turn.llm = self.llm(step["llm"], (*path, "llm"))
        if "tools" in step:
            turn.tools = self.tools(step["tools"], (*path, "tools"))
        if "actions" in step:
            turn.actions = self.actions(step["actions"], (*path, "actions"))
        return turn

    def llm(self, value: Any, path: PathT) -> list[Script] | None:
        try:
            return parse_scenario(value, source="<llm>")
        except ConfigError as exc:
            field_text = exc.problem.field or "scenario"
            sub = _field_parts(field_text)[1:]  # drop the leading "scenario"
            message = exc.problem.message
            if message.startswith(field_text + ": "):
                message = message[len(field_text) + 2 :]
            self.error((*path, *sub), message)
            return None

    def tools(self, value: Any, path: PathT) -> list[ToolStub]:
        if not isinstance(value, list):
            self.error(path, "must be a list of `{name, result}` tool stubs")
            return []
        stubs: list[ToolStub] = []
        for i, item in enumerate(value):
            here = (*path, i)
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                self.error(here, "a tool stub needs 'name' and 'result' (the tool's answer)")
                continue
            if self.unknown(item, TOOL_STUB_KEYS, here):
                continue
            if "result" not in item:
                self.error(here, "a tool stub needs 'result' (text, or data sent as JSON)")
                continue
            args = item.get("arguments")
            if args is not None and not isinstance(args, Mapping):
                self.error((*here, "arguments"), "must be a mapping (a subset of the arguments)")
                continue
            server = item.get("server")
            is_error = item.get("is_error", False)
            if not isinstance(is_error, bool):
                self.error((*here, "is_error"), "must be true or false")
                continue
            stubs.append(
                ToolStub(
                    name=item["name"],
                    result=item["result"],
                    is_error=is_error,
                    server=None if server is None else str(server),
                    arguments=None if args is None else dict(args),
                    where=format_path(here),
                )
            )
        return stubs

    def actions(self, value: Any, path: PathT) -> dict[str, ActionStub]:
        if not isinstance(value, Mapping):
            self.error(path, "must map action names to the events they return")
            return {}
        stubs: dict[str, ActionStub] = {}
        for name, body in value.items():
            here = (*path, str(name))
            stub = ActionStub(str(name))
            if isinstance(body, Mapping):
                if self.unknown(body, ("events", "responses"), here):
                    continue
                events, responses = body.get("events", []), body.get("responses", [])
            else:
                events, responses = body, []
            if not _dict_list(events) or not all("event" in e for e in events):
                self.error(
                    here,
                    "events must be a list of events such as `{event: slot, name: x, value: 1}`",
                )
                continue
            if not _dict_list(responses):
                self.error((*here, "responses"), "must be a list of messages `{text: ...}`")
                continue
            stub.events, stub.responses = list(events), list(responses)
            stubs[stub.name] = stub
        return stubs

    def expectation(self, kind: str, value: Any, path: PathT) -> Expectation | None:
        problem = _check_expectation(kind, value)
        if problem:
            self.error(path, problem)
            return None
        if kind == "bot" and isinstance(value, Mapping):
            try:
                re.compile(value["matches"])
            except re.error as exc:
                self.error((*path, "matches"), f"not a valid regular expression: {exc}")
                return None
        if kind == "slot_was_set" and isinstance(value, list):
            value = {str(v): _ANY for v in value}
        if kind == "slot_was_set" and isinstance(value, str):
            value = {value: _ANY}
        if kind == "slot_was_not_set" and isinstance(value, str):
            value = [value]
        return Expectation(kind, value, self.src.line(path), format_path(path))


class _AnyValue:
    """Stands for "any value" in ``slot_was_set: [slot]``."""

    def __repr__(self) -> str:
        return "<any>"


_ANY = _AnyValue()
ANY = _ANY
"""The value of a ``slot_was_set`` entry written without one (any value matches)."""


def _dict_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, Mapping) for v in value)


def _check_expectation(kind: str, value: Any) -> str | None:
    """The problem with an expectation's value, or None."""
    if kind == "bot":
        if isinstance(value, str):
            return None
        if isinstance(value, Mapping) and set(value) == {"matches"}:
            return None if isinstance(value["matches"], str) else "'matches' must be a regex"
        return "must be the exact text, or `{matches: REGEX}`"
    if kind in ("utter", "flow_started", "flow_completed", "flow_cancelled", "action_executed"):
        return None if isinstance(value, str) and value else "must be a name"
    if kind == "slot_was_set":
        ok = isinstance(value, Mapping | str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
        return None if ok else "must be `{slot: value}` or a list of slot names"
    if kind == "slot_was_not_set":
        ok = isinstance(value, Mapping | str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
        return None if ok else "must be a list of slot names (or `{slot: value}`)"
    if kind == "agent_called":
        return _check_named(value, ("name", "status"), "agent")
    return _check_named(value, ("name", "server", "arguments"), "tool")


def _check_named(value: Any, keys: Sequence[str], what: str) -> str | None:
    if isinstance(value, str) and value:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        return f"must be the {what}'s name or a mapping with 'name' ({', '.join(keys[1:])})"
    bad = [k for k in value if k not in keys]
    if bad:
        return unknown_keys_message(bad, set(keys))
    status = value.get("status")
    if status is not None and status not in AGENT_STATUSES:
        return f"status must be one of {', '.join(AGENT_STATUSES)}"
    if "arguments" in value and not isinstance(value["arguments"], Mapping):
        return "arguments must be a mapping (a subset of the call's arguments)"
    return None


_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _field_parts(text: str) -> list[str | int]:
    return [int(m.group(1)) if m.group(1) else m.group(2) for m in _PART.finditer(text)]


# --------------------------------------------------------------------------- project checks


def check_against_project(test_file: TestFile, project: Any) -> list[ConfigProblem]:
    """Problems with names a test file uses that the project does not define."""
    known = _ProjectNames(project)
    problems: list[ConfigProblem] = []

    def bad(line: int | None, where: str, message: str) -> None:
        problems.append(ConfigProblem(test_file.rel, line, f"{where}: {message}", where))

    for case in test_file.cases:
        for slot in case.fixtures:
            if slot not in known.slots:
                bad(case.line, f"test case '{case.name}' fixtures", known.unknown("slot", slot))
        for turn in case.turns:
            for action in turn.actions:
                if action not in known.actions:
                    bad(turn.line, f"{turn.where}.actions", known.unknown("action", action))
            for exp in turn.expectations:
                message = known.check(exp)
                if message:
                    bad(exp.line, exp.where, message)
    return problems


class _ProjectNames:
    def __init__(self, project: Any) -> None:
        self.slots = set(project.domain.slots)
        self.responses = set(project.domain.responses)
        self.flows = set(project.flow_graph.flows)
        self.agents = set(project.agents)
        self.actions = set(project.domain.actions)
        self.known = {
            "slot": self.slots,
            "response": self.responses,
            "flow": self.flows,
            "agent": self.agents,
            "action": self.actions | self.responses,
        }

    def unknown(self, what: str, name: str) -> str:
        import difflib

        names = self.known[what]
        close = difflib.get_close_matches(name, sorted(names), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(sorted(names))})"
        return f"unknown {what} '{name}'{hint}"

    def check(self, exp: Expectation) -> str | None:
        kind, value = exp.kind, exp.value
        if kind in ("slot_was_set", "slot_was_not_set"):
            names = list(value) if isinstance(value, Mapping | list) else [value]
            missing = [n for n in names if n not in self.slots]
            return self.unknown("slot", str(missing[0])) if missing else None
        checks = {
            "utter": ("response", value),
            "flow_started": ("flow", value),
            "flow_completed": ("flow", value),
            "flow_cancelled": ("flow", value),
            "action_executed": ("action", value),
        }
        if kind in checks:
            what, name = checks[kind]
            return None if name in self.known[what] else self.unknown(what, name)
        if kind == "agent_called":
            name = value if isinstance(value, str) else value["name"]
            return None if name in self.agents else self.unknown("agent", name)
        return None
