"""The REST channel, as Rasa's: ``POST /webhooks/rest/webhook``.

Request body: ``{"sender": "<conversation id>", "message": "<text>", "metadata": {...}?}``.
Reply: the bot messages of the turn, ``[{"recipient_id": id, "text": ...}, ...]``.

With ``?stream=true`` the reply is newline-delimited JSON (``application/x-ndjson``): one
message per line, written the moment the assistant produces it. A line carrying a piece of
a streamed message has ``"chunk": true``; whole messages carry no such key. Progress lines
carry an ``"event"`` key: ``still_working`` during a long turn, ``tool_progress`` when a
tool reports progress (``{"event": "tool_progress", "name", "agent", "server",
"progress", "total", "message", "percent", "text"}``), and ``question`` when a tool asks the
user something (``{"event": "question", "name", "agent", "server", "mode", "url",
"message", "fields", "text"}``; its text also comes as the bot's message, and the user's
next message answers it), and ``tool_sampling`` when a tool had the model write something.

A bad request (not JSON, missing or mistyped fields) gets HTTP 400 with
``{"error": "...", "field": "..."}``. A problem inside a conversation is never a 5xx: the
assistant answers it with ``utter_internal_error``; should the assistant itself raise, the
channel still answers 200 with the default internal-error text and logs the exception.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

import subagents.telemetry as telemetry
from subagents.channels.auth import Authenticator, AuthError
from subagents.channels.limits import (
    RequestLimits,
    RequestRejected,
    bad_text_path,
    check_depth,
    read_body,
)
from subagents.channels.logthrottle import ThrottledLog

logger = logging.getLogger("subagents.channels.rest")

INTERNAL_ERROR_TEXT = "Sorry, something went wrong. Please try again."
NDJSON = "application/x-ndjson"
_DONE = object()
_STREAMED_EVENTS = frozenset({"still_working", "tool_progress", "question", "tool_sampling"})
_DEFAULT_LIMITS = RequestLimits()


class MessageHandler(Protocol):
    """The part of :class:`~subagents.dialogue.assistant.Assistant` the channel uses."""

    async def handle_message(
        self,
        conversation_id: str,
        text: str,
        metadata: dict[str, Any] | None = None,
        on_message: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
        on_progress: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ) -> list[dict[str, Any]]: ...


class BadRequest(RequestRejected):
    """The request body cannot be handled; answered with HTTP 400."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(400, message, field)


@dataclass(frozen=True)
class UserMessage:
    """One parsed REST request."""

    sender: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


_EXAMPLE = '{"sender": "user1", "message": "hello"}'


def parse_user_message(raw: bytes, limits: RequestLimits = _DEFAULT_LIMITS) -> UserMessage:
    """Parse and check a webhook body; raise :class:`RequestRejected` with a clear message."""
    body = _decode_json(raw, limits)
    if not isinstance(body, dict):
        raise BadRequest(f"request body must be a JSON object like {_EXAMPLE}")
    sender = body.get("sender")
    if sender is None:
        raise BadRequest("missing field 'sender' (the conversation id, a string)", "sender")
    if isinstance(sender, bool) or not isinstance(sender, (str, int)):
        raise BadRequest("field 'sender' must be a string (the conversation id)", "sender")
    sender = str(sender)
    if not sender or len(sender) > limits.max_sender_chars:
        raise BadRequest(
            f"field 'sender' must be 1 to {limits.max_sender_chars} characters long", "sender"
        )
    message = body.get("message")
    if message is None:
        raise BadRequest("missing field 'message' (the user's text, a string)", "message")
    if not isinstance(message, str):
        raise BadRequest("field 'message' must be a string", "message")
    if len(message) > limits.max_message_chars:
        raise RequestRejected(
            413,
            f"field 'message' is longer than {limits.max_message_chars} characters; "
            "send a shorter message",
            "message",
        )
    metadata = body.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise BadRequest("field 'metadata' must be a JSON object when given", "metadata")
    bad = bad_text_path(body)
    if bad is not None:
        field = bad.split(".", 1)[0].split("[", 1)[0]
        raise BadRequest(
            f"field {bad!r} holds invalid Unicode (a lone surrogate such as \\ud800); "
            "send valid UTF-8 text",
            field if field in ("sender", "message", "metadata") else None,
        )
    return UserMessage(sender=sender, text=message, metadata=metadata)


def _decode_json(raw: bytes, limits: RequestLimits) -> Any:
    if not raw.strip():
        raise BadRequest(f"empty request body; send JSON like {_EXAMPLE}")
    try:
        body = json.loads(raw)
    except RecursionError:
        body = None
        deep = True
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(
            f"request body is not valid JSON ({exc}); send JSON like {_EXAMPLE}"
        ) from None
    else:
        deep = check_depth(body, limits.max_json_depth) is not None
    if deep:
        raise BadRequest(
            f"request body is nested deeper than {limits.max_json_depth} levels; "
            "flatten the metadata"
        )
    return body


def wants_stream(request: Request) -> bool:
    """``?stream=true`` (also ``1``/``yes``) selects the NDJSON streaming reply."""
    return request.query_params.get("stream", "").lower() in ("true", "1", "yes")


def internal_error_message(sender: str) -> dict[str, Any]:
    """The reply used when the assistant itself failed unexpectedly."""
    return {"recipient_id": sender, "text": INTERNAL_ERROR_TEXT}


class RestChannel:
    """Serves the webhook for one assistant; keeps streaming turns alive until done.

    A streaming turn runs in its own task: if the client disconnects mid-stream, the turn
    still completes so the tracker stays consistent (the remaining lines are dropped).
    At most ``limits.max_inflight_turns`` requests are handled at once; more get HTTP 503
    with ``Retry-After``. With ``auth`` protecting the webhook, a caller may post only as
    the conversation its token names (an admin token: any).
    """

    def __init__(
        self,
        assistant: MessageHandler,
        *,
        limits: RequestLimits | None = None,
        auth: Authenticator | None = None,
    ) -> None:
        self.assistant = assistant
        self.limits = limits or _DEFAULT_LIMITS
        self.auth = auth if auth is not None and auth.settings.protect_webhook else None
        self._turns: set[asyncio.Task[None]] = set()
        self.inflight = 0
        self._busy_log = ThrottledLog(logger, "rest.busy", level=logging.WARNING)

    async def webhook(self, request: Request) -> Response:
        """``POST /webhooks/rest/webhook``."""
        if self.inflight >= self.limits.max_inflight_turns:
            self._busy_log.hit(limit=self.limits.max_inflight_turns)
            retry = str(self.limits.retry_after)
            return JSONResponse(
                {"error": "the server is busy; retry after a moment"},
                status_code=503,
                headers={"Retry-After": retry},
            )
        self.inflight += 1
        try:
            msg = await self._read(request)
            if isinstance(msg, Response):
                return msg
            # A caller's traceparent parents the turn's span (the stream's task inherits it).
            with telemetry.incoming(request.headers):
                if wants_stream(request):
                    return self._start_stream(msg)
                return JSONResponse(await self._handle(msg))
        finally:
            self.inflight -= 1

    async def _read(self, request: Request) -> UserMessage | Response:
        """The parsed message, or the error response (4xx) to send instead."""
        if self.auth is not None:
            try:
                self.auth.authenticate(request)
            except AuthError as exc:
                return exc.response()
        try:
            msg = parse_user_message(await read_body(request, self.limits), self.limits)
            if self.auth is not None:
                self.auth.check(request, msg.sender)
        except RequestRejected as exc:
            logger.info("rest.bad_request", extra={"status": exc.status, "error": exc.message})
            return exc.response()
        except AuthError as exc:
            return exc.response()
        except ClientDisconnect:
            # A client that goes away mid-body is routine on the internet: one line, no
            # traceback, nothing stored.
            logger.info("rest.client_disconnected", extra={"while": "reading the body"})
            return Response(status_code=400)
        return msg

    async def _handle(
        self,
        msg: UserMessage,
        on_message: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
        on_progress: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ) -> list[dict[str, Any]]:
        try:
            # The tracker's latest_input_channel is "rest", as in Rasa.
            metadata = {"channel": "rest", **msg.metadata}
            return await self.assistant.handle_message(
                msg.sender, msg.text, metadata, on_message=on_message, on_progress=on_progress
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            # The assistant answers conversation problems itself; reaching here is a bug,
            # but the user still gets a reply and never a 5xx.
            logger.exception("rest.turn_failed", extra={"sender_id": msg.sender})
            reply = internal_error_message(msg.sender)
            if on_message is not None:
                await on_message(reply)
            return [reply]

    def _start_stream(self, msg: UserMessage) -> StreamingResponse:
        """Start the turn now (it runs even if the client never reads) and stream it."""
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def on_message(message: dict[str, Any]) -> None:
            queue.put_nowait(message)

        async def on_progress(event: dict[str, Any]) -> None:
            # still_working keeps the client (and proxies) informed; tool_progress is what
            # a tool reported ("40% indexing files"); question: a tool asks the user.
            if event.get("event") in _STREAMED_EVENTS:
                queue.put_nowait({"recipient_id": msg.sender, **event})

        async def turn() -> None:
            try:
                await self._handle(msg, on_message, on_progress)
            finally:
                self.inflight -= 1
                queue.put_nowait(_DONE)

        self.inflight += 1  # released when the turn ends, not when the response starts
        task = asyncio.create_task(turn(), name=f"rest-turn-{msg.sender}")
        self._turns.add(task)
        task.add_done_callback(self._turns.discard)
        return StreamingResponse(_lines(queue), media_type=NDJSON)

    async def drain(self, limit: float = 10.0) -> None:
        """Wait (at most ``limit`` s) for streaming turns whose clients went away."""
        if self._turns:
            await asyncio.wait(set(self._turns), timeout=limit)


async def _lines(queue: asyncio.Queue[Any]) -> AsyncIterator[bytes]:
    while True:
        item = await queue.get()
        if item is _DONE:
            break
        yield (json.dumps(item, ensure_ascii=False, default=str) + "\n").encode()
