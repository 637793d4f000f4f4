"""Reporting a conversation test run: selection (``-k``), coverage and JUnit XML."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subagents.testing.cases import TestCase
from subagents.testing.runner import CaseResult

_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def keyword_matches(expression: str, case: TestCase) -> bool:
    """pytest's ``-k``: words match case-insensitively as substrings of the case's
    ``file::name``, combined with ``and``, ``or``, ``not`` and parentheses."""
    target = case.id.lower()
    parts: list[str] = []
    for token in _TOKEN.findall(expression):
        low = token.lower()
        if low in ("and", "or", "not", "(", ")"):
            parts.append(low)
        else:
            parts.append(str(low in target))
    try:
        return bool(eval(" ".join(parts) or "True", {"__builtins__": {}}, {}))  # noqa: S307
    except SyntaxError as exc:  # only True/False and operators reach eval
        raise ValueError(f"-k {expression!r}: not a valid expression ({exc.msg})") from None


# --------------------------------------------------------------------------- coverage


@dataclass
class CoverageRow:
    """One line of the coverage table: what kind, exercised vs defined, what was missed."""

    kind: str
    exercised: int
    defined: int
    missing: list[str] = field(default_factory=list)


def coverage(
    results: Sequence[CaseResult], project: Any, server_tools: Mapping[str, list[str]]
) -> list[CoverageRow]:
    """Flows, flow steps, agents, each MCP server's tools and custom actions: how many of
    those the project defines were exercised by the run's conversations."""
    events = [e for r in results for e in r.events]
    flows = project.flow_graph.flows
    started = {e.get("flow_id") for e in events if e.get("event") == "flow_started"}
    steps = _steps_exercised(events, flows)
    all_steps = [f"{fid}/{sid}" for fid, flow in flows.items() for sid in flow.steps]
    agents = {e.get("agent") for e in events if str(e.get("event", "")).startswith("agent_")}
    ran = {e.get("name") for e in events if e.get("event") == "action"}
    rows = [
        _row("flows", list(flows), started),
        _row("flow steps", all_steps, steps),
        _row("agents", list(project.agents), agents),
    ]
    called: dict[str, set[str]] = {}
    for result in results:
        for call in result.tool_calls:
            called.setdefault(call.server, set()).add(call.name)
    for server in sorted(server_tools):
        rows.append(_row(f"tools of {server}", server_tools[server], called.get(server, set())))
    rows.append(_row("actions", list(project.domain.actions), ran))
    return rows


def _row(kind: str, defined: Iterable[str], seen: set[Any]) -> CoverageRow:
    names = list(dict.fromkeys(defined))
    missing = [n for n in names if n not in seen]
    return CoverageRow(kind, len(names) - len(missing), len(names), missing)


def _steps_exercised(events: Sequence[Mapping[str, Any]], flows: Mapping[str, Any]) -> set[str]:
    """``flow/step`` ids a conversation went through, from its events: the flow on top of
    the stack when an agent ran, an action ran or a slot was set."""
    seen: set[str] = set()
    stack: list[str] = []
    for event in events:
        kind = event.get("event")
        if kind in ("flow_started", "flow_resumed"):
            stack = [f for f in stack if f != event.get("flow_id")] + [str(event.get("flow_id"))]
        elif kind in ("flow_completed", "flow_cancelled"):
            stack = [f for f in stack if f != event.get("flow_id")]
        elif kind == "restart":
            stack = []
        if str(kind).startswith("agent_") and event.get("flow_id") in flows:
            seen.add(f"{event['flow_id']}/{event.get('step_id')}")
        elif stack and kind in ("action", "slot"):
            flow = flows.get(stack[-1])
            steps = flow.steps.values() if flow is not None else ()
            for step in steps:
                if _step_uses(step, str(kind), str(event.get("name"))):
                    seen.add(f"{stack[-1]}/{step.id}")
    return seen


def _step_uses(step: Any, kind: str, name: str) -> bool:
    config = step.config
    if kind == "action":
        return bool(getattr(config, "action", None) == name)
    collect = getattr(config, "collect", None)
    if collect == name:
        return True
    set_slots = getattr(config, "set_slots", None) or []
    return any(name in item for item in set_slots if isinstance(item, Mapping))


# --------------------------------------------------------------------------- JUnit XML


def write_junit(path: Path, results: Sequence[CaseResult], seconds: float) -> None:
    """Write ``results`` as JUnit XML (one ``testsuite`` per test file)."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="subagents test", time=f"{seconds:.3f}")
    by_file: dict[str, list[CaseResult]] = {}
    for result in results:
        by_file.setdefault(result.case.file, []).append(result)
    for file, cases in by_file.items():
        failures = sum(1 for r in cases if r.outcome == "failed")
        errors = sum(1 for r in cases if r.outcome == "error")
        suite = ET.SubElement(
            root,
            "testsuite",
            name=file,
            tests=str(len(cases)),
            failures=str(failures),
            errors=str(errors),
            time=f"{sum(r.seconds for r in cases):.3f}",
        )
        for result in cases:
            item = ET.SubElement(
                suite,
                "testcase",
                classname=file,
                name=result.case.name,
                file=file,
                time=f"{result.seconds:.3f}",
            )
            if result.case.line:
                item.set("line", str(result.case.line))
            if not result.passed:
                tag = "failure" if result.outcome == "failed" else "error"
                first = result.message.splitlines()[0] if result.message else result.outcome
                node = ET.SubElement(item, tag, message=first)
                node.text = result.message
            if result.warnings:
                ET.SubElement(item, "system-out").text = "\n".join(result.warnings)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
