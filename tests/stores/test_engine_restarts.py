"""Proof: PostgreSQL, Redis or RabbitMQ going away mid-burst loses no committed turn.

The engines restarted here are the test's own instances (engines.py); RabbitMQ is reached
through a TCP relay the test cuts (the machine's RabbitMQ is shared, so it is not stopped),
with a queue the test owns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from cluster import Answer, check_conversation, endpoints_yml, wait_until, write_project
from engines import own_postgres, own_redis
from services import AMQP_URL, require, unique
from tcp_relay import TcpRelay
from test_replicas import _delete_queue, read_queue

from subagents.dialogue.assistant import Assistant

pytestmark = pytest.mark.timeout(180)

SORRY = "Sorry, something went wrong. Please try again."
SENDERS = [f"s{k}" for k in range(12)]


async def _burst_through(
    assistant: Assistant, outage: Callable[[], None], restore: Callable[[], None]
) -> list[Answer]:
    """Turns on 12 conversations (each one at a time) while the engine goes down and up."""
    answers: list[Answer] = []
    phase = {"down": False, "after": 0}

    async def conversation(sender: str) -> None:
        # Paced and bounded: unpaced turns grow each conversation by thousands of turns
        # while the engine restarts, and serialising those states starves the event loop
        # (the asyncio.timeout below can then never fire).
        for i in range(1_500):
            await asyncio.sleep(0.02)
            answer = Answer(sender, i, 0)
            answer.texts = [
                m["text"]
                for m in await assistant.handle_message(sender, "/count", metadata={"i": i})
            ]
            answers.append(answer)
            if phase["after"] >= 60:  # enough turns succeeded after the restart
                return

    def counted(after: int = 0) -> int:
        return len([a for a in answers[after:] if a.n is not None])

    async def driver() -> None:
        await wait_until(_true(lambda: counted() >= 40), 60, "40 turns before the outage")
        await asyncio.to_thread(outage)
        phase["down"] = True
        mark = len(answers)  # some turns meet the engine down:
        await wait_until(_true(lambda: len(answers) >= mark + 12), 60, "turns during the outage")
        await asyncio.to_thread(restore)
        phase["down"] = False
        mark = len(answers)
        await wait_until(_true(lambda: counted(mark) >= 60), 60, "60 turns after the restart")
        phase["after"] = 60

    async with asyncio.timeout(120):
        await asyncio.gather(driver(), *(conversation(s) for s in SENDERS))
    return answers


def _true(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def predicate() -> bool:
        return check()

    return predicate


async def _check(assistant: Assistant, answers: list[Answer]) -> None:
    failed = [a for a in answers if a.n is None]
    assert failed, "some turns should have met the engine down"
    assert all(a.texts == [SORRY] for a in failed), {tuple(a.texts or ()) for a in failed}
    for sender in SENDERS:
        committed = [a for a in answers if a.sender == sender and a.n is not None]
        events = (await assistant.get_tracker(sender))["events"]
        check_conversation(events, committed)


async def test_postgresql_restart_mid_burst_loses_nothing_committed(tmp_path: Path) -> None:
    with own_postgres() as pg:
        stores = f'tracker_store: {{type: sql, url: "{pg.dsn}", timeout: 2, pool_size: 4}}'
        root = write_project(tmp_path / "p", endpoints_yml("http://127.0.0.1:9/v1", tracker=stores))
        assistant = await Assistant.load(root)
        try:
            answers = await _burst_through(assistant, pg.stop, pg.start)
            await _check(assistant, answers)
        finally:
            await assistant.aclose()


async def test_redis_restart_mid_burst_loses_nothing_committed(tmp_path: Path) -> None:
    with own_redis() as redis:
        stores = (
            f'tracker_store: {{type: redis, url: "{redis.url}", timeout: 2}}\n'
            f'lock_store: {{type: redis, url: "{redis.url}", lock_lifetime: 3}}'
        )
        root = write_project(tmp_path / "p", endpoints_yml("http://127.0.0.1:9/v1", tracker=stores))
        assistant = await Assistant.load(root)
        try:
            answers = await _burst_through(assistant, redis.stop, redis.start)
            await _check(assistant, answers)
        finally:
            await assistant.aclose()


async def test_rabbitmq_unreachable_mid_burst_loses_no_event(tmp_path: Path) -> None:
    require("rabbitmq")
    queue = unique("events")
    async with TcpRelay("127.0.0.1", 5672) as relay:
        url = AMQP_URL.replace("127.0.0.1:5672", f"127.0.0.1:{relay.port}")
        stores = (
            "tracker_store: {type: memory}\n"
            f"event_broker: {{type: pika, url: '{url}', queues: [{queue}], exchange_name: {queue}}}"
        )
        root = write_project(tmp_path / "p", endpoints_yml("http://127.0.0.1:9/v1", tracker=stores))
        assistant = await Assistant.load(root)
        broker = assistant.broker
        try:
            answers = await _burst_through(assistant, relay.cut_sync, relay.restore_sync)
            assert all(a.n is not None for a in answers)  # the broker never fails a turn
            assert broker is not None
            logs = {s: (await assistant.get_tracker(s))["events"] for s in SENDERS}
        finally:
            await assistant.aclose()  # flushes what is still buffered
        try:
            expected = sum(len(events) for events in logs.values())
            published = await read_queue(queue, expected)
            by_sender: dict[str, list[dict[str, object]]] = {}
            for event in published:
                by_sender.setdefault(str(event.pop("sender_id")), []).append(event)
            # Nothing lost, in order; a batch whose confirm the cut swallowed may come twice.
            for sender, events in logs.items():
                assert _without_repeats(by_sender[sender]) == events
        finally:
            await _delete_queue(queue)


def _without_repeats(events: list[dict[str, object]]) -> list[dict[str, object]]:
    seen: list[dict[str, object]] = []
    for event in events:
        if event not in seen:
            seen.append(event)
    return seen
