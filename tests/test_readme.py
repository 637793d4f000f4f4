"""The README's two set-up commands stay true: CI runs the test command verbatim, and the
first command's `subagents ...` part is the one tests/test_cli.py plays offline."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = re.compile(r"^    \$ (.+)$", re.MULTILINE)


def _commands() -> list[str]:
    return COMMANDS.findall((REPO / "README.md").read_text())


def test_readme_opens_with_install_and_run_then_tests() -> None:
    commands = _commands()
    assert len(commands) >= 2
    install, tests = commands[0], commands[1]
    assert 'pip install -e ".[test]"' in install
    assert tests.startswith("pytest")
    # Only one pytest line, so .ci/run cannot pick a different one.
    assert sum(c.startswith("pytest") for c in commands) == 1


def test_first_command_runs_the_example_offline_on_a_scenario_that_exists() -> None:
    install = _commands()[0]
    run = install.split("&&")[-1].strip()
    argv = shlex.split(run)
    assert argv[:2] == ["subagents", "shell"]
    scenario = argv[argv.index("--scripted") + 1]
    assert (REPO / scenario).is_file()


def test_ci_extracts_the_same_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert "sed -n 's/^    \\$ \\(pytest.*\\)$/\\1/p' README.md" in ci
