"""Fixtures of the serving tests (helpers live in serve_support.py)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_support import RunProcess, free_port, write_clinic


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    """A fresh clinic project directory."""
    return write_clinic(tmp_path / "clinic")


@pytest.fixture
def run_process(tmp_path: Path) -> Iterator[Any]:
    """Factory: start `subagents run` for a project and scenario; all killed at teardown."""
    started: list[RunProcess] = []

    def start(project: Path, scenario: Path) -> RunProcess:
        proc = RunProcess(project, free_port(), scenario, tmp_path / f"run-{len(started)}.log")
        started.append(proc)
        proc.wait_healthy()
        return proc

    yield start
    for proc in started:
        if proc.proc.poll() is None:
            proc.kill(signal.SIGKILL)
