"""subagents.channels."""
