"""Conversation-layer benchmark (issue 17 §6): what the router costs per turn.

    python -m benchmarks.conversation_bench            # N=300 turns per case
    python -m benchmarks.conversation_bench --quick    # N=30

In-process (``Assistant`` with an in-memory store and the in-process scripted model), so
the figures are our own cost per turn, not a model's latency. Cases:

* ``agent waits, free text``: a task agent asks again and again; each message goes to
  it. Since issue 17 the router is asked first (one more model call per message: with a
  real model, one more round trip).
* ``collect waits, /SetSlots payload``: a button; never calls the model.
* ``collect waits, categorical answer``: a value of the slot as typed; no router call.
* ``collect waits, text answer``: could be a change of topic, so the router is asked.

The floor is a bare call of the same scripted model client (what one model call costs
us at the least). Run it on an older checkout (``PYTHONPATH=<old>/src``) for "before":
the script uses only APIs that predate issue 17.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

DOMAIN = {
    "slots": {
        "date": {"type": "text"},
        "note": {"type": "text"},
        "plan": {"type": "categorical", "values": ["basic", "premium"]},
    },
    "responses": {
        "utter_ask_plan": [{"text": "Which plan?"}],
        "utter_ask_note": [{"text": "Any note?"}],
    },
}
FLOWS = {
    "reserve": {
        "description": "Reserve a table.",
        "steps": [{"call": "reserver", "exit_if": ["slots.date is not null"]}],
    },
    "plans": {
        "description": "Choose a plan.",
        "steps": [{"collect": "plan", "ask_before_filling": True}, {"link": "plans"}],
    },
    "notes": {
        "description": "Leave a note.",
        "steps": [{"collect": "note", "ask_before_filling": True}, {"link": "notes"}],
    },
}
AGENT = {"agent": {"name": "reserver", "description": "Reserves tables."}}
SCENARIO = {
    "router_start": {
        "when": {"tool_offered": "start_flow", "user_contains": "reserve"},
        "loop": True,
        "steps": [{"tool_calls": [{"name": "start_flow", "arguments": {"flow": "reserve"}}]}],
    },
    "router_continue": {
        "when": {"tool_offered": "start_flow"},
        "loop": True,
        "steps": [{"text": ""}],
    },
    "reserver": {
        "when": {"tool_offered": "set_slot_date"},
        "loop": True,
        "steps": [{"text": "Which date?"}],
    },
}


def write_project(root: Path) -> Path:
    files = {
        "endpoints.yml": {"tracker_store": {"type": "memory"}},
        "domain.yml": DOMAIN,
        "flows.yml": {"flows": FLOWS},
        "sub_agents/reserver/config.yml": AGENT,
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data), encoding="utf-8")
    return root


async def timed(turns: int, one: Callable[[int], Awaitable[Any]]) -> float:
    """Turns per second of ``one(i)`` run ``turns`` times in sequence."""
    started = time.perf_counter()
    for i in range(turns):
        await one(i)
    return turns / (time.perf_counter() - started)


async def run(turns: int) -> list[tuple[str, float, float]]:
    """(case, turns/s, model calls per turn) for every case, plus the floor."""
    from subagents.dialogue.assistant import Assistant
    from subagents.llm.scripted import ScriptedLLM, ScriptPlayer, scripted_clients

    rows: list[tuple[str, float, float]] = []
    floor_llm = ScriptedLLM([{"text": "x"}] * (turns + 1))
    rate = await timed(turns, lambda i: floor_llm.complete([{"role": "user", "content": "x"}]))
    rows.append(("floor: one scripted model call", rate, 1.0))
    with tempfile.TemporaryDirectory() as tmp:
        root = write_project(Path(tmp) / "bench")
        player = ScriptPlayer(SCENARIO)
        assistant = await Assistant.load(root, llm_factory=scripted_clients(player))
        try:
            cases = [
                ("agent waits, free text", "reserve a table", "maybe friday"),
                ("collect waits, /SetSlots payload", "/plans", "/SetSlots(plan=basic)"),
                ("collect waits, categorical answer", "/plans", "Premium"),
                ("collect waits, text answer", "/notes", "ring twice"),
            ]
            for n, (name, first, message) in enumerate(cases):
                sender = f"c{n}"
                await assistant.handle_message(sender, first)
                before = len(player.requests)
                rate = await timed(
                    turns, lambda i, s=sender, m=message: assistant.handle_message(s, m)
                )
                rows.append((name, rate, (len(player.requests) - before) / turns))
        finally:
            await assistant.aclose()
    return rows


def table(rows: list[tuple[str, float, float]]) -> str:
    floor = rows[0][1]
    lines = [
        "| case | turns/s | model calls per turn | turn cost / model-call floor |",
        "|---|---|---|---|",
    ]
    for name, rate, calls in rows:
        lines.append(f"| {name} | {rate:,.0f} | {calls:.2f} | {floor / rate:.1f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 turns per case")
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="rows as JSON (for comparisons)")
    args = parser.parse_args(argv)
    turns = 30 if args.quick else args.turns
    rows = asyncio.run(run(turns))
    print(json.dumps(rows) if args.json else table(rows))


if __name__ == "__main__":
    main()
