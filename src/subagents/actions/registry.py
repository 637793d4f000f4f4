"""Finding actions in the user's ``actions_module`` and running one of them.

Subclasses of our :class:`~subagents.actions.Action` are found, and so are subclasses of
the real ``rasa_sdk.Action`` when the module imports ``rasa_sdk``
(:mod:`subagents.actions.rasa_sdk_compat`).

Shared by the in-process executor and the action server, so both behave the same:
unknown name, rejection, sync or async ``run``, events given as dicts or objects.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import pkgutil
import sys
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from subagents.actions.dispatcher import CollectingDispatcher
from subagents.actions.interfaces import Action, ActionNotFoundException, Tracker
from subagents.actions.rasa_sdk_compat import RasaSDKAction, rasa_sdk_actions
from subagents.errors import ConfigError

logger = logging.getLogger("subagents.actions")

_FIELD = "action_endpoint.actions_module"


class ActionRegistry:
    """Actions by name. Build one with :meth:`from_module` or :meth:`register`."""

    def __init__(self, actions: Iterable[Action | type[Action]] = ()) -> None:
        """Register ``actions`` (instances or classes)."""
        self._actions: dict[str, Action] = {}
        self._origins: dict[str, str] = {}
        for action in actions:
            self.register(action)

    @classmethod
    def from_module(cls, module: str, project_root: str | Path | None = None) -> ActionRegistry:
        """Import ``module`` (and, for a package, every submodule) and register its actions.

        ``project_root`` goes first on ``sys.path``. Raises :class:`ConfigError` naming the
        module when it cannot be imported or two actions share a name.
        """
        modules = import_actions_module(module, project_root)
        registry = cls()
        for mod in modules:
            for action_cls in _actions_defined_in(mod):
                registry.register(action_cls)
            for sdk_action in rasa_sdk_actions(mod):  # written against the real rasa_sdk
                registry.register(sdk_action)
        logger.info(
            "actions.registry.loaded", extra={"actions_module": module, "actions": registry.names()}
        )
        return registry

    def register(self, action: Action | type[Action]) -> None:
        """Add one action; a second action with the same name is a :class:`ConfigError`."""
        instance = action() if isinstance(action, type) else action
        origin = (
            instance.origin
            if isinstance(instance, RasaSDKAction)
            else f"{type(instance).__module__}.{type(instance).__qualname__}"
        )
        try:
            name = instance.name()
        except Exception as exc:
            raise ConfigError(
                f"action class {origin}: name() failed ({exc!r}); return the action's name "
                "as a string",
                file=_module_file(type(instance)),
                field=_FIELD,
            ) from exc
        if not isinstance(name, str) or not name:
            raise ConfigError(
                f"action class {origin}: name() returned {name!r}; return a non-empty string",
                file=_module_file(type(instance)),
                field=_FIELD,
            )
        if name in self._actions:
            raise ConfigError(
                f"duplicate action name '{name}': defined by {self._origins[name]} and "
                f"{origin}; give one of them another name()",
                file=_module_file(type(instance)),
                field=_FIELD,
            )
        self._actions[name] = instance
        self._origins[name] = origin

    def names(self) -> list[str]:
        """Registered action names, sorted."""
        return sorted(self._actions)

    def get(self, name: str) -> Action | None:
        """The action called ``name``, or ``None``."""
        return self._actions.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    async def run(
        self,
        action_name: str,
        tracker_state: dict[str, Any],
        domain: dict[str, Any],
        dispatcher: CollectingDispatcher,
    ) -> list[dict[str, Any]]:
        """Run ``action_name``; return its validated events (messages stay in dispatcher).

        Raises :class:`ActionNotFoundException`, the action's
        :class:`ActionExecutionRejection`, or whatever the action raised.
        """
        action = self._actions.get(action_name)
        if action is None:
            raise ActionNotFoundException(action_name)
        tracker = Tracker.from_dict(tracker_state)
        result: Any
        if inspect.iscoroutinefunction(action.run):
            result = await action.run(dispatcher, tracker, domain)
        else:
            # A plain ``def run`` may block (requests, DB drivers): keep the loop free.
            result = await asyncio.to_thread(action.run, dispatcher, tracker, domain)
        if inspect.isawaitable(result):
            result = await result
        if dispatcher.is_streaming_active:
            logger.warning("actions.stream.not_ended", extra={"action": action_name})
            await dispatcher.stream_end()
        return validate_events(result, action_name)


def validate_events(result: Any, action_name: str) -> list[dict[str, Any]]:
    """Normalise what ``run`` returned into a list of event dicts.

    ``None`` means no events. Objects with ``as_dict()`` are converted. Anything else
    without an ``event`` key is dropped with an error log naming the action.
    """
    if result is None:
        return []
    if isinstance(result, dict):
        result = [result]
    events: list[dict[str, Any]] = []
    for item in result:
        event = item.as_dict() if hasattr(item, "as_dict") else item
        if isinstance(event, dict) and event.get("event"):
            events.append(event)
        else:
            logger.error(
                "actions.event.invalid",
                extra={
                    "action": action_name,
                    "hint": "return events from subagents.actions.events (dicts with 'event')",
                    "type": type(item).__name__,
                },
            )
    return events


def import_actions_module(module: str, project_root: str | Path | None) -> list[types.ModuleType]:
    """Import ``module`` and all its submodules with ``project_root`` first on sys.path."""
    if not module or "/" in module or module.endswith(".py"):
        raise ConfigError(
            f"actions_module {module!r} is not a Python module name; use dotted notation "
            "such as 'actions' or 'my_bot.actions'",
            file="endpoints.yml",
            field=_FIELD,
        )
    if project_root is not None:
        root = str(Path(project_root).resolve())
        if root not in sys.path:
            sys.path.insert(0, root)
        _forget_if_elsewhere(module, Path(root))
    try:
        top = importlib.import_module(module)
        modules = [top]
        for info in pkgutil.walk_packages(getattr(top, "__path__", []), prefix=f"{module}."):
            modules.append(importlib.import_module(info.name))
    except Exception as exc:  # ImportError, SyntaxError, errors raised at import time
        where = f" under {project_root}" if project_root is not None else ""
        raise ConfigError(
            f"cannot import actions module '{module}'{where}: {type(exc).__name__}: {exc}",
            file="endpoints.yml",
            field=_FIELD,
        ) from exc
    return modules


def _forget_if_elsewhere(module: str, root: Path) -> None:
    """Drop a cached ``module`` imported from another project (several projects, one process)."""
    top_name = module.split(".")[0]
    cached = sys.modules.get(top_name)
    origin = getattr(cached, "__file__", None) if cached is not None else None
    if cached is None or origin is None or Path(origin).resolve().is_relative_to(root):
        return
    for name in [n for n in sys.modules if n == top_name or n.startswith(top_name + ".")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def _actions_defined_in(module: types.ModuleType) -> list[type[Action]]:
    found: list[type[Action]] = []
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, Action)
            and value.__module__ == module.__name__
            and not inspect.isabstract(value)
            and value.name is not Action.name  # a base class without a name of its own
        ):
            found.append(value)
    return found


def _module_file(cls: type) -> str:
    mod = sys.modules.get(cls.__module__)
    return str(getattr(mod, "__file__", "") or cls.__module__)
