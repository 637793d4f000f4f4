"""Whole conversations over REST with a real SDK server that talks back during tool calls
(progress; elicitation and sampling in their own tests), on the scripted model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from mcp_conversation_support import (
    START,
    call,
    events_named,
    http_server_yaml,
    serve,
    stdio_server_yaml,
    tool_messages,
    write_project,
)
from mcp_helpers import INTERACTIVE


async def test_progress_is_streamed_and_kept_in_the_tracker(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project", stdio_server_yaml())
    scenario = [
        START,
        call("index_files", count=5, pause=0.02),
        call("task_completed", message="All 5 files are indexed."),
    ]
    async with serve(root, scenario) as app:
        lines = await app.stream("ann", "index my files")
        progress = [line for line in lines if line.get("event") == "tool_progress"]
        assert [p["text"] for p in progress] == [
            "20% indexing files",
            "40% indexing files",
            "60% indexing files",
            "80% indexing files",
            "100% indexing files",
        ]
        assert {(p["name"], p["server"], p["agent"]) for p in progress} == {
            ("index_files", "interactive", "helper")
        }
        assert lines[-1]["text"] == "All 5 files are indexed."
        assert any("indexed 5 files" in t for t in tool_messages(app.model.requests[2]))
        kept = events_named(await app.tracker("ann"), "tool_progress")
        assert [e["percent"] for e in kept] == [20, 40, 60, 80, 100]


async def test_shell_shows_progress_lines(tmp_path: Path) -> None:
    from io import StringIO

    from rich.console import Console

    from subagents.channels.shell import chat, script_lines
    from subagents.dialogue.assistant import Assistant
    from subagents.testing import ScriptedModelServer

    root = write_project(tmp_path / "project", stdio_server_yaml())
    scenario = [
        START,
        call("index_files", count=2, pause=0.01),
        call("task_completed", message="Done indexing."),
    ]
    out = StringIO()
    async with ScriptedModelServer(scenario) as model:
        assistant = await Assistant.load(root, llm_url=model.url)
        try:
            await chat(assistant, script_lines(["index"]), console=Console(file=out, width=100))
        finally:
            await assistant.aclose()
    text = out.getvalue()
    assert "… 50% indexing files" in text and "… 100% indexing files" in text
    assert text.index("… 100% indexing files") < text.index("Bot: Done indexing.")


WAITING = {"text": "(the message is for the waiting agent)"}
"""The router's reply while the agent waits: no command, so the message goes to it."""

BOOK_QUESTION = """Which day, and for how many people?
- date: Day of the visit, YYYY-MM-DD (text; required)
- guests: How many people (a whole number from 1 to 12; default 2)
- terrace: Sit outside (yes or no; default no)
Reply like date: …, guests: …. Say "decline" to refuse or "cancel" to stop."""


@pytest.mark.parametrize("transport", ["stdio", "http", "http-legacy"])
async def test_a_tool_question_is_asked_answered_and_the_call_completes(
    tmp_path: Path, http_server, transport: str
) -> None:
    if transport == "stdio":
        server_yaml = stdio_server_yaml()
    else:
        server = http_server("http", script=INTERACTIVE, legacy_only=transport == "http-legacy")
        server_yaml = http_server_yaml(server.url)
    root = write_project(tmp_path / "project", server_yaml)
    scenario = [
        START,
        call("book_table"),
        WAITING,  # the router: "guests: lots" is for the waiting agent
        WAITING,  # and so is the answer
        call("task_completed", message="Your table is booked."),
    ]
    async with serve(root, scenario) as app:
        # the tool's question reaches the user as the agent's reply, with a question event
        lines = await app.stream("ann", "book me a table")
        asked = [line for line in lines if line.get("event") == "question"]
        assert len(asked) == 1
        assert asked[0]["name"] == "book_table" and asked[0]["fields"] == [
            "date",
            "guests",
            "terrace",
        ]
        said = "".join(str(line.get("text")) for line in lines if line.get("chunk"))
        assert said == BOOK_QUESTION
        # a reply that does not fit is refused and the question asked again
        again = await app.texts("ann", "guests: lots")
        assert again == [
            "That did not work: guests: 'lots' is not a whole number.\n" + BOOK_QUESTION
        ]
        # the answer continues the same tool call; the defaults fill what was left out
        assert await app.texts("ann", "date: 2026-05-01, guests: 4") == ["Your table is booked."]
        assert tool_messages(app.model.requests[4]) == ["booked 2026-05-01 for 4 inside"]
        assert app.model.remaining() == 0
        tracker = await app.tracker("ann")
        executed = events_named(tracker, "tool_executed")
        assert [(e["name"], e["result"]) for e in executed if e["name"] == "book_table"] == [
            ("book_table", "booked 2026-05-01 for 4 inside")
        ]


@pytest.mark.parametrize(
    ("reply", "result"),
    [
        ("decline", "the user declined to book"),
        ("Cancel", "the user cancelled the booking"),
    ],
)
async def test_decline_and_cancel_reach_the_tool(tmp_path: Path, reply: str, result: str) -> None:
    root = write_project(tmp_path / "project", stdio_server_yaml())
    scenario = [START, call("book_table"), WAITING, call("task_completed", message="Fine.")]
    async with serve(root, scenario) as app:
        assert (await app.texts("bob", "table please"))[0].startswith("Which day")
        assert await app.texts("bob", reply) == ["Fine."]
        assert tool_messages(app.model.requests[3]) == [result]


async def test_an_unanswered_question_times_out_as_declined(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project", stdio_server_yaml(elicitation_timeout=0.5))
    scenario = [
        START,
        call("book_table"),
        WAITING,
        {"text": "No booking then. Anything else?"},
    ]
    async with serve(root, scenario) as app:
        assert (await app.texts("cy", "table please"))[0].startswith("Which day")
        await asyncio.sleep(1.0)  # longer than elicitation_timeout: the question is declined
        # the late reply is not an answer any more: the model sees the declined result,
        # then the user's message
        assert await app.texts("cy", "date: 2026-05-01") == ["No booking then. Anything else?"]
        request = app.model.requests[3]
        assert tool_messages(request) == ["the user declined to book"]
        assert request["messages"][-1] == {"role": "user", "content": "date: 2026-05-01"}


async def test_url_mode_sends_the_user_to_the_page(tmp_path: Path, http_server) -> None:
    # URL mode exists on 2025-11-25 connections (a 2026-07-28 server has no back-channel
    # for it): the server refuses server/discover, so the client uses the handshake.
    server = http_server("http", script=INTERACTIVE, legacy_only=True)
    root = write_project(tmp_path / "project", http_server_yaml(server.url))
    scenario = [
        START,
        call("pay_invoice"),
        WAITING,
        call("task_completed", message="Paid, thanks."),
    ]
    async with serve(root, scenario) as app:
        assert await app.texts("di", "pay my invoice") == [
            "Please pay the invoice on the payment page.\n"
            'Open https://pay.example.test/invoice/42 to continue. Say "done" when you have '
            'finished there, or "decline" or "cancel".'
        ]
        assert await app.texts("di", "done") == ["Paid, thanks."]
        assert tool_messages(app.model.requests[3]) == ["payment page: accept"]


async def test_elicitation_false_declines_without_asking(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project", stdio_server_yaml(elicitation=False))
    scenario = [START, call("book_table"), call("task_completed", message="Could not book.")]
    async with serve(root, scenario) as app:
        assert await app.texts("ed", "table please") == ["Could not book."]
        [result] = tool_messages(app.model.requests[2])
        assert "book_table" in result and "Error" in result


async def test_a_question_lost_in_a_restart_is_reported_to_the_model(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project", stdio_server_yaml())
    async with serve(root, [START, call("book_table")]) as app:
        assert (await app.texts("fay", "table please"))[0].startswith("Which day")
    # the assistant restarted: the conversation (SQLite tracker) survives, the call does not
    async with serve(root, [WAITING, {"text": "Sorry, let us try that again."}]) as app:
        assert await app.texts("fay", "date: 2026-05-01") == ["Sorry, let us try that again."]
        messages = app.model.requests[1]["messages"]
        lost = [m for m in messages if m.get("role") == "tool"]
        assert len(lost) == 1 and "book_table" in lost[0]["content"]
        assert "may or may not have run" in lost[0]["content"]
        assert messages[-1] == {"role": "user", "content": "date: 2026-05-01"}


SUMMARIZE = call("summarize", text="The meeting moved to Tuesday at ten.")


async def test_sampling_is_answered_by_the_model_bounded_and_recorded(tmp_path: Path) -> None:
    sampling = {"allow": True, "max_tokens": 30, "max_requests": 1}
    root = write_project(tmp_path / "project", stdio_server_yaml(sampling=sampling))
    scenario = [
        START,
        SUMMARIZE,
        {"text": "Meeting: Tuesday 10:00."},  # the tool's sampling request
        SUMMARIZE,  # a second one in the same run: over max_requests, refused
        call("task_completed", message="Summarized."),
    ]
    async with serve(root, scenario) as app:
        assert await app.texts("gil", "summarize my note") == ["Summarized."]
        sampled = app.model.requests[2]
        assert sampled["max_tokens"] == 30  # the tool asked for 50; the server allows 30
        assert sampled["messages"] == [
            {"role": "system", "content": "You write one-line summaries."},
            {"role": "user", "content": "Summarize: The meeting moved to Tuesday at ten."},
        ]
        assert "tools" not in sampled
        first, second = tool_messages(app.model.requests[4])
        assert first.startswith("summary by ") and first.endswith(": Meeting: Tuesday 10:00.")
        assert "Error" in second and "at most 1 requests per agent run" in second
        tracker = await app.tracker("gil")
        [event] = events_named(tracker, "tool_sampling")
        assert (event["name"], event["server"], event["agent"], event["max_tokens"]) == (
            "summarize",
            "interactive",
            "helper",
            30,
        )


async def test_sampling_is_declined_by_default(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project", stdio_server_yaml())
    scenario = [START, SUMMARIZE, call("task_completed", message="Could not.")]
    async with serve(root, scenario) as app:
        assert await app.texts("hal", "summarize") == ["Could not."]
        [result] = tool_messages(app.model.requests[2])
        assert "summarize" in result and "Error" in result
        assert len(app.model.requests) == 3  # no model request for the tool


async def test_shell_shows_the_question_and_takes_the_answer(tmp_path: Path) -> None:
    from io import StringIO

    from rich.console import Console

    from subagents.channels.shell import chat, script_lines
    from subagents.dialogue.assistant import Assistant
    from subagents.testing import ScriptedModelServer

    root = write_project(tmp_path / "project", stdio_server_yaml())
    scenario = [START, call("book_table"), WAITING, call("task_completed", message="Booked!")]
    out = StringIO()
    async with ScriptedModelServer(scenario) as model:
        assistant = await Assistant.load(root, llm_url=model.url)
        try:
            lines = script_lines(["a table please", "date: 2026-05-01"])
            await chat(assistant, lines, console=Console(file=out, width=200))
        finally:
            await assistant.aclose()
        assert tool_messages(model.requests[3]) == ["booked 2026-05-01 for 2 inside"]
    text = out.getvalue()
    assert text.index("? book_table asks you") < text.index("Which day, and for how many")
    assert text.index("Which day") < text.index("You: date: 2026-05-01") < text.index("Booked!")
