"""Action executors, chosen from ``endpoints.yml`` ``action_endpoint``.

``actions_module`` → in-process (:class:`DirectExecutor`); ``url: http(s)://...`` → HTTP
webhook (:class:`HTTPExecutor`); ``url: grpc(s)://host:port`` → gRPC
(:class:`GRPCExecutor`, grpc imported only then).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from subagents.actions.executors.base import ActionExecutor, ActionResult, OnChunk
from subagents.actions.executors.direct import DirectExecutor
from subagents.config.models import ActionEndpointConfig
from subagents.errors import ConfigError, UnknownActionError

if TYPE_CHECKING:
    from subagents.actions.executors.grpc import GRPCExecutor
    from subagents.actions.executors.http import HTTPExecutor

logger = logging.getLogger("subagents.actions.executor")


class NoActionEndpoint:
    """Executor used when endpoints.yml has no ``action_endpoint``: every run fails clearly."""

    async def run(
        self,
        action_name: str,
        tracker_state: dict[str, Any],
        domain: dict[str, Any],
        on_chunk: OnChunk | None = None,
        cancel_event: asyncio.Event | None = None,
    ) -> ActionResult:
        """Raise :class:`UnknownActionError` explaining how to configure actions."""
        raise UnknownActionError(
            action_name,
            "no action_endpoint in endpoints.yml; add `action_endpoint: {actions_module: "
            "actions}` (in-process) or `action_endpoint: {url: ...}` (action server)",
        )

    async def aclose(self) -> None:
        """Nothing to release."""


def create_executor(
    cfg: ActionEndpointConfig | None, project_root: str | Path | None = None
) -> ActionExecutor:
    """Build the executor ``cfg`` asks for (see module docstring).

    ``actions_module`` wins over ``url`` (warning when both are set). Raises
    :class:`ConfigError` naming the field for a bad url or an unimportable module.
    """
    if cfg is None:
        return NoActionEndpoint()
    if cfg.actions_module:
        if cfg.url:
            logger.warning(
                "actions.endpoint.both_set",
                extra={"using": "actions_module", "ignored": "url"},
            )
        return DirectExecutor.from_module(cfg.actions_module, project_root, timeout=cfg.timeout)
    if not cfg.url:
        raise ConfigError(
            "action_endpoint needs `actions_module` (in-process actions) or `url` "
            "(http(s):// or grpc(s):// action server)",
            file="endpoints.yml",
            field="action_endpoint",
        )
    scheme = urlsplit(cfg.url).scheme.lower()
    if scheme in ("http", "https"):
        from subagents.actions.executors.http import HTTPExecutor

        return HTTPExecutor.from_config(cfg, project_root)
    if scheme in ("grpc", "grpcs"):
        from subagents.actions.executors.grpc import GRPCExecutor

        return GRPCExecutor.from_config(cfg, project_root)
    raise ConfigError(
        f"action_endpoint.url {cfg.url!r} has unsupported scheme {scheme!r}; use "
        "http://, https://, grpc:// or grpcs://",
        file="endpoints.yml",
        field="action_endpoint.url",
    )


def __getattr__(name: str) -> Any:
    if name == "HTTPExecutor":
        from subagents.actions.executors.http import HTTPExecutor

        return HTTPExecutor
    if name == "GRPCExecutor":
        from subagents.actions.executors.grpc import GRPCExecutor

        return GRPCExecutor
    raise AttributeError(name)


__all__ = [
    "ActionExecutor",
    "ActionResult",
    "DirectExecutor",
    "GRPCExecutor",
    "HTTPExecutor",
    "NoActionEndpoint",
    "OnChunk",
    "create_executor",
]
