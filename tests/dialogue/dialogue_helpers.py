"""Helpers shared by the dialogue tests (imported by module name)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TOOLBOX_SERVER = ROOT / "tests" / "servers" / "toolbox_server.py"


def texts(messages: list[dict[str, Any]]) -> list[str]:
    """The text of each message."""
    return [m.get("text", "") for m in messages]


def stdio_server(name: str = "toolbox") -> dict[str, Any]:
    """endpoints.yml entry for the test MCP server over stdio."""
    return {
        "name": name,
        "type": "stdio",
        "command": sys.executable,
        "args": [str(TOOLBOX_SERVER), "stdio"],
    }


def continue_router() -> Any:
    """An ``llm_factory`` whose router always replies with nothing: while a ``collect`` or
    an agent waits, every message goes to it (offline, in-process)."""
    from subagents.llm.scripted import ScriptPlayer, scripted_clients

    player = ScriptPlayer({"router": {"loop": True, "steps": [{"text": ""}]}})
    return scripted_clients(player, exhausted="raise")
