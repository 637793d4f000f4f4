"""Flow steps that call an MCP tool directly (``call`` + ``mcp_server`` + ``mapping``),
against a real stdio server built with the official ``mcp`` SDK."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from dialogue_helpers import texts

ORDERS_SERVER = Path(__file__).with_name("orders_server.py")
INTERNAL_ERROR = "Sorry, something went wrong. Please try again."


def endpoints(timeout: float = 30.0) -> dict[str, Any]:
    return {
        "mcp_servers": [
            {
                "name": "orders",
                "type": "stdio",
                "command": sys.executable,
                "args": [str(ORDERS_SERVER)],
                "env": {"ORDERS_KEY": "${ORDERS_KEY}"},
                "timeout": timeout,
            }
        ]
    }


DOMAIN: dict[str, Any] = {
    "slots": {
        "order_number": {"type": "text"},
        "order_status": {"type": "text"},
        "order_total": {"type": "float"},
        "express": {"type": "bool"},
        "quantity": {"type": "float"},
        "reservation": {"type": "text"},
        "leaked": {"type": "text"},
        "seconds": {"type": "float"},
    },
    "responses": {
        "utter_ask_order_number": [{"text": "Which order?"}],
        "utter_status": [{"text": "Order {order_number}: {order_status}, {order_total} EUR."}],
        "utter_reserved": [{"text": "{reservation}"}],
    },
}


def tool_step(tool: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]]) -> Any:
    return {
        "call": tool,
        "mcp_server": "orders",
        "mapping": {
            "input": [{"param": p, "slot": s} for p, s in inputs],
            "output": [{"slot": s, "value": v} for s, v in outputs],
        },
    }


STATUS = tool_step(
    "get_order_status",
    [("order_id", "order_number")],
    [
        ("order_status", "result.structuredContent.status"),
        ("order_total", "{{ result.structuredContent.total }}"),
        ("express", "result.structuredContent.express"),
    ],
)

FLOWS: dict[str, Any] = {
    "check_order": {
        "description": "Check an order.",
        # Kept after the flow ends (collected slots are reset otherwise): reserve_items
        # reads it.
        "persisted_slots": ["order_number"],
        "steps": [{"collect": "order_number"}, STATUS, {"action": "utter_status"}],
    },
    "reserve_items": {
        "description": "Reserve items.",
        "steps": [
            {"set_slots": [{"quantity": 2}]},
            # A float slot fills an integer parameter; text content mapped by expression.
            tool_step(
                "reserve",
                [("quantity", "quantity"), ("note", "order_number")],
                [("reservation", "result.content[0].text | upper")],
            ),
            {"action": "utter_reserved"},
        ],
    },
    "bad_args": {
        "description": "Text where the tool wants an integer.",
        "steps": [
            {"set_slots": [{"order_number": "many"}]},
            tool_step("reserve", [("quantity", "order_number"), ("note", "order_number")], []),
        ],
    },
    "bad_type": {
        "description": "An output that does not fit its slot.",
        "steps": [
            {"set_slots": [{"order_number": "A1"}]},
            tool_step(
                "get_order_status",
                [("order_id", "order_number")],
                [
                    ("order_status", "result.structuredContent.status"),
                    ("express", "result.structuredContent.status"),  # "processing" → bool
                ],
            ),
        ],
    },
    "undefined": {
        "description": "An output naming what the result lacks.",
        "steps": [
            {"set_slots": [{"order_number": "A1"}]},
            tool_step(
                "get_order_status",
                [("order_id", "order_number")],
                [("order_status", "result.structuredContent.nope")],
            ),
        ],
    },
    "leak": {
        "description": "A server that echoes a secret.",
        "steps": [tool_step("whoami", [], [("leaked", "result.content[0].text")])],
    },
    "too_slow": {
        "description": "A tool slower than the server's timeout.",
        "steps": [
            {"set_slots": [{"seconds": 5}]},
            tool_step("slow", [("seconds", "seconds")], [("reservation", "result")]),
        ],
    },
    "unknown_tool": {
        "description": "A tool the server does not offer.",
        "steps": [tool_step("get_order_statuz", [], [])],
    },
}


@pytest.fixture(autouse=True)
def _orders_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_KEY", "orders-secret-9f3b")


@pytest.fixture
async def assistant(make_project, load_assistant) -> Any:
    root = make_project(domain=DOMAIN, flows=FLOWS, endpoints=endpoints(timeout=0.5))
    return await load_assistant(root)


def tool_events(tracker: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in tracker["events"] if e["event"] == "tool_executed"]


async def test_inputs_from_slots_outputs_to_typed_slots(assistant) -> None:
    assert texts(await assistant.handle_message("u", "/check_order")) == ["Which order?"]
    assert texts(await assistant.handle_message("u", "X-17")) == [
        "Order X-17: processing, 42.5 EUR."
    ]
    tracker = await assistant.get_tracker("u")
    assert tracker["slots"]["order_total"] == 42.5
    assert tracker["slots"]["express"] is True
    (executed,) = tool_events(tracker)
    assert executed["name"] == "get_order_status"
    assert executed["arguments"] == {"order_id": "X-17"}
    assert executed["mcp_server"] == "orders" and executed["flow_id"] == "check_order"
    assert executed["is_error"] is False and '"status": "processing"' in executed["result"]
    # The slots are set after the tool_executed event, as an agent's are.
    kinds = [e["event"] for e in tracker["events"]]
    at = kinds.index("tool_executed")
    assert [e.get("name") for e in tracker["events"][at + 1 : at + 4]] == [
        "order_status",
        "order_total",
        "express",
    ]


async def test_arguments_are_coerced_to_the_schema(assistant) -> None:
    await assistant.handle_message("r", "/check_order")
    await assistant.handle_message("r", "B2")
    assert texts(await assistant.handle_message("r", "/reserve_items")) == ["RESERVED 2 (B2)"]
    (_, executed) = tool_events(await assistant.get_tracker("r"))
    assert executed["arguments"] == {"quantity": 2, "note": "B2"}


async def test_one_connection_is_shared_by_every_call(assistant) -> None:
    for user in ("a", "b", "c"):
        await assistant.handle_message(user, "/check_order")
        await assistant.handle_message(user, f"{user}-1")
    connection = assistant.agents.mcp_toolset("orders")
    assert connection.connect_count == 1
    outcome = await connection.call_tool("calls", {})
    assert outcome.structured == {"result": 3}  # one server process answered all three


FAILURES = [
    ("bad_args", "the arguments from the slots do not fit the tool", False),
    ("bad_type", "output for slot 'express'", True),
    ("undefined", "output for slot 'order_status': 'result.structuredContent.nope'", True),
    ("too_slow", "did not answer within 0.5 seconds", False),
    ("unknown_tool", "MCP server 'orders' offers no tool 'get_order_statuz'", False),
]


async def test_failures_take_the_internal_error_path_and_set_nothing(
    assistant, caplog: pytest.LogCaptureFixture
) -> None:
    for flow, logged, tool_ran in FAILURES:  # one server for all: each start costs seconds
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="subagents.dialogue"):
            assert texts(await assistant.handle_message(flow, f"/{flow}")) == [INTERNAL_ERROR]
        tracker = await assistant.get_tracker(flow)
        assert tracker["stack"] == [], flow
        slots = tracker["slots"]
        assert slots["order_status"] is None and slots["express"] is None, flow
        assert slots["reservation"] is None, flow
        assert bool(tool_events(tracker)) is tool_ran, flow
        (record,) = [r for r in caplog.records if r.message == "dialogue.tool_step.failed"]
        assert record.flow == flow and record.step in {"0_call", "1_call"}, flow
        assert record.tool and record.server == "orders"
        assert logged in record.error, (flow, record.error)
    # A timed-out call leaves the shared connection usable.
    await assistant.handle_message("after", "/check_order")
    assert texts(await assistant.handle_message("after", "C3")) == [
        "Order C3: processing, 42.5 EUR."
    ]


async def test_a_tool_error_is_recorded_and_fails_the_flow(assistant) -> None:
    await assistant.handle_message("e", "/check_order")
    assert texts(await assistant.handle_message("e", "missing")) == [INTERNAL_ERROR]
    tracker = await assistant.get_tracker("e")
    (executed,) = tool_events(tracker)
    assert executed["is_error"] is True and "no order missing" in executed["result"]
    assert tracker["slots"]["order_status"] is None
    cancelled = [e for e in tracker["events"] if e["event"] == "flow_cancelled"]
    assert "the tool returned an error" in cancelled[0]["reason"]


async def test_secrets_a_server_echoes_are_redacted(assistant) -> None:
    await assistant.handle_message("s", "/leak")
    tracker = await assistant.get_tracker("s")
    assert tracker["slots"]["leaked"] == "key=***"
    (executed,) = tool_events(tracker)
    assert executed["result"] == "key=***"
    assert "orders-secret-9f3b" not in str(tracker)
