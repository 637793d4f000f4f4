"""The tools an agent sends to the model, over a real MCP server publishing a raw schema:
the reference's `task_completed` exactly, MCP tools `strict: false` with `$schema`
stripped and no dangling `$ref`, names outside the provider pattern mapped reversibly,
and strict validation of MCP arguments."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

from contract_support import PYTHON, call, write_project

from subagents import AgentInput, AgentStatus, load_agents
from subagents.config.loader import load_project
from subagents.testing import ScriptedModelServer, point_endpoints_at

RAW_SERVER = """
import anyio
import mcp_types as types
from mcp.server.lowlevel.server import Server
from mcp.server.stdio import stdio_server

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {"order": {"$ref": "#/$defs/Order"}},
    "required": ["order"],
    "$defs": {
        "Order": {
            "type": "object",
            "properties": {"item": {"type": "string"}},
            "required": ["item"],
        }
    },
}


async def list_tools(ctx, params):
    tool = types.Tool(name="shop.order", description="Order an item.", input_schema=SCHEMA)
    return types.ListToolsResult(tools=[tool])


async def call_tool(ctx, params):
    item = params.arguments["order"]["item"]
    return types.CallToolResult(content=[types.TextContent(type="text", text=f"ordered {item}")])


server = Server("raw", on_list_tools=list_tools, on_call_tool=call_tool)


async def main():
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


anyio.run(main)
"""

# The reference's definition, verbatim.
TASK_COMPLETED = {
    "type": "function",
    "function": {
        "name": "task_completed",
        "description": "Signal that the MCP agent has FULLY completed its primary task. Once "
        "you have presented your findings, follow-up with a message summarizing the completed "
        "task in a comprehensive and well-written manner. Avoid repeating information already "
        "provided in the conversation.",
        "parameters": {
            "type": "object",
            "properties": {
                "message": {
                    "type": "string",
                    "description": "A message describing the completed task.",
                }
            },
            "required": ["message"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


# The reference's default prompt of a general-purpose agent (without blank lines).
OPEN_PROMPT = """
You are a helpful assistant that should assist the user in the best possible way.
### Task
Orders things.
### Instructions
* Always make sure to output responses to the user in a clear, helpful format.
* Always avoid asking multiple questions at once. Ask questions sequentially one at a time and wait for the user's response before proceeding to next question.
* Always avoid making assumptions about what values to pass into tools. Ask for clarification if a user's request is ambiguous.
* Once your task is completed, you must always call the `task_completed` tool to signal that you have finished assisting the user. Do not end the conversation or indicate completion without the `task_completed` tool call.
* Strictly avoid making up information or ability to take some action which is not available in `tool` provided.
### Conversation history
USER: tea
"""  # noqa: E501


def project(root: Path) -> Path:
    return write_project(
        root,
        {
            "raw_server.py": textwrap.dedent(RAW_SERVER),
            "endpoints.yml": f"""
                mcp_servers:
                  - name: raw
                    type: stdio
                    command: {PYTHON}
                    args: ["{root / "raw_server.py"}"]
                """,
            "sub_agents/shopper/config.yml": """
                agent:
                  name: shopper
                  description: Orders things.
                connections:
                  mcp_servers:
                    - name: raw
                """,
        },
    )


def dangling_refs(schema: dict[str, Any]) -> list[str]:
    defs = schema.get("$defs", {})
    refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(schema))
    return [r for r in refs if r.removeprefix("#/$defs/") not in defs]


async def test_tools_sent_to_the_model(tmp_path: Path) -> None:
    loaded = load_project(project(tmp_path / "p"))
    scenario = [
        {"tool_calls": [{"name": "shop_order", "arguments": {"order": {}}}]},
        call("shop_order", order={"item": "tea"}),
        call("task_completed", message="Ordered tea."),
    ]
    async with ScriptedModelServer(scenario) as model:
        loaded.endpoints = point_endpoints_at(loaded.endpoints, model.url)
        async with load_agents(loaded) as agents:
            agent_input = AgentInput(id="c1", user_message="tea", conversation_history="USER: tea")
            output = await agents.get("shopper").run(agent_input)

    assert output.status is AgentStatus.COMPLETED
    system = model.requests[0]["messages"][0]
    assert system["role"] == "system"
    lines = [line for line in system["content"].splitlines() if line.strip()]
    assert lines == OPEN_PROMPT.strip().splitlines()
    assert output.response_message == "Ordered tea."
    tools = {t["function"]["name"]: t for t in model.requests[0]["tools"]}
    assert tools["task_completed"] == TASK_COMPLETED
    assert set(tools) == {"task_completed", "shop_order"}  # `shop.order`, mapped
    order = tools["shop_order"]["function"]
    assert order["strict"] is False
    assert "$schema" not in json.dumps(order["parameters"])
    assert dangling_refs(order["parameters"]) == []
    # Strict validation first: the bad call never reached the server.
    first, second = (
        [m["content"] for m in request["messages"] if m["role"] == "tool"][-1]
        for request in model.requests[1:3]
    )
    assert "shop.order" in first and "'item' is a required property" in first
    assert second == "ordered tea"  # called by its own name on the server
    names = [r["name"] for r in output.structured_results]
    assert names == ["shop.order", "shop.order", "task_completed"]
