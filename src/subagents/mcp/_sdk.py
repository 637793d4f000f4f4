"""The one place that leans on the ``mcp`` SDK beyond its public API (written for 2.3.0).

Everything else in :mod:`subagents.mcp` uses public names only. Each item says what the
SDK lacks and what would replace it.

* Liveness of a session: ``Client`` has no public "is the transport closed" flag (the
  dispatcher's ``_closed`` is private; upstream: modelcontextprotocol/python-sdk, "Client:
  expose whether the session is still connected"). :class:`WatchedTransport` wraps any
  transport and notices the end of its read stream through the public stream protocol.
* Stored token expiry: ``OAuthClientProvider`` loads stored tokens without their expiry,
  so a token that expired while the process was down is sent as valid and answered with
  401, which starts a new interactive authorization instead of a refresh (upstream:
  modelcontextprotocol/python-sdk, "OAuthClientProvider: restore token expiry from
  storage"). :func:`stored_expiry_provider` subclasses the provider and overrides its
  ``_initialize`` hook (the SDK's own client-credentials providers override it too) to
  restore the expiry from our store.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio
from mcp.client import Transport
from mcp.client.auth import OAuthClientProvider
from mcp.shared.message import SessionMessage

T = TypeVar("T")

_STREAM_END = (StopAsyncIteration, anyio.EndOfStream, anyio.ClosedResourceError)


class _WatchedReadStream(Generic[T]):
    """A read stream that records when it ended (EOF, closed or exited)."""

    def __init__(self, inner: Any, on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._on_end = on_end

    @property
    def last_context(self) -> Any:
        # The dispatcher reads the sender's contextvars snapshot by duck typing.
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> T:
        try:
            item: T = await self._inner.receive()
        except (*_STREAM_END, anyio.BrokenResourceError):
            self._on_end()
            raise
        return item

    def __aiter__(self) -> _WatchedReadStream[T]:
        return self

    async def __anext__(self) -> T:
        try:
            item: T = await self._inner.__anext__()
        except (*_STREAM_END, anyio.BrokenResourceError):
            self._on_end()
            raise
        return item

    async def aclose(self) -> None:
        self._on_end()
        await self._inner.aclose()

    async def __aenter__(self) -> _WatchedReadStream[T]:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self._on_end()
        result: bool | None = await self._inner.__aexit__(exc_type, exc, tb)
        return result


class WatchedTransport:
    """Wraps a transport; :attr:`ended` turns true once its read stream has ended.

    A session whose read stream ended can send nothing more: the connection treats it as
    dead and reconnects on the next use.
    """

    def __init__(self, inner: AbstractAsyncContextManager[Any]) -> None:
        self._inner = inner
        self.ended = False
        self.entered = False

    def _mark_ended(self) -> None:
        self.ended = True

    async def __aenter__(self) -> Any:
        read, write = await self._inner.__aenter__()
        self.entered = True
        return _WatchedReadStream[SessionMessage | Exception](read, self._mark_ended), write

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self.ended = True
        result: bool | None = await self._inner.__aexit__(exc_type, exc, tb)
        return result


def as_transport(watched: WatchedTransport) -> Transport:
    """``watched`` typed as the SDK's ``Transport`` protocol (it yields the same pair)."""
    transport: Transport = watched
    return transport


class StoredExpiryOAuthProvider(OAuthClientProvider):
    """An ``OAuthClientProvider`` that restores the stored token's expiry on load.

    Its storage may offer ``async expires_at() -> float | None`` (epoch seconds);
    :class:`~subagents.mcp.tokens.ServerTokenStorage` does.
    """

    async def _initialize(self) -> None:
        await super()._initialize()
        expires_at = getattr(self.context.storage, "expires_at", None)
        if self.context.current_tokens is not None and expires_at is not None:
            self.context.token_expiry_time = await expires_at()
