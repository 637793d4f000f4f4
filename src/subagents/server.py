"""The ASGI app: REST channel, health and tracker endpoints.

Two factories:

* :func:`create_app` wraps an :class:`~subagents.dialogue.assistant.Assistant` the caller
  already loaded (and closes, unless ``close_assistant=True``).
* :func:`create_project_app` loads the project inside the app's lifespan, so the MCP
  connections are opened and closed by the server's own event loop: uvicorn's graceful
  shutdown (SIGINT/SIGTERM) closes them and stops stdio servers. With ``scenario`` every
  model group is the in-process scripted model (offline mode, see
  :mod:`subagents.llm.scripted`).

Routes::

    POST /webhooks/rest/webhook            REST channel (?stream=true for NDJSON)
    GET  /health                           {"status": "ok"} (liveness)
    GET  /ready                            readiness: store, lock store, broker, MCP servers
    GET  /openapi.json                     the OpenAPI document of these routes
    GET  /conversations                    the saved conversations, newest first
    GET  /metrics                          Prometheus metrics (metrics: {type: prometheus})
    GET  /conversations/{id}/tracker       {"sender_id", "slots", "latest_message", "events"}

With ``ServerSettings(inspector=True)`` (``subagents inspect``, ``run --inspect``) also
the inspector (:mod:`subagents.inspector.routes`): ``GET /inspector`` (the page) and the
live event streams ``GET /conversations/{id}/live`` and ``GET /inspector/live``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

import subagents.telemetry as telemetry
from subagents.channels.auth import Authenticator, AuthError, AuthSettings
from subagents.channels.limits import RequestLimits
from subagents.channels.rest import RestChannel

if TYPE_CHECKING:
    from subagents.agents.loader import AgentRegistry
    from subagents.dialogue.assistant import Assistant, AssistantHooks
    from subagents.inspector.prompts import PromptLog
    from subagents.llm.scripted import ScriptPlayer

__all__ = ["create_app", "create_project_app", "open_assistant"]

logger = logging.getLogger("subagents.server")

READY_TIMEOUT = 5.0
"""Seconds each readiness check may take before it counts as down."""


@dataclass(frozen=True)
class ServerSettings:
    """Authentication, request limits and connection handling of the server.

    The defaults are those of ``subagents run`` (see docs/security.md).
    """

    auth: AuthSettings = field(default_factory=AuthSettings)
    limits: RequestLimits = field(default_factory=RequestLimits)
    header_timeout: float = 10.0
    """Seconds a client may take to send a request's headers."""
    keep_alive_timeout: int = 5
    """Seconds an idle keep-alive connection stays open."""
    max_connections: int | None = None
    """Open connections at most; None: derived from the process's file limit."""
    inspector: bool = False
    """Serve the inspector page and the live event streams (docs/inspector.md)."""
    heartbeat: float = 15.0
    """Seconds between keep-alive comments of an idle live event stream."""


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _ready(request: Request) -> Response:
    """Readiness: the tracker store answers a read, lock store/broker answer, MCP states."""
    assistant = request.app.state.assistant
    checks: dict[str, Any] = {}
    store = assistant.store
    checks["tracker_store"] = await _check(_read_store(store))
    for name, part in _remote_parts(assistant).items():
        checks[name] = await _check(part.ping())
    ready = all(c["status"] == "ok" for c in checks.values())
    mcp = _mcp_states(assistant)
    body: dict[str, Any] = {"status": "ready" if ready else "unavailable", "checks": checks}
    if mcp:
        body["mcp_servers"] = mcp
    return JSONResponse(body, status_code=200 if ready else 503)


def _remote_parts(assistant: Any) -> dict[str, Any]:
    """The lock store (when not the in-process default) and event broker, if configured."""
    parts: dict[str, Any] = {}
    lock_store = getattr(assistant, "lock_store", None) or getattr(assistant, "_locks", None)
    endpoints = getattr(getattr(assistant, "project", None), "endpoints", None)
    lock_type = getattr(getattr(endpoints, "lock_store", None), "type", "in_memory")
    if lock_type not in ("in_memory", "memory"):
        parts["lock_store"] = lock_store
    parts["event_broker"] = getattr(assistant, "broker", None)
    return {k: v for k, v in parts.items() if v is not None and callable(getattr(v, "ping", None))}


async def _read_store(store: Any) -> None:
    ping = getattr(store, "ping", None)
    if callable(ping):
        await ping()
    else:
        await store.load("__subagents_ready__")


async def _check(probe: Any) -> dict[str, Any]:
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await probe
    except Exception as exc:
        logger.warning("server.not_ready", extra={"error": f"{type(exc).__name__}: {exc}"})
        return {"status": "down", "error": type(exc).__name__}
    return {"status": "ok"}


def _mcp_states(assistant: Any) -> dict[str, str]:
    """Each MCP server's connection state (reconnected on next use when disconnected)."""
    registry = getattr(assistant, "agents", None)
    states = getattr(registry, "mcp_states", None)
    if not callable(states):
        return {}
    return dict(states())


async def _tracker(request: Request) -> Response:
    assistant = request.app.state.assistant
    conversation_id = request.path_params["conversation_id"]
    tracker = await assistant.get_tracker(conversation_id)
    return JSONResponse(tracker)


async def _webhook(request: Request) -> Response:
    channel: RestChannel = request.app.state.rest
    return await channel.webhook(request)


async def _openapi(request: Request) -> Response:
    from subagents.server_openapi import openapi_document

    return JSONResponse(openapi_document(request.app.state.settings))


async def _metrics(request: Request) -> Response:
    """Prometheus exposition of the metrics (``metrics: {type: prometheus}``); else 404."""
    if not telemetry.prometheus():
        return JSONResponse(
            {"error": "metrics are off; add `metrics: {type: prometheus}` to endpoints.yml"},
            status_code=404,
        )
    body, content_type = telemetry.prometheus_text()
    return Response(body, media_type=content_type)


def _routes(settings: ServerSettings | None = None) -> list[Route]:
    from subagents.inspector.routes import conversation_routes, inspector_routes

    routes = [
        Route("/health", _health, methods=["GET"]),
        Route("/metrics", _metrics, methods=["GET"]),
        Route("/ready", _ready, methods=["GET"]),
        Route("/openapi.json", _openapi, methods=["GET"]),
        Route("/webhooks/rest/webhook", _webhook, methods=["POST"]),
        *conversation_routes(),
        Route("/conversations/{conversation_id}/tracker", _tracker, methods=["GET"]),
    ]
    if settings is not None and settings.inspector:
        routes += inspector_routes()
    return routes


_CONVERSATION_PATH = re.compile(r"^/conversations/([^/]+)(/|$)")
_PROTECTED = ("/conversations", "/inspector")


class AuthMiddleware:
    """Requires credentials on the conversation API (``/conversations``, ``/inspector``).

    ``/conversations/{id}/...`` needs access to ``id``; other protected paths need an
    admin. The webhook is checked by the REST channel (it needs the body's sender).
    """

    def __init__(self, app: ASGIApp, auth: Authenticator) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(_PROTECTED):
            await self.app(scope, receive, send)
            return
        match = _CONVERSATION_PATH.match(path)
        conversation_id = match.group(1) if match else None
        try:
            self.auth.check(Request(scope), conversation_id)
        except AuthError as exc:
            await exc.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _build(
    assistant: Any,
    settings: ServerSettings,
    lifespan: Any,
    routes: list[BaseRoute] | None = None,
) -> Starlette:
    app = Starlette(routes=routes if routes is not None else _routes(settings), lifespan=lifespan)
    auth = Authenticator(settings.auth) if settings.auth.enabled else None
    if auth is not None:
        app.add_middleware(AuthMiddleware, auth=auth)
    app.state.settings = settings
    app.state.auth = auth
    app.state.inspector = None
    app.state.heartbeat = settings.heartbeat
    if settings.inspector:
        from subagents.inspector.hub import LiveHub

        app.state.inspector = LiveHub()
    if assistant is not None:
        _attach(app, assistant)
    return app


def _attach(app: Starlette, assistant: Any) -> None:
    settings: ServerSettings = app.state.settings
    app.state.assistant = assistant
    app.state.rest = RestChannel(assistant, limits=settings.limits, auth=app.state.auth)
    if app.state.inspector is not None:
        app.state.inspector.attach(assistant)


def close_live_streams(app: Any) -> None:
    """End the inspector's open event streams (before the server waits for connections
    to close on shutdown: an event stream never closes by itself)."""
    hub = getattr(app.state, "inspector", None)
    if hub is not None:
        hub.close()


def create_app(
    assistant: Assistant,
    *,
    close_assistant: bool = False,
    a2a_url: str | None = None,
    settings: ServerSettings | None = None,
    prompts: PromptLog | None = None,
) -> Starlette:
    """The ASGI app serving ``assistant``.

    With ``close_assistant=True`` the app's shutdown awaits ``assistant.aclose()``.
    ``a2a_url`` (the public base URL, such as ``http://127.0.0.1:5005``) also serves the
    project's agents over A2A under ``/a2a`` (``subagents run --a2a``).
    ``settings`` sets authentication and request limits (default: no auth, the limits of
    docs/security.md). ``prompts``: the inspector's prompt log, when the assistant was
    loaded with its hooks (:func:`inspector_hooks`); without it the page shows no prompts.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await app.state.rest.drain()
            if close_assistant:
                await assistant.aclose()

    settings = settings or ServerSettings()
    routes: list[BaseRoute] = list(_routes(settings))
    if a2a_url is not None:
        from subagents.channels.a2a_server import a2a_routes
        from subagents.channels.agent_sessions import AgentSessions

        routes += a2a_routes(AgentSessions(_registry(assistant)), a2a_url)
    app = _build(assistant, settings, lifespan, routes)
    _keep_prompts(app, assistant, prompts)
    return app


def inspector_hooks(hooks: AssistantHooks | None) -> tuple[AssistantHooks, PromptLog]:
    """``hooks`` plus the inspector's (every model request kept for "show prompt"), and
    the prompt log to pass to :func:`create_app`."""
    import dataclasses

    from subagents.dialogue.assistant import AssistantHooks
    from subagents.inspector.prompts import PromptLog

    log = PromptLog()
    hooks = hooks or AssistantHooks()
    inner = hooks.llm
    if inner is None:
        return dataclasses.replace(hooks, llm=log.wrap), log
    return dataclasses.replace(hooks, llm=lambda factory: log.wrap(inner(factory))), log


def _keep_prompts(app: Starlette, assistant: Any, prompts: PromptLog | None) -> None:
    app.state.prompts = prompts
    if prompts is not None and app.state.inspector is not None:
        assistant.observe(prompts.observe)


def create_project_app(
    project_root: str | Path,
    *,
    llm_url: str | None = None,
    scenario: str | Path | None = None,
    settings: ServerSettings | None = None,
) -> Starlette:
    """The ASGI app for the project at ``project_root``, loaded when the server starts.

    ``llm_url`` points every model group at an OpenAI-compatible base URL; ``scenario``
    (a scripted-model YAML file) plays the scripted model in-process instead.
    """
    root = Path(project_root).resolve()

    settings = settings or ServerSettings()
    hooks, prompts = inspector_hooks(None) if settings.inspector else (None, None)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened = open_assistant(root, llm_url=llm_url, scenario=scenario, hooks=hooks)
        async with opened as (assistant, _):
            _attach(app, assistant)
            _keep_prompts(app, assistant, prompts)
            logger.info("server.started", extra={"project": str(root)})
            yield
            await app.state.rest.drain()
            logger.info("server.stopping", extra={"project": str(root)})

    return _build(None, settings, lifespan)


def create_a2a_app(registry: Any, a2a_url: str) -> Starlette:
    """The ASGI app of ``subagents a2a``: ``GET /health`` and the agents of ``registry``
    (a started agents registry) over A2A, their cards naming ``a2a_url``."""
    from subagents.channels.a2a_server import a2a_routes
    from subagents.channels.agent_sessions import AgentSessions

    health = Route("/health", _health, methods=["GET"])
    return Starlette(routes=[health, *a2a_routes(AgentSessions(registry), a2a_url)])


def _registry(assistant: Assistant) -> AgentRegistry:
    """The assistant's agents registry (an empty one when the project has no agents)."""
    from subagents.agents.loader import AgentRegistry
    from subagents.config.loader import Project

    if isinstance(assistant.agents, AgentRegistry):
        return assistant.agents
    return AgentRegistry(assistant.project or Project(root=Path(".")))


@contextlib.asynccontextmanager
async def open_agents(
    project_root: str | Path, *, scenario: str | Path | None = None
) -> AsyncIterator[AgentRegistry]:
    """Load and start only the project's agents (no flows, store or actions); yield the
    registry. With ``scenario`` the scripted model serves every model, as for
    :func:`open_assistant`."""
    from subagents.agents.loader import load_agents
    from subagents.config.loader import load_project

    async with contextlib.AsyncExitStack() as stack:
        project = load_project(Path(project_root))
        llm_factory = None
        if scenario is not None:
            from subagents.channels.script import load_conversation_script
            from subagents.llm.scripted import ScriptPlayer, scripted_clients

            script = load_conversation_script(scenario)
            player = ScriptPlayer(script.model_steps)
            # A run that finds no reply left fails, as it did over HTTP.
            llm_factory = scripted_clients(player, exhausted="raise", source=str(script.path))
        registry = await stack.enter_async_context(load_agents(project, llm_factory=llm_factory))
        yield registry


@contextlib.asynccontextmanager
async def open_assistant(
    project_root: str | Path,
    *,
    llm_url: str | None = None,
    scenario: str | Path | None = None,
    hooks: AssistantHooks | None = None,
) -> AsyncIterator[tuple[Assistant, ScriptPlayer | None]]:
    """Load the project's assistant; yield ``(assistant, scripted_player_or_None)``.

    With ``scenario`` every model group is a :class:`~subagents.llm.scripted.ScriptedLLM`
    playing the scenario's model replies (user turns are skipped), one position per
    conversation; the :class:`~subagents.llm.scripted.ScriptPlayer` records what it
    served. ``hooks`` wrap the model clients, MCP toolsets and actions (``--record``).
    The assistant (MCP connections, stdio servers, store) is closed on exit.
    """
    from subagents.dialogue.assistant import Assistant

    async with contextlib.AsyncExitStack() as stack:
        player: ScriptPlayer | None = None
        llm_factory = None
        if scenario is not None:
            from subagents.channels.script import load_conversation_script
            from subagents.llm.scripted import ScriptPlayer, scripted_clients

            script = load_conversation_script(scenario)
            player = ScriptPlayer(script.model_steps)
            llm_factory = scripted_clients(player, source=str(script.path))
        assistant = await Assistant.load(
            Path(project_root), llm_url=llm_url, llm_factory=llm_factory, hooks=hooks
        )
        stack.push_async_callback(assistant.aclose)
        yield assistant, player
