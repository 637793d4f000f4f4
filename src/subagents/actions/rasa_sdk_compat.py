"""Actions written against the real ``rasa_sdk`` package, run in-process unchanged.

When a project's ``actions_module`` imports ``rasa_sdk`` (installed beside subagents), its
subclasses of ``rasa_sdk.Action`` (``FormValidationAction`` and ``ValidationAction``
included) are registered like ours. Each one runs with the Rasa SDK's own objects: a
``rasa_sdk.Tracker`` built from the tracker state, and a ``rasa_sdk.executor.
CollectingDispatcher`` bridged to ours, so that:

* ``utter_message`` calls land in our dispatcher's messages, in the order they are made;
* streamed chunks (``stream_start`` / ``stream_chunk`` / ``stream_end``) go through our
  dispatcher as they are produced, exactly as our own actions' chunks do (live to a
  streaming caller, else joined), and a barge-in cancels the SDK dispatcher's stream too;
* ``rasa_sdk.ActionExecutionRejection`` is our rejection (HTTP 400 on our server).

``rasa_sdk`` is never imported here: it is found in ``sys.modules`` after the user's
module imported it, so projects without it pay nothing.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import types
from typing import Any

from subagents.actions.dispatcher import CollectingDispatcher
from subagents.actions.interfaces import Action, ActionExecutionRejection, Tracker


class RasaSDKAction(Action):
    """Runs one ``rasa_sdk.Action`` instance with the Rasa SDK's tracker and dispatcher."""

    def __init__(self, action: Any, sdk: types.ModuleType) -> None:
        self.action = action
        self._sdk = sdk

    @property
    def origin(self) -> str:
        """``module.Class`` of the wrapped action (for messages)."""
        cls = type(self.action)
        return f"{cls.__module__}.{cls.__qualname__}"

    def name(self) -> str:
        name: str = self.action.name()
        return name

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Run the wrapped action on ``tracker``'s state (see the module docstring)."""
        from importlib import import_module

        sdk_tracker = self._sdk.Tracker.from_dict(tracker.current_state())
        sdk_dispatcher = import_module("rasa_sdk.executor").CollectingDispatcher()
        sdk_dispatcher.messages = dispatcher.messages  # one list: utter order is kept
        sdk_dispatcher._stream_sink = _bridge(dispatcher, sdk_dispatcher)
        run = self.action.run
        try:
            if inspect.iscoroutinefunction(run):
                result = await run(sdk_dispatcher, sdk_tracker, domain)
            else:  # a plain ``def run`` may block: keep the loop free, as for ours
                result = await asyncio.to_thread(run, sdk_dispatcher, sdk_tracker, domain)
            if inspect.isawaitable(result):
                result = await result
        except self._sdk.ActionExecutionRejection as exc:
            raise ActionExecutionRejection(exc.action_name, exc.message) from exc
        events: list[dict[str, Any]] = list(result or [])
        return events


def _bridge(ours: CollectingDispatcher, sdk_dispatcher: Any) -> Any:
    """The SDK dispatcher's stream sink: each event replayed on our dispatcher."""

    async def sink(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "stream_start":
            await ours.stream_start()
        elif kind == "stream_chunk":
            chunk = {k: v for k, v in event.items() if k != "event"}
            if "custom" in chunk:
                chunk["json_message"] = chunk.pop("custom")
            await ours.stream_chunk(**chunk)
        elif kind == "stream_end":
            await ours.stream_end()
        if ours.is_streaming_cancelled:  # barge-in: the SDK drops later chunks itself
            sdk_dispatcher.cancel_stream()

    return sink


def rasa_sdk_actions(module: types.ModuleType) -> list[RasaSDKAction]:
    """The ``rasa_sdk.Action`` subclasses defined in ``module``, wrapped (none when the
    module did not import ``rasa_sdk``)."""
    sdk = sys.modules.get("rasa_sdk")
    base = getattr(sdk, "Action", None) if sdk is not None else None
    if sdk is None or not isinstance(base, type):
        return []
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, base)
        and value.__module__ == module.__name__
        and not inspect.isabstract(value)
        and getattr(value, "name", None) is not getattr(base, "name", None)  # a nameless base
    ]
    return [RasaSDKAction(cls(), sdk) for cls in found]


__all__ = ["RasaSDKAction", "rasa_sdk_actions"]
