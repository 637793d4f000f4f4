"""LiveHub: redaction as in logs, one conversation's stream, a reader that falls behind,
and closing (server shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from subagents.config.secrets import register_log_secrets
from subagents.inspector.hub import QUEUE_LIMIT, LiveHub


async def watching(hub: LiveHub, count: int) -> None:
    """Until ``count`` streams are open (bounded)."""
    async with asyncio.timeout(5):
        while hub.watchers < count:  # noqa: ASYNC110 - the hub exposes no event for it
            await asyncio.sleep(0.01)


async def next_events(hub: LiveHub, conversation: str | None, count: int) -> list[Any]:
    got: list[Any] = []
    async with (
        asyncio.timeout(5),
        contextlib.aclosing(hub.events(conversation, heartbeat=0.05)) as stream,
    ):
        async for event in stream:
            if event is not None:
                got.append(event)
            if len(got) == count:
                break
    return got


async def test_secrets_are_redacted_and_other_conversations_filtered() -> None:
    register_log_secrets(["registered-token-42"])
    hub = LiveHub(secrets=("config-secret-value",))
    reader = asyncio.create_task(next_events(hub, "alex", 2))
    await watching(hub, 1)
    await hub.publish("bob", {"event": "tool_progress", "text": "bob's"})
    await hub.publish(
        "alex", {"event": "tool_progress", "text": "key config-secret-value in a message"}
    )
    await hub.publish("alex", {"event": "x", "nested": {"t": "registered-token-42"}, "n": 1})
    first, second = await reader

    assert first["text"] == "key *** in a message" and first["conversation_id"] == "alex"
    assert second["nested"] == {"t": "***"} and second["n"] == 1
    assert hub.watchers == 0  # the stream is gone once its reader stopped


async def test_a_reader_that_falls_behind_is_told_it_lagged() -> None:
    hub = LiveHub()
    stream = hub.events(None, heartbeat=0.05)
    first = asyncio.create_task(anext(stream))
    await watching(hub, 1)
    for number in range(QUEUE_LIMIT + 10):
        await hub.publish("c", {"event": "tool_started", "n": number})
    # The queue filled up before the reader ran: its events were dropped for one "lagged"
    # event (the page then reloads the tracker); what came after is delivered.
    assert (await first)["event"] == "lagged"
    later = [(await anext(stream))["n"] for _ in range(9)]
    assert later == list(range(QUEUE_LIMIT + 1, QUEUE_LIMIT + 10))
    await hub.publish("c", {"event": "turn_finished"})
    assert (await anext(stream))["event"] == "turn_finished"
    hub.close()
    await stream.aclose()


async def test_close_ends_every_stream() -> None:
    hub = LiveHub()

    async def drain() -> list[Any]:
        return [e async for e in hub.events("c", heartbeat=10)]

    readers = [asyncio.create_task(drain()) for _ in range(3)]
    await watching(hub, 3)
    hub.close()
    async with asyncio.timeout(5):
        assert await asyncio.gather(*readers) == [[], [], []]
