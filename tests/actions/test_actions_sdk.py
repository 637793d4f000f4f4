"""The actions SDK and the in-process executor."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest
from actions_helpers import MODULE, PROJECT, tracker_state

from subagents.actions import (
    Action,
    ActionRegistry,
    CollectingDispatcher,
    SlotSet,
    Tracker,
)
from subagents.actions.executors import (
    DirectExecutor,
    NoActionEndpoint,
    create_executor,
)
from subagents.config.models import ActionEndpointConfig
from subagents.errors import (
    ActionRejectedError,
    ActionServerError,
    ConfigError,
    UnknownActionError,
)


@pytest.fixture
def executor() -> DirectExecutor:
    return DirectExecutor.from_module(MODULE, PROJECT)


async def test_registry_finds_actions_in_all_submodules(executor: DirectExecutor) -> None:
    assert executor.registry.names() == [
        "action_crash",
        "action_greet",
        "action_reject",
        "action_stream",
        "action_stream_rich",
        "action_sync_count",
    ]


async def test_run_returns_events_and_responses(executor: DirectExecutor, domain: Any) -> None:
    result = await executor.run("action_greet", tracker_state(name="Ada"), domain)
    assert [r["text"] for r in result.responses] == ["Hello, Ada!", None]
    assert result.responses[1]["response"] == "utter_goodbye"
    assert result.events[0] == {
        "event": "slot",
        "timestamp": None,
        "name": "greeted",
        "value": True,
    }  # noqa: E501
    assert result.events[1]["value"] == ["utter_goodbye", "utter_greet"]


async def test_sync_run_works(executor: DirectExecutor, domain: Any) -> None:
    result = await executor.run("action_sync_count", tracker_state(count=2), domain)
    assert result.events == [SlotSet("count", 3)]
    assert result.responses[0]["text"] == "count=3"


async def test_errors_map_to_action_errors(executor: DirectExecutor, domain: Any) -> None:
    with pytest.raises(UnknownActionError, match="action_nope.*known actions: action_crash"):
        await executor.run("action_nope", tracker_state(), domain)
    with pytest.raises(ActionRejectedError, match="not now, thanks"):
        await executor.run("action_reject", tracker_state(), domain)
    with pytest.raises(ActionServerError, match="RuntimeError: database is on fire"):
        await executor.run("action_crash", tracker_state(), domain)


async def test_stream_chunks_arrive_in_order_before_the_action_ends(
    executor: DirectExecutor, domain: Any
) -> None:
    seen: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def on_chunk(event: dict[str, Any]) -> None:
        assert not done.is_set(), "chunk delivered after the action returned"
        seen.append(event)

    state = tracker_state(tokens=["a", "b", "c"], delay=0.01)
    result = await executor.run("action_stream", state, domain, on_chunk=on_chunk)
    done.set()
    kinds = [e["event"] for e in seen]
    assert kinds == ["stream_start", "stream_chunk", "stream_chunk", "stream_chunk", "stream_end"]
    assert [e.get("text") for e in seen[1:4]] == ["a", "b", "c"]
    assert len({e["response_id"] for e in seen}) == 1
    # streamed chunks are not repeated as responses; later whole messages are
    assert [r["text"] for r in result.responses] == ["after the stream"]
    assert result.streamed == [{"text": "a"}, {"text": "b"}, {"text": "c"}]
    assert result.events == [SlotSet("streamed", True)]
    assert not result.barged_in


async def test_stream_without_sink_replays_chunks_as_messages(
    executor: DirectExecutor, domain: Any
) -> None:
    result = await executor.run("action_stream_rich", tracker_state(), domain)
    assert result.responses[0]["text"] == "Pick one:"
    assert result.responses[1]["buttons"] == [{"title": "Yes", "payload": "/yes"}]
    assert result.responses[1]["custom"] == {"k": 1}
    assert result.streamed == []


async def test_barge_in_stops_delivery_and_keeps_events(
    executor: DirectExecutor, domain: Any
) -> None:
    cancel = asyncio.Event()
    seen: list[str] = []

    async def on_chunk(event: dict[str, Any]) -> None:
        if event["event"] == "stream_chunk":
            seen.append(event["text"])
            if len(seen) == 2:
                cancel.set()  # the user starts speaking after the second chunk

    state = tracker_state(tokens=["1", "2", "3", "4", "5"], delay=0.005)
    result = await executor.run(
        "action_stream", state, domain, on_chunk=on_chunk, cancel_event=cancel
    )
    assert seen == ["1", "2"]
    assert result.barged_in
    assert result.streamed == [{"text": "1"}, {"text": "2"}]
    assert result.events == [SlotSet("streamed", True)]


async def test_cancelling_the_task_aborts_the_action(executor: DirectExecutor, domain: Any) -> None:
    state = tracker_state(tokens=["x"] * 50, delay=0.01)
    task = asyncio.create_task(executor.run("action_stream", state, domain, on_chunk=_noop))
    await asyncio.sleep(0.03)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _noop(event: dict[str, Any]) -> None:
    return None


async def test_timeout_is_an_action_server_error(domain: Any) -> None:
    executor = DirectExecutor.from_module(MODULE, PROJECT, timeout=0.05)
    state = tracker_state(tokens=["x"] * 20, delay=0.02)
    with pytest.raises(ActionServerError, match="timed out after 0.05s"):
        await executor.run("action_stream", state, domain)


def test_duplicate_action_names_are_a_clear_error() -> None:
    class One(Action):
        def name(self) -> str:
            return "action_same"

    class Two(Action):
        def name(self) -> str:
            return "action_same"

    with pytest.raises(ConfigError, match="duplicate action name 'action_same'.*One.*Two"):
        ActionRegistry([One, Two])


def test_duplicate_names_across_modules(tmp_path: Path) -> None:
    pkg = tmp_path / "dup_actions_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    body = textwrap.dedent(
        """
        from subagents.actions import Action
        class A{n}(Action):
            def name(self):
                return "action_twice"
        """
    )
    (pkg / "a.py").write_text(body.format(n=1))
    (pkg / "b.py").write_text(body.format(n=2))
    with pytest.raises(ConfigError) as info:
        ActionRegistry.from_module("dup_actions_pkg", tmp_path)
    assert "action_twice" in str(info.value)
    assert info.value.problem.field == "action_endpoint.actions_module"


def test_unimportable_module_names_module_and_cause(tmp_path: Path) -> None:
    (tmp_path / "broken_actions_mod.py").write_text("import not_a_real_module_xyz\n")
    with pytest.raises(ConfigError, match="cannot import actions module 'broken_actions_mod'.*"):
        ActionRegistry.from_module("broken_actions_mod", tmp_path)
    with pytest.raises(ConfigError, match="not a Python module name"):
        ActionRegistry.from_module("actions/foo.py", tmp_path)


def test_create_executor_choices(tmp_path: Path) -> None:
    assert isinstance(create_executor(None, tmp_path), NoActionEndpoint)
    both = ActionEndpointConfig(actions_module=MODULE, url="http://127.0.0.1:1/webhook")
    assert isinstance(create_executor(both, PROJECT), DirectExecutor)
    with pytest.raises(ConfigError, match="unsupported scheme 'ftp'"):
        create_executor(ActionEndpointConfig(url="ftp://x"), tmp_path)
    with pytest.raises(ConfigError, match="needs `actions_module`"):
        create_executor(ActionEndpointConfig(), tmp_path)


async def test_no_action_endpoint_explains_configuration(domain: Any) -> None:
    with pytest.raises(UnknownActionError, match="no action_endpoint in endpoints.yml"):
        await NoActionEndpoint().run("action_x", tracker_state(), domain)


def test_tracker_accessors() -> None:
    state = tracker_state(name="Ada")
    state["latest_message"]["entities"] = [{"entity": "city", "value": "Paris"}]
    state["active_loop"] = {"name": "booking_form"}
    state["stack"] = [{"type": "flow", "flow_id": "book_trip"}]
    tracker = Tracker.from_dict(state)
    assert tracker.sender_id == "u1"
    assert tracker.get_slot("name") == "Ada"
    assert tracker.get_slot("missing") is None
    assert list(tracker.get_latest_entity_values("city")) == ["Paris"]
    assert tracker.active_loop_name == "booking_form"
    assert tracker.active_flow == "book_trip"
    assert tracker.latest_action_name == "action_listen"
    assert tracker.get_latest_input_channel() is None  # the user event has no channel
    # As in the Rasa SDK, the intent comes from the ranking only.
    assert tracker.get_intent_of_latest_message() is None
    tracker.latest_message["intent_ranking"] = [{"name": "greet", "confidence": 1.0}]
    assert tracker.get_intent_of_latest_message() == "greet"
    assert Tracker.from_dict(tracker.current_state()) == tracker


async def test_dispatcher_refuses_templates_in_chunks() -> None:
    dispatcher = CollectingDispatcher()
    with pytest.raises(ValueError, match="use utter_message"):
        await dispatcher.stream_chunk(text="x", response="utter_x")


async def test_invalid_events_are_dropped(domain: Any) -> None:
    class Bad(Action):
        def name(self) -> str:
            return "action_bad_events"

        async def run(self, dispatcher: Any, tracker: Any, domain: Any) -> Any:
            return [SlotSet("ok", 1), {"no_event_key": True}, "junk"]

    executor = DirectExecutor(ActionRegistry([Bad]))
    result = await executor.run("action_bad_events", tracker_state(), domain)
    assert result.events == [SlotSet("ok", 1)]
