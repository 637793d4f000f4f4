"""Our A2A client (protocol: A2A agents) against our A2A server (the project's agents
served with a2a-sdk's server classes), all over real HTTP on 127.0.0.1; the served
agent's model is the scripted one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from subagents import AgentInput, AgentStatus, Assistant, load_agents
from subagents.channels.a2a_server import a2a_routes
from subagents.channels.agent_sessions import AgentSessions
from subagents.testing import ScriptedModelServer

from .support import endpoints, free_port, open_agent, serve, write

pytestmark = pytest.mark.timeout(60)


def served_project(root: Path, model_url: str) -> Path:
    return write(
        root,
        {
            "endpoints.yml": endpoints(model_url),
            "sub_agents/weather/config.yml": open_agent("weather", "Tells the weather."),
        },
    )


def client_project(root: Path, card: str, extra: str = "") -> Path:
    return write(
        root,
        {
            "sub_agents/remote_weather/config.yml": f"""
            agent:
              name: remote_weather
              protocol: a2a
              description: The weather, from another service.
            configuration:
              agent_card: {card}
              timeout: 30
            {extra}
            """,
            "flows.yml": """
            flows:
              weather:
                description: Tell the weather.
                steps:
                  - call: remote_weather
                  - action: utter_done
            """,
            "domain.yml": """
            responses:
              utter_done:
                - text: "Anything else?"
            """,
        },
    )


ASK_THEN_ANSWER = [
    {"text": "Which city?"},
    {"tool_calls": [{"name": "task_completed", "arguments": {"message": "Berlin: 14°C."}}]},
]


class Served:
    def __init__(self, model: ScriptedModelServer, url: str) -> None:
        self.model = model
        self.url = url

    def card(self, agent: str = "weather") -> str:
        return f"{self.url}/a2a/{agent}/.well-known/agent-card.json"


async def start_served(tmp_path: Path, steps: list[Any], stack: Any) -> Served:
    model = await stack.enter_async_context(ScriptedModelServer(steps))
    root = served_project(tmp_path / "served", model.url)
    registry = await stack.enter_async_context(load_agents(root))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = Starlette(routes=a2a_routes(AgentSessions(registry), base))
    url = await stack.enter_async_context(serve(app, port))
    return Served(model, url)


async def test_card_and_index_are_generated(tmp_path: Path) -> None:
    import contextlib

    async with contextlib.AsyncExitStack() as stack:
        served = await start_served(tmp_path, ASK_THEN_ANSWER, stack)
        async with httpx.AsyncClient(timeout=10) as http:
            index = (await http.get(f"{served.url}/a2a")).json()
            card = (await http.get(served.card())).json()
    assert index["agents"] == [
        {"name": "weather", "description": "Tells the weather.", "card": served.card()}
    ]
    assert card["name"] == "weather"
    assert card["capabilities"]["streaming"] is True
    bindings = {(i["protocolBinding"], i["protocolVersion"]) for i in card["supportedInterfaces"]}
    assert ("JSONRPC", "1.0") in bindings and ("HTTP+JSON", "1.0") in bindings
    assert card["skills"][0]["description"] == "Tells the weather."


@pytest.mark.parametrize("streaming", [True, False])
async def test_client_resumes_the_remote_task_until_completed(
    tmp_path: Path, streaming: bool
) -> None:
    import contextlib

    async with contextlib.AsyncExitStack() as stack:
        served = await start_served(tmp_path, ASK_THEN_ANSWER, stack)
        extra = "" if streaming else "  streaming: false"
        root = client_project(tmp_path / "client", served.card(), extra)
        registry = await stack.enter_async_context(load_agents(root))
        agent = registry.get("remote_weather")
        seen: list[str] = []

        async def on_text(delta: str) -> None:
            seen.append(delta)

        first = await agent.run(
            AgentInput(id="c1", user_message="What's the weather?", metadata={"state": None}),
            on_text=on_text,
        )
        assert first.status == AgentStatus.INPUT_REQUIRED, first.error_message
        assert first.response_message == "Which city?"
        state = first.metadata["state"]
        assert state["task_id"] and state["context_id"]
        second = await agent.run(
            AgentInput(id="c1", user_message="Berlin", metadata={"state": state}),
            on_text=on_text,
        )
    assert second.status == AgentStatus.COMPLETED, second.error_message
    assert second.response_message == "Berlin: 14°C."
    assert second.metadata["task_id"] == state["task_id"]
    # The served agent was resumed: its second model request holds the whole exchange.
    messages = served.model.requests[1]["messages"]
    said = [(m["role"], m.get("content")) for m in messages if m["role"] in ("user", "assistant")]
    assert said[:3] == [
        ("user", "What's the weather?"),
        ("assistant", "Which city?"),
        ("user", "Berlin"),
    ]
    if streaming:
        assert "".join(seen) == "Which city?" + "Berlin: 14°C."
    else:
        assert seen == ["Which city?", "Berlin: 14°C."]


async def test_flow_calls_the_a2a_agent_through_the_assistant(tmp_path: Path) -> None:
    import contextlib

    async with contextlib.AsyncExitStack() as stack:
        served = await start_served(tmp_path, ASK_THEN_ANSWER, stack)
        root = client_project(tmp_path / "client", served.card())
        assistant = await Assistant.load(root)
        stack.push_async_callback(assistant.aclose)
        first = await assistant.handle_message("u1", "/weather")
        second = await assistant.handle_message("u1", "Berlin")
        tracker = await assistant.get_tracker("u1")
    assert [m["text"] for m in first] == ["Which city?"]
    assert [m["text"] for m in second] == ["Berlin: 14°C.", "Anything else?"]
    names = [e["event"] for e in tracker["events"]]
    assert "agent_input_required" in names and "agent_completed" in names
