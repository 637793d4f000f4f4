"""subagents.actions."""
