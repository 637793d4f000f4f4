"""The example assistant's conversation tests (tests/conversations/salon.yml) pass, and
between them exercise every flow, flow step, agent and action of the example."""

from __future__ import annotations

import re
from pathlib import Path

from conversation_support import run_test

from subagents.config.loader import load_project

REPO = Path(__file__).resolve().parents[2]


def test_the_example_conversation_tests_pass_and_cover_every_flow() -> None:
    code, output = run_test(REPO, str(REPO / "tests" / "conversations"))
    assert code == 0, output
    assert "failed" not in output
    project = load_project(REPO)
    flows = len(project.flow_graph.flows)
    steps = sum(len(f.steps) for f in project.flow_graph.flows.values())
    rows = {
        m.group(1).strip(): (int(m.group(2)), int(m.group(3)))
        for m in re.finditer(r"^ (\w[\w ]*?)\s+│\s+(\d+)/(\d+)", output, re.MULTILINE)
    }
    assert rows["flows"] == (flows, flows), output
    assert rows["flow steps"] == (steps, steps), output
    assert rows["agents"] == (len(project.agents), len(project.agents)), output
    assert rows["actions"] == (len(project.domain.actions),) * 2, output


def test_init_writes_a_conversation_test_that_passes(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from subagents.cli import app

    project = tmp_path / "new"
    result = CliRunner().invoke(app, ["init", str(project)])
    assert result.exit_code == 0, result.output
    assert (project / "tests" / "conversations.yml").is_file()
    code, output = run_test(project)
    assert code == 0, output
    assert "PASSED tests/conversations.yml::greet" in output
    assert "PASSED tests/conversations.yml::time in Tokyo" in output
