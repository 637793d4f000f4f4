"""What a user sees when a `subagents` command cannot do its job.

Every message names the file / option at fault and what to do about it, and the exit
code is non-zero. Commands run in-process (typer's runner) unless the failure involves
a real port, where the command runs as its own process.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from subagents.cli import app

FLOWS = """
flows:
  hello:
    description: Say hello.
    steps:
      - action: utter_hello
"""
DOMAIN = """
responses:
  utter_hello:
    - text: Hello!
"""


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "hello"
    root.mkdir()
    (root / "flows.yml").write_text(FLOWS, encoding="utf-8")
    (root / "domain.yml").write_text(DOMAIN, encoding="utf-8")
    return root


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["run", "shell", "validate", "actions"])
def test_missing_project_directory(tmp_path: Path, command: str) -> None:
    code, out = invoke(command, "--project", str(tmp_path / "nope"))
    assert code == 1
    assert f"project directory {tmp_path / 'nope'} does not exist (use --project DIR)" in out


def test_unknown_log_level(project: Path) -> None:
    code, out = invoke("shell", "--project", str(project), "--log-level", "loud")
    assert code == 2  # a usage error, before anything runs
    assert "'loud' is not one of 'debug', 'info', 'warning', 'error'" in out


def test_scenario_step_typo_names_file_step_and_allowed_keys(project: Path) -> None:
    scenario = write(
        project / "s.yml",
        "scenario:\n  - user: hi\n  - text: fine\n  - user: again\n  - txt: typo\n",
    )
    code, out = invoke("shell", "--project", str(project), "--scripted", str(scenario))
    assert code == 1
    # The index counts the user turns too: it is the item's position in the file.
    assert f"{scenario}:5: scenario[3]: unknown key(s) ['txt']; did you mean 'text'?" in out
    assert "(a user turn is written {user: ...})" in out


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "cannot read scenario file"),
        ("scenario: [unclosed\n", ":2: not valid YAML: while parsing a flow sequence"),
        ("replies: []\n", "expected a top-level 'scenario:' list"),
        ("scenario:\n  - user: [not, text]\n", "field 'scenario[0].user' must be a string"),
        ("scenario:\n  - 42\n", "scenario[0] must be a mapping such as {text: ...}"),
        (
            "scenario:\n  main: {steps: [{tool_calls: [{arguments: {}}]}]}\n",
            "scenario.main.steps[0].tool_calls[0]: a tool call needs 'name'",
        ),
    ],
)
def test_bad_scenario_files_name_the_file(project: Path, content: str | None, words: str) -> None:
    scenario = project / "bad.yml"
    if content is not None:
        write(scenario, content)
    code, out = invoke("shell", "--project", str(project), "--scripted", str(scenario))
    assert code == 1
    assert f"error: {scenario}" in out
    assert words in out


def test_project_with_config_errors_lists_them_and_points_to_validate(project: Path) -> None:
    write(project / "flows.yml", FLOWS.replace("utter_hello", "utter_missing"))
    for command in ("run", "shell"):
        code, out = invoke(command, "--project", str(project))
        assert code == 1, out
        assert "utter_missing" in out and "flows.yml" in out
        assert "the project has configuration errors (run `subagents validate`)" in out


def test_unused_scripted_replies_fail_the_shell_naming_the_step(project: Path) -> None:
    scenario = write(project / "s.yml", "scenario:\n  - user: /hello\n  - text: spare\n")
    code, out = invoke("shell", "--project", str(project), "--scripted", str(scenario))
    assert code == 1, out
    assert "Playing " in out and "(1 user turn) as " in out
    assert "Bot: Hello!" in out
    assert (
        f"error: {scenario}: 1 scripted model reply was never used (first unused: scenario[1])"
        in out
    )


def test_run_on_a_busy_port_says_so(project: Path, busy_port: int) -> None:
    scenario = write(project / "s.yml", "scenario: []\n")
    cmd = [sys.executable, "-m", "subagents.cli", "run", "--project", str(project)]
    cmd += ["--port", str(busy_port), "--scripted", str(scenario), "--log-level", "warning"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert f"could not serve on 127.0.0.1:{busy_port}: the address is in use" in result.stderr
    assert "pick another with --port" in result.stderr


def test_actions_server_on_a_busy_port_says_so(project: Path, busy_port: int) -> None:
    (project / "actions.py").write_text("", encoding="utf-8")
    code, out = invoke("actions", "--project", str(project), "--port", str(busy_port))
    assert code == 1
    assert f"action server could not listen on 127.0.0.1:{busy_port}" in out
    assert "pick another with --port" in out


def test_actions_command_option_and_module_errors(project: Path, tmp_path: Path) -> None:
    cert = write(tmp_path / "cert.pem", "x")
    code, out = invoke("actions", "--project", str(project), "--tls-cert", str(cert))
    assert code == 1
    assert "--tls-cert and --tls-key go together; give both or neither" in out
    code, out = invoke("actions", "--project", str(project), "--actions", "no_such_actions")
    assert code == 1
    assert "cannot import actions module 'no_such_actions'" in out
    write(project / "endpoints.yml", "action_endpoint: [unclosed\n")
    code, out = invoke("actions", "--project", str(project))
    assert code == 1
    assert "error: endpoints.yml:2: invalid YAML: while parsing a flow sequence" in out
