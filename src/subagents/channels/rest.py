"""The REST channel, as Rasa's: ``POST /webhooks/rest/webhook``.

Request body: ``{"sender": "<conversation id>", "message": "<text>", "metadata": {...}?}``.
Reply: the bot messages of the turn, ``[{"recipient_id": id, "text": ...}, ...]``.

With ``?stream=true`` the reply is newline-delimited JSON (``application/x-ndjson``): one
message per line, written the moment the assistant produces it. A line carrying a piece of
a streamed message has ``"chunk": true``; whole messages carry no such key.

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

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from subagents.errors import SubagentsError

logger = logging.getLogger("subagents.channels.rest")

INTERNAL_ERROR_TEXT = "Sorry, something went wrong. Please try again."
NDJSON = "application/x-ndjson"
_DONE = object()


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


class BadRequest(SubagentsError):
    """The request body cannot be handled; answered with HTTP 400."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def response(self) -> JSONResponse:
        """The 400 reply naming what was wrong and how to fix it."""
        body: dict[str, Any] = {"error": self.message}
        if self.field:
            body["field"] = self.field
        return JSONResponse(body, status_code=400)


@dataclass(frozen=True)
class UserMessage:
    """One parsed REST request."""

    sender: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


_EXAMPLE = '{"sender": "user1", "message": "hello"}'


def parse_user_message(raw: bytes) -> UserMessage:
    """Parse and check a webhook body; raise :class:`BadRequest` with a clear message."""
    if not raw.strip():
        raise BadRequest(f"empty request body; send JSON like {_EXAMPLE}")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(
            f"request body is not valid JSON ({exc}); send JSON like {_EXAMPLE}"
        ) from None
    if not isinstance(body, dict):
        raise BadRequest(f"request body must be a JSON object like {_EXAMPLE}")
    sender = body.get("sender")
    if sender is None:
        raise BadRequest("missing field 'sender' (the conversation id, a string)", "sender")
    if isinstance(sender, bool) or not isinstance(sender, (str, int)):
        raise BadRequest("field 'sender' must be a string (the conversation id)", "sender")
    sender = str(sender)
    if not sender or len(sender) > 256:
        raise BadRequest("field 'sender' must be 1 to 256 characters long", "sender")
    message = body.get("message")
    if message is None:
        raise BadRequest("missing field 'message' (the user's text, a string)", "message")
    if not isinstance(message, str):
        raise BadRequest("field 'message' must be a string", "message")
    metadata = body.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise BadRequest("field 'metadata' must be a JSON object when given", "metadata")
    return UserMessage(sender=sender, text=message, metadata=metadata)


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
    """

    def __init__(self, assistant: MessageHandler) -> None:
        self.assistant = assistant
        self._turns: set[asyncio.Task[None]] = set()

    async def webhook(self, request: Request) -> Response:
        """``POST /webhooks/rest/webhook``."""
        try:
            msg = parse_user_message(await request.body())
        except BadRequest as exc:
            logger.info("rest.bad_request", extra={"error": exc.message})
            return exc.response()
        if wants_stream(request):
            return StreamingResponse(self._stream(msg), media_type=NDJSON)
        return JSONResponse(await self._handle(msg))

    async def _handle(
        self,
        msg: UserMessage,
        on_message: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ) -> list[dict[str, Any]]:
        try:
            # The tracker's latest_input_channel is "rest", as in Rasa.
            metadata = {"channel": "rest", **msg.metadata}
            return await self.assistant.handle_message(
                msg.sender, msg.text, metadata, on_message=on_message
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

    async def _stream(self, msg: UserMessage) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def on_message(message: dict[str, Any]) -> None:
            queue.put_nowait(message)

        async def turn() -> None:
            try:
                await self._handle(msg, on_message)
            finally:
                queue.put_nowait(_DONE)

        task = asyncio.create_task(turn(), name=f"rest-turn-{msg.sender}")
        self._turns.add(task)
        task.add_done_callback(self._turns.discard)
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            yield (json.dumps(item, ensure_ascii=False, default=str) + "\n").encode()

    async def drain(self, limit: float = 10.0) -> None:
        """Wait (at most ``limit`` s) for streaming turns whose clients went away."""
        if self._turns:
            await asyncio.wait(set(self._turns), timeout=limit)
