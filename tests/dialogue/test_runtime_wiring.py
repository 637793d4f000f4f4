"""Agents and the runtime together: load-time preparation of called agents, per-tool
progress through ``on_progress``, and barge-in on a streaming action."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from dialogue_helpers import stdio_server, texts

from subagents.config.models import FlowsConfig
from subagents.dialogue.preflight import call_steps
from subagents.errors import ConfigErrors

SLOT_TOOLS_SERVER = Path(__file__).resolve().parent / "slot_tools_server.py"

CITY_SET = "slots.city is not null"


def crm_agent() -> dict[str, Any]:
    return {
        "agent": {"name": "crm_agent", "description": "Looks customers up."},
        "connections": {"mcp_servers": [{"name": "crm"}]},
    }


def crm_server() -> dict[str, Any]:
    return {
        "name": "crm",
        "type": "stdio",
        "command": sys.executable,
        "args": [str(SLOT_TOOLS_SERVER)],
    }


async def test_set_slot_clash_with_an_mcp_tool_is_a_load_error_naming_the_step(
    make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    flows = {
        "lookup": {
            "description": "Look a customer up.",
            "steps": [{"call": "crm_agent"}],  # open agent: no set_slot_* tools, fine
        },
        "move": {
            "description": "Change the customer's city.",
            "steps": [
                {"collect": "vip", "id": "ask_vip"},
                {
                    "noop": True,
                    "next": [
                        {"if": "slots.vip", "then": [{"call": "crm_agent", "exit_if": [CITY_SET]}]},
                        {"else": "END"},
                    ],
                },
            ],
        },
        "book": {
            "description": "Book a trip.",
            "steps": [{"id": "ask_city", "call": "crm_agent", "exit_if": [CITY_SET]}],
        },
    }
    root = make_project(
        domain={"slots": {"city": {"type": "text"}, "vip": {"type": "bool"}}},
        flows=flows,
        agents={"crm_agent": crm_agent()},
        endpoints={"mcp_servers": [crm_server()]},
    )
    server = await scripted_model([])
    with pytest.raises(ConfigErrors) as caught:
        await load_assistant(root, llm_url=server.url)

    problems = sorted(caught.value.problems, key=lambda p: p.message)
    assert len(problems) == 2  # both task-agent steps; the open call is fine
    book, move = problems
    assert book.file == "flows.yml" and move.file == "flows.yml"
    assert book.message.startswith("flow 'book' step 'ask_city': agent 'crm_agent' with exit_if")
    assert "tool 'set_slot_city' is offered by both 'crm' and 'builtin'" in book.message
    assert "exclude the MCP tool (exclude_tools)" in book.message
    assert move.message.startswith("flow 'move' step steps[1].next[0].then[0]: ")
    lines = (root / "flows.yml").read_text().splitlines()
    assert book.line is not None and '"id": "ask_city"' in "".join(lines[book.line - 1 :][:2])
    assert move.line is not None and '"call": "crm_agent"' in "".join(lines[move.line - 1 :][:2])
    assert server.requests == []  # nothing ran: the error came at load


def test_call_steps_finds_inline_steps() -> None:
    flows = FlowsConfig.model_validate(
        {
            "flows": {
                "f": {
                    "steps": [
                        {"call": "a"},
                        {
                            "action": "x",
                            "next": [
                                {"if": "slots.v", "then": [{"action": "y"}, {"call": "b"}]},
                                {"else": [{"call": "c", "exit_if": ["slots.v"]}]},
                            ],
                        },
                    ]
                }
            }
        }
    )
    found = [(path, step.call) for _, path, step in call_steps(flows)]
    assert found == [
        (("flows", "f", "steps", 0), "a"),
        (("flows", "f", "steps", 1, "next", 0, "then", 1), "b"),
        (("flows", "f", "steps", 1, "next", 1, "else", 0), "c"),
    ]


# --------------------------------------------------------------------------- progress

HELPER = {
    "agent": {"name": "helper", "description": "Helps with anything."},
    "connections": {"mcp_servers": [{"name": "toolbox", "include_tools": ["echo", "weather"]}]},
}


async def test_on_progress_reports_every_tool_an_agent_calls(
    make_project: Any, load_assistant: Any, scripted_model: Any
) -> None:
    server = await scripted_model(
        [
            {
                "tool_calls": [
                    {"name": "echo", "arguments": {"text": "private words"}},
                    {"name": "weather", "arguments": {"city": "Oslo"}},
                ]
            },
            {"tool_calls": [{"name": "fail", "arguments": {"reason": "x"}}]},  # excluded tool
            {"tool_calls": [{"name": "task_completed", "arguments": {"message": "Done."}}]},
        ]
    )
    root = make_project(
        flows={"chat": {"description": "Chat.", "steps": [{"call": "helper"}]}},
        agents={"helper": HELPER},
        endpoints={"mcp_servers": [stdio_server()]},
    )
    assistant = await load_assistant(root, llm_url=server.url)
    progress: list[dict[str, Any]] = []

    async def on_progress(event: dict[str, Any]) -> None:
        progress.append(event)

    reply = await assistant.handle_message("p", "/chat", on_progress=on_progress)

    assert texts(reply) == ["Done."]
    assert progress[0] == {"event": "tool_started", "name": "helper", "kind": "agent"}
    assert progress[-1] == {"event": "tool_finished", "name": "helper", "kind": "agent"}
    tools = progress[1:-1]
    assert all(e["kind"] == "tool" and e["agent"] == "helper" for e in tools)
    started = sorted(e["name"] for e in tools if e["event"] == "tool_started")
    assert started == ["echo", "fail", "task_completed", "weather"]
    finished = {e["name"]: e["is_error"] for e in tools if e["event"] == "tool_finished"}
    assert finished == {"echo": False, "weather": False, "fail": True, "task_completed": False}
    assert "private words" not in repr(progress) and "Oslo" not in repr(progress)
    # Without on_progress the same conversation works as before.
    assert texts(await assistant.handle_message("q", "/chat")) == [
        "Sorry, something went wrong. Please try again."  # the script is used up
    ]


# --------------------------------------------------------------------------- barge-in

STREAMING_ACTIONS = """
from subagents.actions import Action, SlotSet


class Tell(Action):
    def name(self):
        return "action_tell"

    async def run(self, dispatcher, tracker, domain):
        await dispatcher.stream_start()
        for word in ["Once ", "upon ", "a ", "time ", "there ", "was..."]:
            await dispatcher.stream_chunk(text=word)
        await dispatcher.stream_end()
        dispatcher.utter_message(text="Anything else?")
        return [SlotSet("told", True)]
"""


async def test_barge_in_cuts_a_streaming_action_short(
    make_project: Any, load_assistant: Any
) -> None:
    root = make_project(
        domain={"slots": {"told": {"type": "bool", "initial_value": False}}},
        flows={"story": {"description": "Tell a story.", "steps": [{"action": "action_tell"}]}},
        actions=STREAMING_ACTIONS,
    )
    assistant = await load_assistant(root)
    seen: list[dict[str, Any]] = []
    barged: list[bool] = []

    async def on_message(message: dict[str, Any]) -> None:
        seen.append(message)
        if message.get("chunk") and len([m for m in seen if m.get("chunk")]) == 2:
            barged.append(assistant.barge_in("s"))  # the user starts talking
            barged.append(assistant.barge_in("s"))  # already cut: nothing more to stop

    assert assistant.barge_in("s") is False  # nothing in flight
    reply = await assistant.handle_message("s", "/story", on_message=on_message)

    assert barged == [True, False]
    assert [m["text"] for m in seen if m.get("chunk")] == ["Once ", "upon "]
    assert texts(reply) == ["Once upon ", "Anything else?"]
    tracker = await assistant.get_tracker("s")
    assert tracker["slots"]["told"] is True  # the action's events still applied
    bots = [e for e in tracker["events"] if e["event"] == "bot"]
    assert bots[0]["text"] == "Once upon " and bots[0]["metadata"] == {"barged_in": True}
    assert bots[1]["text"] == "Anything else?" and not bots[1]["metadata"]
    assert assistant.barge_in("s") is False  # the turn is over

    # Without barge-in the whole story is told and recorded without the mark.
    reply = await assistant.handle_message("t", "/story", on_message=_ignore)
    assert texts(reply)[0] == "Once upon a time there was..."
    bots = [e for e in (await assistant.get_tracker("t"))["events"] if e["event"] == "bot"]
    assert not bots[0]["metadata"]


async def _ignore(message: dict[str, Any]) -> None:
    return None
