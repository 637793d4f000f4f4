"""Per-tool progress events of the loop, and tool lists that change mid-run."""

from __future__ import annotations

import asyncio
from typing import Any

from subagents import AgentInput, AgentStatus, MCPOpenAgent
from subagents.tools.base import FilteredToolset, ToolContext
from subagents.tools.custom import CustomToolset

from .helpers import RecordingToolset, object_schema, scripted_llm


def calls(*pairs: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": args} for name, args in pairs]}


async def test_every_tool_call_reports_started_and_finished(scripted_model: Any) -> None:
    gate = asyncio.Event()
    events: list[dict[str, Any]] = []

    async def slow(args: dict[str, Any], ctx: ToolContext | None) -> str:
        await asyncio.wait_for(gate.wait(), 5)
        return "slow done"

    async def fast(args: dict[str, Any], ctx: ToolContext | None) -> str:
        # Runs concurrently with `slow`: both have started before either finished.
        tool_events = [e["event"] for e in events if e["event"] != "model_called"]
        assert tool_events == ["tool_started", "tool_started"]
        gate.set()
        return f"fast {args['secret']}"

    tools = (
        RecordingToolset("mcp")
        .add("slow", slow)
        .add("fast", fast, schema=object_schema(secret={"type": "string"}))
    )
    server = await scripted_model(
        [
            calls(("slow", {}), ("fast", {"secret": "s3cr3t"})),
            calls(("nope", {})),  # unknown tool: an error, reported as such
            calls(("task_completed", {"message": "Done."})),
        ]
    )
    agent = MCPOpenAgent(name="helper", llm=scripted_llm(server.url), toolsets=[tools])

    async def on_event(event: dict[str, Any]) -> None:
        events.append(event)

    out = await agent.run(AgentInput(id="c", user_message="go"), on_event=on_event)

    assert out.status is AgentStatus.COMPLETED
    finished = [e for e in events if e["event"] == "tool_finished"]
    # `fast` finishes first: the two calls ran concurrently.
    assert [(e["name"], e["is_error"]) for e in finished] == [
        ("fast", False),
        ("slow", False),
        ("nope", True),
        ("task_completed", False),
    ]
    tool_events = [e for e in events if e["event"] != "model_called"]
    assert len(tool_events) == 8
    # Each model response is reported once, before its tool calls run.
    assert [e["event"] for e in events][:3] == ["model_called", "tool_started", "tool_started"]
    model = [e for e in events if e["event"] == "model_called"]
    assert [(e["iteration"], e["tool_calls"]) for e in model] == [(1, 2), (2, 1), (3, 1)]
    assert all(e["duration_ms"] >= 0 and e["finish_reason"] == "tool_calls" for e in model)
    # Tool events say which iteration and server; finished ones how long the call took.
    assert [(e["name"], e["iteration"]) for e in finished] == [
        ("fast", 1),
        ("slow", 1),
        ("nope", 2),
        ("task_completed", 3),
    ]
    assert [e["server"] for e in tool_events if e["event"] == "tool_started"] == [
        "mcp",
        "mcp",
        None,
        "builtin",
    ]
    # Only the built-in control tool is marked as such (the shell does not show it).
    assert [e["name"] for e in events if e.get("builtin")] == ["task_completed"]
    # No arguments or results ever travel with progress events.
    allowed = {"event", "name", "agent", "is_error", "builtin", "iteration", "server"}
    allowed |= {"id", "duration_ms", "model", "finish_reason", "usage", "tool_calls"}
    for event in events:
        assert set(event) <= allowed
        assert event["agent"] == "helper"
        assert "s3cr3t" not in repr(event)


async def test_a_failing_progress_callback_does_not_break_the_run(scripted_model: Any) -> None:
    server = await scripted_model(
        [calls(("ping", {})), calls(("task_completed", {"message": "pong"}))]
    )
    tools = RecordingToolset("mcp").add("ping")
    agent = MCPOpenAgent(name="helper", llm=scripted_llm(server.url), toolsets=[tools])

    async def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("terminal went away")

    out = await agent.run(AgentInput(id="c", user_message="go"), on_event=broken)
    assert out.status is AgentStatus.COMPLETED
    assert out.response_message == "pong"
    assert tools.calls == [("ping", {})]


async def test_filtered_toolset_passes_tools_version_through(scripted_model: Any) -> None:
    # The recording toolset bumps tools_version whenever a tool is added (like MCP's).
    inner = RecordingToolset("versioned")

    async def install(args: dict[str, Any], ctx: ToolContext | None) -> str:
        inner.add("fresh", "fresh answered")
        inner.add("hidden", "hidden answered")
        return "installed"

    inner.add("install", install)
    filtered = FilteredToolset(inner, exclude=["hidden"])
    assert filtered.tools_version == 1
    assert FilteredToolset(CustomToolset([])).tools_version is None

    server = await scripted_model(
        [
            calls(("install", {})),
            calls(("fresh", {})),
            calls(("task_completed", {"message": "ok"})),
        ]
    )
    agent = MCPOpenAgent(name="helper", llm=scripted_llm(server.url), toolsets=[filtered])
    out = await agent.run(AgentInput(id="c", user_message="go"))

    assert out.status is AgentStatus.COMPLETED
    # The new tool reached the model on the very next step of the same run...
    assert "fresh" not in server.tools_offered(0)
    assert "fresh" in server.tools_offered(1)
    assert "hidden" not in server.tools_offered(1)
    assert [r["result"] for r in out.structured_results][:2] == ["installed", "fresh answered"]
    # ...and the list was fetched only at build and after the version changed.
    assert inner.list_count == 2


async def test_deadline_reports_every_started_tool_as_finished(scripted_model: Any) -> None:
    async def hangs(args: dict[str, Any], ctx: ToolContext | None) -> str:
        await asyncio.sleep(30)
        return "never"

    server = await scripted_model([calls(("hang", {}), ("hang2", {}))])
    tools = RecordingToolset("mcp").add("hang", hangs).add("hang2", hangs)
    # The deadline leaves room for the model's reply on a loaded machine.
    agent = MCPOpenAgent(name="helper", llm=scripted_llm(server.url), toolsets=[tools], timeout=2)
    events: list[dict[str, Any]] = []

    async def on_event(event: dict[str, Any]) -> None:
        events.append(event)

    out = await asyncio.wait_for(
        agent.run(AgentInput(id="c", user_message="go"), on_event=on_event), 10
    )
    assert out.status is AgentStatus.FATAL_ERROR
    assert "timed out after 2 seconds" in (out.error_message or "")
    # A progress indicator must not be left showing tools that the deadline cut off.
    started = sorted(e["name"] for e in events if e["event"] == "tool_started")
    finished = sorted((e["name"], e["is_error"]) for e in events if e["event"] == "tool_finished")
    assert started == ["hang", "hang2"]
    assert finished == [("hang", True), ("hang2", True)]
