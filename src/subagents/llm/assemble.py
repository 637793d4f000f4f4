"""Turn OpenAI-format completions (whole or streamed deltas) into an :class:`LLMResponse`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from subagents.errors import SubagentsError
from subagents.llm.base import LLMResponse, ToolCall


class BadResponse(SubagentsError, ValueError):
    """The provider's answer does not have the chat-completion shape."""


def parse_completion(data: Any) -> LLMResponse:
    """Read text, tool calls, finish reason and usage from a ``chat.completion`` object."""
    try:
        choice = data["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise BadResponse(f"response has no choices[0].message ({_shape(data)})") from exc
    calls = []
    for i, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        name = function.get("name")
        if not isinstance(name, str):
            raise BadResponse(f"tool call {i} has no function name")
        calls.append(ToolCall.parse(call.get("id") or f"call_{i}", name, function.get("arguments")))
    content = message.get("content")
    return LLMResponse(
        text=content if isinstance(content, str) else None,
        tool_calls=calls,
        finish_reason=choice.get("finish_reason"),
        usage=data.get("usage"),
        model=data.get("model") if isinstance(data.get("model"), str) else None,
    )


def _shape(data: Any) -> str:
    if isinstance(data, Mapping):
        return f"keys: {sorted(data)[:8]}"
    return f"got {type(data).__name__}"


class StreamAssembler:
    """Accumulates streamed chunks: text deltas and tool-call deltas keyed by ``index``."""

    __slots__ = ("_text", "_calls", "finish_reason", "usage", "model")

    def __init__(self) -> None:
        self._text: list[str] = []
        self._calls: dict[int, list[Any]] = {}  # index -> [id, name, [argument fragments]]
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.model: str | None = None

    def add(self, chunk: Mapping[str, Any]) -> str | None:
        """Take one chunk; return its text delta (if any) for the caller to stream on."""
        usage = chunk.get("usage")
        if usage:
            self.usage = usage
        if self.model is None and isinstance(chunk.get("model"), str):
            self.model = chunk["model"]
        choices = chunk.get("choices")
        if not choices:
            return None
        choice = choices[0]
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]
        delta = choice.get("delta")
        if not delta:
            return None
        for call in delta.get("tool_calls") or ():
            self._add_call(call)
        text = delta.get("content")
        if text:
            self._text.append(text)
            return text  # type: ignore[no-any-return]
        return None

    def _add_call(self, call: Mapping[str, Any]) -> None:
        function = call.get("function") or {}
        name = function.get("name")
        index = call.get("index")
        if not isinstance(index, int):
            # No index (some local servers): a nameless, id-less fragment continues the
            # latest call; anything else starts a new one.
            continues = bool(self._calls) and not name and not call.get("id")
            index = max(self._calls) if continues else len(self._calls)
        entry = self._calls.get(index)
        if entry is None:
            entry = self._calls[index] = [None, "", []]
        if call.get("id") and not entry[0]:
            entry[0] = call["id"]
        # Names arrive whole in the first delta; some servers repeat them later.
        if name and not entry[1]:
            entry[1] = name
        arguments = function.get("arguments")
        if arguments:
            entry[2].append(arguments)

    def response(self) -> LLMResponse:
        """The assembled response."""
        calls = [
            ToolCall.parse(cid or f"call_{index}", name, "".join(fragments))
            for index, (cid, name, fragments) in sorted(self._calls.items())
        ]
        return LLMResponse(
            text="".join(self._text) if self._text else None,
            tool_calls=calls,
            finish_reason=self.finish_reason,
            usage=self.usage,
            model=self.model,
        )
