"""Scenarios for the scripted model (the format lives in :mod:`subagents.llm.scenario`)."""

from __future__ import annotations

from subagents.llm.scenario import (
    FILE_KEYS,
    Script,
    ScriptedError,
    ScriptedToolCall,
    Step,
    When,
    check_file_keys,
    load_scenario,
    parse_scenario,
    parse_step,
    tool_names,
    unknown_keys_message,
    yaml_problem,
)

__all__ = [
    "FILE_KEYS",
    "Script",
    "ScriptedError",
    "ScriptedToolCall",
    "Step",
    "When",
    "check_file_keys",
    "load_scenario",
    "parse_scenario",
    "parse_step",
    "tool_names",
    "unknown_keys_message",
    "yaml_problem",
]
