"""``subagents a2a`` as a child process, and the REST server with ``--a2a`` (in-process):
the agents' cards are served and an A2A call answers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from subagents import AgentInput, AgentStatus, Assistant
from subagents.agents.a2a import A2AAgent
from subagents.server import create_app
from subagents.testing import ScriptedModelServer

from .support import endpoints, free_port, open_agent, serve, write

pytestmark = pytest.mark.timeout(90)
SRC = Path(__file__).resolve().parents[2] / "src"
DONE = [{"tool_calls": [{"name": "task_completed", "arguments": {"message": "Sunny."}}]}]


def project(root: Path, model_url: str) -> Path:
    return write(
        root,
        {
            "endpoints.yml": endpoints(model_url),
            "sub_agents/weather/config.yml": open_agent("weather", "Tells the weather."),
        },
    )


async def wait_healthy(url: str, proc: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient(timeout=2) as http, asyncio.timeout(30):
        while True:
            assert proc.returncode is None, "subagents a2a exited before serving"
            try:
                if (await http.get(f"{url}/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)


async def ask(card: str, text: str) -> object:
    agent = A2AAgent("remote", agent_card=card, timeout=30)
    try:
        return await agent.run(AgentInput(id="c1", user_message=text))
    finally:
        await agent.aclose()


async def test_a2a_command_serves_the_agents(tmp_path: Path) -> None:
    async with ScriptedModelServer(DONE) as model:
        root = project(tmp_path, model.url)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "subagents", "a2a", "--project", str(root)],
            *["--port", str(port)],
            env={**os.environ, "PYTHONPATH": str(SRC)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            await wait_healthy(url, proc)
            async with httpx.AsyncClient(timeout=10) as http:
                index = (await http.get(f"{url}/a2a")).json()
                rest = await http.post(f"{url}/webhooks/rest/webhook", json={"message": "x"})
            out = await ask(index["agents"][0]["card"], "Weather?")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await asyncio.wait_for(proc.wait(), 10)
    assert [a["name"] for a in index["agents"]] == ["weather"]
    assert rest.status_code == 404  # subagents a2a serves the agents only
    assert out.status == AgentStatus.COMPLETED and out.response_message == "Sunny."  # type: ignore[attr-defined]
    assert proc.returncode == 0


async def test_run_with_a2a_serves_rest_and_agents(tmp_path: Path) -> None:
    async with ScriptedModelServer(DONE) as model:
        root = project(tmp_path, model.url)
        assistant = await Assistant.load(root)
        port = free_port()
        app = create_app(assistant, close_assistant=True, a2a_url=f"http://127.0.0.1:{port}")
        async with serve(app, port) as url:
            async with httpx.AsyncClient(timeout=10) as http:
                health = await http.get(f"{url}/health")
                index = (await http.get(f"{url}/a2a")).json()
            out = await ask(f"{url}/a2a/weather", "Weather?")
    assert health.json() == {"status": "ok"}
    assert index["agents"][0]["card"] == f"{url}/a2a/weather/.well-known/agent-card.json"
    assert out.status == AgentStatus.COMPLETED  # type: ignore[attr-defined]
