"""The pytest plugin: a project's `pytest` collects its YAML conversation tests."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from conversation_support import write_project

CASES = """
test_cases:
  - test_case: hours
    steps:
      - user: /hours
      - bot: "We open at 9."
  - test_case: routed
    steps:
      - user: "when do you open?"
        llm:
          - tool_calls: [{name: start_flow, arguments: {flow: hours}}]
      - flow_started: hours
  - test_case: wrong
    steps:
      - user: /hours
      - bot: "We open at 10."
"""


@dataclass
class Outcome:
    returncode: int
    stdout: str


def plugin_installed() -> bool:
    """Whether the ``pytest11`` entry point is registered (an installed subagents: CI, a
    user's venv); a source checkout on PYTHONPATH has none."""
    from importlib.metadata import entry_points

    return any(e.name == "subagents_conversations" for e in entry_points(group="pytest11"))


def run_pytest(project: Path, *args: str) -> Outcome:
    """Plain pytest in the project (in-process, as pytester does), with the plugin loaded
    by its entry point, or explicitly when the entry point is not installed."""
    load = [] if plugin_installed() else ["-p", "subagents.testing.conversation_plugin"]
    capture = io.StringIO()
    cwd = os.getcwd()
    os.chdir(project)
    try:
        with contextlib.redirect_stdout(capture):
            code = pytest.main(
                [*load, "-p", "no:cacheprovider"]
                + ["-o", "asyncio_default_fixture_loop_scope=function"]
                + ["-q", "--rootdir", str(project), *args]
            )
    finally:
        os.chdir(cwd)
    return Outcome(int(code), capture.getvalue())


def test_pytest_runs_each_case_as_an_item(tmp_path: Path) -> None:
    project = write_project(tmp_path / "proj")
    (project / "tests" / "chat.yml").write_text(CASES, encoding="utf-8")
    # Other YAML under tests/ is data, never collected.
    (project / "tests" / "data.yml").write_text("cases: [1, 2]\n", encoding="utf-8")
    result = run_pytest(project, "tests", "-rA")
    out = result.stdout
    assert result.returncode == 1, out
    assert "1 failed, 2 passed" in out
    assert "PASSED tests/chat.yml::hours" in out and "PASSED tests/chat.yml::routed" in out
    assert "FAILED tests/chat.yml::wrong" in out
    assert 'expected: a bot message equal to "We open at 10."' in out
    assert "data.yml" not in out
    # -k selects cases like any pytest item.
    result = run_pytest(project, "tests", "-k", "hours")
    assert result.returncode == 0 and "1 passed, 2 deselected" in result.stdout, result.stdout


def test_an_invalid_file_is_a_collection_error_with_file_and_line(tmp_path: Path) -> None:
    project = write_project(tmp_path / "proj")
    (project / "tests" / "bad.yml").write_text(
        "test_cases:\n  - test_case: a\n    steps:\n      - user: hi\n      - flow_started: nope\n",
        encoding="utf-8",
    )
    result = run_pytest(project, "tests")
    assert result.returncode == 2, result.stdout
    assert (
        "tests/bad.yml:5: test_cases[0].steps[1].flow_started: unknown flow 'nope'" in result.stdout
    )


def test_yaml_outside_a_project_and_the_ini_switch(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "t.yml").write_text(CASES, encoding="utf-8")
    result = run_pytest(loose, ".")
    assert result.returncode == 5, result.stdout  # no tests collected
    project = write_project(tmp_path / "proj")
    (project / "tests" / "chat.yml").write_text(CASES, encoding="utf-8")
    (project / "pytest.ini").write_text(
        "[pytest]\nsubagents_conversation_tests = false\n", encoding="utf-8"
    )
    result = run_pytest(project, "tests")
    assert result.returncode == 5, result.stdout
