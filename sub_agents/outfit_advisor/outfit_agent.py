"""OutfitAdvisorAgent: an MCPOpenAgent with a custom tool written in Python."""

from __future__ import annotations

from typing import Any

from subagents import AgentInput, AgentOutput, AgentToolResult, MCPOpenAgent
from subagents.tools.base import ToolContext

_LAYERS = [
    (10.0, "a warm coat, a scarf and boots"),
    (16.0, "a jacket over a long-sleeved top"),
    (22.0, "a light sweater or a shirt"),
    (99.0, "a t-shirt and light trousers"),
]


class OutfitAdvisorAgent(MCPOpenAgent):
    """Adds ``recommend_outfit``; the model reads the weather first, then calls it."""

    def get_custom_tool_definitions(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "function",
                "function": {
                    "name": "recommend_outfit",
                    "description": "Recommend clothes for a temperature and weather conditions.",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "temperature_c": {
                                "type": "number",
                                "description": "Temperature in degrees Celsius.",
                            },
                            "conditions": {
                                "type": "string",
                                "description": "Weather conditions, e.g. sunny, rain, windy.",
                            },
                        },
                        "required": ["temperature_c", "conditions"],
                        "additionalProperties": False,
                    },
                    "strict": True,
                },
                "tool_executor": self._recommend_outfit,
            }
        ]

    async def _recommend_outfit(
        self, arguments: dict[str, Any], context: ToolContext
    ) -> AgentToolResult:
        temperature = float(arguments["temperature_c"])
        conditions = str(arguments["conditions"]).lower()
        clothes = next(text for limit, text in _LAYERS if temperature < limit)
        extras = []
        if "rain" in conditions:
            extras.append("an umbrella")
        if "sun" in conditions:
            extras.append("sunglasses")
        if "wind" in conditions:
            extras.append("a windproof layer")
        advice = clothes + (", plus " + " and ".join(extras) if extras else "")
        name = context.slots.get("customer_name")
        greeting = f"{name}, wear" if name else "Wear"
        return AgentToolResult(tool_name="recommend_outfit", result=f"{greeting} {advice}.")

    async def process_input(self, input: AgentInput) -> AgentInput:
        # Keep the prompt short: the advisor only needs the last few turns.
        lines = input.conversation_history.splitlines()[-12:]
        return input.model_copy(update={"conversation_history": "\n".join(lines)})

    async def process_output(self, output: AgentOutput) -> AgentOutput:
        output.metadata["advisor"] = "outfit"
        return output
