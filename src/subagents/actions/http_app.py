"""The HTTP action server: ``POST /webhook``, ``GET /actions``, ``GET /health``.

Status codes as the Rasa SDK: 200 result, 400 rejected or bad request, 401 bad token,
404 unknown action, 449 domain missing (resend with the domain), 500 action failed.
Every error body is JSON ``{"error": ..., "action_name"?: ...}``.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from typing import Any

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

logger = logging.getLogger("subagents.actions.server")


def create_app(core: ActionServerCore) -> Starlette:
    """The ASGI app serving ``core`` over HTTP."""

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def actions(request: Request) -> Response:
        if not core.check_token(_token_of(request)):
            return _unauthorised()
        return JSONResponse(core.list_actions())

    async def webhook(request: Request) -> Response:
        started = time.perf_counter()
        action: str | None = None
        response: Response | None = None
        try:
            if not core.check_token(_token_of(request)):
                response = _unauthorised()
                return response
            try:
                payload = await _read_json(request)
                if isinstance(payload, dict) and isinstance(payload.get("next_action"), str):
                    action = payload["next_action"]
                core.parse_call(payload)
            except BadActionCall as exc:
                response = JSONResponse({"error": str(exc)}, status_code=400)
                return response
            response = await _run(core, payload)
            return response
        finally:
            # One line per call; never the payload (it holds the user's conversation).
            logger.info(
                "actions.server.request",
                extra={
                    "action": action,
                    "status": response.status_code if response is not None else 500,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/actions", actions, methods=["GET"]),
            Route("/webhook", webhook, methods=["POST"]),
        ]
    )


async def _run(core: ActionServerCore, payload: dict[str, Any]) -> Response:
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
        logger.exception("actions.server.action_failed", extra={"action": name})
        return _error(500, f"action '{name}' failed: {type(exc).__name__}: {exc}", name)
    return Response(json.dumps(result, default=str), media_type="application/json")


async def _read_json(request: Request) -> Any:
    body = await request.body()
    if request.headers.get("content-encoding", "").lower() == "deflate":
        try:
            body = zlib.decompress(body)
        except zlib.error as exc:
            raise BadActionCall(f"body is not valid deflate data: {exc}") from exc
    if not body.strip():
        raise BadActionCall("empty request body; send JSON with next_action, tracker, domain")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise BadActionCall(f"request body is not valid JSON: {exc}") from exc


def _token_of(request: Request) -> str | None:
    token = request.query_params.get("token")
    if token is not None:
        return token
    auth = request.headers.get("authorization")
    if auth is None:
        return None
    scheme, _, value = auth.partition(" ")
    return value.strip() if scheme.lower() in ("bearer", "token") and value else auth.strip()


def _unauthorised() -> Response:
    return JSONResponse(
        {"error": "missing or invalid token: pass ?token=... or 'Authorization: Bearer ...'"},
        status_code=401,
    )


def _error(status: int, message: str, action_name: str) -> Response:
    return JSONResponse({"error": message, "action_name": action_name}, status_code=status)
