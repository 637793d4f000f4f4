"""gRPC executor: the Rasa SDK's ``ActionService`` (``grpc://host:port``, ``grpcs://`` TLS).

With ``on_chunk`` it opens ``WebhookStream`` and forwards chunks as they arrive; without,
it calls the unary ``Webhook`` (the server then replays chunks as responses). Barge-in
(``cancel_event``) mutes delivery at once and sends ``AckStreamChunks`` so the server
stops producing; the action's ``final_result`` (its events) is still awaited and returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import grpc

import subagents.telemetry as telemetry
from subagents.actions import wire
from subagents.actions.executors.base import (
    ActionResult,
    DomainDigest,
    OnChunk,
    connect_backoff,
)
from subagents.actions.executors.http import _payload
from subagents.actions.executors.remote import auth_headers, read_file
from subagents.actions.protos import action_webhook_pb2 as pb
from subagents.actions.protos import action_webhook_pb2_grpc as pb_grpc
from subagents.config.models import ActionEndpointConfig
from subagents.errors import (
    ActionRejectedError,
    ActionServerError,
    ConfigError,
    SubagentsError,
    UnknownActionError,
)
from subagents.retry import retrying

logger = logging.getLogger("subagents.actions.executor")

T = TypeVar("T")


class _DomainMissing(SubagentsError):
    """The server asked for the domain (NOT_FOUND, resource_type DOMAIN)."""


def _unavailable(exc: BaseException) -> bool:
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() == grpc.StatusCode.UNAVAILABLE


class GRPCExecutor:
    """Runs actions on a gRPC action server (ours or the Rasa SDK's ``--grpc``)."""

    def __init__(
        self,
        target: str,
        *,
        tls: bool = False,
        root_certificates: bytes | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        headers: dict[str, str] | None = None,
        client_cert: tuple[bytes, bytes] | None = None,
    ) -> None:
        """Call ``target`` (``host:port``); TLS with ``root_certificates`` or system roots,
        and ``client_cert`` (certificate chain, private key: PEM) when the server asks for
        one. ``headers`` go as call metadata (names lower-cased, as gRPC requires)."""
        self.target = target
        self.tls = tls
        self.timeout = timeout
        self.retries = max(0, retries)
        self._root_certificates = root_certificates
        self._client_cert = client_cert
        merged = {"authorization": f"Bearer {token}"} if token else {}
        merged.update({name.lower(): value for name, value in (headers or {}).items()})
        self._metadata = tuple(merged.items())
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.ActionServiceStub | None = None
        self._digest = DomainDigest()
        self._server_digest: str | None = None

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """A call's metadata: the token, plus ``traceparent`` when tracing."""
        trace = telemetry.inject({})
        return self._metadata + tuple(trace.items()) if trace else self._metadata

    @classmethod
    def from_config(
        cls, cfg: ActionEndpointConfig, project_root: str | Path | None = None
    ) -> GRPCExecutor:
        """Build from ``action_endpoint`` (``grpc(s)://host:port``, ``cafile``, ``token``...)."""
        assert cfg.url is not None
        parts = urlsplit(cfg.url)
        if not parts.hostname or not parts.port:
            raise ConfigError(
                f"action_endpoint.url {cfg.url!r} needs a host and a port, "
                "e.g. grpc://localhost:5055",
                file="endpoints.yml",
                field="action_endpoint.url",
            )
        root_certs = read_file(cfg.cafile, "cafile", project_root) if cfg.cafile else None
        client_cert = None
        if cfg.ssl_client_cert and cfg.ssl_client_key:
            client_cert = (
                read_file(cfg.ssl_client_cert, "ssl_client_cert", project_root),
                read_file(cfg.ssl_client_key, "ssl_client_key", project_root),
            )
        return cls(
            f"{parts.hostname}:{parts.port}",
            tls=parts.scheme.lower() == "grpcs" or root_certs is not None or bool(client_cert),
            root_certificates=root_certs,
            timeout=cfg.timeout,
            retries=cfg.retries,
            headers=auth_headers(cfg),
            client_cert=client_cert,
        )

    def _client(self) -> pb_grpc.ActionServiceStub:
        if self._stub is None:
            if self.tls:
                chain, key = self._client_cert or (None, None)
                creds = grpc.ssl_channel_credentials(
                    root_certificates=self._root_certificates,
                    private_key=key,
                    certificate_chain=chain,
                )
                self._channel = grpc.aio.secure_channel(self.target, creds)
            else:
                self._channel = grpc.aio.insecure_channel(self.target)
            # The generated stubs are untyped: give the constructor its type here.
            stub_class = cast(
                Callable[[grpc.aio.Channel], pb_grpc.ActionServiceStub], pb_grpc.ActionServiceStub
            )
            self._stub = stub_class(self._channel)
        return self._stub

    async def run(
        self,
        action_name: str,
        tracker_state: dict[str, Any],
        domain: dict[str, Any],
        on_chunk: OnChunk | None = None,
        cancel_event: asyncio.Event | None = None,
    ) -> ActionResult:
        """Run ``action_name`` (see :class:`~subagents.actions.executors.ActionExecutor`)."""
        digest = self._digest.of(domain)
        send_domain = digest != self._server_digest
        for _ in range(2):
            request = wire.request_to_proto(
                _payload(action_name, tracker_state, domain, digest, send_domain)
            )
            try:
                if on_chunk is None:
                    result = await self._unary(request, action_name)
                else:
                    result = await _Stream(self, request, on_chunk, cancel_event).run(action_name)
            except _DomainMissing:
                logger.info("actions.grpc.domain_requested", extra={"action": action_name})
                send_domain = True
                continue
            if send_domain:
                self._server_digest = digest
            return result
        raise ActionServerError(action_name, f"{self.target} keeps asking for the domain")

    async def _unary(self, request: pb.WebhookRequest, action_name: str) -> ActionResult:
        try:
            response = await self._with_retries(
                lambda: self._client().Webhook(
                    request, timeout=self.timeout, metadata=self.metadata()
                )
            )
        except grpc.aio.AioRpcError as exc:
            raise self.map_error(exc, action_name) from exc
        body = wire.response_from_proto(response)
        return ActionResult(events=body["events"], responses=body["responses"])

    async def _with_retries(self, call: Callable[[], Awaitable[T]]) -> T:
        """Retry ``call`` only while the server is UNAVAILABLE (it never got the call)."""
        return await retrying(
            call, retries=self.retries, retry_on=_unavailable, wait=connect_backoff
        )

    def map_error(self, exc: grpc.aio.AioRpcError, action_name: str) -> Exception:
        """Turn a gRPC status into an :class:`ActionError` (or the domain request)."""
        code, details = exc.code(), exc.details() or ""
        parsed = _json(details)
        message = str(parsed.get("message") or details)
        if code == grpc.StatusCode.NOT_FOUND:
            if parsed.get("resource_type") == "DOMAIN":
                return _DomainMissing()
            return UnknownActionError(
                action_name, f"the action server does not know it ({message})"
            )
        if code == grpc.StatusCode.INTERNAL and "action_name" in parsed and "message" in parsed:
            return ActionRejectedError(action_name, message)
        if code == grpc.StatusCode.UNAVAILABLE:
            return ActionServerError(
                action_name,
                f"cannot reach gRPC action server {self.target} ({details}); is it running? "
                "(action_endpoint.url)",
            )
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return ActionServerError(action_name, f"no answer within {self.timeout}s")
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return ActionServerError(
                action_name, f"{self.target} refused the token; check action_endpoint.token"
            )
        return ActionServerError(action_name, f"gRPC {code.name}: {message}")

    async def aclose(self) -> None:
        """Close the channel."""
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._stub = None


class _Stream:
    """One ``WebhookStream`` call: forwards chunks, handles barge-in."""

    def __init__(
        self,
        executor: GRPCExecutor,
        request: pb.WebhookRequest,
        on_chunk: OnChunk,
        cancel_event: asyncio.Event | None,
    ) -> None:
        self.executor = executor
        self.request = request
        self.on_chunk = on_chunk
        self.cancel_event = cancel_event
        self.response_id = ""
        self.acked = False
        self.streamed: list[dict[str, Any]] = []
        self.result: dict[str, Any] | None = None

    @property
    def barged_in(self) -> bool:
        return self.cancel_event is not None and self.cancel_event.is_set()

    async def run(self, action_name: str) -> ActionResult:
        watcher = asyncio.create_task(self._watch()) if self.cancel_event is not None else None
        try:
            await self.executor._with_retries(lambda: self._consume(action_name))
        except grpc.aio.AioRpcError as exc:
            raise self.executor.map_error(exc, action_name) from exc
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
        if self.result is None:
            raise ActionServerError(action_name, "the stream ended without a final result")
        return ActionResult(
            events=self.result["events"],
            responses=self.result["responses"],
            streamed=self.streamed,
            barged_in=self.barged_in,
        )

    async def _consume(self, action_name: str) -> None:
        if self.streamed or self.result is not None:
            # Part of the stream was delivered: never replay it (no retry after that).
            raise ActionServerError(action_name, "the stream broke after delivery started")
        call = self.executor._client().WebhookStream(
            self.request, timeout=self.executor.timeout, metadata=self.executor.metadata()
        )
        async for event in call:
            kind = event.WhichOneof("event")
            if kind == "final_result":
                self.result = wire.response_from_proto(event.final_result)
            elif kind == "error":
                continue  # the call's status (raised next) carries the error
            else:
                await self._deliver(kind, event)

    async def _deliver(self, kind: str | None, event: pb.WebhookStreamEvent) -> None:
        if kind == "chunk_start":
            self.response_id = event.chunk_start.response_id
            if self.barged_in:
                await self._ack()
                return
            await self.on_chunk({"event": "stream_start", "response_id": self.response_id})
        elif kind == "chunk" and not self.barged_in:
            payload = wire.chunk_from_proto(event.chunk)
            await self.on_chunk(
                {"event": "stream_chunk", "response_id": event.chunk.response_id, **payload}
            )
            self.streamed.append(payload)
        elif kind == "chunk_end" and not self.barged_in:
            await self.on_chunk({"event": "stream_end", "response_id": event.chunk_end.response_id})

    async def _watch(self) -> None:
        assert self.cancel_event is not None
        await self.cancel_event.wait()
        logger.info("actions.grpc.barge_in")
        await self._ack()

    async def _ack(self) -> None:
        if self.acked or not self.response_id:
            return
        self.acked = True
        ack = pb.StreamChunkAck(response_id=self.response_id)
        try:
            await self.executor._client().AckStreamChunks(
                ack, timeout=self.executor.timeout, metadata=self.executor.metadata()
            )
        except grpc.aio.AioRpcError as exc:
            # Older servers lack AckStreamChunks: delivery is muted here all the same.
            logger.debug("actions.grpc.ack_failed", extra={"code": exc.code().name})


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


__all__ = ["GRPCExecutor"]
