"""subagents.tools."""
