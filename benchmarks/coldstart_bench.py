"""Benchmark 3: cold start.

* ``import subagents``: ``python -X importtime -c "import subagents"`` in a fresh process,
  several runs, median of the cumulative time of ``subagents`` (and the heaviest imports
  under it, and whether litellm / openai were pulled in).
* ``subagents run``: from process start to ``GET /health`` answering, and to the first
  agent reply (``/bench_agent`` on the bench project, 2 tool steps).

    python -m benchmarks.coldstart_bench [--quick]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks._proc import (
    PYTHON,
    ROOT,
    Child,
    cell,
    free_port,
    median,
    start_model_server,
    wait_http,
)
from benchmarks.project import write_project

_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")
HEAVY = ("litellm", "openai", "mcp", "grpc", "uvicorn", "starlette", "jinja2", "pydantic")


@dataclass
class ImportFigure:
    """Median cumulative import time and what was imported."""

    runs_ms: list[float] = field(default_factory=list)
    heaviest: list[tuple[str, float]] = field(default_factory=list)
    heavy_loaded: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ms(self) -> float:
        return median(self.runs_ms)


def _parse_importtime(stderr: str) -> tuple[float, dict[str, float]]:
    """Cumulative ms of ``subagents`` and of every top-level package imported."""
    total = float("nan")
    packages: dict[str, float] = {}
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        cumulative, name = int(match.group(2)) / 1000, match.group(4)
        top = name.split(".")[0]
        packages[top] = max(packages.get(top, 0.0), cumulative)
        if name == "subagents":
            total = cumulative
    return total, packages


def measure_import(runs: int = 7) -> ImportFigure:
    """``import subagents`` in ``runs`` fresh interpreters."""
    figure = ImportFigure()
    packages: dict[str, float] = {}
    for _ in range(runs):
        done = subprocess.run(
            [PYTHON, "-X", "importtime", "-c", "import subagents"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        if done.returncode != 0:
            figure.error = done.stderr.strip().splitlines()[-1][:200]
            return figure
        total, packages = _parse_importtime(done.stderr)
        figure.runs_ms.append(total)
    ranked = sorted(
        ((name, ms) for name, ms in packages.items() if name != "subagents"),
        key=lambda item: -item[1],
    )
    figure.heaviest = ranked[:6]
    figure.heavy_loaded = [name for name in HEAVY if name in packages]
    return figure


@dataclass
class RunFigure:
    """``subagents run``: seconds to /health and to the first agent reply."""

    health_s: list[float] = field(default_factory=list)
    first_reply_s: list[float] = field(default_factory=list)
    error: str | None = None


def _one_run(project: Path) -> tuple[float, float]:
    port = free_port()
    start = time.perf_counter()
    child = Child(
        [PYTHON, "-m", "subagents.cli", "run", "--project", str(project), "--port", str(port)]
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health", timeout=60, child=child)
        health = time.perf_counter() - start
        response = httpx.post(
            f"{base}/webhooks/rest/webhook",
            json={"sender": "cold", "message": "/bench_agent"},
            timeout=60,
        )
        response.raise_for_status()
        if not any("Done after" in (m.get("text") or "") for m in response.json()):
            raise RuntimeError(f"unexpected first reply: {response.text[:200]}")
        return health, time.perf_counter() - start
    finally:
        child.stop()


def measure_run(runs: int = 3) -> RunFigure:
    """Start ``subagents run`` on the bench project ``runs`` times."""
    figure = RunFigure()
    model, model_url = start_model_server()
    try:
        with tempfile.TemporaryDirectory(prefix="subagents-bench-") as tmp:
            project = write_project(Path(tmp) / "project", model_url)
            for _ in range(runs):
                health, reply = _one_run(project)
                figure.health_s.append(health)
                figure.first_reply_s.append(reply)
    except Exception as exc:
        figure.error = f"{type(exc).__name__}: {exc}"
    finally:
        model.stop()
    return figure


def table(imp: ImportFigure, run: RunFigure) -> str:
    """Markdown table of the cold-start figures."""
    lines = ["| measure | median | target | result |", "|---|---|---|---|"]
    if imp.error:
        lines.append(f"| `import subagents` | error: {cell(imp.error)} | < 300 ms | miss |")
    else:
        verdict = "pass" if imp.ms < 300 else "miss"
        lines.append(f"| `import subagents` | {imp.ms:.0f} ms | < 300 ms | {verdict} |")
        heavy = ", ".join(f"{n} {ms:.0f} ms" for n, ms in imp.heaviest) or "-"
        lines.append(f"| heaviest imports under it | {heavy} | | |")
        loaded = ", ".join(imp.heavy_loaded) or "none"
        lines.append(f"| heavy packages imported | {loaded} | no litellm/openai | |")
    if run.error:
        lines.append(f"| `subagents run` | error: {cell(run.error)} | | |")
    else:
        lines.append(f"| `subagents run` → /health | {median(run.health_s):.2f} s | | |")
        lines.append(
            f"| `subagents run` → first agent reply | {median(run.first_reply_s):.2f} s | | |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.coldstart_bench [--quick]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    imp = measure_import(3 if args.quick else 9)
    run = measure_run(1 if args.quick else 3)
    print(table(imp, run))


if __name__ == "__main__":
    main()
