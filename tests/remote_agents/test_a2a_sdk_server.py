"""Our A2A client against a remote agent built in the test with a2a-sdk's own server
classes (AgentExecutor, DefaultRequestHandler, JSON-RPC routes), over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Part,
    Task,
    TaskState,
    TaskStatus,
)
from google.protobuf.json_format import MessageToDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from subagents import AgentInput, AgentStatus, load_agents
from subagents.config.loader import load_project
from subagents.errors import ConfigErrors

from .support import free_port, serve, write

pytestmark = pytest.mark.timeout(60)


class ShopExecutor(AgentExecutor):
    """A shop agent: answers with progress, artifacts, questions and failures."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        self.received.append(MessageToDict(context.message))
        text = context.get_user_input()
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        if context.current_task is None:
            await event_queue.enqueue_event(
                Task(
                    id=context.task_id,
                    context_id=context.context_id,
                    status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED),
                    history=[context.message],
                )
            )
        say = updater.new_agent_message
        await updater.start_work(say([Part(text="Looking it up…")]))
        if "fail" in text:
            await updater.failed(say([Part(text="the shop is closed")]))
        elif "shoes" in text and "size" not in text:
            await updater.requires_input(say([Part(text="Which size?")]))
        elif "slow" in text:
            await asyncio.sleep(0.8)
            await updater.add_artifact([Part(text="Finally done.")], name="answer")
            await updater.complete()
        else:
            data = Part()
            data.data.struct_value.update({"price": 42, "currency": "EUR"})
            await updater.add_artifact([Part(text="Shoes cost 42 EUR.")], name="answer")
            await updater.add_artifact([data], name="quote")
            await updater.complete(say([Part(text="Order ready.")]))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        await updater.cancel()


def shop_card(url: str, *, streaming: bool = True) -> AgentCard:
    return AgentCard(
        name="shop",
        description="Sells shoes.",
        version="1.0",
        supported_interfaces=[
            AgentInterface(protocol_binding="JSONRPC", protocol_version="1.0", url=url)
        ],
        capabilities=AgentCapabilities(streaming=streaming),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="shop", name="shop", description="Sells shoes.", tags=["shop"])],
    )


class Shop:
    def __init__(self, url: str, executor: ShopExecutor, headers: list[dict[str, str]]):
        self.url = url
        self.executor = executor
        self.headers = headers


@contextlib.asynccontextmanager
async def shop_server(*, streaming: bool = True, token: str | None = None) -> AsyncIterator[Shop]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/rpc"
    card = shop_card(url, streaming=streaming)
    executor = ShopExecutor()
    handler = DefaultRequestHandler(
        agent_executor=executor, task_store=InMemoryTaskStore(), agent_card=card
    )
    headers: list[dict[str, str]] = []
    routes = create_agent_card_routes(card) + create_jsonrpc_routes(handler, "/rpc")
    app = Starlette(routes=routes)
    inner = app.router

    async def guard(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            headers.append(dict(request.headers))
            if token and request.headers.get("authorization") != f"Bearer {token}":
                response: Response = JSONResponse({"error": "unauthorized"}, status_code=401)
                await response(scope, receive, send)
                return
        await inner(scope, receive, send)

    app.router = guard  # type: ignore[assignment]
    app.middleware_stack = None
    async with serve(app, port) as base:
        yield Shop(base, executor, headers)


def client(root: Path, card: str, extra: str = "") -> Path:
    return write(
        root,
        {
            "sub_agents/shop/config.yml": f"""
            agent:
              name: shop
              protocol: A2A
              description: Sells shoes.
            configuration:
              agent_card: {card}
              polling:
                initial_delay: 0.05
                max_delay: 0.2
                max_wait: 10
            {extra}
            """
        },
    )


async def run(agent: Any, text: str, state: Any = None, seen: list[str] | None = None) -> Any:
    async def on_text(delta: str) -> None:
        if seen is not None:
            seen.append(delta)

    return await agent.run(
        AgentInput(
            id="c1",
            user_message=text,
            slots=[{"name": "size", "value": None}, {"name": "color", "value": "red"}],
            metadata={"state": state, "flow_id": "buy"},
        ),
        on_text=on_text,
    )


async def test_completed_text_artifacts_and_streamed_progress(tmp_path: Path) -> None:
    async with shop_server() as shop:
        root = client(tmp_path, f"{shop.url}/.well-known/agent-card.json")
        async with load_agents(root) as agents:
            seen: list[str] = []
            out = await run(agents.get("shop"), "price of boots", seen=seen)
    assert out.status == AgentStatus.COMPLETED, out.error_message
    assert out.response_message == "Looking it up…\n\nShoes cost 42 EUR.\n\nOrder ready."
    assert "".join(seen) == out.response_message
    assert out.structured_results == [
        {"name": "quote", "type": "data", "result": {"price": 42, "currency": "EUR"}}
    ]
    sent = shop.executor.received[0]
    assert sent["role"] == "ROLE_USER"
    assert sent["parts"][0]["text"] == "price of boots"
    assert sent["parts"][1]["data"] == {"slots": [{"name": "color", "value": "red"}]}
    assert sent["metadata"] == {"flow_id": "buy"}


async def test_input_required_resumes_the_same_task(tmp_path: Path) -> None:
    async with shop_server() as shop:
        root = client(tmp_path, shop.url)  # a base URL: the well-known path is added
        async with load_agents(root) as agents:
            agent = agents.get("shop")
            first = await run(agent, "I want shoes")
            second = await run(agent, "size 42", first.metadata["state"])
    assert first.status == AgentStatus.INPUT_REQUIRED
    assert first.response_message == "Looking it up…\n\nWhich size?"
    assert second.status == AgentStatus.COMPLETED
    ids = [(m.get("taskId"), m.get("contextId")) for m in shop.executor.received]
    assert ids[1] == (first.metadata["task_id"], first.metadata["context_id"])


async def test_failed_task_is_a_fatal_error(tmp_path: Path) -> None:
    async with shop_server() as shop:
        root = client(tmp_path, shop.url)
        async with load_agents(root) as agents:
            out = await run(agents.get("shop"), "fail please")
    assert out.status == AgentStatus.FATAL_ERROR
    assert out.error_message == "the remote task failed: the shop is closed"
    assert out.metadata["state"] is None


async def test_polling_without_streaming(tmp_path: Path) -> None:
    async with shop_server(streaming=False) as shop:
        root = client(tmp_path, shop.url)
        async with load_agents(root) as agents:
            out = await run(agents.get("shop"), "slow please")
    assert out.status == AgentStatus.COMPLETED, out.error_message
    # A poll may or may not catch the working message: the answer is there once.
    assert out.response_message in ("Finally done.", "Looking it up…\n\nFinally done.")


async def test_polling_gives_up_after_max_wait(tmp_path: Path) -> None:
    async with shop_server(streaming=False) as shop:
        root = client(tmp_path, shop.url)
        config = root / "sub_agents/shop/config.yml"
        config.write_text(config.read_text().replace("max_wait: 10", "max_wait: 0.3"))
        async with load_agents(root) as agents:
            out = await run(agents.get("shop"), "slow please")
    assert out.status == AgentStatus.FATAL_ERROR
    assert "polling timed out after 0.3 seconds" in (out.error_message or "")


async def test_token_and_card_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_TOKEN", "s3cret")
    async with shop_server(token="s3cret") as shop:
        card = MessageToDict(shop_card(f"{shop.url}/rpc"))
        write(tmp_path, {"sub_agents/shop/card.json": json.dumps(card)})
        root = client(
            tmp_path, "sub_agents/shop/card.json", "  auth:\n                token: ${SHOP_TOKEN}"
        )
        async with load_agents(root) as agents:
            out = await run(agents.get("shop"), "price of boots")
    assert out.status == AgentStatus.COMPLETED, out.error_message
    assert all(h.get("authorization") == "Bearer s3cret" for h in shop.headers)


async def test_unreachable_card_fails_the_start(tmp_path: Path) -> None:
    port = free_port()
    root = client(tmp_path, f"http://127.0.0.1:{port}", "  max_retries: 2")
    with pytest.raises(ConfigErrors) as info:
        async with load_agents(root):
            pass
    text = str(info.value)
    assert "sub_agents/shop/config.yml" in text and "configuration.agent_card" in text
    assert "cannot fetch the agent card" in text and "after 2 attempt(s)" in text


def test_protocol_is_checked_at_load(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "sub_agents/shop/config.yml": """
            agent:
              name: shop
              protocol: grpc
            """,
            "sub_agents/other/config.yml": """
            agent:
              name: other
              protocol: A2A
            configuration:
              prompt_template: x.jinja2
            """,
        },
    )
    with pytest.raises(ConfigErrors) as info:
        load_project(tmp_path)
    lines = str(info.value).splitlines()
    assert any(
        line.startswith("sub_agents/shop/config.yml:4: agent.protocol: unknown protocol 'grpc'")
        and "use RASA" in line
        for line in lines
    ), lines
    assert any("other/config.yml:4: agent.protocol: an A2A agent needs" in ln for ln in lines)
    assert any("configuration.prompt_template: not used by A2A agents" in ln for ln in lines)


def test_exit_if_on_an_a2a_agent_is_a_load_error(tmp_path: Path) -> None:
    client(tmp_path, "http://127.0.0.1:1/card.json")
    write(
        tmp_path,
        {
            "domain.yml": "slots:\n  size:\n    type: text\n",
            "flows.yml": """
            flows:
              buy:
                description: Buy.
                steps:
                  - call: shop
                    exit_if:
                      - slots.size is not null
            """,
        },
    )
    with pytest.raises(ConfigErrors) as info:
        load_project(tmp_path)
    assert "exit_if works only with ReAct sub agents" in str(info.value)


CUSTOM = """
from subagents import A2AAgent


class ShopAgent(A2AAgent):
    async def process_input(self, input):
        input.slots = []  # send no slots
        return input

    async def process_output(self, output):
        for result in output.structured_results:
            if result["type"] == "data":
                price = result["result"]["price"]
                output.events.append({"event": "slot", "name": "price", "value": price})
        return output
"""


async def test_module_subclass_customises_input_and_output(tmp_path: Path) -> None:
    async with shop_server() as shop:
        root = client(tmp_path, shop.url, "  module: shop_agent.ShopAgent")
        write(root, {"shop_agent.py": CUSTOM})
        async with load_agents(root) as agents:
            out = await run(agents.get("shop"), "price of boots")
    assert type(agents.get("shop")).__name__ == "ShopAgent"
    assert out.events == [{"event": "slot", "name": "price", "value": 42}]
    assert len(shop.executor.received[0]["parts"]) == 1  # no slots data part


def test_a2a_settings_on_a_react_agent_are_errors(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "sub_agents/helper/config.yml": """
            agent:
              name: helper
            configuration:
              agent_card: http://127.0.0.1:1/card.json
            """
        },
    )
    with pytest.raises(ConfigErrors) as info:
        load_project(tmp_path)
    assert "configuration.agent_card: only used by A2A agents; set agent.protocol: A2A" in str(
        info.value
    )


async def test_tracing_gives_an_agent_run_span_and_sends_its_traceparent(tmp_path: Path) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import subagents.telemetry as telemetry
    from subagents.telemetry.otel import OpenTelemetry

    spans = InMemorySpanExporter()
    telemetry.install(OpenTelemetry(telemetry.Settings(), span_exporter=spans))
    try:
        async with shop_server() as shop:
            root = client(tmp_path, shop.url)
            async with load_agents(root) as agents:
                out = await run(agents.get("shop"), "price of boots")
    finally:
        telemetry.shutdown()
    assert out.status == AgentStatus.COMPLETED, out.error_message
    (span,) = [s for s in spans.get_finished_spans() if s.name == "agent.run"]
    assert span.attributes["gen_ai.agent.name"] == "shop"
    assert span.attributes["subagents.agent.status"] == "completed"
    rpc = [h for h in shop.headers if "traceparent" in h]
    assert rpc, shop.headers
    for headers in rpc:
        _, trace, parent, _ = headers["traceparent"].split("-")
        assert (int(trace, 16), int(parent, 16)) == (span.context.trace_id, span.context.span_id)
