"""Our HTTP action server, called by a raw HTTP client and by the HTTP executor."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from actions_helpers import DOMAIN, MODULE, PROJECT, tracker_state

from subagents.actions import ActionRegistry, SlotSet
from subagents.actions.executors import create_executor
from subagents.actions.executors.http import HTTPExecutor
from subagents.actions.server import RunningServer, running_server, serve_async
from subagents.config.models import ActionEndpointConfig
from subagents.errors import ActionRejectedError, ActionServerError, UnknownActionError


@pytest.fixture(scope="module")
def registry() -> ActionRegistry:
    return ActionRegistry.from_module(MODULE, PROJECT)


@pytest.fixture
async def server(registry: ActionRegistry) -> AsyncIterator[RunningServer]:
    async with running_server(registry, port=0) as running:
        yield running


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        yield http


def call(action: str, *, domain: bool = True, digest: str = "d1", **slots: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "next_action": action,
        "sender_id": "u1",
        "tracker": tracker_state(**slots),
        "version": "3.21.0",
        "domain_digest": digest,
    }
    if domain:
        body["domain"] = DOMAIN
    return body


async def test_health_and_actions(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    names = [a["name"] for a in (await client.get("/actions")).json()]
    assert "action_greet" in names and "action_stream" in names


async def test_webhook_runs_the_action(client: httpx.AsyncClient) -> None:
    response = await client.post("/webhook", json=call("action_greet", name="Ada"))
    assert response.status_code == 200
    body = response.json()
    assert body["responses"][0]["text"] == "Hello, Ada!"
    assert body["events"][0] == SlotSet("greeted", True)


async def test_webhook_answers_json_and_other_methods_get_405(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/webhook", json=call("action_greet", name="Ada"))
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    wrong_method = await client.get("/webhook")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert (await client.post("/nowhere", json={})).status_code == 404


async def test_domain_handshake(client: httpx.AsyncClient) -> None:
    # No domain and no known digest: 449 asks for the domain.
    first = await client.post("/webhook", json=call("action_greet", domain=False))
    assert first.status_code == 449
    assert first.json()["action_name"] == "action_greet"
    assert (await client.post("/webhook", json=call("action_greet"))).status_code == 200
    # Same digest, no domain: the stored domain is used.
    cached = await client.post("/webhook", json=call("action_greet", domain=False))
    assert cached.status_code == 200
    assert cached.json()["events"][1]["value"] == ["utter_goodbye", "utter_greet"]
    other = await client.post("/webhook", json=call("action_greet", domain=False, digest="d2"))
    assert other.status_code == 449


async def test_streaming_action_is_replayed_as_messages(client: httpx.AsyncClient) -> None:
    body = (await client.post("/webhook", json=call("action_stream", tokens=["a", "b"]))).json()
    assert [r["text"] for r in body["responses"]] == ["a", "b", "after the stream"]


@pytest.mark.parametrize(
    ("action", "status", "fragment"),
    [
        ("action_nope", 404, "No registered action found for name 'action_nope'"),
        ("action_reject", 400, "not now, thanks"),
        ("action_crash", 500, "failed (error id "),
    ],
)
async def test_action_error_status_codes(
    client: httpx.AsyncClient, action: str, status: int, fragment: str
) -> None:
    response = await client.post("/webhook", json=call(action))
    assert response.status_code == status
    assert fragment in response.json()["error"]
    assert response.json()["action_name"] == action


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty request body"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"tracker": {}}', "missing 'next_action'"),
        (b'{"next_action": "action_greet"}', "missing 'tracker'"),
    ],
)
async def test_bad_requests_get_400(
    client: httpx.AsyncClient, content: bytes, fragment: str
) -> None:
    response = await client.post(
        "/webhook", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert fragment in response.json()["error"]


async def test_deflate_body_is_accepted(client: httpx.AsyncClient) -> None:
    raw = zlib.compress(json.dumps(call("action_greet")).encode())
    response = await client.post(
        "/webhook",
        content=raw,
        headers={"content-encoding": "deflate", "content-type": "application/json"},
    )
    assert response.status_code == 200


async def test_token_is_required_when_configured(registry: ActionRegistry) -> None:
    async with (
        running_server(registry, port=0, token="s3cret") as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        assert (await http.post("/webhook", json=call("action_greet"))).status_code == 401
        assert (await http.get("/actions")).status_code == 401
        assert (await http.get("/health")).status_code == 200
        ok = await http.post("/webhook?token=s3cret", json=call("action_greet"))
        assert ok.status_code == 200
        bearer = {"Authorization": "Bearer s3cret"}
        assert (await http.get("/actions", headers=bearer)).status_code == 200
        wrong = {"Authorization": "Bearer nope"}
        assert (await http.get("/actions", headers=wrong)).status_code == 401

        good = HTTPExecutor(server.url, token="s3cret")
        bad = HTTPExecutor(server.url, token="wrong")
        try:
            assert (await good.run("action_greet", tracker_state(), DOMAIN)).events
            with pytest.raises(ActionServerError, match="refused the token"):
                await bad.run("action_greet", tracker_state(), DOMAIN)
        finally:
            await good.aclose()
            await bad.aclose()


# ---------------------------------------------------------------- HTTP executor


async def test_executor_against_our_server(server: RunningServer) -> None:
    cfg = ActionEndpointConfig(url=f"{server.url}/webhook")
    executor = create_executor(cfg, PROJECT)
    try:
        result = await executor.run("action_greet", tracker_state(name="Bo"), DOMAIN)
        assert result.responses[0]["text"] == "Hello, Bo!"
        assert result.events[1]["value"] == ["utter_goodbye", "utter_greet"]
        chunks: list[dict[str, Any]] = []

        async def on_chunk(event: dict[str, Any]) -> None:
            chunks.append(event)

        streamed = await executor.run(
            "action_stream", tracker_state(tokens=["x", "y"]), DOMAIN, on_chunk=on_chunk
        )
        assert chunks == []  # no real-time streaming over HTTP
        assert [r["text"] for r in streamed.responses] == ["x", "y", "after the stream"]
        with pytest.raises(UnknownActionError, match="does not know it"):
            await executor.run("action_nope", tracker_state(), DOMAIN)
        with pytest.raises(ActionRejectedError, match="not now, thanks"):
            await executor.run("action_reject", tracker_state(), DOMAIN)
        with pytest.raises(ActionServerError, match=r"HTTP 500.*error id [0-9a-f]{12}"):
            await executor.run("action_crash", tracker_state(), DOMAIN)
    finally:
        await executor.aclose()


async def test_executor_sends_the_domain_only_when_needed(registry: ActionRegistry) -> None:
    executor = HTTPExecutor("http://127.0.0.1:1")  # url replaced below
    try:
        async with running_server(registry, port=0) as first:
            executor.url = f"{first.url}/webhook"
            await executor.run("action_greet", tracker_state(), DOMAIN)
            sent = await _request_bodies(executor, "action_greet")
            assert "domain" not in sent[-1]  # the server has it already
        async with running_server(registry, port=0) as restarted:
            # A new server has no domain: 449, then the executor resends with it.
            executor.url = f"{restarted.url}/webhook"
            result = await executor.run("action_greet", tracker_state(), DOMAIN)
            assert result.events[1]["value"] == ["utter_goodbye", "utter_greet"]
    finally:
        await executor.aclose()


async def _request_bodies(executor: HTTPExecutor, action: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []

    async def record(request: httpx.Request) -> None:
        bodies.append(json.loads(request.content))

    executor._http().event_hooks["request"] = [record]
    await executor.run(action, tracker_state(), DOMAIN)
    executor._http().event_hooks["request"] = []
    return bodies


async def test_executor_connection_refused_is_clear() -> None:
    executor = HTTPExecutor("http://127.0.0.1:9/webhook", retries=1)
    try:
        with pytest.raises(ActionServerError, match="cannot connect.*after 2 attempts"):
            await executor.run("action_greet", tracker_state(), DOMAIN)
    finally:
        await executor.aclose()


async def test_executor_timeout(server: RunningServer) -> None:
    executor = HTTPExecutor(server.url, timeout=0.2)
    try:
        slow = tracker_state(tokens=["a"] * 10, delay=0.1)
        with pytest.raises(ActionServerError, match="did not answer within 0.2s"):
            await executor.run("action_stream", slow, DOMAIN)
    finally:
        await executor.aclose()


async def test_serve_async_reads_actions_module_from_endpoints(tmp_path: Path) -> None:
    pkg = tmp_path / "served_actions_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from subagents.actions import Action\n"
        "class Ping(Action):\n"
        "    def name(self):\n"
        "        return 'action_ping'\n"
        "    async def run(self, dispatcher, tracker, domain):\n"
        "        dispatcher.utter_message(text='pong')\n"
        "        return []\n"
    )
    (tmp_path / "endpoints.yml").write_text(
        "action_endpoint:\n  actions_module: served_actions_pkg\n"
    )
    started: asyncio.Queue[RunningServer] = asyncio.Queue()
    task = asyncio.create_task(serve_async(tmp_path, port=0, ready=started.put_nowait))
    try:
        server = await asyncio.wait_for(started.get(), timeout=10)
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.get("/actions")).json() == [{"name": "action_ping"}]
            reply = await http.post("/webhook", json=call("action_ping"))
            assert reply.json()["responses"][0]["text"] == "pong"
        server.stop()
        await asyncio.wait_for(task, timeout=10)
    finally:
        task.cancel()
