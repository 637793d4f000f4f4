"""Trace context end to end: the REST request's `traceparent` reaches the model server, an
MCP server over streamable HTTP (header and `params._meta`) and an HTTP action server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from telemetry_helpers import TOOLBOX_SERVER, Recorded

from subagents.actions import ActionRegistry
from subagents.actions.core import ActionServerCore
from subagents.actions.http_app import create_app as action_app
from subagents.server import create_app
from subagents.testing import serve_asgi

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"

ACTIONS = """
from subagents.actions import Action


class Ping(Action):
    def name(self):
        return "action_ping"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="pong")
        return []
"""


class HeaderRecorder:
    """ASGI middleware keeping each HTTP request's headers."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[dict[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            self.seen.append({"path": scope["path"], **headers})
        await self.app(scope, receive, send)


@pytest.fixture
def mcp_http(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The toolbox MCP server over streamable HTTP, recording request headers."""
    record = tmp_path / "mcp-requests.jsonl"
    args = [sys.executable, str(TOOLBOX_SERVER), "http", "--port", "0", "--record", str(record)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        port = None
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()  # the server prints PORT <n> once listening
            assert line, "the MCP server exited"
            if line.startswith("PORT "):
                port = int(line.split()[1])
        assert port is not None
        yield f"http://127.0.0.1:{port}/mcp", record
    finally:
        proc.kill()
        proc.wait(10)


def trace_of(traceparent: str | None) -> str | None:
    return traceparent.split("-")[1] if traceparent else None


async def test_one_trace_id_from_the_rest_caller_to_model_mcp_and_action_server(
    recorded: Recorded,
    make_project: Any,
    scripted_model: Any,
    mcp_http: tuple[str, Path],
    tmp_path: Path,
) -> None:
    model = await scripted_model(
        [
            {"tool_calls": [{"name": "start_flow", "arguments": {"flow": "ask"}}]},
            {"tool_calls": [{"name": "trace_meta", "arguments": {}}]},
            {"tool_calls": [{"name": "task_completed", "arguments": {"message": "Done."}}]},
        ]
    )
    package = tmp_path / "remote_actions"
    package.mkdir()
    (package / "__init__.py").write_text(ACTIONS)
    registry = ActionRegistry.from_module("remote_actions", tmp_path)
    action_server = HeaderRecorder(action_app(ActionServerCore(registry)))
    mcp_url, mcp_record = mcp_http

    async with serve_asgi(action_server) as actions_url:
        root = make_project(
            flows={
                "ask": {
                    "description": "Answer.",
                    "steps": [{"call": "helper"}, {"action": "action_ping"}],
                }
            },
            agents={
                "helper": {
                    "agent": {"name": "helper", "description": "Helps."},
                    "connections": {
                        "mcp_servers": [{"name": "toolbox", "include_tools": ["trace_meta"]}]
                    },
                }
            },
            endpoints={
                "mcp_servers": [{"name": "toolbox", "type": "http", "url": mcp_url}],
                "action_endpoint": {"url": actions_url},
            },
        )
        from subagents.dialogue.assistant import Assistant

        assistant = await Assistant.load(root, llm_url=model.url)
        try:
            async with (
                serve_asgi(create_app(assistant)) as url,
                httpx.AsyncClient(base_url=url, timeout=30) as client,
            ):
                reply = await client.post(
                    "/webhooks/rest/webhook",
                    json={"sender": "ann", "message": "what is the trace?"},
                    headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
                )
        finally:
            await assistant.aclose()
    assert [m["text"] for m in reply.json()] == ["Done.", "pong"]

    # The model server: every request (router, two agent steps) carried the trace.
    assert [trace_of(h.get("traceparent")) for h in model.request_headers] == [TRACE_ID] * 3
    # The MCP server: the tools/call carried it in params._meta and as an HTTP header.
    seen = json.loads(
        next(m["content"] for m in model.requests[-1]["messages"] if m["role"] == "tool")
    )
    assert trace_of(seen["meta"]) == TRACE_ID
    assert trace_of(seen["header"]) == TRACE_ID
    posts = [json.loads(line) for line in mcp_record.read_text().splitlines()]
    assert any(trace_of(p["headers"].get("traceparent")) == TRACE_ID for p in posts)
    # The action server.
    webhook = [h for h in action_server.seen if h["path"] == "/webhook"]
    assert [trace_of(h.get("traceparent")) for h in webhook] == [TRACE_ID]

    # And the parents: the model call's traceparent names its chat span, the MCP call's
    # its execute_tool span, the action call's its action span.
    spans = {s.context.span_id: s for s in recorded.finished()}

    def parent_name(traceparent: str) -> str:
        return spans[int(traceparent.split("-")[2], 16)].name

    assert parent_name(model.request_headers[1]["traceparent"]) == "chat scripted"
    assert parent_name(seen["meta"]) == "execute_tool trace_meta"
    assert parent_name(webhook[0]["traceparent"]) == "action action_ping"
    turn = next(s for s in spans.values() if s.name == "turn")
    assert f"{turn.parent.span_id:016x}" == CALLER_SPAN


async def test_grpc_action_calls_carry_the_trace_in_metadata(
    recorded: Recorded, tmp_path: Path
) -> None:
    import grpc

    class MetadataRecorder(grpc.aio.ServerInterceptor):  # type: ignore[misc]
        """Keeps each call's metadata."""

        def __init__(self) -> None:
            self.seen: list[dict[str, str]] = []

        async def intercept_service(self, continuation: Any, details: Any) -> Any:
            self.seen.append(dict(details.invocation_metadata))
            return await continuation(details)

    import subagents.telemetry as telemetry
    from subagents.actions.executors.grpc import GRPCExecutor
    from subagents.actions.grpc_service import ActionService
    from subagents.actions.protos import action_webhook_pb2_grpc as pb_grpc

    package = tmp_path / "grpc_actions"
    package.mkdir()
    (package / "__init__.py").write_text(ACTIONS)
    core = ActionServerCore(ActionRegistry.from_module("grpc_actions", tmp_path))
    recorder = MetadataRecorder()
    server = grpc.aio.server(interceptors=[recorder])
    pb_grpc.add_ActionServiceServicer_to_server(ActionService(core), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    executor = GRPCExecutor(f"127.0.0.1:{port}", token="t0ken", retries=0)
    tracker = {"sender_id": "u", "slots": {}, "events": [], "latest_message": {}}

    async def ignore(event: dict[str, Any]) -> None:
        pass

    try:
        with telemetry.span("action action_ping") as span:
            await executor.run("action_ping", tracker, {})  # unary
            await executor.run("action_ping", tracker, {}, ignore)  # streaming
    finally:
        await executor.aclose()
        await server.stop(None)
    action = recorded.finished()[-1]
    assert span.recording and action.name == "action action_ping"
    # Every call (unary, the stream, and its acknowledgements) carries the trace.
    assert len(recorder.seen) >= 2
    for metadata in recorder.seen:
        assert metadata["authorization"] == "Bearer t0ken"  # the token is still sent
        _, trace, parent, _ = metadata["traceparent"].split("-")
        assert int(trace, 16) == action.context.trace_id
        assert int(parent, 16) == action.context.span_id


async def test_streaming_reply_turn_is_a_child_of_the_callers_span(
    recorded: Recorded, make_project: Any
) -> None:
    from subagents.dialogue.assistant import Assistant

    root = make_project(
        flows={"hi": {"description": "Greet.", "steps": [{"action": "utter_hi"}]}},
        domain={"responses": {"utter_hi": [{"text": "Hello!"}]}},
    )
    assistant = await Assistant.load(root)
    try:
        async with (
            serve_asgi(create_app(assistant)) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as client,
        ):
            reply = await client.post(
                "/webhooks/rest/webhook?stream=true",
                json={"sender": "ann", "message": "/hi"},
                headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
            )
            no_parent = await client.post(
                "/webhooks/rest/webhook", json={"sender": "bob", "message": "/hi"}
            )
    finally:
        await assistant.aclose()
    assert [json.loads(line)["text"] for line in reply.text.splitlines()] == ["Hello!"]
    assert no_parent.status_code == 200
    first, second = sorted(
        (s for s in recorded.finished() if s.name == "turn"), key=lambda s: s.start_time
    )
    assert f"{first.context.trace_id:032x}" == TRACE_ID
    assert f"{first.parent.span_id:016x}" == CALLER_SPAN
    # Without a traceparent the turn starts its own trace.
    assert second.parent is None
    assert second.context.trace_id != first.context.trace_id
