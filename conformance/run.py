"""Run the MCP conformance suite (client mode) against the subagents MCP client.

Each scenario of each harness line (``stable``: the latest release, ``next``: the 0.2
line) is run on its own, at most ``--jobs`` at a time: the harness's own ``--suite`` mode
starts every scenario at once, which on a small machine pushes the timing-sensitive ones
past their limits. A scenario passes when the harness exits 0.

The outcome is compared with ``expected-failures.yml``, which may only shrink: a scenario
that fails and is not listed fails the run, and so does a listed scenario that passes
(remove it from the list). ``--no-baseline`` just reports (used to measure another
client, e.g. the reference SDK client).

    python conformance/run.py                      # both lines, against conformance/client.py
    python conformance/run.py --line next -k auth/ # only the auth scenarios of the 0.2 line
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
LINES = {"stable": "conformance-stable", "next": "conformance-next"}
BASELINE = HERE / "expected-failures.yml"


@dataclass
class Outcome:
    line: str
    scenario: str
    passed: bool
    seconds: float
    output: str


def node() -> Path:
    """The Node ≥ 22 binary the ``node`` npm package put into node_modules."""
    path = HERE / "node_modules" / ".bin" / "node"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `npm ci --prefix {HERE}` first")
    return path


def harness(line: str) -> Path:
    return HERE / "node_modules" / LINES[line] / "dist" / "index.js"


def scenarios(line: str) -> list[str]:
    """The client scenarios the harness of ``line`` offers (``list`` command)."""
    out = subprocess.run(
        [str(node()), str(harness(line)), "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    section = out.split("Client scenarios", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\s+- (\S+)", section, flags=re.MULTILINE)


def run_one(line: str, scenario: str, client: str, timeout: float, out_dir: Path) -> Outcome:
    """Run one scenario; the mock servers are pinned to 127.0.0.1 by the preload."""
    cmd = [
        str(node()),
        "--require",
        str(HERE / "loopback.cjs"),
        str(harness(line)),
        "client",
        "--command",
        client,
        "--scenario",
        scenario,
        "--timeout",
        str(int(timeout * 1000)),
        "-o",
        str(out_dir / line),
    ]
    started = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout + 60, cwd=HERE.parent
        )
        passed, output = proc.returncode == 0, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        passed, output = False, f"harness did not finish: {exc}"
    return Outcome(line, scenario, passed, time.monotonic() - started, output)


def load_baseline() -> dict[str, set[str]]:
    data = yaml.safe_load(BASELINE.read_text()) or {}
    return {line: set(data.get(line) or []) for line in LINES}


def judge(outcomes: Sequence[Outcome], baseline: dict[str, set[str]] | None) -> int:
    """Print the summary; the exit status is 1 on an unexpected failure or a stale entry."""
    status = 0
    for line in LINES:
        mine = [o for o in outcomes if o.line == line]
        if not mine:
            continue
        passed = sum(o.passed for o in mine)
        print(f"\n== {line} ({LINES[line]}): {passed}/{len(mine)} scenarios passed")
        for o in mine:
            mark = "PASS" if o.passed else "FAIL"
            print(f"  {mark} {o.scenario} ({o.seconds:.1f}s)")
        if baseline is None:
            continue
        expected = baseline[line]
        unexpected = [o for o in mine if not o.passed and o.scenario not in expected]
        stale = [o.scenario for o in mine if o.passed and o.scenario in expected]
        for o in unexpected:
            status = 1
            print(f"\n-- unexpected failure: {line} {o.scenario}\n{o.output[-4000:]}")
        for name in stale:
            status = 1
            print(f"\n-- {line} {name} passes now: remove it from {BASELINE.name}")
    passed = sum(o.passed for o in outcomes)
    print(f"\nconformance: {passed} passed, {len(outcomes) - passed} failed")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--line", choices=[*LINES, "all"], default="all")
    parser.add_argument("-k", dest="match", default="", help="only scenarios containing this")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("CONFORMANCE_JOBS", "2")))
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per scenario")
    parser.add_argument(
        "--client",
        default=f"{shlex.quote(sys.executable)} {shlex.quote(str(HERE / 'client.py'))}",
        help="the client command (the server URL is appended)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="report only")
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)

    lines = list(LINES) if args.line == "all" else [args.line]
    work = [(line, s) for line in lines for s in scenarios(line) if args.match in s]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = list(
            pool.map(
                lambda item: run_one(item[0], item[1], args.client, args.timeout, args.output),
                work,
            )
        )
    baseline = None if args.no_baseline else load_baseline()
    if baseline is not None:
        # A scenario with real-time waits can miss its limit when the machine is busy: an
        # unexpected failure is run once more on its own before it counts.
        outcomes = [
            run_one(o.line, o.scenario, args.client, args.timeout, args.output)
            if not o.passed and o.scenario not in baseline[o.line]
            else o
            for o in outcomes
        ]
    return judge(outcomes, baseline)


if __name__ == "__main__":
    sys.exit(main())
