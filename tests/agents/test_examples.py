"""The repository's example agents run offline against their scenarios (scenarios/*.yml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from subagents import AgentInput, AgentStatus, load_agents
from subagents.agents.schemas import AgentInputSlot
from subagents.config.loader import load_project
from subagents.mcp import MCPManager
from subagents.testing import ScriptedModelServer, point_endpoints_at

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")

REPO = Path(__file__).resolve().parents[2]
BOOKING_EXIT_IF = [
    "slots.appointment_service is not null",
    "slots.appointment_date is not null and slots.appointment_time is not null",
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mcp() -> Any:
    project = load_project(REPO)
    async with MCPManager(project.endpoints.mcp_servers, project_root=REPO) as manager:
        await manager.start()
        yield manager


async def run_conversation(
    mcp: MCPManager, agent_name: str, scenario: str, messages: list[str], **get: Any
) -> list[Any]:
    project = load_project(REPO)
    outputs = []
    async with ScriptedModelServer(REPO / "scenarios" / scenario) as server:
        project.endpoints = point_endpoints_at(project.endpoints, server.url)
        async with load_agents(project, mcp=mcp) as registry:
            agent = registry.get(agent_name, **get)
            slots: dict[str, Any] = {}
            for message in messages:
                out = await agent.run(
                    AgentInput(
                        id="example",
                        user_message=message,
                        slots=[AgentInputSlot(name=k, value=v) for k, v in slots.items()],
                    )
                )
                slots.update({e["name"]: e["value"] for e in out.events})
                outputs.append(out)
        assert server.remaining() == 0  # the whole scenario was played
    return outputs


@MODULE_LOOP
async def test_appointment_booker_scenario(mcp: MCPManager) -> None:
    outs = await run_conversation(
        mcp,
        "appointment_booker",
        "appointment_booker.yml",
        ["I'd like a haircut", "On 2030-05-14 please", "13:00 works, my name is Alex"],
        exit_if=BOOKING_EXIT_IF,
    )
    assert [o.status for o in outs] == [
        AgentStatus.INPUT_REQUIRED,
        AgentStatus.INPUT_REQUIRED,
        AgentStatus.COMPLETED,
    ]
    assert outs[0].events == [{"event": "slot", "name": "appointment_service", "value": "haircut"}]
    assert (
        "Booked haircut for Alex on 2030-05-14 at 13:00" in outs[2].structured_results[0]["result"]
    )
    assert outs[2].response_message is None
    assert {e["name"]: e["value"] for e in outs[2].events} == {
        "appointment_date": "2030-05-14",
        "appointment_time": "13:00",
    }


@MODULE_LOOP
async def test_outfit_advisor_scenario(mcp: MCPManager) -> None:
    (out,) = await run_conversation(
        mcp, "outfit_advisor", "outfit_advisor.yml", ["What should I wear in London today?"]
    )
    assert out.status is AgentStatus.COMPLETED
    assert [r["result"] for r in out.structured_results[:2]] == [
        "London: 12°C, rain",
        "Wear a jacket over a long-sleeved top, plus an umbrella.",
    ]
    assert out.metadata["advisor"] == "outfit"  # process_output ran


def test_demo_runner_plays_the_weather_scenario() -> None:
    command = [
        sys.executable,
        "-m",
        "subagents.cli",
        "agent",
        "--project",
        str(REPO),
        "--agent",
        "weather_helper",
        "--scenario",
        str(REPO / "scenarios" / "weather_helper.yml"),
        "What's the weather in Paris?",
        "And in Lisbon?",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "[tool ok] get_weather" in done.stdout
    assert "agent: It's 17°C and sunny in Paris right now." in done.stdout
    assert "agent: Lisbon is at 23°C and sunny." in done.stdout
    assert "(completed, 2 LLM calls)" in done.stdout
