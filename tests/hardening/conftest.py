"""Fixtures of the hardening tests: a small project, the app served by a real uvicorn
with the guarded protocol on 127.0.0.1, and a model server that never answers."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn

from subagents.dialogue.assistant import Assistant
from subagents.server import ServerSettings, create_app
from subagents.server_http import uvicorn_config

DOMAIN: dict[str, Any] = {
    "slots": {"city": {"type": "text"}},
    "responses": {"utter_ask_city": [{"text": "Which city?"}], "utter_done": [{"text": "Done."}]},
}
FLOWS: dict[str, Any] = {
    "trip": {
        "description": "Plan a trip to a city.",
        "steps": [{"collect": "city"}, {"action": "utter_done"}],
    },
    "greet": {"description": "Greet the user.", "steps": [{"action": "utter_done"}]},
}


def write_project(root: Path, endpoints: dict[str, Any] | None = None, **files: Any) -> Path:
    """A project with the trip flow; JSON is YAML, so the files are written as JSON."""
    root.mkdir(parents=True, exist_ok=True)
    data = {
        "endpoints.yml": {"tracker_store": {"type": "memory"}} if endpoints is None else endpoints,
        "domain.yml": files.get("domain", DOMAIN),
        "flows.yml": {"flows": files.get("flows", FLOWS)},
    }
    for name, value in data.items():
        (root / name).write_text(json.dumps(value))
    return root


async def wait_until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    """Poll ``condition`` until true (TimeoutError after ``limit`` seconds)."""
    async with asyncio.timeout(limit):
        while not condition():  # noqa: ASYNC110 - state of another library, no event to await
            await asyncio.sleep(0.01)


class Served:
    """The app on a real uvicorn: ``url``, ``client``, the assistant and its settings."""

    def __init__(self, url: str, app: Any, assistant: Assistant, settings: ServerSettings) -> None:
        self.url = url
        self.app = app
        self.assistant = assistant
        self.settings = settings
        self.client = httpx.AsyncClient(base_url=url, timeout=10)

    @property
    def inflight(self) -> int:
        """Webhook requests being handled now."""
        return int(self.app.state.rest.inflight)

    async def events(self, sender: str) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = (await self.assistant.get_tracker(sender))["events"]
        return data


@contextlib.asynccontextmanager
async def serve(assistant: Assistant, settings: ServerSettings) -> AsyncIterator[Served]:
    """Serve ``assistant`` with ``settings`` on a free port of 127.0.0.1."""
    app = create_app(assistant, settings=settings)
    config = uvicorn_config(app, host="127.0.0.1", port=0, log_level="info", settings=settings)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started)
    port = server.servers[0].sockets[0].getsockname()[1]
    served = Served(f"http://127.0.0.1:{port}", app, assistant, settings)
    try:
        yield served
    finally:
        await served.client.aclose()
        server.should_exit = True
        async with asyncio.timeout(10):
            await task


@pytest_asyncio.fixture
async def served(
    tmp_path: Path, scripted_model: Any
) -> AsyncIterator[Callable[..., Awaitable[Served]]]:
    """``await served(settings=..., scenario=[...])``: the trip project, served."""
    stack = contextlib.AsyncExitStack()
    counter = itertools.count()

    async def start(
        settings: ServerSettings | None = None, scenario: Any = None, **load: Any
    ) -> Served:
        model = await scripted_model(scenario or [])
        root = write_project(tmp_path / f"p{next(counter)}")
        assistant = await Assistant.load(root, llm_url=model.url, seed=0, **load)
        stack.push_async_callback(assistant.aclose)
        return await stack.enter_async_context(serve(assistant, settings or ServerSettings()))

    async with stack:
        yield start


@pytest_asyncio.fixture
async def dead_model() -> AsyncIterator[str]:
    """An OpenAI base URL whose server accepts connections and never answers."""
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(Exception):
            await reader.read()  # until the client gives up

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1"
    for writer in writers:
        writer.close()
    server.close()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5):
            await server.wait_closed()


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog
