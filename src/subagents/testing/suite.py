"""A whole conversation test run, as ``subagents test`` and the pytest plugin do it:
find the test files, read and check them against the project, run the selected cases,
and report coverage."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subagents.dialogue.assistant import AssistantHooks
from subagents.errors import ConfigError, ConfigErrors, ConfigProblem
from subagents.testing.cases import (
    TestCase,
    TestFile,
    check_against_project,
    find_test_files,
    load_test_file,
)
from subagents.testing.cassette import Cassette, CassetteReplay, load_cassette
from subagents.testing.doubles import CaseDoubles, OfflineMCP
from subagents.testing.report import CoverageRow, coverage
from subagents.testing.runner import CaseResult, ConversationTestRunner, OnResult
from subagents.tools.base import ToolSpec


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


def load_cassettes(cases: Sequence[TestCase]) -> dict[Path, Cassette]:
    """The cassettes the cases replay; :class:`ConfigErrors` lists every unreadable one."""
    cassettes: dict[Path, Cassette] = {}
    problems: list[ConfigProblem] = []
    for case in cases:
        if case.cassette is None or case.cassette.path in cassettes:
            continue
        try:
            cassettes[case.cassette.path] = load_cassette(case.cassette.path)
        except ConfigError as exc:
            where = f"test case '{case.name}' cassette"
            problems.append(ConfigProblem(case.file, case.line, f"{where}: {exc}", "cassette"))
    if problems:
        raise ConfigErrors(problems)
    return cassettes


async def run_cases(
    root: Path,
    cases: Sequence[TestCase],
    *,
    workers: int = 4,
    offline: bool = False,
    lenient: bool = False,
    on_result: OnResult | None = None,
) -> SuiteReport:
    """Run ``cases`` against the project in ``root``; results, coverage and time.

    ``offline``: no model and no MCP server is reached (the servers' tools are those the
    cassettes recorded). ``lenient``: every cassette replays leniently.
    """
    started = time.perf_counter()
    cassettes = load_cassettes(cases)
    hooks = AssistantHooks(mcp=OfflineMCP(_recorded_tools(cassettes))) if offline else None

    def doubles_for(case: TestCase) -> CaseDoubles:
        doubles = CaseDoubles(offline=offline)
        if case.cassette is not None:
            mode = "lenient" if lenient else case.cassette.mode
            doubles.replay = CassetteReplay(
                cassettes[case.cassette.path],
                mode=mode,
                problems=doubles.problems,
                warnings=doubles.warnings,
            )
        return doubles

    async with ConversationTestRunner(root, workers=workers, hooks=hooks) as runner:
        results = await runner.run(cases, on_result, doubles_for)
        rows = coverage(results, runner.project, runner.doubles.server_tools)
    return SuiteReport(results, rows, time.perf_counter() - started)


def _recorded_tools(cassettes: dict[Path, Cassette]) -> Callable[[str], list[ToolSpec] | None]:
    def tools(server: str) -> list[ToolSpec] | None:
        for cassette in cassettes.values():
            specs = cassette.tool_specs(server)
            if specs is not None:
                return specs
        return None

    return tools
