"""Flow routing details: the router's model group and the reserved flow ids."""

from __future__ import annotations

from pathlib import Path

import pytest
from contract_support import call, write_project

from subagents.agents.validate import validate_project
from subagents.dialogue.assistant import Assistant
from subagents.stores import InMemoryTrackerStore
from subagents.testing import ScriptedModelServer

FLOWS = """
    flows:
      greet:
        description: The user says hello.
        steps:
          - action: utter_hello
    """
DOMAIN = """
    responses:
      utter_hello:
        - text: Hello!
    """


def groups_yaml(*groups: tuple[str, str]) -> str:
    lines = ["model_groups:"]
    for group_id, model in groups:
        lines += [f"  - id: {group_id}", "    models:", f"      - model: {model}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("groups", "expected_model"),
    [
        ([("default", "agent-model"), ("router", "router-model")], "router-model"),
        ([("first", "first-model"), ("second", "second-model")], "first-model"),
    ],
    ids=["router-group", "first-group"],
)
async def test_router_uses_the_router_group_else_the_first(
    tmp_path: Path, groups: list[tuple[str, str]], expected_model: str
) -> None:
    root = write_project(
        tmp_path / "p",
        {"endpoints.yml": groups_yaml(*groups), "domain.yml": DOMAIN, "flows.yml": FLOWS},
    )
    async with ScriptedModelServer([call("start_flow", flow="greet")]) as model:
        assistant = await Assistant.load(
            root, llm_url=model.url, tracker_store=InMemoryTrackerStore()
        )
        try:
            reply = await assistant.handle_message("r1", "hi there")
        finally:
            await assistant.aclose()
    assert [m["text"] for m in reply] == ["Hello!"]
    assert [r["model"] for r in model.requests] == [expected_model]


@pytest.mark.parametrize("flow_id", ["exit", "restart"])
def test_exit_and_restart_are_reserved_flow_ids(tmp_path: Path, flow_id: str) -> None:
    root = write_project(
        tmp_path / "p",
        {
            "domain.yml": DOMAIN,
            "flows.yml": f"flows:\n  {flow_id}:\n    steps:\n      - action: utter_hello\n",
        },
    )
    errors = [str(p) for p in validate_project(root, env={}) if p.severity == "error"]
    assert len(errors) == 1
    assert errors[0].startswith(f"flows.yml:2: flows.{flow_id}: '{flow_id}' is reserved")
