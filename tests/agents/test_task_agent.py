"""MCPTaskAgent: set_slot tools, coercion, exit conditions."""

from __future__ import annotations

from typing import Any

import pytest

from subagents import AgentInput, AgentStatus, MCPTaskAgent
from subagents.agents.schemas import AgentInputSlot
from subagents.config.models import SlotConfig
from subagents.errors import ConfigError

from .helpers import RecordingToolset, scripted_llm, tool_messages

SLOTS = {
    "user_name": SlotConfig(type="text"),
    "category": SlotConfig(type="categorical", values=["A", "B", "C"]),
    "guests": SlotConfig(type="float"),
    "vip": SlotConfig(type="bool"),
    "extras": SlotConfig(type="list"),
    "note": SlotConfig(type="any"),
}


def set_slot(slot: str, value: Any) -> dict[str, Any]:
    return {"name": f"set_slot_{slot}", "arguments": {"slot_value": value}}


async def make_task_agent(scripted_model: Any, steps: list[Any], exit_if: list[str], **kw: Any):
    server = await scripted_model(steps)
    agent = MCPTaskAgent(
        name="booker",
        description="Books tables.",
        llm=scripted_llm(server.url),
        exit_if=exit_if,
        slots=SLOTS,
        toolsets=kw.pop("toolsets", []),
        **kw,
    )
    return server, agent


async def test_set_slot_tools_match_the_reference(scripted_model: Any) -> None:
    server, agent = await make_task_agent(
        scripted_model,
        [{"text": "Your name?"}],
        ["slots.user_name is not null", "slots.category = 'A' or slots.guests > 2"],
    )
    await agent.run(AgentInput(user_message="book"))
    tools = {t["function"]["name"]: t for t in server.requests[0]["tools"]}
    assert tools["set_slot_user_name"] == {
        "type": "function",
        "function": {
            "name": "set_slot_user_name",
            "description": "Set the slot 'user_name' to a specific value. The slot type is text.",
            "parameters": {
                "type": "object",
                "properties": {
                    "slot_value": {
                        "type": "string",
                        "description": "The value to assign to the slot.",
                    }
                },
                "required": ["slot_value"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }
    category = tools["set_slot_category"]["function"]
    assert category["description"] == (
        "Set the slot 'category' to a specific value. The slot type is categorical. "
        "The allowed values are: ['A', 'B', 'C']."
    )
    assert category["parameters"]["properties"]["slot_value"]["enum"] == ["A", "B", "C"]
    assert (
        tools["set_slot_guests"]["function"]["parameters"]["properties"]["slot_value"]["type"]
        == "number"
    )
    assert "task_completed" not in tools
    system = server.requests[0]["messages"][0]["content"]
    assert "set the following slots: user_name, category, guests." in system
    assert "### Description of your capabilities\nBooks tables." in system


@pytest.mark.parametrize(
    ("slot", "value", "expected"),
    [
        ("guests", "42", 42.0),
        ("guests", 3, 3.0),
        ("vip", "true", True),
        ("vip", False, False),
        ("category", "b", "B"),
        ("extras", ["wine"], ["wine"]),
        ("extras", '["a", "b"]', ["a", "b"]),
        ("note", {"any": 1}, {"any": 1}),
    ],
)
async def test_values_are_coerced_to_the_slot_type(
    scripted_model: Any, slot: str, value: Any, expected: Any
) -> None:
    server, agent = await make_task_agent(
        scripted_model,
        [{"tool_calls": [set_slot(slot, value)]}],
        [f"slots.{slot} is not null"],
    )
    out = await agent.run(AgentInput(user_message="x"))
    assert out.status is AgentStatus.COMPLETED
    assert out.response_message is None
    assert out.events == [{"event": "slot", "name": slot, "value": expected}]


@pytest.mark.parametrize(
    ("slot", "value", "problem"),
    [
        ("guests", "many", "expected a number"),
        ("vip", "maybe", "expected a boolean"),
        ("category", "Z", "not one of the allowed values ['A', 'B', 'C']"),
        ("user_name", 7, "expected a string"),
        ("extras", "wine", "expected an array of strings"),
    ],
)
async def test_bad_values_go_back_to_the_model(
    scripted_model: Any, slot: str, value: Any, problem: str
) -> None:
    server, agent = await make_task_agent(
        scripted_model,
        [{"tool_calls": [set_slot(slot, value)]}, {"text": "Could you repeat?"}],
        [f"slots.{slot} is not null"],
    )
    out = await agent.run(AgentInput(user_message="x"))
    assert out.status is AgentStatus.INPUT_REQUIRED
    assert out.events == []
    error = tool_messages(server.requests[1]["messages"])[0]["content"]
    assert f"invalid arguments for tool 'set_slot_{slot}'" in error
    assert problem in error


async def test_completes_silently_once_all_conditions_hold(scripted_model: Any) -> None:
    server, agent = await make_task_agent(
        scripted_model,
        [
            {"tool_calls": [set_slot("user_name", "Ada")]},
            {"text": "How many guests?"},
            {"tool_calls": [set_slot("guests", 4), set_slot("vip", True)]},
        ],
        ["slots.user_name is not null", "slots.guests > 2"],
    )
    first = await agent.run(AgentInput(id="t", user_message="Table for Ada"))
    assert first.status is AgentStatus.INPUT_REQUIRED
    assert first.events == [{"event": "slot", "name": "user_name", "value": "Ada"}]
    # The caller applies the events; the next run sees the slot.
    slots = [AgentInputSlot(name="user_name", value="Ada")]
    second = await agent.run(AgentInput(id="t", user_message="4 guests", slots=slots))
    assert second.status is AgentStatus.COMPLETED
    assert second.response_message is None
    # The run ended with set_slot_guests: the later call (set_slot_vip, not even offered)
    # was not executed.
    assert second.events == [{"event": "slot", "name": "guests", "value": 4.0}]
    assert [r["name"] for r in second.structured_results] == ["set_slot_guests"]


async def test_calls_after_the_exit_condition_holds_are_not_executed(
    scripted_model: Any,
) -> None:
    tools = RecordingToolset().add("notify")
    server, agent = await make_task_agent(
        scripted_model,
        [
            {
                "tool_calls": [
                    {"name": "notify", "arguments": {}},
                    set_slot("user_name", "Ada"),
                    {"name": "notify", "arguments": {}},
                ]
            }
        ],
        ["slots.user_name is not null"],
        toolsets=[tools],
    )
    out = await agent.run(AgentInput(user_message="x"))
    assert out.status is AgentStatus.COMPLETED
    assert len(tools.calls) == 1


async def test_already_met_conditions_complete_without_the_model(scripted_model: Any) -> None:
    server, agent = await make_task_agent(scripted_model, [], ["slots.user_name is not null"])
    out = await agent.run(
        AgentInput(user_message="x", slots=[AgentInputSlot(name="user_name", value="Ada")])
    )
    assert out.status is AgentStatus.COMPLETED
    assert server.requests == []


def test_bad_exit_conditions_are_load_errors() -> None:
    llm: Any = object()
    with pytest.raises(ConfigError, match="invalid exit_if condition"):
        MCPTaskAgent(name="t", llm=llm, exit_if=["slots.x is"], slots=SLOTS)
    with pytest.raises(ConfigError, match="exit_if cannot be evaluated"):
        MCPTaskAgent(name="t", llm=llm, exit_if=["slots.unknown_slot is not null"], slots=SLOTS)
    with pytest.raises(ConfigError, match="at least one exit_if"):
        MCPTaskAgent(name="t", llm=llm, exit_if=[], slots=SLOTS)


async def test_text_beside_the_completing_call_is_dropped_even_when_streaming(
    scripted_model: Any,
) -> None:
    tools = RecordingToolset().add("notify")
    server, agent = await make_task_agent(
        scripted_model,
        [
            {"text": "Checking.", "tool_calls": [{"name": "notify", "arguments": {}}]},
            {"text": "All set, Ada!", "tool_calls": [set_slot("user_name", "Ada")]},
        ],
        ["slots.user_name is not null"],
        toolsets=[tools],
    )
    streamed: list[str] = []

    async def on_text(delta: str) -> None:
        streamed.append(delta)

    out = await agent.run(AgentInput(user_message="I am Ada"), on_text=on_text)
    assert out.status is AgentStatus.COMPLETED
    assert out.response_message == "Checking."
    assert "".join(streamed) == "Checking."
