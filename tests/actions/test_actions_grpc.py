"""Our gRPC action server and the gRPC executor: streaming order, barge-in, errors, TLS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from actions_helpers import DOMAIN, MODULE, PROJECT, self_signed_cert, tracker_state
from grpc_health.v1 import health_pb2, health_pb2_grpc

from subagents.actions import ActionRegistry, SlotSet
from subagents.actions.executors import create_executor
from subagents.actions.executors.grpc import GRPCExecutor
from subagents.actions.protos import action_webhook_pb2 as pb
from subagents.actions.protos import action_webhook_pb2_grpc as pb_grpc
from subagents.actions.server import RunningServer, running_server
from subagents.config.models import ActionEndpointConfig
from subagents.errors import ActionRejectedError, ActionServerError, UnknownActionError


@pytest.fixture(scope="module")
def registry() -> ActionRegistry:
    return ActionRegistry.from_module(MODULE, PROJECT)


@pytest.fixture
async def server(registry: ActionRegistry) -> AsyncIterator[RunningServer]:
    async with running_server(registry, port=0, grpc=True) as running:
        yield running


@pytest.fixture
async def executor(server: RunningServer) -> AsyncIterator[GRPCExecutor]:
    ex = create_executor(ActionEndpointConfig(url=server.url, retries=0), PROJECT)
    assert isinstance(ex, GRPCExecutor)
    yield ex
    await ex.aclose()


async def test_unary_webhook(executor: GRPCExecutor) -> None:
    result = await executor.run("action_greet", tracker_state(name="Ada"), DOMAIN)
    assert result.responses[0]["text"] == "Hello, Ada!"
    assert result.events[0] == SlotSet("greeted", True)
    # the domain's lists survive the Intent/Action wrapping, responses are intact
    assert result.events[1]["value"] == ["utter_goodbye", "utter_greet"]
    # without on_chunk the server replays chunks as messages
    replayed = await executor.run("action_stream", tracker_state(tokens=["p", "q"]), DOMAIN)
    assert [r["text"] for r in replayed.responses] == ["p", "q", "after the stream"]


async def test_stream_chunks_arrive_in_order_as_produced(executor: GRPCExecutor) -> None:
    arrivals: list[tuple[float, dict[str, Any]]] = []
    loop = asyncio.get_running_loop()

    async def on_chunk(event: dict[str, Any]) -> None:
        arrivals.append((loop.time(), event))

    state = tracker_state(tokens=["one ", "two ", "three"], delay=0.05)
    start = loop.time()
    result = await executor.run("action_stream", state, DOMAIN, on_chunk=on_chunk)
    end = loop.time()
    kinds = [e["event"] for _, e in arrivals]
    assert kinds == ["stream_start", "stream_chunk", "stream_chunk", "stream_chunk", "stream_end"]
    assert [e["text"] for _, e in arrivals if e["event"] == "stream_chunk"] == [
        "one ",
        "two ",
        "three",
    ]
    # the first chunk arrived well before the action finished (3 x 50 ms of work)
    first_chunk_at = arrivals[1][0]
    assert first_chunk_at - start < (end - start) - 0.05
    assert len({e["response_id"] for _, e in arrivals}) == 1
    assert [r["text"] for r in result.responses] == ["after the stream"]
    assert result.events == [SlotSet("streamed", True)]
    assert result.streamed == [{"text": "one "}, {"text": "two "}, {"text": "three"}]


async def test_rich_chunks_survive_the_wire(executor: GRPCExecutor) -> None:
    chunks: list[dict[str, Any]] = []

    async def on_chunk(event: dict[str, Any]) -> None:
        if event["event"] == "stream_chunk":
            chunks.append({k: v for k, v in event.items() if k not in ("event", "response_id")})

    await executor.run("action_stream_rich", tracker_state(), DOMAIN, on_chunk=on_chunk)
    assert chunks == [
        {"text": "Pick one:"},
        {"buttons": [{"title": "Yes", "payload": "/yes"}], "custom": {"k": 1.0}},
    ]


async def test_barge_in_stops_delivery_and_keeps_events(executor: GRPCExecutor) -> None:
    cancel = asyncio.Event()
    texts: list[str] = []

    async def on_chunk(event: dict[str, Any]) -> None:
        if event["event"] == "stream_chunk":
            texts.append(event["text"])
            if len(texts) == 2:
                cancel.set()

    state = tracker_state(tokens=[str(i) for i in range(20)], delay=0.02)
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await executor.run(
        "action_stream", state, DOMAIN, on_chunk=on_chunk, cancel_event=cancel
    )
    assert texts == ["0", "1"]
    assert result.barged_in
    assert result.streamed == [{"text": "0"}, {"text": "1"}]
    assert result.events == [SlotSet("streamed", True)]
    # the server muted the stream (AckStreamChunks) and the action still ran to completion
    assert loop.time() - start >= 20 * 0.02


async def test_error_mapping(executor: GRPCExecutor) -> None:
    with pytest.raises(UnknownActionError, match="No registered action found"):
        await executor.run("action_nope", tracker_state(), DOMAIN)
    with pytest.raises(ActionRejectedError, match="not now, thanks"):
        await executor.run("action_reject", tracker_state(), DOMAIN)
    # The exception text stays in the server's log; the caller gets an error id.
    with pytest.raises(ActionServerError, match=r"failed \(error id [0-9a-f]{12};"):
        await executor.run("action_crash", tracker_state(), DOMAIN)

    async def ignore(event: dict[str, Any]) -> None:
        return None

    with pytest.raises(ActionRejectedError, match="not now, thanks"):
        await executor.run("action_reject", tracker_state(), DOMAIN, on_chunk=ignore)
    with pytest.raises(ActionServerError, match=r"failed \(error id [0-9a-f]{12};"):
        await executor.run("action_crash", tracker_state(), DOMAIN, on_chunk=ignore)


async def test_domain_resent_after_server_restart(registry: ActionRegistry) -> None:
    async with running_server(registry, port=0, grpc=True) as first:
        executor = GRPCExecutor(f"127.0.0.1:{first.port}")
        try:
            await executor.run("action_greet", tracker_state(), DOMAIN)
            assert executor._server_digest is not None
        finally:
            await executor.aclose()
    async with running_server(registry, port=0, grpc=True) as second:
        executor.target = f"127.0.0.1:{second.port}"
        try:
            # The executor believes the server knows the domain; it does not: NOT_FOUND
            # (DOMAIN), then a resend with the domain, transparently.
            result = await executor.run("action_greet", tracker_state(), DOMAIN)
            assert result.events[1]["value"] == ["utter_goodbye", "utter_greet"]
        finally:
            await executor.aclose()


async def test_actions_and_health_rpcs(server: RunningServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        actions = await pb_grpc.ActionServiceStub(channel).Actions(pb.ActionsRequest(), timeout=5)
        assert "action_greet" in [a["name"] for a in actions.actions]
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "ActionServer"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_unreachable_server_is_clear() -> None:
    executor = GRPCExecutor("127.0.0.1:9", retries=0, timeout=5)
    try:
        with pytest.raises(ActionServerError, match="cannot reach gRPC action server"):
            await executor.run("action_greet", tracker_state(), DOMAIN)
    finally:
        await executor.aclose()


async def test_token_and_tls(registry: ActionRegistry, tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    async with running_server(
        registry, port=0, grpc=True, token="tok", tls_cert=str(cert), tls_key=str(key)
    ) as server:
        assert server.url.startswith("grpcs://")
        cfg = ActionEndpointConfig(url=server.url, token="tok", cafile=str(cert))
        good = create_executor(cfg, PROJECT)
        bad = create_executor(cfg.model_copy(update={"token": "nope"}), PROJECT)
        plain = GRPCExecutor(f"127.0.0.1:{server.port}", token="tok", retries=0, timeout=5)
        try:
            result = await good.run("action_greet", tracker_state(name="T"), DOMAIN)
            assert result.responses[0]["text"] == "Hello, T!"
            with pytest.raises(ActionServerError, match="refused the token"):
                await bad.run("action_greet", tracker_state(), DOMAIN)
            with pytest.raises(ActionServerError):  # plaintext against a TLS port
                await plain.run("action_greet", tracker_state(), DOMAIN)
        finally:
            for ex in (good, bad, plain):
                await ex.aclose()
