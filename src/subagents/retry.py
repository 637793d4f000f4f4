"""The one retry mechanism: model requests and action-server calls both go through it.

The first attempt runs outside tenacity, so the success path (nearly every call) costs one
``await`` and no retry machinery; tenacity takes over only once a retryable failure has
happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

T = TypeVar("T")

Wait = Callable[[BaseException, int], float]
"""Seconds to wait after ``exc`` failed attempt ``number`` (1-based)."""
OnRetry = Callable[[BaseException, int, float], None]
"""Told ``(exc, failed attempt number, seconds before the next attempt)``."""


async def retrying(
    attempt: Callable[[], Awaitable[T]],
    *,
    retries: int,
    retry_on: Callable[[BaseException], bool],
    wait: Wait,
    on_retry: OnRetry | None = None,
) -> T:
    """Await ``attempt()``; after a failure ``retry_on`` accepts, wait and try again.

    At most ``retries`` more attempts; the last failure (or the first one ``retry_on``
    refuses) is raised as is. Every attempt calls ``attempt`` afresh, so callers that need
    identical resends build their request once, outside it.
    """
    try:
        return await attempt()
    except Exception as exc:
        if retries < 1 or not retry_on(exc):
            raise
        seconds = wait(exc, 1)
        if on_retry is not None:
            on_retry(exc, 1, seconds)
    await asyncio.sleep(seconds)

    # tenacity counts from our second attempt: its attempt n is our attempt n + 1.
    def _wait(state: RetryCallState) -> float:
        return wait(_failure(state), state.attempt_number + 1)

    def _before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.next_action is not None:
            on_retry(_failure(state), state.attempt_number + 1, state.next_action.sleep)

    async for tenacity_attempt in AsyncRetrying(
        retry=retry_if_exception(retry_on),
        stop=stop_after_attempt(retries),
        wait=_wait,
        before_sleep=_before_sleep,
        reraise=True,
    ):
        with tenacity_attempt:
            return await attempt()
    raise AssertionError("unreachable: tenacity re-raises the last failure")


def _failure(state: RetryCallState) -> BaseException:
    exc = state.outcome.exception() if state.outcome is not None else None
    assert exc is not None  # tenacity only waits after a failed attempt
    return exc
