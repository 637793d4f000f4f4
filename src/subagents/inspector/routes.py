"""The inspector's routes: the page, the conversation list and the live event stream.

::

    GET /inspector                          the page (HTML; CSS and JS inlined)
    GET /inspector/live                     every conversation's live events (SSE)
    GET /conversations                      {"conversations": [summary, ...]} newest first
    GET /conversations/{id}/live            one conversation's live events (SSE)
    GET /conversations/{id}/prompts/{call}  what model call ``call`` was sent (if kept)

The event streams are Server-Sent Events: one ``data: {json}`` line per event, a
``: keep-alive`` comment every ``heartbeat`` seconds without one. The first event is
``{"event": "live"}`` (the stream is open: what happens from now on is sent). Each event
carries ``event``, ``conversation_id`` and ``time``; see docs/rest-api.md for the kinds.
The auth middleware of :mod:`subagents.server` guards all of them (``/inspector`` and
``/conversations`` need an admin credential, ``/conversations/{id}/...`` access to id).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from functools import cache
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from subagents.inspector.hub import LiveHub, redact

logger = logging.getLogger("subagents.inspector")

HEARTBEAT = 15.0
"""Seconds between keep-alive comments of an idle event stream."""
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_EVENT_STREAM = "text/event-stream"


@cache
def _asset(name: str) -> str:
    return resources.files("subagents.inspector").joinpath("static", name).read_text("utf-8")


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


@cache
def page() -> tuple[str, str]:
    """The page with its CSS and JS inlined, and the Content-Security-Policy allowing
    exactly those (nothing else loads: no CDN, no other origin)."""
    css, js = _asset("inspector.css"), _asset("inspector.js")
    html = _asset("index.html").replace("/*INSPECTOR_CSS*/", css).replace("//INSPECTOR_JS", js)
    csp = (
        f"default-src 'none'; script-src {_csp_hash(js)}; style-src {_csp_hash(css)}; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return html, csp


async def _page(request: Request) -> Response:
    html, csp = page()
    headers = {
        "Content-Security-Policy": csp,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)


async def _conversations(request: Request) -> Response:
    raw = request.query_params.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        return JSONResponse(
            {"error": f"limit must be a whole number from 1 to {MAX_LIMIT}", "field": "limit"},
            status_code=400,
        )
    assistant = request.app.state.assistant
    summaries = await assistant.conversations(int(raw))
    return JSONResponse({"conversations": redacted(assistant, summaries)})


def redacted(assistant: Any, data: Any) -> Any:
    """``data`` with configuration and registered secrets replaced by ``***``, as in logs."""
    return redact(data, tuple(getattr(assistant, "_secrets", ()) or ()))


def _stream(hub: LiveHub, conversation_id: str | None, heartbeat: float) -> StreamingResponse:
    async def lines() -> AsyncIterator[bytes]:
        first = {"event": "live", "conversation_id": conversation_id}
        yield b"retry: 2000\n" + _data(first)
        # aclosing: the watcher is dropped as soon as the client is gone, not at GC.
        async with contextlib.aclosing(hub.events(conversation_id, heartbeat=heartbeat)) as events:
            async for event in events:
                yield b": keep-alive\n\n" if event is None else _data(event)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(lines(), media_type=_EVENT_STREAM, headers=headers)


def _data(event: dict[str, Any]) -> bytes:
    text = json.dumps(event, ensure_ascii=False, default=str)
    return b"data: " + text.encode("utf-8") + b"\n\n"


async def _live_one(request: Request) -> Response:
    state = request.app.state
    return _stream(state.inspector, request.path_params["conversation_id"], state.heartbeat)


async def _live_all(request: Request) -> Response:
    state = request.app.state
    return _stream(state.inspector, None, state.heartbeat)


async def _prompt(request: Request) -> Response:
    state = request.app.state
    conversation_id = request.path_params["conversation_id"]
    prompts = state.prompts
    prompt = prompts.get(conversation_id, request.path_params["call_id"]) if prompts else None
    if prompt is None:
        why = (
            "the server keeps the prompts of the latest model calls it made since it "
            "started, and this one is not among them"
            if prompts is not None
            else "this server keeps no prompts (serve with `subagents inspect` or `run --inspect`)"
        )
        return JSONResponse({"error": f"prompt not kept: {why}"}, status_code=404)
    return JSONResponse(redacted(state.assistant, prompt))


def conversation_routes() -> list[Route]:
    """``GET /conversations`` (served with or without the inspector)."""
    return [Route("/conversations", _conversations, methods=["GET"])]


def inspector_routes() -> list[Route]:
    """The page and the live event streams (``app.state.inspector`` is the hub)."""
    return [
        Route("/inspector", _page, methods=["GET"]),
        Route("/inspector/live", _live_all, methods=["GET"]),
        Route("/conversations/{conversation_id}/live", _live_one, methods=["GET"]),
        Route("/conversations/{conversation_id}/prompts/{call_id}", _prompt, methods=["GET"]),
    ]
