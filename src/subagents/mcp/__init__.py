"""subagents.mcp."""
