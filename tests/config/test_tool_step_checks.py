"""``subagents validate`` on flow steps that call an MCP tool directly: statically (server,
slots, mapping, expressions) and with ``--connect`` (the tool and its parameters, live)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from config_helpers import assert_problem, good_project, problems, write

from subagents.agents.validate import validate_project

ORDERS_SERVER = Path(__file__).parents[1] / "dialogue" / "orders_server.py"


def _flows(tmp_path: Path, step: str) -> Path:
    text = "flows:\n  main:\n    description: d\n    steps:\n" + step
    return good_project(tmp_path, {"flows.yml": text})


GOOD = """\
      - call: fetch_live_price
        mcp_server: trade_server
        mapping:
          input:
            - param: symbol
              slot: user_name
          output:
            - slot: age
              value: result.structuredContent.price
"""


def test_a_tool_step_is_clean(tmp_path: Path) -> None:
    _flows(tmp_path, GOOD)
    assert problems(tmp_path) == []


def test_unknown_server(tmp_path: Path) -> None:
    _flows(tmp_path, GOOD.replace("mcp_server: trade_server", "mcp_server: trade_srv"))
    assert_problem(
        problems(tmp_path),
        "flows.yml",
        6,
        "flows.main.steps[0].mcp_server",
        "unknown MCP server 'trade_srv' for tool 'fetch_live_price'",
        "did you mean 'trade_server'?",
        "endpoints.yml",
    )


def test_slots_of_the_mapping_must_be_in_the_domain(tmp_path: Path) -> None:
    _flows(tmp_path, GOOD.replace("slot: user_name", "slot: user_nme"))
    assert_problem(
        problems(tmp_path),
        "flows.yml",
        10,
        "flows.main.steps[0].mapping.input[0].slot",
        "unknown slot 'user_nme'",
        "did you mean 'user_name'?",
    )
    _flows_again = GOOD.replace("- slot: age", "- slot: ages")
    good_project(tmp_path, {"flows.yml": "flows:\n  main:\n    steps:\n" + _flows_again})
    assert_problem(
        problems(tmp_path),
        "flows.yml",
        11,
        "flows.main.steps[0].mapping.output[0].slot",
        "unknown slot 'ages'",
    )


def test_mcp_server_without_mapping_and_exit_if(tmp_path: Path) -> None:
    _flows(tmp_path, "      - call: fetch_live_price\n        mcp_server: trade_server\n")
    assert_problem(
        problems(tmp_path),
        "flows.yml",
        6,
        "flows.main.steps[0].mcp_server",
        "a call of an MCP tool needs both mcp_server and mapping; add mapping:",
    )
    _flows(tmp_path, GOOD + "        exit_if: ['slots.age is not null']\n")
    assert_problem(
        problems(tmp_path),
        "flows.yml",
        14,
        "flows.main.steps[0].exit_if",
        "exit_if belongs to a call of an agent, not of an MCP tool",
    )


def test_an_output_expression_that_does_not_parse(tmp_path: Path) -> None:
    _flows(tmp_path, GOOD.replace("result.structuredContent.price", "result.(price"))
    assert_problem(
        problems(tmp_path),
        "flows.yml",
        13,
        "flows.main.steps[0].mapping.output[0].value",
        "invalid expression 'result.(price'",
        "e.g. result.structuredContent.status",
    )


def test_connect_checks_the_tool_and_its_parameters(tmp_path: Path) -> None:
    shutil.copy(ORDERS_SERVER, tmp_path / "orders_server.py")
    step = """\
      - call: {tool}
        mcp_server: orders
        mapping:
          input:
            - param: {param}
              slot: user_name
          output: []
"""
    write(
        tmp_path,
        {
            "endpoints.yml": f"""
            mcp_servers:
              - name: orders
                type: stdio
                command: {sys.executable}
                args: [orders_server.py]
            """,
            "domain.yml": "slots:\n  user_name:\n    type: text\n",
            "flows.yml": "flows:\n  a:\n    steps:\n"
            + step.format(tool="get_order_statuz", param="order_id")
            + "  b:\n    steps:\n"
            + step.format(tool="get_order_status", param="order_number"),
        },
    )
    found = [str(p) for p in validate_project(tmp_path, connect=True, env={})]
    assert found == [
        "flows.yml:4: flows.a.steps[0].call: MCP server 'orders' offers no tool"
        " 'get_order_statuz' (it offers: calls, get_order_status, reserve, slow, whoami)",
        "flows.yml:17: flows.b.steps[0].mapping.input[0].param: tool 'get_order_status' of MCP"
        " server 'orders' has no parameter 'order_number' (its parameters: order_id,"
        " include_items)",
    ]
