"""Render scripted steps as OpenAI chat-completion bodies and SSE chunks."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from subagents.llm.scenario import Step
from subagents.llm.scripted import split_text

_ARG_FRAGMENT = 12


def _tool_call_ids(step: Step, reply_no: int) -> list[str]:
    return [c.id or f"call_{reply_no}_{i}" for i, c in enumerate(step.tool_calls)]


def _finish_reason(step: Step) -> str:
    if step.finish_reason:
        return step.finish_reason
    return "tool_calls" if step.tool_calls else "stop"


def _usage(request_size: int, step: Step) -> dict[str, Any]:
    if step.usage is not None:
        return dict(step.usage)
    completion = len(step.text or "") + sum(len(c.arguments) for c in step.tool_calls)
    prompt_tokens, completion_tokens = request_size // 4, completion // 4 + 1
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_body(step: Step, *, model: str, reply_no: int, request_size: int) -> bytes:
    """The non-streaming ``chat.completion`` JSON for one step."""
    message: dict[str, Any] = {"role": "assistant", "content": step.text, "refusal": None}
    if step.tool_calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for cid, c in zip(_tool_call_ids(step, reply_no), step.tool_calls, strict=True)
        ]
    body = {
        "id": f"chatcmpl-scripted-{reply_no}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish_reason(step),
            }
        ],
        "usage": _usage(request_size, step),
        "system_fingerprint": None,
    }
    return orjson.dumps(body)


def stream_events(
    step: Step,
    *,
    model: str,
    reply_no: int,
    request_size: int,
    include_usage: bool,
) -> list[bytes]:
    """The SSE events (``data: ...\\n\\n``) of one streamed step, ending with ``[DONE]``."""
    created = int(time.time())
    head: dict[str, Any] = {
        "id": f"chatcmpl-scripted-{reply_no}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
    }

    def chunk(delta: Mapping[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        payload: dict[str, Any] = dict(head, choices=[choice])
        if include_usage:
            payload["usage"] = None
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    events: list[bytes] = []
    if step.text is not None:
        events.append(chunk({"role": "assistant", "content": "", "refusal": None}))
        pieces = list(step.chunks) if step.chunks is not None else split_text(step.text)
        events.extend(chunk({"content": piece}) for piece in pieces)
    ids = _tool_call_ids(step, reply_no)
    for index, (cid, call) in enumerate(zip(ids, step.tool_calls, strict=True)):
        first: dict[str, Any] = {
            "index": index,
            "id": cid,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        delta: dict[str, Any] = {"tool_calls": [first]}
        if step.text is None and index == 0:
            delta = {"role": "assistant", "content": None, **delta, "refusal": None}
        events.append(chunk(delta))
        args = call.arguments
        for start in range(0, len(args), _ARG_FRAGMENT):
            fragment = args[start : start + _ARG_FRAGMENT]
            part = {"index": index, "function": {"arguments": fragment}}
            events.append(chunk({"tool_calls": [part]}))
    events.append(chunk({}, _finish_reason(step)))
    if include_usage:
        usage = dict(head, choices=[], usage=_usage(request_size, step))
        events.append(b"data: " + orjson.dumps(usage) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


def error_body(message: str, *, kind: str, code: str | None = None) -> bytes:
    """An OpenAI-style error JSON body."""
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})
