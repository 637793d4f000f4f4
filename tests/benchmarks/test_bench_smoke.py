"""Smoke test of the benchmarks: the runner works end to end with tiny N, so it never rots.

No timing assertions: the figures depend on the machine. What is checked is what a user
running ``python -m benchmarks.run`` would notice: every section produces figures, our
drivers run (the framework API the benchmarks use still exists), nothing reports an error.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import model_server  # noqa: E402


def _tool(name: str, required: dict[str, str]) -> dict[str, object]:
    props = {key: {"type": kind} for key, kind in required.items()}
    return {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {"type": "object", "properties": props, "required": list(required)},
        },
    }


def test_model_policy_calls_k_tools_then_task_completed() -> None:
    tools = [
        _tool("get_weather", {"query": "string", "limit": "integer"}),
        _tool("get_news", {"query": "string"}),
        _tool("task_completed", {"message": "string"}),
    ]
    messages: list[dict[str, object]] = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
    ]
    names = []
    for _ in range(4):
        reply = model_server.decide({"model": "react-3", "messages": messages, "tools": tools})
        name, args = reply["tool_call"]
        names.append(name)
        if name == "get_weather":
            assert args == {"query": "x", "limit": 1}
        messages += [{"role": "assistant", "tool_calls": []}, {"role": "tool", "content": "r"}]
    assert names == ["get_weather", "get_news", "get_weather", "task_completed"]
    # A new user message starts counting again.
    messages.append({"role": "user", "content": "again"})
    reply = model_server.decide({"model": "react-3", "messages": messages, "tools": tools})
    assert reply["tool_call"][0] == "get_weather"
    assert model_server.decide({"model": "text-4", "messages": messages}) == {"text_pieces": 4}


@pytest.mark.timeout(300)
def test_quick_run_reports_every_section(tmp_path: Path) -> None:
    report_file = tmp_path / "report.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--quick",
            "--only",
            "react,rest,coldstart,mem",
            "--output",
            str(report_file),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = report_file.read_text()
    for title in (
        "## Targets",
        "## 1. Cost per ReAct step",
        "## 2, 4, 5. Conversations through the REST channel",
        "## 3. Cold start",
        "## 5. Memory per connected MCP server",
        "- machine:",
    ):
        assert title in report, report
    number = r"\d+(\.\d+)?"
    for driver in (
        "floor: httpx + ClientSession",
        "floor: openai SDK + ClientSession",
        "ours: MCPOpenAgent",
    ):
        for transport in ("stdio", "http"):
            row = rf"\| {transport} \| 5 \| seq \| {re.escape(driver)} \| {number} \|"
            assert re.search(row, report), f"no figures for {driver} over {transport}:\n{report}"
    for measure in (
        "turns/s",
        "action stream_chunk → client",
        "model text delta → client",
        "`import subagents`",
        "`subagents run` → first agent reply",
        "ours: MCPManager",
    ):
        assert measure in report, report
    assert "error" not in report.lower(), report
