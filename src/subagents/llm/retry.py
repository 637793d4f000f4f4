"""Retries for model requests: which failures are retried and how long to wait.

Retried: HTTP 429, 5xx (and 408), connection errors and timeouts — up to ``retries``
times after the first attempt, with capped exponential backoff
(``base * 2**n``, at most ``max_backoff``), or the server's ``Retry-After`` (seconds or an
HTTP date, at most ``max_retry_after``) when it sends one. Anything else (400, 401, 404...)
fails at once. The request is built once, so every attempt sends the same bytes.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import subagents.telemetry as telemetry
from subagents.errors import LLMUnavailableError, SubagentsError
from subagents.retry import retrying

logger = logging.getLogger("subagents.llm")

T = TypeVar("T")

_EXCERPT = 300


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff settings (the number of retries comes from the model entry)."""

    base_backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0

    def backoff(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based) without Retry-After."""
        return float(min(self.max_backoff, self.base_backoff * 2 ** (retry_number - 1)))


DEFAULT_POLICY = RetryPolicy()


class AttemptError(SubagentsError):
    """One failed attempt: whether it may be retried, and what to tell the user."""

    def __init__(
        self,
        detail: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


def retryable_status(status: int) -> bool:
    """429, 408 and 5xx are worth retrying; other errors will fail the same way again."""
    return status in (408, 429) or status >= 500


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def excerpt(text: str, secret: str | None = None) -> str:
    """A short, single-line excerpt of an error body with the api key removed."""
    text = " ".join(text.split())
    if secret:
        text = text.replace(secret, "***")
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    retries: int,
    policy: RetryPolicy,
    label: str,
    group: str | None = None,
) -> T:
    """Run ``attempt`` with retries; raise :class:`LLMUnavailableError` when it keeps failing.

    ``attempt`` raises :class:`AttemptError` for a failure; ``label`` names the model in
    messages (never the api key), ``group`` its model group. Any other exception
    propagates at once, unretried.
    """
    retried = 0

    def note(exc: BaseException, number: int, seconds: float) -> None:
        nonlocal retried
        retried = number
        status = exc.status if isinstance(exc, AttemptError) else None
        telemetry.event(
            "gen_ai.request.retry",
            {"attempt": number, "wait_s": seconds, "http.response.status_code": status},
        )
        logger.warning(
            "llm.retry model=%s attempt=%d wait=%.2fs reason=%s",
            label,
            number,
            seconds,
            exc,
            extra={"event": "llm.retry"},
        )

    try:
        return await retrying(
            attempt,
            retries=retries,
            retry_on=lambda exc: isinstance(exc, AttemptError) and exc.retryable,
            wait=lambda exc, number: _wait(exc, number, policy),
            on_retry=note,
        )
    except AttemptError as exc:
        raise _unavailable(exc, retried + 1, label, group) from exc


def _wait(exc: BaseException, number: int, policy: RetryPolicy) -> float:
    """Seconds before the retry after failed attempt ``number``: Retry-After, else backoff."""
    if isinstance(exc, AttemptError) and exc.retry_after is not None:
        return float(min(exc.retry_after, policy.max_retry_after))
    return policy.backoff(number)


def _unavailable(
    exc: AttemptError, attempts: int, label: str, group: str | None
) -> LLMUnavailableError:
    if exc.status in (401, 403):
        # Retrying cannot help and the raw body rarely says which key: name it.
        owner = f"model group '{group}' ({label})" if group else f"model {label}"
        message = (
            f"the provider rejected the API key of {owner}: {exc.detail};"
            " check its api_key in endpoints.yml (or the variable it reads)"
        )
        logger.error("llm.unavailable %s", message, extra={"event": "llm.unavailable"})
        return LLMUnavailableError(message)
    tries = f"after {attempts} attempts" if attempts > 1 else "(not retried)"
    logger.error(
        "llm.unavailable model=%s %s", label, exc.detail, extra={"event": "llm.unavailable"}
    )
    return LLMUnavailableError(f"LLM {label} unavailable {tries}: {exc.detail}")
