"""A misspelt prompt variable (issue 16, item 6): reported at load with the valid names,
and never rendered as nothing at run time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from subagents import AgentInput, AgentStatus, MCPOpenAgent
from subagents.config.loader import collect_project

from .helpers import scripted_llm

AGENT = (
    "agent:\n  name: helper\n  description: Helps.\nconfiguration:\n  prompt_template: p.jinja2\n"
)


def _project(root: Path, template: str, extra: str = "") -> Path:
    folder = root / "sub_agents" / "helper"
    folder.mkdir(parents=True)
    (folder / "config.yml").write_text(AGENT + extra)
    (root / "p.jinja2").write_text(template)
    return root


def test_an_unknown_variable_is_a_load_error_naming_the_valid_ones(tmp_path: Path) -> None:
    _project(tmp_path, "You are {{ agent_name }}.\n{{ descripton }}\n")
    _, problems = collect_project(tmp_path)
    assert [str(p) for p in problems if p.severity == "error"] == [
        "sub_agents/helper/config.yml:5: configuration.prompt_template: prompt template"
        " 'p.jinja2' uses unknown variable 'descripton' (line 2); did you mean 'description'?;"
        " the variables are: agent_name, conversation_history, current_date,"
        " current_datetime, current_time, description, slot_names, slots, user_message"
    ]


def test_slots_loops_and_set_variables_are_fine(tmp_path: Path) -> None:
    template = (
        "{{ description }} {{ slots.city }}\n"
        "{% set first = slot_names[0] if slot_names else '' %}{{ first }}\n"
        "{% for name in slot_names %}{{ name }}{% endfor %}\n"
    )
    _project(tmp_path, template)
    _, problems = collect_project(tmp_path)
    assert [p for p in problems if "prompt" in str(p)] == []


def test_with_a_custom_class_an_unknown_variable_is_only_a_warning(tmp_path: Path) -> None:
    # A subclass may add variables through template_variables(); only the run can tell.
    _project(
        tmp_path,
        "{{ store_name }}\n",
        "  module: sub_agents.helper.agent.Helper\n",
    )
    (tmp_path / "sub_agents" / "helper" / "agent.py").write_text(
        "from subagents import MCPOpenAgent\n\n\nclass Helper(MCPOpenAgent):\n"
        "    def template_variables(self, run, input):\n"
        "        return {'store_name': 'Salon'}\n"
    )
    _, problems = collect_project(tmp_path)
    prompt = [str(p) for p in problems if "prompt template" in str(p)]
    assert len(prompt) == 1
    assert "warning:" in prompt[0]
    assert "uses unknown variable 'store_name'" in prompt[0]
    assert "fine if template_variables() of configuration.module adds it" in prompt[0]


async def test_a_misspelt_variable_fails_the_run_instead_of_rendering_empty(
    scripted_model: Any,
) -> None:
    server = await scripted_model([{"text": "unused"}])
    agent = MCPOpenAgent(
        name="helper",
        description="Helps.",
        llm=scripted_llm(server.url, retries=0),
        prompt_template="{{ descripton }}",
    )
    out = await agent.run(AgentInput(user_message="hi"))
    assert out.status is AgentStatus.FATAL_ERROR
    assert out.error_message is not None
    assert "'descripton' is undefined" in out.error_message
    assert server.requests == []  # never sent a prompt with a hole in it


async def test_a_missing_slot_still_renders_empty(scripted_model: Any) -> None:
    server = await scripted_model([{"text": "ok"}])
    agent = MCPOpenAgent(
        name="helper",
        description="Helps.",
        llm=scripted_llm(server.url, retries=0),
        prompt_template="[{{ slots.city }}|{{ slot_names }}]",
    )
    await agent.run(AgentInput(user_message="hi"))
    assert server.requests[0]["messages"][0]["content"] == "[|]"
