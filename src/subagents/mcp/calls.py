"""One tool call in flight: its timeout clock and what the server may send during it.

The per-call ``timeout`` is enforced here rather than by the SDK's ``read_timeout_seconds``
because it must do two things the SDK's public API does not offer: restart when the
server reports progress (``progress_resets_timeout``), and stop while the call waits
for a person (an elicitation question being answered on a later turn).
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType

from subagents.tools.interaction import AskHook, SampleHook


class CallClock:
    """An ``asyncio.timeout`` that can be restarted and paused from other tasks.

    Entered by the task that awaits the call; :meth:`restart`, :meth:`pause` and
    :meth:`resume` may be called from any task of the same loop (the SDK runs
    progress and elicitation callbacks in its own tasks). After a pause the call gets
    its whole ``timeout`` again: the time a person took is not the server's.
    """

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self._cm: asyncio.Timeout | None = None
        self._pauses = 0

    async def __aenter__(self) -> CallClock:
        self._cm = asyncio.timeout(self.timeout)
        await self._cm.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._cm is not None
        await self._cm.__aexit__(exc_type, exc, tb)

    @property
    def expired(self) -> bool:
        """True when the clock ran out (the call timed out)."""
        return self._cm is not None and self._cm.expired()

    def restart(self) -> None:
        """Give the call its whole ``timeout`` again, from now (unless paused)."""
        if self._cm is None or self.timeout is None or self._pauses or self._cm.expired():
            return
        self._cm.reschedule(asyncio.get_running_loop().time() + self.timeout)

    def pause(self) -> None:
        """Stop the clock (a person is being asked); :meth:`resume` starts it afresh."""
        self._pauses += 1
        if self._cm is not None and not self._cm.expired():
            self._cm.reschedule(None)

    def resume(self) -> None:
        """End one :meth:`pause`; the last one restarts the clock."""
        self._pauses = max(0, self._pauses - 1)
        self.restart()


@dataclass(eq=False)
class ActiveCall:
    """A call in flight on one connection, for routing the server's requests to it."""

    tool: str
    clock: CallClock
    ask: AskHook | None = None
    sample: SampleHook | None = None
    asked: int = field(default=0)
    """Questions asked so far (a server that keeps asking is cut off)."""


CURRENT_CALL: ContextVar[ActiveCall | None] = ContextVar("subagents_mcp_call", default=None)
"""The call whose task sent the message. The SDK runs a server request in the context of
the HTTP request that carried it (and, on 2026 connections, in the calling task itself),
so an elicitation finds its call here; stdio carries no context (see ``route``)."""


def route(current: ActiveCall | None, in_flight: set[ActiveCall]) -> ActiveCall | None:
    """The call a server request belongs to: the context's, else the only call in flight
    (or the only run asking: every call of one run shares its ``ask``); else ``None``."""
    if current is not None:
        return current
    if len(in_flight) == 1:
        return next(iter(in_flight))
    asks = {call.ask for call in in_flight}
    if len(asks) == 1 and None not in asks:
        return next(iter(in_flight))
    return None
