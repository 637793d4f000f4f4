"""Our action SDK behaves exactly like the real Rasa SDK 3.21.1.

Every event constructor, ``Tracker`` member and ``CollectingDispatcher`` helper both SDKs
share is called with the same arguments in both (the Rasa SDK in its own venv, one
subprocess for everything); results must be equal, key order included, so actions port
by changing the import and nothing else. Last, one action reports what its tracker says
when run in-process by us and by the real Rasa SDK over HTTP and gRPC: the same.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sdk_parity_probe as parity
from rasa_sdk_env import rasa_action_server, rasa_python

from subagents.actions.executors.direct import DirectExecutor
from subagents.actions.executors.grpc import GRPCExecutor
from subagents.actions.executors.http import HTTPExecutor

# The first test on a new machine builds the Rasa SDK venv (pip, up to 10 minutes).
pytestmark = pytest.mark.timeout(900)

PROBE = Path(parity.__file__)


@pytest.fixture(scope="module")
def both() -> tuple[dict[str, Any], dict[str, Any]]:
    done = subprocess.run(
        [str(rasa_python()), str(PROBE), "rasa_sdk"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONWARNINGS": "ignore", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = json.loads(done.stdout)
    ours = json.loads(json.dumps(parity.probe("subagents"), default=repr))
    return ours, theirs


def _same(ours: Any, theirs: Any) -> bool:
    # JSON text comparison: values and key order (what a client or a log shows).
    return json.dumps(ours) == json.dumps(theirs)


def _where(ours: Any, theirs: Any, path: str = "") -> str:
    """The first place two JSON values differ, for a readable failure."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        if list(ours) != list(theirs):
            return f"{path or '.'}: keys ours {list(ours)} != rasa {list(theirs)}"
        for key in ours:
            if not _same(ours[key], theirs[key]):
                return _where(ours[key], theirs[key], f"{path}.{key}")
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            if not _same(a, b):
                return _where(a, b, f"{path}[{i}]")
    return f"{path or '.'}: ours {ours!r} != rasa {theirs!r}"


def test_every_shared_event_constructor_is_compared(both: Any) -> None:
    ours, theirs = both
    shared = set(ours["event_names"]) & set(theirs["event_names"])
    compared = {name for name, _, _ in parity.EVENT_CALLS}
    assert shared == compared
    # Only the Rasa SDK's deprecated form events are missing on our side.
    assert set(theirs["event_names"]) - set(ours["event_names"]) == {"Form", "FormValidation"}


def test_events_equal_rasa_sdk(both: Any) -> None:
    ours, theirs = both
    for call, mine, rasa in zip(parity.EVENT_CALLS, ours["events"], theirs["events"], strict=True):
        assert _same(mine, rasa), f"{call[0]}(*{call[1]}, **{call[2]}) {_where(mine, rasa)}"


def test_every_shared_tracker_member_is_exercised(both: Any) -> None:
    ours, theirs = both
    shared = set(ours["tracker_api"]) & set(theirs["tracker_api"])
    # Attributes read by the ops, plus from_dict (used by every op).
    covered = {"from_dict", "events", "slots", "latest_message", "active_loop", "stack"}
    covered |= {"sender_id", "latest_action_name", "followup_action", "user_id"}
    called = {label.split("(")[0] for label in ours["tracker_ops"]}
    assert shared - covered - called == set()


def test_tracker_equals_rasa_sdk(both: Any) -> None:
    ours, theirs = both
    labels = ours["tracker_ops"]
    mismatches = [
        f"tracker {state['sender_id']}: {label} {_where(a, b)}"
        for state, mine, rasa in zip(
            parity.TRACKERS, ours["trackers"], theirs["trackers"], strict=True
        )
        for label, a, b in zip(labels, mine, rasa, strict=True)
        if not _same(a, b)
    ]
    assert not mismatches, "\n".join(mismatches)


def test_tracker_results_are_meaningful(both: Any) -> None:
    # Guard against a probe that compares nothing: the booking tracker's key answers.
    ours, _ = both
    booking = dict(zip(ours["tracker_ops"], ours["trackers"][0], strict=True))
    assert booking["slots_to_validate"] == {"ok": {"city": "Paris", "people": 4, "outdoor": None}}
    assert booking["get_intent_of_latest_message()"] == {"ok": "inform"}
    assert booking["get_latest_entity_values(city, origin)"] == {"ok": ["Lyon"]}
    assert booking["get_latest_input_channel"] == {"ok": "rest"}


def test_dispatcher_equals_rasa_sdk(both: Any) -> None:
    ours, theirs = both
    shared = set(ours["dispatcher_api"]) & set(theirs["dispatcher_api"])
    assert set(theirs["dispatcher_api"]) - set(ours["dispatcher_api"]) == set()
    assert {"utter_template", "utter_message", "stream_chunk"} <= shared
    runs = [label for label, _ in parity._dispatcher_runs()]
    for label, mine, rasa in zip(runs, ours["dispatcher"], theirs["dispatcher"], strict=True):
        assert _same(mine, rasa), f"dispatcher {label}: {_where(mine, rasa)}"
    assert ours["exceptions"] == theirs["exceptions"]


# --------------------------------------------------------------------------- transports

PARITY_PROJECT = Path(__file__).parent / "parity_project"
PARITY_MODULE = "sa_parity_actions"
# The tracker state as our dialogue engine sends it (conversation_id, latest_action, ...).
ENGINE_STATE: dict[str, Any] = {
    "conversation_id": "c-9",
    "sender_id": "c-9",
    "slots": {"city": "Paris", "people": 4, "outdoor": None, "tags": ["quiet", "view"]},
    "latest_message": parity.TRACKERS[0]["latest_message"],
    "latest_event_time": 1.0,
    "followup_action": None,
    "paused": False,
    "events": parity.CONVERSATION,
    "latest_input_channel": "rest",
    "active_loop": {"name": "booking_form", "validate": True},
    "latest_action": {"action_name": "action_listen"},
    "latest_action_name": "action_listen",
    "stack": [{"type": "flow", "flow_id": "book_table", "step_id": "ask_time"}],
}
PARITY_DOMAIN: dict[str, Any] = {
    "slots": {"city": {"type": "text"}, "seen": {"type": "any"}},
    "responses": {},
    "actions": ["action_tracker_echo"],
}


def _floats(value: Any) -> Any:
    """gRPC carries JSON numbers as doubles (google.protobuf.Struct), as in the Rasa SDK."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    return [_floats(v) for v in value]


def _sorted(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True))


async def test_an_action_sees_the_same_tracker_in_process_and_in_the_rasa_sdk(
    tmp_path: Path,
) -> None:
    """What our engine sends reaches a Rasa SDK action (HTTP, gRPC) as it reaches ours."""
    direct = DirectExecutor.from_module(PARITY_MODULE, PARITY_PROJECT)
    ours = await direct.run("action_tracker_echo", ENGINE_STATE, PARITY_DOMAIN)
    seen = ours.events[0]["value"]
    assert seen["sender_id"] == "c-9" and seen["intent"] == "inform"
    assert seen["destination"] == ["Paris"] and seen["channel"] == "rest"
    assert seen["slots_to_validate"] == {"city": "Paris", "people": 4, "outdoor": None}
    for grpc in (False, True):
        with rasa_action_server(PARITY_PROJECT, PARITY_MODULE, grpc=grpc, log_dir=tmp_path) as srv:
            executor = (
                GRPCExecutor(f"127.0.0.1:{srv.port}", retries=0, timeout=10)
                if grpc
                else HTTPExecutor(f"{srv.http_url}/webhook", retries=0, timeout=10)
            )
            try:
                rasa = await executor.run("action_tracker_echo", ENGINE_STATE, PARITY_DOMAIN)
            finally:
                await executor.aclose()
        transport = "gRPC" if grpc else "HTTP"
        theirs = rasa.events[0]["value"]
        if grpc:  # Struct maps keep no key order; numbers are doubles
            mine, theirs = _sorted(_floats(seen)), _sorted(theirs)
        else:
            mine = seen
        assert _same(mine, theirs), f"{transport}: {_where(mine, theirs)}"
        assert [r["text"] for r in rasa.responses] == ["seen c-9"]
