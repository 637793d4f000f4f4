"""subagents.llm."""
