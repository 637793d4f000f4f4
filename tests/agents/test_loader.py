"""load_agents over real projects: real stdio MCP servers (mcp_servers/), scripted model."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from subagents import AgentInput, AgentStatus, MCPOpenAgent, MCPTaskAgent, load_agents
from subagents.config.loader import load_project
from subagents.errors import ConfigError
from subagents.mcp import MCPManager
from subagents.testing import ScriptedModelServer, point_endpoints_at

from .helpers import tool_messages

# One event loop and one set of MCP server processes for the whole module (speed).
pytestmark = pytest.mark.asyncio(loop_scope="module")

REPO = Path(__file__).resolve().parents[2]
WEATHER = REPO / "mcp_servers" / "weather_server.py"
APPOINTMENTS = REPO / "mcp_servers" / "appointments_server.py"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


ENDPOINTS = f"""
model_groups:
  - id: main
    models:
      - provider: openai
        model: gpt-4o
        api_key: literal-not-used
mcp_servers:
  - name: weather
    type: stdio
    command: python
    args: ["{WEATHER}"]
  - name: weather_copy
    type: stdio
    command: python
    args: ["{WEATHER}"]
  - name: appointments
    type: stdio
    command: python
    args: ["{APPOINTMENTS}"]
"""

CUSTOM_AGENT = """
from subagents import AgentInput, AgentOutput, AgentToolResult, MCPOpenAgent

SEEN = []


class Concierge(MCPOpenAgent):
    def get_custom_tool_definitions(self):
        return [
            {
                "type": "function",
                "function": {
                    "name": "vip_status",
                    "description": "Whether the customer is a VIP.",
                    "parameters": {
                        "type": "object",
                        "properties": {"customer": {"type": "string"}},
                        "required": ["customer"],
                        "additionalProperties": False,
                    },
                    "strict": True,
                },
                "tool_executor": self._vip,
            },
            {
                "type": "function",
                "function": {"name": "whoami", "description": "Conversation id.",
                             "parameters": {"type": "object", "properties": {}}},
                "tool_executor": self._whoami,
            },
        ]

    async def _vip(self, arguments):
        SEEN.append(arguments)
        return AgentToolResult(tool_name="vip_status", result=f"{arguments['customer']}: VIP")

    async def _whoami(self, arguments, context):
        return AgentToolResult(
            tool_name="whoami", result=f"{context.conversation_id} {context.slots.get('tier')}"
        )

    async def process_input(self, input: AgentInput) -> AgentInput:
        return input.model_copy(update={"user_message": input.user_message.upper()})

    async def process_output(self, output: AgentOutput) -> AgentOutput:
        output.metadata["processed"] = True
        return output
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        {
            "endpoints.yml": ENDPOINTS,
            "domain.yml": """
                slots:
                  appointment_date: {type: text}
                  appointment_time: {type: text}
                  tier: {type: text}
            """,
            "sub_agents/forecaster/config.yml": """
                agent: {name: forecaster, description: Weather questions.}
                configuration: {llm: {model_group: main}}
                connections:
                  mcp_servers:
                    - name: weather
                      include_tools: [get_weather, get_forecast]
            """,
            "sub_agents/booker/config.yml": """
                agent: {name: booker, description: Books appointments.}
                configuration:
                  llm: {model_group: main}
                  prompt_template: prompt.jinja2
                connections:
                  mcp_servers:
                    - name: appointments
                      exclude_tools: [cancel_appointment]
            """,
            "sub_agents/booker/prompt.jinja2": (
                "Book. Fill {{ slot_names }}. Tier: {{ slots.tier }}\n"
            ),
            "sub_agents/concierge/config.yml": """
                agent: {name: concierge, description: VIP desk.}
                configuration:
                  llm: {model_group: main}
                  module: concierge_agent.Concierge
                connections:
                  mcp_servers:
                    - name: weather
                      include_tools: [get_weather]
            """,
            "concierge_agent.py": CUSTOM_AGENT,
        },
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mcp(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = write(tmp_path_factory.mktemp("mcp"), {"endpoints.yml": ENDPOINTS})
    async with MCPManager(load_project(root).endpoints.mcp_servers) as manager:
        await manager.start()
        yield manager


def scripted(steps: list[Any]) -> ScriptedModelServer:
    return ScriptedModelServer(steps)  # started by `async with`


async def test_filtered_mcp_tools_are_offered_and_called(mcp: MCPManager, project: Path) -> None:
    server = scripted(
        [
            {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
            {"tool_calls": [{"name": "get_local_time", "arguments": {"city": "Paris"}}]},
            {"tool_calls": [{"name": "task_completed", "arguments": {"message": "Sunny."}}]},
        ]
    )
    async with server:
        registry = await load_agents(_pointed(project, server.url), mcp=mcp)
        try:
            agent = registry.get("forecaster")
            assert isinstance(agent, MCPOpenAgent)
            out = await agent.run(AgentInput(id="c1", user_message="Weather in Paris?"))
        finally:
            await registry.aclose()
    assert out.status is AgentStatus.COMPLETED
    assert server.tools_offered(0) == ["get_weather", "get_forecast", "task_completed"]
    results = [m["content"] for m in tool_messages(server.requests[2]["messages"])]
    assert results[0] == "Paris: 17°C, sunny"  # structuredContent duplicate not sent twice
    assert "no tool named 'get_local_time'" in results[1]  # not included: never executed
    offered = {t["function"]["name"]: t["function"] for t in server.requests[0]["tools"]}
    assert offered["get_forecast"]["strict"] is False
    assert offered["get_forecast"]["parameters"]["required"] == ["city"]


async def test_excluded_tool_is_never_executed(mcp: MCPManager, project: Path) -> None:
    server = scripted(
        [
            {"tool_calls": [{"name": "cancel_appointment", "arguments": {"booking_id": "A1"}}]},
            {"tool_calls": [{"name": "check_availability", "arguments": {"date": "nope"}}]},
            {
                "tool_calls": [
                    {"name": "set_slot_appointment_date", "arguments": {"slot_value": "2030-05-14"}}
                ]
            },
            {
                "tool_calls": [
                    {"name": "set_slot_appointment_time", "arguments": {"slot_value": "13:00"}}
                ]
            },
        ]
    )
    async with server, load_agents(_pointed(project, server.url), mcp=mcp) as registry:
        agent = registry.get(
            "booker",
            exit_if=[
                "slots.appointment_date is not null",
                "slots.appointment_time is not null",
            ],
        )
        assert isinstance(agent, MCPTaskAgent)
        out = await agent.run(
            AgentInput(id="b", user_message="cancel A1", slots=[{"name": "tier", "value": "gold"}])
        )
    assert out.status is AgentStatus.COMPLETED
    assert out.response_message is None
    assert out.events == [
        {"event": "slot", "name": "appointment_date", "value": "2030-05-14"},
        {"event": "slot", "name": "appointment_time", "value": "13:00"},
    ]
    offered = server.tools_offered(0)
    assert "cancel_appointment" not in offered
    assert offered[-2:] == ["set_slot_appointment_date", "set_slot_appointment_time"]
    first_result = tool_messages(server.requests[1]["messages"])[0]["content"]
    assert "no tool named 'cancel_appointment'" in first_result
    # A tool error from the real server (isError) goes back to the model.
    second_result = tool_messages(server.requests[2]["messages"])[1]["content"]
    assert second_result.startswith("Error: tool 'check_availability' reported an error")
    assert "not a date" in second_result
    system = server.requests[0]["messages"][0]["content"]
    assert system == "Book. Fill appointment_date, appointment_time. Tier: gold\n"


def _pointed(root: Path, url: str) -> Any:
    loaded = load_project(root)
    loaded.endpoints = point_endpoints_at(loaded.endpoints, url)
    return loaded


async def test_custom_tools_and_hooks(mcp: MCPManager, project: Path) -> None:
    server = scripted(
        [
            {
                "tool_calls": [
                    {"name": "vip_status", "arguments": {"customer": "Ada"}},
                    {"name": "vip_status", "arguments": {"customer": "Bob", "extra": 1}},
                    {"name": "whoami", "arguments": {}},
                ]
            },
            {"text": "Ada is a VIP."},
        ]
    )
    async with server, load_agents(_pointed(project, server.url), mcp=mcp) as registry:
        agent = registry.get("concierge")
        assert type(agent).__name__ == "Concierge"
        out = await agent.run(
            AgentInput(
                id="conv-7",
                user_message="is ada vip?",
                slots=[{"name": "tier", "value": "gold"}],
            )
        )
    assert out.metadata["processed"] is True
    assert server.requests[0]["messages"][1]["content"] == "IS ADA VIP?"
    assert server.tools_offered(0) == ["get_weather", "vip_status", "whoami", "task_completed"]
    vip = next(t for t in server.requests[0]["tools"] if t["function"]["name"] == "vip_status")
    assert vip["function"]["strict"] is True
    results = [m["content"] for m in tool_messages(server.requests[1]["messages"])]
    assert results[0] == "Ada: VIP"
    assert "Additional properties are not allowed ('extra' was unexpected)" in results[1]
    assert results[2] == "conv-7 gold"
    seen = sys.modules["concierge_agent"].SEEN
    assert seen == [{"customer": "Ada"}]


async def test_duplicate_tool_names_are_a_load_error(project: Path, mcp: MCPManager) -> None:
    write(
        project,
        {
            "sub_agents/twice/config.yml": """
                agent: {name: twice}
                configuration: {llm: {model_group: main}}
                connections:
                  mcp_servers:
                    - name: weather
                    - name: weather_copy
                      exclude_tools: [get_weather]
            """
        },
    )
    with pytest.raises(ConfigError) as info:
        await load_agents(project, mcp=mcp)
    text = str(info.value)
    assert "sub_agents/twice/config.yml" in text
    assert "tool 'get_forecast' is offered by both 'weather' and 'weather_copy'" in text


async def test_registry_get(project: Path, mcp: MCPManager) -> None:
    server = scripted([])
    async with server, load_agents(_pointed(project, server.url), mcp=mcp) as registry:
        assert sorted(registry.names) == ["booker", "concierge", "forecaster"]
        exit_if = ["slots.appointment_date is not null"]
        assert registry.get("booker", exit_if=exit_if) is registry.get("booker", exit_if=exit_if)
        assert registry.get("forecaster") is registry.get("forecaster")
        with pytest.raises(ConfigError, match="unknown agent 'nobody'"):
            registry.get("nobody")
        with pytest.raises(ConfigError, match="is not an MCPTaskAgent"):
            registry.get("concierge", exit_if=exit_if)


def _unreachable_project(
    root: Path, *, agent_retries: int | None, server_retries: int | None
) -> Path:
    server_extra = f"\n    max_retries: {server_retries}" if server_retries is not None else ""
    agent_extra = f"\n  max_retries: {agent_retries}" if agent_retries is not None else ""
    return write(
        root,
        {
            "endpoints.yml": f"""
mcp_servers:
  - name: gone
    type: stdio
    command: python
    args: ["-c", "import sys; sys.exit(3)"]{server_extra}
""",
            "sub_agents/a/config.yml": f"""
agent:
  name: a
  description: test
configuration:{agent_extra or " {}"}
connections:
  mcp_servers:
    - name: gone
""",
        },
    )


@pytest.mark.parametrize(
    ("agent_retries", "server_retries", "attempts"),
    [(None, None, 3), (1, None, 1), (2, 1, 1)],
)
async def test_agent_max_retries_bounds_connection_attempts(
    tmp_path: Path, agent_retries: int | None, server_retries: int | None, attempts: int
) -> None:
    root = _unreachable_project(
        tmp_path, agent_retries=agent_retries, server_retries=server_retries
    )
    with pytest.raises(Exception) as info:
        async with load_agents(root):
            pass
    assert "MCP server 'gone'" in str(info.value)
    assert f"after {attempts} attempt(s)" in str(info.value)
