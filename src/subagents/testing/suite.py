"""A whole conversation test run, as ``subagents test`` and the pytest plugin do it:
find the test files, read and check them against the project, run the selected cases,
and report coverage."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subagents.errors import ConfigError, ConfigProblem
from subagents.testing.cases import (
    TestCase,
    TestFile,
    check_against_project,
    find_test_files,
    load_test_file,
)
from subagents.testing.report import CoverageRow, coverage
from subagents.testing.runner import CaseResult, ConversationTestRunner, OnResult


@dataclass
class Collected:
    """The test files read, and every problem found in them (``file:line: message``)."""

    files: list[TestFile] = field(default_factory=list)
    problems: list[ConfigProblem] = field(default_factory=list)

    @property
    def cases(self) -> list[TestCase]:
        return [case for f in self.files for case in f.cases]


@dataclass
class SuiteReport:
    """What a run produced: results in case order, coverage rows and the wall time."""

    results: list[CaseResult]
    coverage: list[CoverageRow]
    seconds: float

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when it is inside it (as ``validate`` prints paths)."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def default_paths(root: Path) -> list[Path]:
    """Where tests are looked for when no path is given: the project's ``tests/``."""
    return [root / "tests"]


def collect(paths: Sequence[Path], root: Path, project: Any) -> Collected:
    """Read every test file under ``paths`` and check it against ``project``."""
    out = Collected()
    for path in find_test_files(paths):
        try:
            test_file = load_test_file(path, relative(path, root))
        except ConfigError as exc:
            out.problems.extend(getattr(exc, "problems", None) or [exc.problem])
            continue
        out.problems.extend(check_against_project(test_file, project))
        out.files.append(test_file)
    return out


async def run_cases(
    root: Path,
    cases: Sequence[TestCase],
    *,
    workers: int = 4,
    offline: bool = False,
    on_result: OnResult | None = None,
) -> SuiteReport:
    """Run ``cases`` against the project in ``root``; results, coverage and time."""
    started = time.perf_counter()
    async with ConversationTestRunner(root, workers=workers, offline=offline) as runner:
        results = await runner.run(cases, on_result)
        rows = coverage(results, runner.project, runner.doubles.server_tools)
    return SuiteReport(results, rows, time.perf_counter() - started)
