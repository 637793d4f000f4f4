"""Smoke test of the telemetry benchmark: it runs with tiny N and reports every driver.

No timing assertions (the figures depend on the machine): the floor, tracing off and
tracing on each produce figures, and the seam's own cost when off is reported.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(200)
def test_quick_telemetry_bench_reports_off_and_on() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.telemetry_bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    number = r"\d+(\.\d+)?"
    for mode in ("seq", "conc5"):
        triple = rf"{number} / {number} / {number}"
        pair = rf"{number} / {number}"
        row = rf"\| stdio \| {mode} \| {triple} \| {triple} \| {pair} \| {pair} \|"
        assert re.search(row, done.stdout), done.stdout
    assert re.search(rf"Seam calls of one step with telemetry off: {number} µs", done.stdout)
    assert "error" not in done.stdout.lower(), done.stdout
