"""Request limits of the REST channel: body size, message size, nesting, text validity.

The defaults suit chat traffic; every one is configurable (:class:`RequestLimits`, the
``subagents run`` flags). A request over a limit is refused before anything is stored:

* body larger than ``max_body_bytes`` → HTTP 413, and the body is never buffered past the
  limit (``Content-Length`` is checked first, then the bytes are counted as they arrive);
* a body that takes longer than ``body_timeout`` seconds to arrive → HTTP 408;
* message longer than ``max_message_chars`` → HTTP 413;
* JSON nested deeper than ``max_json_depth`` → HTTP 400;
* a lone UTF-16 surrogate (``"\\ud800"``) in any string → HTTP 400 (it cannot be stored
  or sent to a model).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from subagents.errors import SubagentsError

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class RequestLimits:
    """Limits applied to every webhook request (see the module docstring)."""

    max_body_bytes: int = 1 * MIB
    max_message_chars: int = 16 * KIB
    max_sender_chars: int = 256
    max_json_depth: int = 32
    body_timeout: float = 10.0
    max_inflight_turns: int = 256
    """Turns running at once (all conversations); more get HTTP 503 with Retry-After."""
    retry_after: int = 1
    """Seconds suggested to a client refused because the server is full."""


class RequestRejected(SubagentsError):
    """A request the channel refuses; :meth:`response` is the JSON error reply."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        """``{"error": ..., "field"?: ...}`` with this rejection's status."""
        body: dict[str, Any] = {"error": self.message}
        if self.field:
            body["field"] = self.field
        return JSONResponse(body, status_code=self.status, headers=headers)


async def read_body(request: Request, limits: RequestLimits) -> bytes:
    """The request body, refused with 413 past ``max_body_bytes`` and 408 when too slow.

    Raises :class:`starlette.requests.ClientDisconnect` when the client goes away.
    """
    limit = limits.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestRejected(400, "the Content-Length header is not a number")
        if int(declared) > limit:
            await _discard(request)
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(limits.body_timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    chunks.clear()
                    break
                chunks.append(chunk)
    except TimeoutError:
        raise RequestRejected(
            408, f"the request body did not arrive within {limits.body_timeout:g} s"
        ) from None
    if size > limit:
        await _discard(request)
        raise _too_large(limit)
    return b"".join(chunks)


DISCARD_BYTES = 16 * MIB
DISCARD_SECONDS = 2.0


async def _discard(request: Request) -> None:
    """Read and drop what remains of a refused body (at most 16 MiB, 2 s).

    A client still sending when the connection closes gets a reset instead of the 413;
    reading a little more lets ordinary clients see the error. Nothing is kept.
    """
    dropped = 0
    try:
        async with asyncio.timeout(DISCARD_SECONDS):
            async for chunk in request.stream():
                dropped += len(chunk)
                if dropped > DISCARD_BYTES:
                    return
    except (TimeoutError, ClientDisconnect):
        return


def _too_large(limit: int) -> RequestRejected:
    return RequestRejected(
        413, f"request body is larger than {limit} bytes; send a shorter message"
    )


def check_depth(value: Any, max_depth: int) -> str | None:
    """The path of the first container nested deeper than ``max_depth`` (None if fine).

    Iterative, so a deep value cannot exhaust the interpreter's stack.
    """
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict):
            children = [(v, _join(path, k)) for k, v in item.items()]
        elif isinstance(item, list):
            children = [(v, f"{path}[{i}]") for i, v in enumerate(item)]
        else:
            continue
        if depth > max_depth:
            return path or "(top level)"
        stack.extend((child, depth + 1, child_path) for child, child_path in children)
    return None


def bad_text_path(value: Any) -> str | None:
    """The path of the first string (or key) that is not valid Unicode text, else None.

    JSON allows ``"\\ud800"``, a lone UTF-16 surrogate, which Python keeps in the string
    but cannot encode as UTF-8: storing or sending it fails later, mid-turn.
    """
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return path or "(top level)"
        elif isinstance(item, dict):
            for key, child in item.items():
                if not _encodable(str(key)):
                    return path or "(top level)"
                stack.append((child, _join(path, key)))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))
    return None


def _join(path: str, key: Any) -> str:
    """``path.key``, with characters that cannot be shown in an error escaped."""
    label = str(key).encode("utf-8", "backslashreplace").decode("utf-8")
    return f"{path}.{label}" if path else label


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


__all__ = [
    "ClientDisconnect",
    "RequestLimits",
    "RequestRejected",
    "bad_text_path",
    "check_depth",
    "read_body",
]
