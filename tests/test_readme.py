"""The README's two set-up commands stay true: CI runs the test command verbatim, and the
first command's `subagents ...` part is the one tests/test_cli.py plays offline."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = re.compile(r"^    \$ (.+)$", re.MULTILINE)


def _commands() -> list[str]:
    return COMMANDS.findall((REPO / "README.md").read_text())


def test_readme_opens_with_install_and_run_then_tests() -> None:
    commands = _commands()
    assert len(commands) >= 2
    install, tests = commands[0], commands[1]
    # The demo needs only the package; the test and lint toolchain comes with the tests.
    assert "pip install -e . &&" in install
    assert "[test]" not in install
    setup, _, pytest_part = tests.partition(" && ")
    assert setup == 'pip install -e ".[test]"'
    assert pytest_part.startswith("pytest ")
    # Only one line mentions pytest, so .ci/run cannot pick a different one.
    assert sum("pytest" in c for c in commands) == 1


def test_first_command_runs_the_example_offline_on_a_scenario_that_exists() -> None:
    install = _commands()[0]
    run = install.split("&&")[-1].strip()
    argv = shlex.split(run)
    assert argv[:2] == ["subagents", "shell"]
    scenario = argv[argv.index("--scripted") + 1]
    assert (REPO / scenario).is_file()


def test_ci_extracts_the_same_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    pattern = "sed -n 's/^    \\$ \\(.*pytest.*\\)$/\\1/p' README.md | head -n 1"
    assert pattern in ci
    extracted = subprocess.run(
        ["bash", "-c", f"cd {shlex.quote(str(REPO))} && {pattern}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    assert extracted == _commands()[1]
