"""A toolset wrapper that keeps configuration secrets out of what tools return.

An MCP server may echo a value it got from the project's secrets (an ``env`` variable,
a header, a token), in a result or in an error message. Whatever a tool returns goes to
the LLM, the tracker and the store, so the wrapper replaces every secret with ``***``
before anything else sees it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from subagents.config.secrets import redact, redact_data, secret_values
from subagents.errors import SubagentsError, ToolSignal
from subagents.tools.base import ForwardingToolset, ToolContext, ToolOutcome, Toolset, ToolSpec


class RedactingToolset(ForwardingToolset):
    """Wraps ``inner``; outcomes and error messages come back with secrets redacted.

    Everything else (``tools_version``, ``validates_arguments``) passes through.
    """

    def __init__(self, inner: Toolset, secrets: Iterable[str]) -> None:
        super().__init__(inner)
        self._secrets = secret_values(secrets)

    async def list_tools(self) -> list[ToolSpec]:
        try:
            return await self.inner.list_tools()
        except SubagentsError as exc:
            raise self._clean(exc) from exc.__cause__

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: ToolContext | None = None
    ) -> ToolOutcome:
        try:
            outcome = await self.inner.call_tool(name, arguments, context)
        except SubagentsError as exc:
            raise self._clean(exc) from exc.__cause__
        if not self._secrets:
            return outcome
        return ToolOutcome(
            text=redact_data(outcome.text, self._secrets),
            is_error=outcome.is_error,
            structured=redact_data(outcome.structured, self._secrets),
            control=outcome.control,
            reconnected=outcome.reconnected,
            retried=outcome.retried,
        )

    def _clean(self, exc: SubagentsError) -> SubagentsError:
        """The same exception with secrets redacted from its message."""
        if self._secrets and any(s in str(exc) for s in self._secrets):
            exc.args = (redact(str(exc), self._secrets),)
            if isinstance(exc, ToolSignal):
                exc.message = redact(exc.message, self._secrets)
        return exc
