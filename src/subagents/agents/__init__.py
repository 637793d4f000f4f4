"""subagents.agents."""
