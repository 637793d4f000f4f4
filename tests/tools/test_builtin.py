"""Built-in tools: task_completed and set_slot_<slot> (reference definitions, coercion)."""

from __future__ import annotations

from typing import Any

import pytest

from subagents.config.models import SlotConfig
from subagents.errors import ToolArgumentsError, UnknownToolError
from subagents.tools.base import ToolKind
from subagents.tools.builtin import (
    SetSlotToolset,
    SlotSet,
    TaskCompleted,
    TaskCompletedToolset,
    coerce_slot_value,
    slot_tool_spec,
)
from subagents.tools.toolbox import tool_definition


async def test_task_completed() -> None:
    tools = TaskCompletedToolset()
    outcome = await tools.call_tool("task_completed", {"message": "Done."})
    assert outcome.control == TaskCompleted("Done.")
    assert tools.spec.kind is ToolKind.CONTROL and tools.validates_arguments
    with pytest.raises(ToolArgumentsError, match="non-empty string"):
        await tools.call_tool("task_completed", {"message": ""})
    with pytest.raises(ToolArgumentsError, match="unexpected argument"):
        await tools.call_tool("task_completed", {"message": "x", "other": 1})
    with pytest.raises(UnknownToolError):
        await tools.call_tool("task_done", {"message": "x"})


@pytest.mark.parametrize(
    ("config", "value_schema"),
    [
        (SlotConfig(type="text"), {"type": "string"}),
        (SlotConfig(type="any"), {"type": "string"}),
        (SlotConfig(type="bool"), {"type": "boolean"}),
        (SlotConfig(type="float"), {"type": "number"}),
        (SlotConfig(type="list"), {"type": "array", "items": {"type": "string"}}),
        (SlotConfig(type="categorical", values=["A", "B"]), {"type": "string", "enum": ["A", "B"]}),
    ],
)
def test_slot_parameters_are_typed_from_the_slot(config: SlotConfig, value_schema: Any) -> None:
    definition = tool_definition("set_slot_x", slot_tool_spec("x", config))
    expected = {**value_schema, "description": "The value to assign to the slot."}
    assert definition["function"]["parameters"]["properties"]["slot_value"] == expected
    assert definition["function"]["strict"] is True
    assert definition["function"]["parameters"]["additionalProperties"] is False


def test_categorical_description_lists_values() -> None:
    spec = slot_tool_spec("category", SlotConfig(type="categorical", values=["A", "B", "C"]))
    assert spec.description == (
        "Set the slot 'category' to a specific value. The slot type is categorical. "
        "The allowed values are: ['A', 'B', 'C']."
    )


def test_coercion_edge_cases() -> None:
    as_float = SlotConfig(type="float")
    assert coerce_slot_value("n", as_float, " 2.5 ") == 2.5
    for bad in [True, "nan", "inf", None, [1]]:
        with pytest.raises(ValueError):
            coerce_slot_value("n", as_float, bad)
    with pytest.raises(ValueError):
        coerce_slot_value("b", SlotConfig(type="bool"), 1)
    numeric = SlotConfig(type="categorical", values=[1, 2])
    assert coerce_slot_value("c", numeric, "2") == 2


async def test_set_slot_toolset_rejects_other_arguments() -> None:
    tools = SetSlotToolset([("name", SlotConfig(type="text"))])
    ok = await tools.call_tool("set_slot_name", {"slot_value": "Ada"})
    assert ok.control == SlotSet("name", "Ada")
    with pytest.raises(ToolArgumentsError, match="'slot_value' is a required property"):
        await tools.call_tool("set_slot_name", {})
    with pytest.raises(ToolArgumentsError, match="unexpected argument"):
        await tools.call_tool("set_slot_name", {"slot_value": "A", "x": 1})
    with pytest.raises(UnknownToolError):
        await tools.call_tool("set_slot_other", {"slot_value": "A"})
