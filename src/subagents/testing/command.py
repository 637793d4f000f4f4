"""``subagents test``: read the test files, run the cases, print lines, summary, coverage.

Exit codes: 0 every selected case passed, 1 some failed, 2 the test files (or the
project) have errors and nothing ran.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from subagents.errors import ConfigErrors, SubagentsError
from subagents.testing.report import CoverageRow, keyword_matches, write_junit
from subagents.testing.runner import CaseResult
from subagents.testing.suite import SuiteReport, collect, default_paths, run_cases

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


@dataclass
class TestOptions:
    """The options of ``subagents test``."""

    __test__ = False

    root: Path
    paths: Sequence[Path]
    keyword: str | None = None
    junit_xml: Path | None = None
    workers: int = 4
    replay: bool = False
    lenient: bool = False


def run_test_command(options: TestOptions, out: Console, err: Console) -> int:
    """Run ``subagents test``; returns the exit code."""
    from subagents.config.loader import load_project

    try:
        project = load_project(options.root)
    except ConfigErrors as exc:
        for line in str(exc).splitlines():
            err.print(line, markup=False)
        err.print("[red]error:[/] the project has configuration errors (run `subagents validate`)")
        return EXIT_INVALID
    paths = list(options.paths) or default_paths(options.root)
    missing = [p for p in paths if not p.exists()]
    if missing:
        err.print(f"[red]error:[/] no such file or directory: {escape(str(missing[0]))}")
        return EXIT_INVALID
    collected = collect(paths, options.root, project)
    if collected.problems:
        for problem in collected.problems:
            out.print(str(problem), markup=False)
        err.print(f"[red]{len(collected.problems)} error(s) in the test files[/]; nothing ran")
        return EXIT_INVALID
    cases = collected.cases
    try:
        if options.keyword:
            cases = [c for c in cases if keyword_matches(options.keyword, c)]
    except ValueError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        return EXIT_INVALID
    if not cases:
        where = ", ".join(str(p) for p in paths)
        err.print(f"[yellow]no test cases selected[/] (looked in {escape(where)})")
        return EXIT_OK if not collected.cases else EXIT_FAILED
    return _run(options, cases, out, err)


def _run(options: TestOptions, cases: Sequence[object], out: Console, err: Console) -> int:
    def line(result: CaseResult) -> None:
        mark = {"passed": "[green]PASSED[/]", "failed": "[red]FAILED[/]"}.get(
            result.outcome, "[red]ERROR[/]"
        )
        out.print(f"{mark} {escape(result.case.id)} [dim]({result.seconds:.2f} s)[/]")
        for warning in result.warnings:
            out.print(f"  [yellow]warning:[/] {escape(warning)}")

    out.print(f"[dim]Running {len(cases)} test case(s) with {options.workers} worker(s)[/]")
    try:
        report = asyncio.run(
            run_cases(
                options.root,
                cases,  # type: ignore[arg-type]
                workers=options.workers,
                offline=options.replay,
                lenient=options.lenient,
                on_result=line,
            )
        )
    except ConfigErrors as exc:
        for problem in exc.problems:
            out.print(str(problem), markup=False)
        err.print("[red]error:[/] the test files have errors; nothing ran")
        return EXIT_INVALID
    except SubagentsError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        return EXIT_INVALID
    _print_failures(report, out)
    _print_coverage(report.coverage, out)
    _print_summary(report, out)
    if options.junit_xml is not None:
        write_junit(options.junit_xml, report.results, report.seconds)
        out.print(f"[dim]JUnit XML written to {escape(str(options.junit_xml))}[/]")
    return EXIT_FAILED if report.failed else EXIT_OK


def _print_failures(report: SuiteReport, out: Console) -> None:
    for result in report.failed:
        out.print()
        out.print(f"[red]___ {escape(result.case.id)} ___[/]")
        out.print(result.message, markup=False)


def _print_coverage(rows: Sequence[CoverageRow], out: Console) -> None:
    table = Table(title="Coverage", title_justify="left", show_edge=False)
    table.add_column("what")
    table.add_column("exercised", justify="right")
    table.add_column("not exercised")
    for row in rows:
        missing = ", ".join(row.missing[:6]) + (" ..." if len(row.missing) > 6 else "")
        table.add_row(row.kind, f"{row.exercised}/{row.defined}", missing or "-")
    out.print()
    out.print(table)


def _print_summary(report: SuiteReport, out: Console) -> None:
    passed = sum(1 for r in report.results if r.passed)
    failed = sum(1 for r in report.results if r.outcome == "failed")
    errors = len(report.results) - passed - failed
    parts = [f"[green]{passed} passed[/]"]
    if failed:
        parts.append(f"[red]{failed} failed[/]")
    if errors:
        parts.append(f"[red]{errors} error(s)[/]")
    out.print()
    out.print(", ".join(parts) + f" in {report.seconds:.2f} s")
