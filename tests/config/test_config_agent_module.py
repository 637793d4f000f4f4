"""``configuration.module``: import from the project and subclass checks."""

from __future__ import annotations

import uuid
from pathlib import Path

from config_helpers import (
    AGENT,
    ENV,
    assert_problem,
    good_project,
    isolated_imports,
    problems,
    write,
)

from subagents.agents.classes import check_agent_module
from subagents.config import load_project
from subagents.config.loader import LoadedAgent

AGENT_FILE = "sub_agents/stock_explorer/config.yml"

MODULE = """
from subagents.agents.open_agent import MCPOpenAgent
from subagents.agents.task_agent import MCPTaskAgent


class OpenOne(MCPOpenAgent):
    pass


class TaskOne(MCPTaskAgent):
    pass


class NotAnAgent:
    pass
"""


_isolated = isolated_imports("agentmod_")


def _module(root: Path, text: str = MODULE) -> str:
    name = f"agentmod_{uuid.uuid4().hex[:8]}"
    write(root, {f"{name}.py": text})
    return name


def test_subclasses_of_both_agents_are_accepted(tmp_path: Path) -> None:
    name = _module(tmp_path)

    assert check_agent_module(tmp_path, f"{name}.OpenOne") is None
    assert check_agent_module(tmp_path, f"{name}.TaskOne") is None


def test_module_in_a_package_of_the_project(tmp_path: Path) -> None:
    pkg = f"agentmod_{uuid.uuid4().hex[:8]}"
    write(tmp_path, {f"{pkg}/__init__.py": "", f"{pkg}/custom.py": MODULE})

    assert check_agent_module(tmp_path, f"{pkg}.custom.OpenOne") is None


def test_class_that_is_not_an_agent(tmp_path: Path) -> None:
    name = _module(tmp_path)
    error = check_agent_module(tmp_path, f"{name}.NotAnAgent")

    assert error is not None
    assert "not a subclass of MCPOpenAgent, MCPTaskAgent or A2AAgent" in error


def test_missing_class_and_missing_module(tmp_path: Path) -> None:
    name = _module(tmp_path)

    assert f"module '{name}' has no class 'Nope'" in (
        check_agent_module(tmp_path, f"{name}.Nope") or ""
    )
    assert "cannot import module 'agentmod_absent'" in (
        check_agent_module(tmp_path, "agentmod_absent.Agent") or ""
    )
    assert "not a dotted path" in (check_agent_module(tmp_path, "JustAName") or "")


def test_module_that_fails_on_import_names_its_file_and_line(tmp_path: Path) -> None:
    name = _module(tmp_path, "import os\n\nraise RuntimeError('boom')\n")
    error = check_agent_module(tmp_path, f"{name}.Agent") or ""

    assert "RuntimeError: boom" in error
    assert f"{name}.py:3" in error


def test_module_with_syntax_error_names_its_line(tmp_path: Path) -> None:
    name = _module(tmp_path, "x = 1\ndef broken(:\n")
    error = check_agent_module(tmp_path, f"{name}.Agent") or ""

    assert "SyntaxError" in error
    assert f"{name}.py:2" in error


def test_bad_module_in_config_is_reported_at_its_line(tmp_path: Path) -> None:
    name = _module(tmp_path)
    good_project(
        tmp_path,
        {AGENT_FILE: AGENT.replace("  max_retries: 3", f"  module: {name}.NotAnAgent")},
    )

    assert_problem(problems(tmp_path), AGENT_FILE, 9, "configuration.module", "not a subclass")


def test_project_with_module_loads(tmp_path: Path) -> None:
    name = _module(tmp_path)
    good_project(
        tmp_path,
        {
            AGENT_FILE: AGENT.replace("  max_retries: 3", f"  module: {name}.TaskOne"),
            "flows.yml": """
            flows:
              f:
                steps:
                  - call: stock_explorer
                    exit_if: [slots.age > 0]
            """,
        },
    )
    agent = load_project(tmp_path, env=ENV).agents["stock_explorer"]
    assert isinstance(agent, LoadedAgent)
    assert agent.config.configuration.module == f"{name}.TaskOne"


def test_open_agent_class_called_with_exit_if(tmp_path: Path) -> None:
    name = _module(tmp_path)
    good_project(
        tmp_path,
        {AGENT_FILE: AGENT.replace("  max_retries: 3", f"  module: {name}.OpenOne")},
    )

    assert_problem(
        problems(tmp_path),
        "flows.yml",
        13,
        "flows.onboarding.steps[1].exit_if",
        "a call with exit_if needs an MCPTaskAgent subclass",
    )


def test_reading_the_config_never_imports_the_users_code(tmp_path: Path) -> None:
    """config only reads files: the agent module is imported by the agents layer
    (validate and the agent registry), not by load_project / collect_project."""
    marker = tmp_path / "imported.txt"
    name = _module(
        tmp_path, f"open({str(marker)!r}, 'w').write('yes')\n" + MODULE.replace("\n\n\n", "\n")
    )
    good_project(
        tmp_path,
        {AGENT_FILE: AGENT.replace("  max_retries: 3", f"  module: {name}.OpenOne")},
    )
    flows = "flows:\n  f:\n    description: d\n    steps:\n      - call: stock_explorer\n"
    write(tmp_path, {"flows.yml": flows})

    load_project(tmp_path, env=ENV)
    assert not marker.exists()
    assert not [p for p in problems(tmp_path) if p.severity == "error"]
    assert marker.read_text() == "yes"


async def test_starting_the_agents_refuses_a_call_that_does_not_fit_the_class(
    tmp_path: Path,
) -> None:
    """The run stops at start with the same file:line problem validate shows."""
    import pytest

    from subagents import load_agents
    from subagents.errors import ConfigErrors

    name = _module(tmp_path)
    good_project(
        tmp_path,
        {AGENT_FILE: AGENT.replace("  max_retries: 3", f"  module: {name}.OpenOne")},
    )
    expected = [str(p) for p in problems(tmp_path) if p.severity == "error"]
    assert expected and "flows.yml:13" in expected[0]

    with pytest.raises(ConfigErrors) as caught:
        await load_agents(load_project(tmp_path, env=ENV))
    assert [str(p) for p in caught.value.problems] == expected
