"""The HTTP action server: ``POST /webhook``, ``GET /actions``, ``GET /health``.

Status codes as the Rasa SDK: 200 result, 400 rejected or bad request, 401 bad token,
404 unknown action, 449 domain missing (resend with the domain), 500 action failed.
Every error body is JSON ``{"error": ..., "action_name"?: ...}``; a 500 names an error id
(the exception and its traceback are in the server's log under that id, not in the body).

``POST /webhook`` is served by a plain ASGI handler in front of Starlette: the webhook is
the hot path and Starlette's middleware, routing and Request objects cost more per call
than the action itself (profiled with pyinstrument under benchmarks/actions_bench.py).
Every other path (``/health``, ``/actions``, 404s, 405s, redirects) goes to Starlette.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from subagents.actions.core import ActionServerCore, BadActionCall
from subagents.actions.dispatcher import CollectingDispatcher
from subagents.actions.interfaces import (
    ActionExecutionRejection,
    ActionMissingDomainException,
    ActionNotFoundException,
)
from subagents.actions.redaction import internal_error

logger = logging.getLogger("subagents.actions.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_UNAUTHORISED = "missing or invalid token: pass ?token=... or 'Authorization: Bearer ...'"


def create_app(core: ActionServerCore) -> ASGIApp:
    """The ASGI app serving ``core`` over HTTP."""
    fallback = _starlette_app(core)
    webhook = _Webhook(core)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/webhook" and scope["method"] == "POST":
            await webhook(scope, receive, send)
        else:
            await fallback(scope, receive, send)

    return app


def _starlette_app(core: ActionServerCore) -> Starlette:
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def actions(request: Request) -> Response:
        if not core.check_token(_token_of(request.scope)):
            return JSONResponse({"error": _UNAUTHORISED}, status_code=401)
        return JSONResponse(core.list_actions())

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/actions", actions, methods=["GET"]),
            # Reached only for non-POST methods: Starlette answers 405 with ``Allow``.
            Route("/webhook", _never_called, methods=["POST"]),
        ]
    )


async def _never_called(request: Request) -> Response:  # pragma: no cover
    raise AssertionError("POST /webhook is served by _Webhook")


class _Webhook:
    """``POST /webhook`` as a bare ASGI handler (see module docstring)."""

    def __init__(self, core: ActionServerCore) -> None:
        self.core = core

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        action: str | None = None
        status = 500
        try:
            if self.core.token and not self.core.check_token(_token_of(scope)):
                status, content = 401, _dumps({"error": _UNAUTHORISED})
            else:
                body = await _read_body(receive)
                if body is None:
                    return  # the client went away; nobody to answer
                payload, action, status, content = _parse_call(self.core, scope, body)
                if payload is not None:
                    status, content = await _run(self.core, payload)
            await _send(send, status, content)
        except Exception:
            # Only a bug of ours gets here (action errors are answered 500 with JSON).
            logger.exception("actions.server.internal_error", extra={"action": action})
            await _send(send, 500, b"Internal Server Error", b"text/plain; charset=utf-8")
        finally:
            # One line per call; never the payload (it holds the user's conversation).
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "actions.server.request",
                    extra={
                        "action": action,
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )


def _parse_call(
    core: ActionServerCore, scope: Scope, body: bytes
) -> tuple[dict[str, Any] | None, str | None, int, bytes]:
    """``(payload, action, 0, b"")`` for a valid call, else ``(None, action, 400, error)``."""
    action: str | None = None
    try:
        payload = _parse_json(_decoded(scope, body))
        if isinstance(payload, dict) and isinstance(payload.get("next_action"), str):
            action = payload["next_action"]
        core.parse_call(payload)
    except BadActionCall as exc:
        return None, action, 400, _dumps({"error": str(exc)})
    return payload, action, 0, b""


async def _run(core: ActionServerCore, payload: dict[str, Any]) -> tuple[int, bytes]:
    name = payload["next_action"]
    try:
        result = await core.execute(payload, CollectingDispatcher())
    except ActionExecutionRejection as exc:
        return _error(400, exc.message, exc.action_name)
    except ActionNotFoundException as exc:
        logger.warning("actions.server.unknown_action", extra={"action": name})
        return _error(404, exc.message, exc.action_name)
    except ActionMissingDomainException as exc:
        return _error(449, exc.message, exc.action_name)
    except Exception as exc:
        # The exception text may hold secrets: the caller gets an error id, the log the rest.
        return _error(500, internal_error(name, exc), name)
    return 200, _dumps(result)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or ``None`` when the client disconnected."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _decoded(scope: Scope, body: bytes) -> bytes:
    if (_header(scope, b"content-encoding") or "").lower() == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error as exc:
            raise BadActionCall(f"body is not valid deflate data: {exc}") from exc
    return body


def _parse_json(body: bytes) -> Any:
    if not body.strip():
        raise BadActionCall("empty request body; send JSON with next_action, tracker, domain")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # stricter than json (NaN, Infinity): let json decide, and word the error
    try:
        return json.loads(body)
    except ValueError as exc:
        raise BadActionCall(f"request body is not valid JSON: {exc}") from exc


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        # What orjson refuses (integers over 64 bits): the stdlib's way, as before.
        return json.dumps(value, default=str).encode()


async def _send(
    send: Send, status: int, content: bytes, content_type: bytes = b"application/json"
) -> None:
    headers = [(b"content-length", str(len(content)).encode()), (b"content-type", content_type)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def _token_of(scope: Scope) -> str | None:
    query = scope.get("query_string", b"")
    if query:
        params = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
        if "token" in params:
            return str(params["token"])
    auth = _header(scope, b"authorization")
    if auth is None:
        return None
    scheme, _, value = auth.partition(" ")
    return value.strip() if scheme.lower() in ("bearer", "token") and value else auth.strip()


def _error(status: int, message: str, action_name: str) -> tuple[int, bytes]:
    return status, _dumps({"error": message, "action_name": action_name})
