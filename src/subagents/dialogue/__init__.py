"""subagents.dialogue."""
