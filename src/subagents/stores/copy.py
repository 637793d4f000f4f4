"""Copy conversations from one tracker store to another (``subagents copy-store``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from subagents.stores.base import TrackerStore


@dataclass
class CopyReport:
    """What :func:`copy_conversations` did."""

    copied: int = 0
    events: int = 0
    skipped: list[str] = field(default_factory=list)
    """Ids already in the target (left as they are: event logs are append-only)."""


async def copy_conversations(
    source: TrackerStore,
    target: TrackerStore,
    *,
    concurrency: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> CopyReport:
    """Copy every conversation of ``source`` that ``target`` does not have yet.

    Each conversation is written with one ``save`` (its state and its whole event log in
    one transaction), so an interrupted copy leaves whole conversations only and can
    simply be run again: what was copied is skipped. ``progress(done, total)`` is called
    after each conversation.
    """
    ids = await source.list()
    report = CopyReport()
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def copy_one(conversation_id: str) -> None:
        nonlocal done
        async with gate:
            if await target.load(conversation_id) is not None:
                report.skipped.append(conversation_id)
            else:
                state = await source.load(conversation_id)
                events = await source.events(conversation_id)
                if state is not None:
                    await target.save(conversation_id, state, events)
                    report.copied += 1
                    report.events += len(events)
            done += 1
            if progress is not None:
                progress(done, len(ids))

    await asyncio.gather(*(copy_one(i) for i in ids))
    report.skipped.sort()
    return report
