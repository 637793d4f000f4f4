"""Interoperability with the real Rasa SDK 3.21.1 (its own venv, its own processes)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from actions_helpers import DOMAIN, MODULE, PROJECT, tracker_state
from rasa_sdk_env import HERE, RasaServer, rasa_action_server, rasa_python

from subagents.actions import ActionRegistry, SlotSet
from subagents.actions.executors.grpc import GRPCExecutor
from subagents.actions.executors.http import HTTPExecutor
from subagents.actions.server import running_server
from subagents.errors import ActionRejectedError, ActionServerError, UnknownActionError

# The first test on a new machine builds the Rasa SDK venv (pip, up to 10 minutes).
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def rasa_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RasaServer]:
    logs = tmp_path_factory.mktemp("rasa-http")
    with rasa_action_server(PROJECT, MODULE, grpc=False, log_dir=logs) as server:
        yield server


@pytest.fixture(scope="module")
def rasa_grpc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RasaServer]:
    logs = tmp_path_factory.mktemp("rasa-grpc")
    with rasa_action_server(PROJECT, MODULE, grpc=True, log_dir=logs) as server:
        yield server


async def test_http_executor_against_rasa_sdk(rasa_http: RasaServer) -> None:
    executor = HTTPExecutor(f"{rasa_http.http_url}/webhook", retries=0, timeout=10)
    try:
        # The first call carries the domain; the second relies on the digest handshake.
        for _ in range(2):
            result = await executor.run("action_greet", tracker_state(name="Ada"), DOMAIN)
            assert result.responses[0]["text"] == "Hello, Ada!"
            assert result.events[1]["value"] == ["utter_goodbye", "utter_greet"]
        # Rasa SDK replays stream chunks as messages over HTTP.
        streamed = await executor.run("action_stream", tracker_state(tokens=["a", "b"]), DOMAIN)
        assert [r["text"] for r in streamed.responses] == ["a", "b", "after the stream"]
        assert streamed.events == [SlotSet("streamed", True)]
        with pytest.raises(UnknownActionError):
            await executor.run("action_nope", tracker_state(), DOMAIN)
        with pytest.raises(ActionRejectedError, match="not now, thanks"):
            await executor.run("action_reject", tracker_state(), DOMAIN)
        with pytest.raises(ActionServerError, match="HTTP 500.*database is on fire"):
            await executor.run("action_crash", tracker_state(), DOMAIN)
    finally:
        await executor.aclose()


async def test_http_domain_handshake_with_rasa_sdk(rasa_http: RasaServer) -> None:
    executor = HTTPExecutor(rasa_http.http_url, retries=0, timeout=10)
    # Pretend the server already has this domain: it has not, answers 449, we resend it.
    other_domain = {**DOMAIN, "responses": {"utter_only": [{"text": "x"}]}}
    executor._server_digest = executor._digest.of(other_domain)
    try:
        result = await executor.run("action_greet", tracker_state(), other_domain)
        assert result.events[1]["value"] == ["utter_only"]
    finally:
        await executor.aclose()


async def test_grpc_executor_against_rasa_sdk(rasa_grpc: RasaServer) -> None:
    executor = GRPCExecutor(f"127.0.0.1:{rasa_grpc.port}", retries=0, timeout=10)
    try:
        result = await executor.run("action_greet", tracker_state(name="Ada"), DOMAIN)
        assert result.responses[0]["text"] == "Hello, Ada!"
        # Rasa SDK hands the domain to actions in wire shape; responses are a plain Struct.
        assert result.events[1]["value"] == ["utter_goodbye", "utter_greet"]
        chunks: list[dict[str, Any]] = []

        async def on_chunk(event: dict[str, Any]) -> None:
            chunks.append(event)

        state = tracker_state(tokens=["t1", "t2", "t3"], delay=0.02)
        streamed = await executor.run("action_stream", state, DOMAIN, on_chunk=on_chunk)
        assert [c["event"] for c in chunks] == [
            "stream_start",
            "stream_chunk",
            "stream_chunk",
            "stream_chunk",
            "stream_end",
        ]
        assert [c.get("text") for c in chunks[1:4]] == ["t1", "t2", "t3"]
        assert [r["text"] for r in streamed.responses] == ["after the stream"]
        assert streamed.events == [SlotSet("streamed", True)]
        with pytest.raises(UnknownActionError):
            await executor.run("action_nope", tracker_state(), DOMAIN)
        with pytest.raises(ActionRejectedError, match="not now, thanks"):
            await executor.run("action_reject", tracker_state(), DOMAIN)
        with pytest.raises(ActionServerError, match="database is on fire"):
            await executor.run("action_crash", tracker_state(), DOMAIN)
    finally:
        await executor.aclose()


async def test_grpc_barge_in_against_rasa_sdk(rasa_grpc: RasaServer) -> None:
    executor = GRPCExecutor(f"127.0.0.1:{rasa_grpc.port}", retries=0, timeout=10)
    cancel = asyncio.Event()
    texts: list[str] = []

    async def on_chunk(event: dict[str, Any]) -> None:
        if event["event"] == "stream_chunk":
            texts.append(event["text"])
            if len(texts) == 2:
                cancel.set()

    state = tracker_state(tokens=[str(i) for i in range(15)], delay=0.02)
    try:
        result = await executor.run(
            "action_stream", state, DOMAIN, on_chunk=on_chunk, cancel_event=cancel
        )
    finally:
        await executor.aclose()
    assert texts == ["0", "1"]
    assert result.barged_in
    assert result.events == [SlotSet("streamed", True)]  # events still applied


async def test_rasa_sdk_stubs_call_our_grpc_server(tmp_path: Path) -> None:
    python = rasa_python()
    registry = ActionRegistry.from_module(MODULE, PROJECT)
    async with running_server(registry, port=0, grpc=True) as server:
        proc = await asyncio.create_subprocess_exec(
            str(python),
            str(HERE / "rasa_grpc_client.py"),
            f"127.0.0.1:{server.port}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, err.decode()
    data = json.loads(out)
    code, details = data["without_domain"]
    assert code == "NOT_FOUND" and details["resource_type"] == "DOMAIN"
    assert data["webhook"]["responses"][0]["text"] == "Hello, Rasa!"
    assert data["webhook"]["events"][1]["value"] == ["utter_goodbye"]
    kinds = [kind for kind, _ in data["stream"]]
    assert kinds == ["chunk_start", "chunk", "chunk", "chunk", "chunk_end", "final_result"]
    assert [body["text"] for kind, body in data["stream"] if kind == "chunk"] == ["x", "y", "z"]
    assert data["reject"][0] == "INTERNAL" and data["reject"][1]["message"] == "not now, thanks"
    assert data["unknown"][0] == "NOT_FOUND" and data["unknown"][1]["resource_type"] == "ACTION"
    assert "action_greet" in data["actions"]
