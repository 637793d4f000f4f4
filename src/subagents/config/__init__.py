"""subagents.config."""
