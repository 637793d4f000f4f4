"""The shared retry mechanism (subagents.retry) used by model requests and action calls."""

from __future__ import annotations

import pytest

from subagents.retry import retrying


class Flaky(Exception):
    pass


class Fatal(Exception):
    pass


def counter(failures: list[Exception]):
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(len(calls) + 1)
        if failures:
            raise failures.pop(0)
        return "ok"

    return attempt, calls


async def test_retries_until_success_and_reports_each_retry() -> None:
    attempt, calls = counter([Flaky(), Flaky()])
    seen: list[tuple[str, int, float]] = []
    result = await retrying(
        attempt,
        retries=3,
        retry_on=lambda exc: isinstance(exc, Flaky),
        wait=lambda exc, n: 0.001 * n,
        on_retry=lambda exc, n, s: seen.append((type(exc).__name__, n, s)),
    )
    assert result == "ok"
    assert calls == [1, 2, 3]
    assert seen == [("Flaky", 1, 0.001), ("Flaky", 2, 0.002)]


async def test_gives_up_after_the_retries_with_the_last_failure() -> None:
    attempt, calls = counter([Flaky("1"), Flaky("2"), Flaky("3"), Flaky("4")])
    seen: list[int] = []
    with pytest.raises(Flaky, match="3"):
        await retrying(
            attempt,
            retries=2,
            retry_on=lambda exc: isinstance(exc, Flaky),
            wait=lambda exc, n: 0.0,
            on_retry=lambda exc, n, s: seen.append(n),
        )
    assert calls == [1, 2, 3]  # one attempt plus two retries
    assert seen == [1, 2]  # no retry announced after the last failure


@pytest.mark.parametrize("retries", [0, 3])
async def test_a_refused_failure_is_raised_at_once(retries: int) -> None:
    attempt, calls = counter([Fatal()])
    with pytest.raises(Fatal):
        await retrying(
            attempt,
            retries=retries,
            retry_on=lambda exc: isinstance(exc, Flaky),
            wait=lambda exc, n: 0.0,
        )
    assert calls == [1]


async def test_a_refused_failure_after_retries_stops_them() -> None:
    attempt, calls = counter([Flaky(), Fatal(), Flaky()])
    with pytest.raises(Fatal):
        await retrying(
            attempt, retries=5, retry_on=lambda exc: isinstance(exc, Flaky), wait=lambda e, n: 0
        )
    assert calls == [1, 2]
