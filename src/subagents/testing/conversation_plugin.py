"""The pytest plugin that runs conversation tests: ``pytest`` collects the same YAML files
as ``subagents test``.

Installed with subagents (the ``pytest11`` entry point ``subagents_conversations``), so a
project's plain ``pytest`` picks them up. A file is collected only when it is a YAML file
whose top level has ``test_cases:`` and it lies inside a project (a directory above it
has ``domain.yml`` or ``flows.yml``); every other YAML file is left alone. Each case is
one test item; the cases of one file run together, in one assistant, the first time one
of them runs (only those selected, e.g. with ``-k``).

Options: ``--subagents-replay`` (offline, as ``subagents test --replay``) and
``--subagents-lenient``. Turn collection off for a tree with the ini option
``subagents_conversation_tests = false``, or with ``-p no:subagents_conversations``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from subagents.errors import ConfigError, SubagentsError
from subagents.testing.cases import TestCase, check_against_project, is_test_file, load_test_file

PROJECT_MARKERS = ("domain.yml", "flows.yml")


def pytest_addoption(parser: pytest.Parser) -> None:
    """The plugin's options and ini setting."""
    parser.addini(
        "subagents_conversation_tests",
        "collect subagents conversation tests (YAML files with test_cases:)",
        type="bool",
        default=True,
    )
    group = parser.getgroup("subagents", "subagents conversation tests")
    group.addoption(
        "--subagents-replay",
        action="store_true",
        help="offline: no model and no MCP server; stubs and cassettes answer",
    )
    group.addoption(
        "--subagents-lenient",
        action="store_true",
        help="replay cassettes by position; differences are warnings",
    )


def project_root_of(path: Path) -> Path | None:
    """The project a test file belongs to: the nearest directory above it with
    ``domain.yml`` or ``flows.yml``."""
    for parent in path.resolve().parents:
        if any((parent / marker).is_file() for marker in PROJECT_MARKERS):
            return parent
    return None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect ``file_path`` when it is a conversation test file of a project."""
    if file_path.suffix not in (".yml", ".yaml"):
        return None
    if not parent.config.getini("subagents_conversation_tests"):
        return None
    if project_root_of(file_path) is None or not is_test_file(file_path):
        return None
    collector: pytest.Collector = ConversationFile.from_parent(parent, path=file_path)
    return collector


class InvalidTestFile(SubagentsError):
    """A conversation test file with errors (reported as ``file:line: message`` lines)."""


class CaseFailed(SubagentsError):
    """A conversation test case failed; the message is the mismatch report."""


class ConversationFile(pytest.File):
    """One YAML test file; its cases are the items."""

    _results: dict[str, Any] | None = None

    @property
    def root(self) -> Path:
        root = project_root_of(self.path)
        assert root is not None  # checked at collection
        return root

    def collect(self) -> Iterator[pytest.Item]:
        from subagents.config.loader import load_project
        from subagents.testing.suite import relative

        try:
            project = load_project(self.root)
            test_file = load_test_file(self.path, relative(self.path, self.root))
        except ConfigError as exc:
            raise InvalidTestFile(str(exc)) from None
        problems = check_against_project(test_file, project)
        if problems:
            raise InvalidTestFile("\n".join(str(p) for p in problems))
        for case in test_file.cases:
            yield ConversationItem.from_parent(self, name=case.name, case=case)

    # Collector narrows Node's signature (no `style`); mypy sees that as an override error.
    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        if isinstance(excinfo.value, InvalidTestFile):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def results(self) -> dict[str, Any]:
        """Run every selected case of this file once; results by case name."""
        if self._results is None:
            from subagents.testing.suite import run_cases

            items = [i for i in self.session.items if isinstance(i, ConversationItem)]
            cases = [i.case for i in items if i.parent is self]
            config = self.config
            report = asyncio.run(
                run_cases(
                    self.root,
                    cases,
                    offline=bool(config.getoption("--subagents-replay")),
                    lenient=bool(config.getoption("--subagents-lenient")),
                )
            )
            self._results = {r.case.name: r for r in report.results}
        return self._results


class ConversationItem(pytest.Item):
    """One test case of a conversation test file."""

    def __init__(self, *, case: TestCase, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        parent = self.parent
        assert isinstance(parent, ConversationFile)
        try:
            result = parent.results()[self.case.name]
        except SubagentsError as exc:  # the project could not start (MCP server down...)
            raise CaseFailed(f"the assistant could not start: {exc}") from None
        for warning in result.warnings:
            self.add_report_section("call", "warnings", warning)
        if not result.passed:
            raise CaseFailed(result.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CaseFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, max((self.case.line or 1) - 1, 0), f"test_case: {self.case.name}"
