"""Run every benchmark and print one markdown report.

    python -m benchmarks.run            # full run (~5 minutes on 2 cores)
    python -m benchmarks.run --quick    # tiny N, < 60 s (what the smoke test runs)
    python -m benchmarks.run --only react,coldstart --output report.md

Sections: ``react`` (cost per ReAct step against the floor), ``rest`` (REST throughput,
streaming chunk→wire, memory per conversation), ``coldstart`` (``import subagents``,
``subagents run``), ``mem`` (memory per MCP server), ``actions`` (the actions engineer's
``benchmarks/actions_bench.py``, when present), ``telemetry`` (per-step cost of tracing
and metrics, off and on), ``conversations`` (a message while an agent or a collect waits:
turns/s and model calls per turn). Figures are ratios to floors measured in
the same run; targets are reported as pass/miss, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from benchmarks import coldstart_bench, mem_bench, react_bench, rest_bench
from benchmarks._proc import BENCH_DIR, PYTHON, ROOT, cell, median, percentile
from benchmarks.floors import HttpxFloor

SECTIONS = ("react", "rest", "coldstart", "mem", "actions", "telemetry", "conversations")
PACKAGES = ("subagents", "mcp", "httpx", "openai", "orjson", "starlette", "uvicorn", "pydantic")


def machine() -> str:
    """Machine, interpreter and package versions, as markdown."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} -")
    return (
        f"- machine: {os.cpu_count()} CPUs (nproc), {cpu}, {platform.system()} "
        f"{platform.release()}\n"
        f"- Python {platform.python_version()} ({sys.executable})\n"
        f"- packages: {', '.join(versions)}"
    )


class Report:
    """Collects sections and the target verdicts."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.targets: list[tuple[str, str, str, str]] = []

    def section(self, title: str, body: str) -> None:
        self.parts.append(f"## {title}\n\n{body}\n")
        print(f"## {title}\n\n{body}\n", flush=True)

    def target(self, name: str, goal: str, value: str, ok: bool | None) -> None:
        verdict = "n/a" if ok is None else "pass" if ok else "**miss**"
        self.targets.append((name, goal, value, verdict))

    def target_table(self) -> str:
        lines = ["| target | goal | measured | result |", "|---|---|---|---|"]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in self.targets]
        return "\n".join(lines)


def _react(report: Report, quick: bool) -> None:
    if quick:
        figures = asyncio.run(
            react_bench.run_react(k_values=(5,), runs=2, concurrency=5, conc_runs=5, blocks=1)
        )
    else:
        figures = asyncio.run(react_bench.run_react())
    report.section("1. Cost per ReAct step (lower is better)", react_bench.table(figures))
    floors = {
        (f.transport, f.k, f.mode): f for f in figures if f.driver == HttpxFloor.name and f.wall_us
    }
    full = [f for f in figures if f.driver == "ours: MCPOpenAgent"]
    for f in full:
        base = floors.get((f.transport, f.k, f.mode))
        setting = f"{f.transport}, K={f.k}, {f.mode}"
        if f.error or base is None:
            report.target(f"per step vs httpx floor ({setting})", "≤ 1.20×", "error", False)
            continue
        ratio = f.wall / base.wall
        report.target(
            f"per step vs httpx floor ({setting})", "≤ 1.20×", f"{ratio:.2f}×", ratio <= 1.2
        )
        if f.mode.startswith("conc"):
            report.target(
                f"ReAct steps/s, {f.mode[4:]} runs at once ({f.transport}, K={f.k})",
                "≥ 300",
                f"{f.rate:.0f}",
                f.rate >= 300,
            )
    if not full:
        report.target("per step vs httpx floor", "≤ 1.20×", "our driver did not run", False)


def _rest(report: Report, quick: bool) -> None:
    conversations = 10 if quick else 100
    if quick:
        fig = rest_bench.run_rest(conversations=10, turns=2, idle=50, stream_runs=2)
    else:
        fig = rest_bench.run_rest()
    report.section(
        "2, 4, 5. Conversations through the REST channel", rest_bench.table(fig, conversations)
    )
    if fig.action_chunk_ms:
        p95 = percentile(fig.action_chunk_ms, 95)
        report.target("action stream_chunk → wire (p95)", "< 5 ms", f"{p95:.2f} ms", p95 < 5)
    else:
        report.target("action stream_chunk → wire (p95)", "< 5 ms", "not measured", False)
    if fig.model_chunk_ms:
        p95 = percentile(fig.model_chunk_ms, 95)
        report.target("model text delta → wire (p95)", "< 5 ms", f"{p95:.2f} ms", p95 < 5)


def _coldstart(report: Report, quick: bool) -> None:
    imp = coldstart_bench.measure_import(3 if quick else 9)
    run = coldstart_bench.measure_run(1 if quick else 3)
    report.section("3. Cold start", coldstart_bench.table(imp, run))
    ok = not imp.error and not math.isnan(imp.ms) and imp.ms < 300
    value = f"{imp.ms:.0f} ms" if not imp.error else "error"
    report.target("`import subagents`", "< 300 ms", value, ok)
    if run.first_reply_s:
        report.target(
            "`subagents run` → first agent reply", "-", f"{median(run.first_reply_s):.2f} s", None
        )


def _mem(report: Report, quick: bool) -> None:
    figures = mem_bench.run_mem(2 if quick else 8)
    report.section("5. Memory per connected MCP server (stdio)", mem_bench.table(figures))


def _actions(report: Report, quick: bool) -> None:
    script = BENCH_DIR / "actions_bench.py"
    if not script.exists():
        report.section("Actions", "benchmarks/actions_bench.py is not there yet.")
        return
    # Its own flags (it has no --quick): small counts for a quick run.
    args = [PYTHON, str(script)] + (["--requests", "200", "--chunk-runs", "5"] if quick else [])
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=300 if not quick else 60, cwd=ROOT
        )
        body = done.stdout.strip() or f"(no output; exit {done.returncode})"
        if done.returncode != 0:
            body += f"\n\nexit {done.returncode}: {cell(done.stderr)}"
    except subprocess.TimeoutExpired:
        body = "actions_bench.py timed out"
    report.section("Actions (benchmarks/actions_bench.py)", body)


def _telemetry(report: Report, quick: bool) -> None:
    from benchmarks import telemetry_bench

    noop = telemetry_bench.noop_cost_us(10_000 if quick else 200_000)
    if quick:
        figures = asyncio.run(
            telemetry_bench.run_bench(
                transports=("stdio",), runs=2, concurrency=5, conc_runs=5, blocks=1
            )
        )
    else:
        figures = asyncio.run(telemetry_bench.run_bench())
    report.section(
        "6. Tracing and metrics: per-step cost off and on", telemetry_bench.table(figures, noop)
    )
    by = {(f.transport, f.mode, f.driver): f for f in figures}
    for transport, mode in dict.fromkeys((f.transport, f.mode) for f in figures):
        off = by[(transport, mode, telemetry_bench.OFF_NAME)]
        on = by[(transport, mode, telemetry_bench.ON_NAME)]
        if off.error or on.error or not off.wall_us or not on.wall_us:
            report.target(f"tracing on vs off ({transport}, {mode})", "≤ 1.10×", "error", False)
            continue
        ratio = on.wall / off.wall
        report.target(
            f"tracing on vs off, per step ({transport}, {mode})",
            "≤ 1.10×",
            f"{ratio:.2f}×",
            ratio <= 1.10,
        )


def _conversations(report: Report, quick: bool) -> None:
    from benchmarks import conversation_bench

    rows = asyncio.run(conversation_bench.run(30 if quick else 300))
    report.section(
        "7. Conversation layer: a message while an agent or a collect waits",
        conversation_bench.table(rows),
    )
    calls = {name: per_turn for name, _, per_turn in rows}
    for name in ("collect waits, /SetSlots payload", "collect waits, categorical answer"):
        report.target(f"model calls per turn ({name})", "0", f"{calls[name]:.2f}", not calls[name])


RUNNERS: dict[str, Callable[[Report, bool], None]] = {
    "react": _react,
    "rest": _rest,
    "coldstart": _coldstart,
    "mem": _mem,
    "actions": _actions,
    "telemetry": _telemetry,
    "conversations": _conversations,
}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections; print (and optionally write) the markdown report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny N (< 60 s), for smoke tests")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    report = Report()
    header = f"# subagents benchmarks{' (quick)' if args.quick else ''}\n\n{machine()}\n"
    print(header, flush=True)
    start = time.perf_counter()
    for name in chosen:
        try:
            RUNNERS[name](report, args.quick)
        except Exception as exc:  # one broken section must not hide the others
            report.section(name, f"error: {cell(f'{type(exc).__name__}: {exc}', 400)}")
    elapsed = time.perf_counter() - start
    targets = f"## Targets\n\n{report.target_table()}\n"
    print(targets)
    command = " ".join(["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])])
    print(f"_total {elapsed:.0f} s; command: `{command}`_")
    if args.output:
        args.output.write_text(header + "\n" + targets + "\n" + "\n".join(report.parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
