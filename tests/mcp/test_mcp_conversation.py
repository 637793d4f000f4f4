"""Whole conversations over REST with a real SDK server that talks back during tool calls
(progress; elicitation and sampling in their own tests), on the scripted model."""

from __future__ import annotations

from pathlib import Path

from mcp_conversation_support import (
    START,
    call,
    events_named,
    serve,
    stdio_server_yaml,
    tool_messages,
    write_project,
)


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
