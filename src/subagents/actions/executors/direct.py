"""In-process executor: runs actions from ``actions_module`` in the assistant's process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from subagents.actions.dispatcher import CollectingDispatcher
from subagents.actions.executors.base import ActionResult, OnChunk
from subagents.actions.interfaces import ActionExecutionRejection, ActionNotFoundException
from subagents.actions.registry import ActionRegistry
from subagents.errors import ActionRejectedError, ActionServerError, UnknownActionError

logger = logging.getLogger("subagents.actions.executor")


class DirectExecutor:
    """Runs actions in-process; stream chunks reach ``on_chunk`` as they are produced."""

    def __init__(
        self,
        registry: ActionRegistry,
        *,
        module: str = "",
        timeout: float | None = 30.0,
    ) -> None:
        """Run the actions of ``registry`` (from ``module``), each bounded by ``timeout``."""
        self.registry = registry
        self.module = module
        self.timeout = timeout

    @classmethod
    def from_module(
        cls, module: str, project_root: str | Path | None = None, *, timeout: float | None = 30.0
    ) -> DirectExecutor:
        """Import ``module`` and build an executor over its actions."""
        return cls(ActionRegistry.from_module(module, project_root), module=module, timeout=timeout)

    async def run(
        self,
        action_name: str,
        tracker_state: dict[str, Any],
        domain: dict[str, Any],
        on_chunk: OnChunk | None = None,
        cancel_event: asyncio.Event | None = None,
    ) -> ActionResult:
        """Run ``action_name`` in this process (see :class:`ActionExecutor`)."""
        dispatcher = CollectingDispatcher()
        if on_chunk is not None:
            dispatcher._stream_sink = _muted_after_cancel(on_chunk, dispatcher, cancel_event)
        watcher = _watch_cancel(dispatcher, cancel_event)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                events = await self.registry.run(action_name, tracker_state, domain, dispatcher)
        except ActionNotFoundException as exc:
            known = ", ".join(self.registry.names()) or "none"
            raise UnknownActionError(
                action_name,
                f"not found in actions module '{self.module}' (known actions: {known}); "
                "check the action's name() and that its module is inside the package",
            ) from exc
        except ActionExecutionRejection as exc:
            raise ActionRejectedError(action_name, exc.message) from exc
        except TimeoutError as exc:
            raise ActionServerError(action_name, f"timed out after {self.timeout}s") from exc
        except Exception as exc:
            logger.exception("actions.run.failed", extra={"action": action_name})
            raise ActionServerError(action_name, f"raised {type(exc).__name__}: {exc}") from exc
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
        logger.debug(
            "actions.run.done",
            extra={"action": action_name, "ms": round((time.perf_counter() - started) * 1000, 2)},
        )
        return ActionResult(
            events=events,
            responses=dispatcher.messages,
            streamed=dispatcher.streamed_chunks,
            barged_in=dispatcher.is_streaming_cancelled,
        )

    async def aclose(self) -> None:
        """Nothing to release."""


def _muted_after_cancel(
    on_chunk: OnChunk, dispatcher: CollectingDispatcher, cancel_event: asyncio.Event | None
) -> OnChunk:
    async def sink(event: dict[str, Any]) -> None:
        if cancel_event is not None and cancel_event.is_set():
            dispatcher.cancel_stream()  # the dispatcher then does not record it as sent
            return
        await on_chunk(event)

    return sink


def _watch_cancel(
    dispatcher: CollectingDispatcher, cancel_event: asyncio.Event | None
) -> asyncio.Task[None] | None:
    if cancel_event is None:
        return None

    async def watch() -> None:
        await cancel_event.wait()
        dispatcher.cancel_stream()
        logger.info("actions.stream.barge_in")

    return asyncio.create_task(watch())
