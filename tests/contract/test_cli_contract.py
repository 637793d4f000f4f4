"""The `subagents` command's contract: validate's defaults and --connect, run's flags,
and the names users import from `subagents`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from contract_support import PYTHON, toolbox_stdio, write_project
from typer.testing import CliRunner

from subagents.cli import app

AGENT = """
    agent:
      name: helper
      description: Helps.
    connections:
      mcp_servers:
        - name: toolbox
          include_tools: [echo, no_such_tool]
    """


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_validate_defaults_to_the_current_directory_and_warnings_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_project(
        tmp_path / "p",
        {
            "endpoints.yml": """
                model_groups:
                  - id: default
                    models:
                      - model: gpt-4o
                        api_key: sk-literal-key
                """,
        },
    )
    monkeypatch.chdir(root)
    code, output = invoke("validate")
    assert code == 0, output
    assert "endpoints.yml:5: warning: model_groups[0].models[0].api_key: literal API key" in output

    (root / "flows.yml").write_text("flows:\n  f:\n    steps:\n      - collect: nope\n")
    code, output = invoke("validate")
    assert code == 1
    assert any(line.startswith("flows.yml:4: ") for line in output.splitlines()), output


def test_validate_connect_starts_the_servers(tmp_path: Path) -> None:
    broken = (
        "  - name: broken\n"
        "    type: stdio\n"
        f"    command: {PYTHON}\n"
        '    args: ["-c", "import sys; sys.exit(2)"]\n'
        "    max_retries: 1\n"
    )
    root = write_project(
        tmp_path / "p",
        {
            "endpoints.yml": "mcp_servers:\n" + toolbox_stdio(),
            "sub_agents/helper/config.yml": AGENT,
        },
    )
    code, output = invoke("validate", "--project", str(root))
    assert code == 0, output
    assert "no_such_tool" not in output  # statically nothing is known about the tools

    code, output = invoke("validate", "--project", str(root), "--connect")
    assert code == 0, output  # a warning only
    assert (
        "sub_agents/helper/config.yml:7: warning: connections.mcp_servers[0].include_tools[1]:"
        " server 'toolbox' offers no tool 'no_such_tool'"
    ) in output

    (root / "endpoints.yml").write_text("mcp_servers:\n" + toolbox_stdio() + broken)
    code, output = invoke("validate", "--project", str(root), "--connect")
    assert code == 1
    assert "endpoints.yml:6: mcp_servers[1].name: MCP server 'broken'" in output


def test_run_flags_and_defaults() -> None:
    command = typer.main.get_command(app)
    run = command.commands["run"]  # type: ignore[attr-defined]
    options = {p.name: p for p in run.params}
    assert options["host"].default == "127.0.0.1"
    assert options["port"].default == 5005
    assert "--project" in options["project"].opts
    assert str(options["project"].default) == "."


def test_public_names_import_from_subagents() -> None:
    code = (
        "from subagents import MCPOpenAgent, MCPTaskAgent, AgentInput, AgentOutput, "
        "AgentStatus, AgentToolResult, AgentToolSchema, Assistant\n"
        "from subagents.dialogue.assistant import Assistant as A\n"
        "assert Assistant is A\n"
        "hooks = ('get_custom_tool_definitions', 'process_input', 'process_output')\n"
        "assert all(hasattr(c, h) for c in (MCPOpenAgent, MCPTaskAgent) for h in hooks)\n"
        "print(AgentStatus.COMPLETED.value, AgentStatus.INPUT_REQUIRED.value, "
        "AgentStatus.FATAL_ERROR.value)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["completed", "input_required", "fatal_error"]
