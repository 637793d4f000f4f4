"""A small project whose agent uses the interactive SDK server, served over real HTTP
(uvicorn on 127.0.0.1) with the scripted model: for whole conversations over REST."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from mcp_helpers import INTERACTIVE

from subagents.server import create_app
from subagents.testing import ScriptedModelServer, serve_asgi

DOMAIN = """
slots: {}
responses: {}
"""

FLOWS = """
flows:
  helpdesk:
    description: Index files, book tables, pay invoices, summarize texts.
    steps:
      - call: helper
"""

HELPER = """
agent:
  name: helper
  description: Uses the interactive tools for the user.
configuration:
  llm:
    model_group: default
  timeout: 30
connections:
  mcp_servers:
    - name: interactive
"""


def endpoints(server_yaml: str) -> str:
    return f"""
model_groups:
  - id: default
    models:
      - provider: openai
        model: scripted
        api_key: not-a-key
        retries: 0
        timeout: 20
mcp_servers:
{server_yaml}
"""


def stdio_server_yaml(**extra: Any) -> str:
    lines = [
        "  - name: interactive",
        "    type: stdio",
        f"    command: {sys.executable}",
        f'    args: ["{INTERACTIVE}", "stdio"]',
        *(f"    {key}: {json.dumps(value)}" for key, value in extra.items()),
    ]
    return "\n".join(lines)


def http_server_yaml(url: str, **extra: Any) -> str:
    lines = [
        "  - name: interactive",
        "    type: http",
        f"    url: {url}",
        *(f"    {key}: {json.dumps(value)}" for key, value in extra.items()),
    ]
    return "\n".join(lines)


def write_project(root: Path, server_yaml: str) -> Path:
    files = {
        "endpoints.yml": endpoints(server_yaml),
        "domain.yml": DOMAIN,
        "flows.yml": FLOWS,
        "sub_agents/helper/config.yml": HELPER,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip(), encoding="utf-8")
    return root


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


START = call("start_flow", flow="helpdesk")


class Served:
    """The project served over HTTP: the scripted model and an httpx client."""

    def __init__(self, model: ScriptedModelServer, client: httpx.AsyncClient) -> None:
        self.model = model
        self.client = client

    async def say(self, sender: str, text: str) -> list[dict[str, Any]]:
        response = await self.client.post(
            "/webhooks/rest/webhook", json={"sender": sender, "message": text}
        )
        assert response.status_code == 200, response.text
        return list(response.json())

    async def texts(self, sender: str, text: str) -> list[str]:
        return [str(m.get("text")) for m in await self.say(sender, text)]

    async def stream(self, sender: str, text: str) -> list[dict[str, Any]]:
        async with self.client.stream(
            "POST", "/webhooks/rest/webhook?stream=true", json={"sender": sender, "message": text}
        ) as response:
            assert response.status_code == 200
            return [json.loads(line) async for line in response.aiter_lines() if line]

    async def tracker(self, sender: str) -> dict[str, Any]:
        response = await self.client.get(f"/conversations/{sender}/tracker")
        assert response.status_code == 200, response.text
        return dict(response.json())


@contextlib.asynccontextmanager
async def serve(root: Path, scenario: Any) -> AsyncIterator[Served]:
    from subagents.dialogue.assistant import Assistant

    async with ScriptedModelServer(scenario) as model:
        assistant = await Assistant.load(root, llm_url=model.url)
        try:
            async with (
                serve_asgi(create_app(assistant)) as url,
                httpx.AsyncClient(base_url=url, timeout=60) as client,
            ):
                yield Served(model, client)
        finally:
            await assistant.aclose()


def events_named(tracker: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [e for e in tracker["events"] if e.get("event") == name]


def tool_messages(request: dict[str, Any]) -> list[str]:
    return [str(m.get("content")) for m in request["messages"] if m.get("role") == "tool"]
