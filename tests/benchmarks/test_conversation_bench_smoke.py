"""Smoke test of the conversation benchmark (issue 17 §6): it runs with tiny N, and the
paths that must not call the model do not.

No timing assertions: what is checked is the number of model calls per turn, which a
user would notice as latency and cost (a router round trip per message).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import conversation_bench  # noqa: E402


async def test_payloads_and_clear_answers_make_no_model_call() -> None:
    rows = await conversation_bench.run(turns=5)
    calls = {name: per_turn for name, _rate, per_turn in rows}
    assert calls == {
        "floor: one scripted model call": 1.0,
        "agent waits, free text": 2.0,  # the router (continue), then the agent
        "collect waits, /SetSlots payload": 0.0,
        "collect waits, categorical answer": 0.0,
        "collect waits, text answer": 1.0,  # the router: it could be a change of topic
    }
    assert all(rate > 0 for _name, rate, _calls in rows)
    assert "| agent waits, free text |" in conversation_bench.table(rows)
