"""Run a project whose actions_module is written against the real rasa_sdk, in-process.

``python rasa_sdk_inprocess.py PROJECT RASA_SITE_PACKAGES``: the Rasa SDK is "installed"
beside subagents by appending its venv's site-packages to ``sys.path`` (subagents'
own dependencies keep precedence). Prints one JSON object: each turn's replies, the
streamed chunks, and the final slots.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any


async def main(project: str) -> dict[str, Any]:
    from subagents import Assistant

    assistant = await Assistant.load(project)
    chunks: list[str] = []

    async def on_message(message: dict[str, Any]) -> None:
        if message.get("chunk"):
            chunks.append(message["text"])

    try:
        turns = {
            "greet": await assistant.handle_message("u", "/greet"),
            "stream": await assistant.handle_message("u", "/stream", on_message=on_message),
            "stream_unary": await assistant.handle_message("v", "/stream"),
            "echo": await assistant.handle_message("u", "/echo"),
            "reject": await assistant.handle_message("u", "/reject"),
        }
        tracker = await assistant.get_tracker("u")
    finally:
        await assistant.aclose()
    cancelled = [e.get("reason") for e in tracker["events"] if e["event"] == "flow_cancelled"]
    return {
        "barge_in": await barge_in(project),
        "texts": {k: [m.get("text") for m in v] for k, v in turns.items()},
        "chunks": chunks,
        "slots": tracker["slots"],
        "cancelled": cancelled,
        "rasa_sdk": sys.modules["rasa_sdk"].__file__,
    }


async def barge_in(project: str) -> dict[str, Any]:
    """The user talks over the streamed message after its first chunk."""
    from subagents.actions.executors.direct import DirectExecutor

    executor = DirectExecutor.from_module("rasa_actions", project)
    cancel = asyncio.Event()
    heard: list[str] = []

    async def on_chunk(event: dict[str, Any]) -> None:
        if event["event"] == "stream_chunk":
            heard.append(event["text"])
            cancel.set()

    state = {"sender_id": "b", "slots": {}, "events": [], "latest_message": {}}
    result = await executor.run("action_rasa_stream", state, {}, on_chunk, cancel)
    return {
        "heard": heard,
        "barged_in": result.barged_in,
        "messages": [m.get("text") for m in result.responses],
        "events": result.events,
    }


if __name__ == "__main__":
    sys.path.append(sys.argv[2])
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
