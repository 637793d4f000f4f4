"""Transport-independent heart of the action server (shared by HTTP and gRPC).

Validates a webhook call, resolves the domain with the Rasa SDK's ``domain_digest``
handshake, runs the action and returns ``{"events", "responses"}``.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from subagents.actions.dispatcher import CollectingDispatcher
from subagents.actions.interfaces import ActionMissingDomainException, ActionNotFoundException
from subagents.actions.registry import ActionRegistry
from subagents.errors import SubagentsError

logger = logging.getLogger("subagents.actions.server")


class BadActionCall(SubagentsError, ValueError):
    """The request is not a valid webhook call (HTTP 400 / gRPC INVALID_ARGUMENT)."""


class ActionServerCore:
    """Runs webhook calls against a registry; caches the domain as the Rasa SDK does.

    Domain handshake: a call carrying ``domain`` stores it with its ``domain_digest``;
    a call without ``domain`` whose digest matches the stored one uses the stored
    domain; otherwise :class:`ActionMissingDomainException` (HTTP 449) asks the caller
    to resend with the domain.
    """

    def __init__(self, registry: ActionRegistry, token: str | None = None) -> None:
        """Serve ``registry``; require ``token`` from callers when given."""
        self.registry = registry
        self.token = token
        self.domain: dict[str, Any] | None = None
        self.domain_digest: str | None = None

    def check_token(self, supplied: str | None) -> bool:
        """Whether ``supplied`` authorises a call (always when no token is configured)."""
        if not self.token:
            return True
        if supplied is None:
            return False
        # Bytes: compare_digest refuses non-ASCII str (a 500 instead of a 401).
        given = supplied.encode("utf-8", "backslashreplace")
        return hmac.compare_digest(given, self.token.encode("utf-8", "backslashreplace"))

    def parse_call(self, payload: Any) -> tuple[str, dict[str, Any]]:
        """Return ``(next_action, tracker)`` or raise :class:`BadActionCall`."""
        if not isinstance(payload, dict):
            raise BadActionCall("request body must be a JSON object with next_action and tracker")
        name = payload.get("next_action")
        if not isinstance(name, str) or not name:
            raise BadActionCall("missing 'next_action': name the action to run")
        tracker = payload.get("tracker")
        if not isinstance(tracker, dict):
            raise BadActionCall("missing 'tracker': send the conversation's tracker state")
        if payload.get("domain") is not None and not isinstance(payload["domain"], dict):
            raise BadActionCall("'domain' must be a JSON object")
        return name, tracker

    def resolve_domain(self, payload: dict[str, Any], action_name: str) -> dict[str, Any]:
        """The domain for this call (see class docstring)."""
        domain: dict[str, Any] | None = payload.get("domain")
        digest = payload.get("domain_digest")
        if domain is None:
            if self.domain is not None and digest and digest == self.domain_digest:
                return self.domain
            raise ActionMissingDomainException(action_name)
        if domain:
            self.domain, self.domain_digest = domain, digest
        return domain

    async def execute(
        self, payload: dict[str, Any], dispatcher: CollectingDispatcher
    ) -> dict[str, list[dict[str, Any]]]:
        """Run the call; raises the SDK exceptions (not found, rejected, missing domain)."""
        name, tracker = self.parse_call(payload)
        if name not in self.registry:
            raise ActionNotFoundException(name)
        domain = self.resolve_domain(payload, name)
        events = await self.registry.run(name, tracker, domain, dispatcher)
        return {"events": events, "responses": dispatcher.messages}

    def list_actions(self) -> list[dict[str, str]]:
        """``[{"name": ...}]`` for every registered action (the SDK's ``/actions``)."""
        return [{"name": name} for name in self.registry.names()]
