"""The gRPC action server: the Rasa SDK's ``ActionService`` plus the gRPC health check.

``Webhook`` (unary; streamed chunks replayed as responses), ``WebhookStream`` (chunks as
they are produced: ``chunk_start``, ``chunk``..., ``chunk_end``, then ``final_result``),
``AckStreamChunks`` (barge-in: mute the stream with that ``response_id``; the action
finishes and ``final_result`` still carries its events), ``Actions``.

Status codes as the Rasa SDK: unknown action or missing domain → ``NOT_FOUND`` with JSON
details ``{"action_name", "message", "resource_type": "ACTION" | "DOMAIN"}``; rejection →
``INTERNAL`` with JSON details ``{"action_name", "message"}``; failure → ``INTERNAL``
with a plain message; bad request → ``INVALID_ARGUMENT``; bad token → ``UNAUTHENTICATED``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import grpc
from google.protobuf import empty_pb2

from subagents.actions import wire
from subagents.actions.core import ActionServerCore, BadActionCall
from subagents.actions.dispatcher import CollectingDispatcher
from subagents.actions.interfaces import (
    ActionExecutionRejection,
    ActionMissingDomainException,
    ActionNotFoundException,
)
from subagents.actions.protos import action_webhook_pb2 as pb
from subagents.actions.protos import action_webhook_pb2_grpc as pb_grpc
from subagents.actions.redaction import internal_error

logger = logging.getLogger("subagents.actions.server")

HEALTH_SERVICE_NAME = "ActionServer"  # the name the Rasa SDK registers


class ActionService(pb_grpc.ActionServiceServicer):
    """Serves an :class:`ActionServerCore` over gRPC."""

    def __init__(self, core: ActionServerCore) -> None:
        """Serve ``core``."""
        self.core = core
        self._streams: dict[str, CollectingDispatcher] = {}

    async def Actions(  # noqa: N802 - gRPC method names
        self, request: pb.ActionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ActionsResponse:
        """List the registered actions."""
        await self._authorise(context)
        return wire._parse({"actions": self.core.list_actions()}, pb.ActionsResponse())

    async def Webhook(  # noqa: N802
        self, request: pb.WebhookRequest, context: grpc.aio.ServicerContext
    ) -> pb.WebhookResponse:
        """Run one action; whole result at the end."""
        started, call = time.perf_counter(), _Call(request.next_action)
        try:
            await self._authorise(context)
            call.status = "OK"
            payload = wire.request_from_proto(request)
            try:
                result = await self.core.execute(payload, CollectingDispatcher())
            except Exception as exc:
                call.status = _status_and_details(exc, call.action)[0].name
                await _abort(context, exc, payload.get("next_action", ""))
            return wire.response_to_proto(result)
        finally:
            _log_call("Webhook", call, started)

    async def WebhookStream(  # noqa: N802
        self, request: pb.WebhookRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WebhookStreamEvent]:
        """Run one action, streaming its chunks, then its ``final_result``."""
        started, call = time.perf_counter(), _Call(request.next_action)
        try:
            await self._authorise(context)
        except BaseException:
            _log_call("WebhookStream", call, started)
            raise
        call.status = "OK"
        payload = wire.request_from_proto(request)
        name = payload.get("next_action", "")
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        dispatcher = CollectingDispatcher(sink=queue.put)
        task = asyncio.create_task(self._run_into(queue, payload, dispatcher))
        try:
            while True:
                item = await queue.get()
                kind = item["event"]
                if kind == "stream_start":
                    self._streams[item["response_id"]] = dispatcher
                elif kind == "stream_end":
                    self._streams.pop(item["response_id"], None)
                if kind == "done":
                    yield pb.WebhookStreamEvent(final_result=wire.response_to_proto(item["result"]))
                    return
                if kind == "error":
                    code, details = _status_and_details(item["exception"], name)
                    call.status = code.name
                    context.set_code(code)
                    context.set_details(details)
                    yield pb.WebhookStreamEvent(
                        error=pb.StreamError(action_name=name, message=details)
                    )
                    return
                if dispatcher.is_streaming_cancelled:
                    continue  # barge-in: mute, keep waiting for the final result
                event = _stream_event(item)
                if event is not None:
                    yield event
        finally:
            _log_call("WebhookStream", call, started)
            if dispatcher.response_id:
                self._streams.pop(dispatcher.response_id, None)
            if not task.done():  # the client went away: stop the action
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def AckStreamChunks(  # noqa: N802
        self, request: pb.StreamChunkAck, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        """Barge-in: stop delivering the stream ``response_id``."""
        await self._authorise(context)
        dispatcher = self._streams.get(request.response_id)
        if dispatcher is not None:
            dispatcher.cancel_stream()
            logger.info("actions.server.barge_in")
        return empty_pb2.Empty()

    async def _run_into(
        self,
        queue: asyncio.Queue[dict[str, Any]],
        payload: dict[str, Any],
        dispatcher: CollectingDispatcher,
    ) -> None:
        try:
            result = await self.core.execute(payload, dispatcher)
        except Exception as exc:
            await queue.put({"event": "error", "exception": exc})
        else:
            await queue.put({"event": "done", "result": result})

    async def _authorise(self, context: grpc.aio.ServicerContext) -> None:
        if not self.core.token:
            return
        metadata = dict(context.invocation_metadata() or ())
        value = metadata.get("authorization")
        supplied = value.partition(" ")[2] if isinstance(value, str) and " " in value else value
        if not self.core.check_token(supplied if isinstance(supplied, str) else None):
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing or invalid token: send metadata 'authorization: Bearer <token>'",
            )


class _Call:
    """What the per-call log line says: the action and the gRPC status."""

    def __init__(self, action: str) -> None:
        self.action = action
        self.status = "UNAUTHENTICATED"  # until the token is checked


def _log_call(rpc: str, call: _Call, started: float) -> None:
    # One line per call, as the HTTP server logs; never the payload (the user's words).
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "actions.server.request",
            extra={
                "rpc": rpc,
                "action": call.action,
                "status": call.status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )


def _stream_event(item: dict[str, Any]) -> pb.WebhookStreamEvent | None:
    kind, rid = item["event"], item.get("response_id") or ""
    if kind == "stream_start":
        return pb.WebhookStreamEvent(chunk_start=pb.ChunkStart(response_id=rid))
    if kind == "stream_chunk":
        return pb.WebhookStreamEvent(chunk=wire.chunk_to_proto(item, rid))
    if kind == "stream_end":
        return pb.WebhookStreamEvent(chunk_end=pb.ChunkEnd(response_id=rid))
    return None


def _status_and_details(exc: BaseException, name: str) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, ActionNotFoundException):
        body = {"action_name": exc.action_name, "message": exc.message, "resource_type": "ACTION"}
        return grpc.StatusCode.NOT_FOUND, json.dumps(body)
    if isinstance(exc, ActionMissingDomainException):
        body = {"action_name": exc.action_name, "message": exc.message, "resource_type": "DOMAIN"}
        return grpc.StatusCode.NOT_FOUND, json.dumps(body)
    if isinstance(exc, ActionExecutionRejection):
        body = {"action_name": exc.action_name, "message": exc.message}
        return grpc.StatusCode.INTERNAL, json.dumps(body)
    if isinstance(exc, BadActionCall):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    # The exception text may hold secrets: the caller gets an error id, the log the rest.
    return grpc.StatusCode.INTERNAL, internal_error(name, exc)


async def _abort(context: grpc.aio.ServicerContext, exc: BaseException, name: str) -> None:
    code, details = _status_and_details(exc, name)
    await context.abort(code, details)


def _read(path: str) -> bytes:
    return Path(path).read_bytes()  # startup only: blocking is fine


async def start_grpc_server(
    core: ActionServerCore,
    host: str = "127.0.0.1",
    port: int = 5055,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start the gRPC server; return it and the bound port (``port=0`` picks a free one)."""
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.aio.server()
    # The generated stubs are untyped: give the one function we call its type here.
    add_servicer = cast(
        Callable[[ActionService, grpc.aio.Server], None],
        pb_grpc.add_ActionServiceServicer_to_server,
    )
    add_servicer(ActionService(core), server)
    health_servicer = health.aio.HealthServicer()
    await health_servicer.set(HEALTH_SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"{host}:{port}"
    if tls_cert and tls_key:
        credentials = grpc.ssl_server_credentials([(_read(tls_key), _read(tls_cert))])
        bound = server.add_secure_port(address, credentials)
    else:
        bound = server.add_insecure_port(address)
    await server.start()
    logger.info("actions.server.grpc_started", extra={"host": host, "port": bound})
    return server, bound
