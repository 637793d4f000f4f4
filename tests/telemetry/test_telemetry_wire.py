"""Over the real wire: `subagents run` as a subprocess exports OTLP/HTTP protobuf to a small
receiver in this test, and serves `GET /metrics`, parsed with prometheus_client's parser."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families
from telemetry_helpers import TOOLBOX_SERVER

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Receiver:
    """An OTLP/HTTP receiver on 127.0.0.1: keeps every request body by path."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = {}
        self.headers: list[dict[str, str]] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                received.bodies.setdefault(self.path, []).append(body)
                headers = {k.lower(): v for k, v in self.headers.items()}
                received.headers.append({"path": self.path, **headers})
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) of every exported span."""
        found = []
        for body in self.bodies.get("/v1/traces", []):
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope in resource_spans.scope_spans:
                    found.extend((resource, span) for span in scope.spans)
        return found

    def metric_names(self) -> set[str]:
        names = set()
        for body in self.bodies.get("/v1/metrics", []):
            request = ExportMetricsServiceRequest.FromString(body)
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    names.update(m.name for m in scope.metrics)
        return names


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    rec.thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_project(root: Path, receiver_url: str) -> Path:
    endpoints = {
        "tracker_store": {"type": "memory"},
        "mcp_servers": [
            {
                "name": "toolbox",
                "type": "stdio",
                "command": sys.executable,
                "args": [str(TOOLBOX_SERVER), "stdio"],
            }
        ],
        "tracing": {
            "type": "otlp",
            "endpoint": receiver_url,
            "service_name": "wire-test",
            "capture_content": True,
            "headers": {"x-collector-key": "${COLLECTOR_KEY}"},
        },
        "metrics": [{"type": "prometheus"}, {"type": "otlp", "endpoint": receiver_url}],
    }
    files = {
        "endpoints.yml": endpoints,
        "domain.yml": {},
        "flows.yml": {
            "flows": {"ask": {"description": "Answer questions.", "steps": [{"call": "helper"}]}}
        },
        "sub_agents/helper/config.yml": {
            "agent": {"name": "helper", "description": "Helps."},
            "connections": {"mcp_servers": [{"name": "toolbox", "include_tools": ["echo"]}]},
        },
        "scenario.yml": {
            "scenario": [
                {"tool_calls": [{"name": "start_flow", "arguments": {"flow": "ask"}}]},
                {
                    "tool_calls": [{"name": "echo", "arguments": {"text": "hello"}}],
                    "usage": {"prompt_tokens": 30, "completion_tokens": 7},
                },
                {"text": "Echoed."},
            ]
        },
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))  # JSON is YAML
    return root


@contextlib.contextmanager
def run_process(root: Path, log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = dict(os.environ, COLLECTOR_KEY="key-0123456789", OTEL_BSP_SCHEDULE_DELAY="50")
    env["OTEL_METRIC_EXPORT_INTERVAL"] = "60000"
    cmd = [sys.executable, "-m", "subagents.cli", "run", "--project", str(root)]
    cmd += ["--port", str(port), "--scripted", str(root / "scenario.yml")]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                time.sleep(0.05)
            yield url, proc
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)


def wait_for(predicate: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_run_exports_spans_and_metrics_over_otlp_and_serves_prometheus(
    receiver: Receiver, tmp_path: Path
) -> None:
    root = write_project(tmp_path / "project", receiver.url)
    with run_process(root, tmp_path / "run.log") as (url, proc):
        traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
        reply = httpx.post(
            url + "/webhooks/rest/webhook",
            json={"sender": "ann", "message": "say hello, my key is key-0123456789"},
            headers={"traceparent": traceparent},
            timeout=30,
        )
        assert [m["text"] for m in reply.json()] == ["Echoed."]

        scraped = httpx.get(url + "/metrics", timeout=10)
        assert scraped.status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
        turns = families["subagents_turns"]
        totals = [s for s in turns.samples if s.name.endswith("_total")]
        assert [(s.name, s.labels, s.value) for s in totals] == [
            ("subagents_turns_total", {"channel": "rest"}, 1.0)
        ]
        runs = [s for s in families["subagents_agent_runs"].samples if s.name.endswith("_total")]
        assert [(s.labels, s.value) for s in runs] == [
            ({"agent": "helper", "status": "input_required"}, 1.0)
        ]
        tools = families["subagents_tool_calls"].samples
        echo = {"tool": "echo", "server": "toolbox"}
        assert any(s.labels == echo and s.value == 1 for s in tools)
        tokens = families["gen_ai_client_token_usage"].samples
        sums = {s.labels["gen_ai_token_type"]: s.value for s in tokens if s.name.endswith("_sum")}
        assert sums == {"input": 30, "output": 7}
        durations = families["gen_ai_client_operation_duration_seconds"].samples
        counts = [s for s in durations if s.name.endswith("_count")]
        assert sum(s.value for s in counts) == 3  # the router's call, the agent's two

        wait_for(lambda: any(s.name == "turn" for _, s in receiver.spans()))
        assert proc.send_signal(signal.SIGTERM) is None
        assert proc.wait(30) == 0  # shutting down flushes the metrics exporter too

    spans = receiver.spans()
    by_name = {span.name: (resource, span) for resource, span in spans}
    resource, turn = by_name["turn"]
    assert resource["service.name"] == "wire-test"
    assert turn.trace_id.hex() == TRACE_ID
    assert turn.parent_span_id.hex() == PARENT_ID
    assert {span.trace_id.hex() for _, span in spans} == {TRACE_ID}
    assert {"flow.route", "flow.step", "agent.run", "execute_tool echo"} <= set(by_name)
    # capture_content: the user's text is there, the configured secret is not.
    chat = [s for _, s in spans if s.name.startswith("chat ")][0]
    attributes = {a.key: a.value.string_value for a in chat.attributes}
    assert "say hello, my key is ***" in attributes["gen_ai.input.messages"]
    assert "key-0123456789" not in str(spans)
    # The collector's header (tracing.headers) went along with every span export.
    sent = [h for h in receiver.headers if h["path"] == "/v1/traces"]
    assert sent and all(h.get("x-collector-key") == "key-0123456789" for h in sent)
    assert {"subagents.turns", "gen_ai.client.operation.duration"} <= receiver.metric_names()


async def test_jaeger_config_exports_otlp_grpc_to_the_receiver(
    make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    """`type: jaeger` with host/port: spans arrive over OTLP/gRPC (Jaeger's receiver)."""
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    received: list[Any] = []

    class Collector(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
        def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC's name
            received.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Collector(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        model = await scripted_model([{"text": "Hi there."}])
        root = make_project(
            flows={"hi": {"description": "Greet.", "steps": [{"action": "utter_hi"}]}},
            domain={"responses": {"utter_hi": [{"text": "Hello!"}]}},
            endpoints={
                "tracing": {
                    "type": "jaeger",
                    "host": "127.0.0.1",
                    "port": port,
                    "service_name": "jaeger-test",
                }
            },
        )
        assistant = await load_assistant(root, llm_url=model.url)
        await assistant.handle_message("u", "/hi")
        await assistant.aclose()  # shuts the exporter down: the batch is sent
    finally:
        server.stop(None).wait(10)
    names = [
        span.name
        for request in received
        for resource_spans in request.resource_spans
        for scope in resource_spans.scope_spans
        for span in scope.spans
    ]
    assert names.count("turn") == 1
    assert "flow.step" in names
    service = {
        a.key: a.value.string_value for a in received[0].resource_spans[0].resource.attributes
    }
    assert service["service.name"] == "jaeger-test"
