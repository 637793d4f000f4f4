"""The span tree of a conversation, recorded with the SDK's in-memory exporter.

A real stdio MCP server, the scripted model over HTTP, in-process actions: two turns with a
task agent (an MCP tool and a custom tool), a streaming action and an open agent.
"""

from __future__ import annotations

import json
from typing import Any

from telemetry_helpers import Recorded, stdio_toolbox

BOOKER_MODULE = """
from subagents import AgentToolResult, MCPTaskAgent


class Booker(MCPTaskAgent):
    def get_custom_tool_definitions(self):
        return [
            {
                "type": "function",
                "function": {
                    "name": "loyalty_tier",
                    "description": "The customer's loyalty tier.",
                    "parameters": {
                        "type": "object",
                        "properties": {"customer": {"type": "string"}},
                        "required": ["customer"],
                        "additionalProperties": False,
                    },
                    "strict": True,
                },
                "tool_executor": self._tier,
            }
        ]

    async def _tier(self, arguments):
        return AgentToolResult(tool_name="loyalty_tier", result="gold")
"""

ACTIONS = """
from subagents.actions import Action


class Stream(Action):
    def name(self):
        return "action_confirm"

    async def run(self, dispatcher, tracker, domain):
        await dispatcher.stream_start()
        for word in ["Booked ", "for ", "you."]:
            await dispatcher.stream_chunk(text=word)
        await dispatcher.stream_end()
        return []
"""

DOMAIN = {"slots": {"city": {"type": "text"}, "date": {"type": "text"}}}
FLOWS = {
    "book": {
        "description": "Book a trip to a city on a date.",
        "steps": [
            {"call": "booker", "exit_if": ["slots.city is not null", "slots.date is not null"]},
            {"action": "action_confirm"},
            {"call": "helper"},
        ],
    }
}
AGENTS = {
    "booker": {
        "agent": {"name": "booker", "description": "Books trips."},
        "configuration": {"module": "otel_booker.Booker"},
        "connections": {"mcp_servers": [{"name": "toolbox", "include_tools": ["weather"]}]},
    },
    "helper": {
        "agent": {"name": "helper", "description": "Helps with anything."},
        "connections": {"mcp_servers": [{"name": "toolbox", "include_tools": ["echo"]}]},
    },
}


def call(name: str, id: str, **arguments: Any) -> dict[str, Any]:
    return {"id": id, "name": name, "arguments": arguments}


SCENARIO = {
    "router": {
        "when": {"tool_offered": "start_flow"},
        "steps": [
            {"tool_calls": [call("start_flow", "r1", flow="book")]},
            {"text": "(the date goes to the waiting agent)"},
        ],
    },
    "booker": {
        "when": {"tool_offered": "set_slot_city"},
        "steps": [
            {
                "tool_calls": [
                    call("weather", "c1", city="Paris"),
                    call("loyalty_tier", "c2", customer="ann"),
                    call("set_slot_city", "c3", slot_value="Paris"),
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20},
            },
            {"text": "Which date?", "usage": {"prompt_tokens": 150, "completion_tokens": 5}},
            {
                "tool_calls": [call("set_slot_date", "c4", slot_value="2026-05-01")],
                "usage": {"prompt_tokens": 170, "completion_tokens": 9},
            },
        ],
    },
    "helper": {
        "when": {"tool_offered": "echo"},
        "steps": [{"text": "Anything else?"}],
    },
}


def tree(spans: list[Any]) -> list[str]:
    """The spans as indented names, children in start order."""
    by_parent: dict[int | None, list[Any]] = {}
    ids = {s.context.span_id for s in spans}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        by_parent.setdefault(parent if parent in ids else None, []).append(span)
    lines: list[str] = []

    def walk(parent: int | None, depth: int) -> None:
        for span in sorted(by_parent.get(parent, []), key=lambda s: s.start_time):
            lines.append("  " * depth + span.name)
            walk(span.context.span_id, depth + 1)

    walk(None, 0)
    return lines


EXPECTED_TREE = [
    "turn",
    "  flow.route",
    "    chat scripted",
    "  flow.step",
    "    agent.run",
    "      chat scripted",
    "      execute_tool weather",
    "      execute_tool loyalty_tier",
    "      execute_tool set_slot_city",
    "      chat scripted",
    "turn",
    "  flow.route",
    "    chat scripted",
    "  flow.step",
    "    agent.run",
    "      chat scripted",
    "      execute_tool set_slot_date",
    "  flow.step",
    "    action action_confirm",
    "  flow.step",
    "    agent.run",
    "      chat scripted",
]


def named(spans: list[Any], name: str) -> list[Any]:
    return sorted((s for s in spans if s.name == name), key=lambda s: s.start_time)


async def run_booking(make_project: Any, load_assistant: Any, scripted_model: Any) -> Any:
    server = await scripted_model(SCENARIO)
    root = make_project(
        domain=DOMAIN,
        flows=FLOWS,
        agents=AGENTS,
        actions=ACTIONS,
        endpoints={"mcp_servers": [stdio_toolbox()]},
        files={"otel_booker.py": BOOKER_MODULE},
    )
    assistant = await load_assistant(root, llm_url=server.url)
    await assistant.handle_message("conv-1", "I want to go to Paris", {"channel": "rest"})
    await assistant.handle_message("conv-1", "May 1st", {"channel": "rest"})
    return assistant


async def test_two_turns_give_the_expected_span_tree(
    recorded: Recorded, make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    await run_booking(make_project, load_assistant, scripted_model)
    spans = recorded.finished()
    assert tree(spans) == EXPECTED_TREE
    # Two turns, two traces; every span of a turn shares its trace id.
    turns = named(spans, "turn")
    assert len({t.context.trace_id for t in turns}) == 2
    assert {s.context.trace_id for s in spans} == {t.context.trace_id for t in turns}


async def test_spans_carry_the_attributes_of_each_part(
    recorded: Recorded, make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    await run_booking(make_project, load_assistant, scripted_model)
    spans = recorded.finished()
    first, second = named(spans, "turn")
    assert first.attributes["gen_ai.conversation.id"] == "conv-1"
    assert first.attributes["subagents.channel"] == "rest"
    assert first.attributes["subagents.flows.started"] == ("book",)
    assert second.attributes["subagents.flows.continued"] == "book"

    steps = named(spans, "flow.step")
    assert [
        (s.attributes["subagents.step.id"], s.attributes["subagents.step.kind"]) for s in steps
    ] == [
        ("0_call", "call"),
        ("0_call", "call"),
        ("1_action", "action"),
        ("2_call", "call"),
    ]
    assert steps[1].attributes["subagents.step.resumed"] is True

    runs = named(spans, "agent.run")
    assert [
        (
            r.attributes["gen_ai.agent.name"],
            r.attributes["subagents.agent.status"],
            r.attributes["subagents.agent.iterations"],
        )
        for r in runs
    ] == [
        ("booker", "input_required", 2),
        ("booker", "completed", 1),
        ("helper", "input_required", 1),
    ]

    chat = named(spans, "chat scripted")[1]  # the booker's first step
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.provider.name"] == "openai"
    assert chat.attributes["gen_ai.request.model"] == "scripted"
    assert chat.attributes["gen_ai.response.model"] == "scripted"
    assert chat.attributes["gen_ai.usage.input_tokens"] == 100
    assert chat.attributes["gen_ai.usage.output_tokens"] == 20
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)

    weather = named(spans, "execute_tool weather")[0]
    assert dict(weather.attributes) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "weather",
        "gen_ai.tool.call.id": "c1",
        "subagents.tool.kind": "mcp",
        "subagents.tool.source": "toolbox",
        "mcp.method.name": "tools/call",
        "subagents.mcp.server": "toolbox",
        "subagents.mcp.transport": "stdio",
        "network.transport": "pipe",
    }
    custom = named(spans, "execute_tool loyalty_tier")[0]
    assert custom.attributes["subagents.tool.kind"] == "custom"
    action = named(spans, "action action_confirm")[0]
    assert action.attributes["subagents.action.executor"] == "in-process"
    assert action.attributes["subagents.action.chunks"] == 3
    assert action.attributes["subagents.action.events"] == 0
    # Nothing of the conversation's content is recorded by default.
    texts = [str(v) for s in spans for v in s.attributes.values()]
    assert not [t for t in texts if "Paris" in t or "May 1st" in t or "gold" in t]


async def test_agent_completed_event_carries_token_usage(
    make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    """Without any tracing configured, usage still reaches the tracker: the whole task's
    (the run that asked for the date, and the one that completed)."""
    assistant = await run_booking(make_project, load_assistant, scripted_model)
    tracker = await assistant.get_tracker("conv-1")
    completed = [e for e in tracker["events"] if e["event"] == "agent_completed"]
    assert completed[0]["agent"] == "booker"
    assert completed[0]["usage"] == {"input_tokens": 420, "output_tokens": 34, "llm_calls": 3}


async def test_metrics_of_the_conversation(
    recorded: Recorded, make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    await run_booking(make_project, load_assistant, scripted_model)
    points = recorded.metric_points()

    def values(name: str) -> dict[tuple[tuple[str, Any], ...], Any]:
        found = {}
        for point in points[name]:
            key = tuple(sorted(point.attributes.items()))
            found[key] = point.value if hasattr(point, "value") else point.count
        return found

    assert values("subagents.turns") == {(("channel", "rest"),): 2}
    assert values("subagents.agent.runs") == {
        (("agent", "booker"), ("status", "input_required")): 1,
        (("agent", "booker"), ("status", "completed")): 1,
        (("agent", "helper"), ("status", "input_required")): 1,
    }
    calls = values("subagents.tool.calls")
    assert calls[(("server", "toolbox"), ("tool", "weather"))] == 1
    assert calls[(("server", "custom"), ("tool", "loyalty_tier"))] == 1
    assert values("subagents.action.calls") == {
        (("action", "action_confirm"), ("executor", "in-process")): 1
    }
    # The booker waited, was resumed; the helper waits now.
    assert values("subagents.agents.waiting") == {
        (("agent", "booker"),): 0,
        (("agent", "helper"),): 1,
    }
    tokens = {
        dict(p.attributes)["gen_ai.token.type"]: p.sum for p in points["gen_ai.client.token.usage"]
    }
    assert tokens["output"] >= 20 + 5 + 9
    stores = {tuple(sorted(p.attributes.items())) for p in points["subagents.store.duration"]}
    assert stores == {
        (("operation", "load"), ("store", "InMemoryTrackerStore")),
        (("operation", "save"), ("store", "InMemoryTrackerStore")),
    }


async def test_capture_content_records_messages_and_tool_payloads(
    make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    import subagents.telemetry as telemetry

    rec = Recorded(capture_content=True)
    telemetry.install(rec.impl)
    try:
        await run_booking(make_project, load_assistant, scripted_model)
    finally:
        telemetry.shutdown()
    spans = rec.finished()
    weather = named(spans, "execute_tool weather")[0]
    assert json.loads(weather.attributes["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert "Paris" in weather.attributes["gen_ai.tool.call.result"]
    chat = named(spans, "chat scripted")[2]  # the booker's "Which date?"
    assert "I want to go to Paris" in chat.attributes["gen_ai.input.messages"]
    assert "Which date?" in chat.attributes["gen_ai.output.messages"]
