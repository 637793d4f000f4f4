"""The ASGI app: REST channel, health and tracker endpoints.

Two factories:

* :func:`create_app` wraps an :class:`~subagents.dialogue.assistant.Assistant` the caller
  already loaded (and closes, unless ``close_assistant=True``).
* :func:`create_project_app` loads the project inside the app's lifespan, so the MCP
  connections are opened and closed by the server's own event loop: uvicorn's graceful
  shutdown (SIGINT/SIGTERM) closes them and stops stdio servers. With ``scenario`` it also
  starts the scripted model in-process and points every model at it (offline mode).

Routes::

    POST /webhooks/rest/webhook            REST channel (?stream=true for NDJSON)
    GET  /health                           {"status": "ok"}
    GET  /conversations/{id}/tracker       {"sender_id", "slots", "latest_message", "events"}
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from subagents.channels.rest import RestChannel

if TYPE_CHECKING:
    from subagents.dialogue.assistant import Assistant

logger = logging.getLogger("subagents.server")


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _tracker(request: Request) -> Response:
    assistant = request.app.state.assistant
    conversation_id = request.path_params["conversation_id"]
    tracker = await assistant.get_tracker(conversation_id)
    return JSONResponse(tracker)


async def _webhook(request: Request) -> Response:
    channel: RestChannel = request.app.state.rest
    return await channel.webhook(request)


def _routes() -> list[Route]:
    return [
        Route("/health", _health, methods=["GET"]),
        Route("/webhooks/rest/webhook", _webhook, methods=["POST"]),
        Route("/conversations/{conversation_id}/tracker", _tracker, methods=["GET"]),
    ]


def create_app(
    assistant: Assistant,
    *,
    close_assistant: bool = False,
    a2a_url: str | None = None,
) -> Starlette:
    """The ASGI app serving ``assistant``.

    With ``close_assistant=True`` the app's shutdown awaits ``assistant.aclose()``.
    ``a2a_url`` (the public base URL, such as ``http://127.0.0.1:5005``) also serves the
    project's agents over A2A under ``/a2a`` (``subagents run --a2a``).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await app.state.rest.drain()
            if close_assistant:
                await assistant.aclose()

    routes: list[BaseRoute] = list(_routes())
    if a2a_url is not None:
        from subagents.channels.a2a_server import a2a_routes
        from subagents.channels.agent_sessions import AgentSessions

        routes += a2a_routes(AgentSessions(_registry(assistant)), a2a_url)
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.assistant = assistant
    app.state.rest = RestChannel(assistant)
    return app


def create_project_app(
    project_root: str | Path,
    *,
    llm_url: str | None = None,
    scenario: str | Path | None = None,
) -> Starlette:
    """The ASGI app for the project at ``project_root``, loaded when the server starts.

    ``llm_url`` points every model group at an OpenAI-compatible base URL; ``scenario``
    (a scripted-model YAML file) starts the scripted model in-process and uses it instead.
    """
    root = Path(project_root).resolve()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_assistant(root, llm_url=llm_url, scenario=scenario) as (assistant, _):
            app.state.assistant = assistant
            app.state.rest = RestChannel(assistant)
            logger.info("server.started", extra={"project": str(root)})
            yield
            await app.state.rest.drain()
            logger.info("server.stopping", extra={"project": str(root)})

    return Starlette(routes=_routes(), lifespan=lifespan)


def create_a2a_app(registry: Any, a2a_url: str) -> Starlette:
    """The ASGI app of ``subagents a2a``: ``GET /health`` and the agents of ``registry``
    (a started agents registry) over A2A, their cards naming ``a2a_url``."""
    from subagents.channels.a2a_server import a2a_routes
    from subagents.channels.agent_sessions import AgentSessions

    health = Route("/health", _health, methods=["GET"])
    return Starlette(routes=[health, *a2a_routes(AgentSessions(registry), a2a_url)])


def _registry(assistant: Assistant) -> Any:
    """The assistant's agents registry (an empty one when the project has no agents)."""
    if assistant.agents is not None:
        return assistant.agents
    from subagents.agents.loader import AgentRegistry

    return AgentRegistry(assistant.project)


@contextlib.asynccontextmanager
async def open_agents(
    project_root: str | Path, *, scenario: str | Path | None = None
) -> AsyncIterator[Any]:
    """Load and start only the project's agents (no flows, store or actions); yield the
    registry. With ``scenario`` the scripted model serves every model, as for
    :func:`open_assistant`."""
    from subagents.agents.loader import load_agents
    from subagents.config.loader import load_project

    async with contextlib.AsyncExitStack() as stack:
        project = load_project(Path(project_root))
        if scenario is not None:
            from subagents.channels.script import load_conversation_script
            from subagents.testing import ScriptedModelServer, point_endpoints_at

            script = load_conversation_script(scenario)
            server = await stack.enter_async_context(ScriptedModelServer(script.model_steps))
            project.endpoints = point_endpoints_at(project.endpoints, server.url)
        registry = await stack.enter_async_context(load_agents(project))
        yield registry


@contextlib.asynccontextmanager
async def open_assistant(
    project_root: str | Path,
    *,
    llm_url: str | None = None,
    scenario: str | Path | None = None,
) -> AsyncIterator[tuple[Assistant, Any]]:
    """Load the project's assistant; yield ``(assistant, scripted_server_or_None)``.

    With ``scenario`` the scripted model is started in-process on the scenario's model
    replies (user turns are skipped) and every model group points at it. Everything is
    closed on exit: the assistant (MCP connections, stdio servers, store) first, then
    the scripted model.
    """
    from subagents.dialogue.assistant import Assistant

    async with contextlib.AsyncExitStack() as stack:
        server: Any = None
        if scenario is not None:
            from subagents.channels.script import load_conversation_script
            from subagents.testing import ScriptedModelServer

            script = load_conversation_script(scenario)
            server = await stack.enter_async_context(ScriptedModelServer(script.model_steps))
            llm_url = server.url
        assistant = await Assistant.load(Path(project_root), llm_url=llm_url)
        stack.push_async_callback(assistant.aclose)
        yield assistant, server
