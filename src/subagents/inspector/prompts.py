"""``PromptLog``: the requests the model was sent, kept in memory for "show prompt".

The tracker keeps what each model call returned (``model_calls``), not what it was sent:
a rendered prompt is kilobytes per call. With the inspector on, every model client is
wrapped (``AssistantHooks.llm``): each request's messages and offered tool names are held
per conversation until the agent loop reports the call (``model_called``, which carries
the call's ``id``), then kept under that id. Only the latest :data:`KEPT` prompts are kept,
and none survive a restart: the page says so when one is gone. The flow router's requests
are never claimed by a ``model_called`` event and are overwritten by the next request.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from subagents.llm.base import (
    LLMClient,
    LLMResponse,
    TextCallback,
    ToolPayload,
    current_conversation,
)
from subagents.llm.factory import LLMFactory

KEPT = 500
"""Prompts kept (the oldest go first)."""


class PromptLog:
    """The latest model requests, by model call id (see the module docstring)."""

    def __init__(self, kept: int = KEPT) -> None:
        self.kept = kept
        self._pending: dict[str | None, dict[str, Any]] = {}
        self._prompts: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def wrap(self, factory: LLMFactory) -> LLMFactory:
        """``factory`` whose clients record every request they send."""

        def build(configs: Any) -> LLMClient:
            return _RecordingClient(factory(configs), self)

        return build

    def sent(self, messages: list[dict[str, Any]], tools: ToolPayload | None) -> None:
        """Hold a request of the current conversation until its call is reported."""
        names = [t.get("function", {}).get("name") for t in (tools.tools if tools else [])]
        # A copy of the list: the loop appends to it later (the messages are not changed).
        prompt = {"messages": list(messages), "tools": [n for n in names if n]}
        self._pending[current_conversation.get()] = prompt

    async def observe(self, conversation_id: str, event: dict[str, Any]) -> None:
        """An assistant observer: keep the held request under the reported call's id."""
        if event.get("event") != "model_called" or not event.get("id"):
            return
        prompt = self._pending.pop(conversation_id, None)
        if prompt is None:
            return
        self._prompts[str(event["id"])] = {**prompt, "conversation_id": conversation_id}
        while len(self._prompts) > self.kept:
            self._prompts.popitem(last=False)

    def get(self, conversation_id: str, call_id: str) -> dict[str, Any] | None:
        """The prompt of model call ``call_id`` of ``conversation_id``, if still kept."""
        prompt = self._prompts.get(call_id)
        if prompt is None or prompt["conversation_id"] != conversation_id:
            return None
        return {"messages": prompt["messages"], "tools": prompt["tools"]}


class _RecordingClient:
    """A model client that tells the log what it sends (everything else passes through)."""

    def __init__(self, client: LLMClient, log: PromptLog) -> None:
        self._client = client
        self._log = log

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: ToolPayload | None = None,
        *,
        on_text: TextCallback | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> LLMResponse:
        self._log.sent(messages, tools)
        return await self._client.complete(
            messages, tools, on_text=on_text, tool_choice=tool_choice
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def __getattr__(self, name: str) -> Any:  # model, label, config...: the wrapped client's
        return getattr(self._client, name)
