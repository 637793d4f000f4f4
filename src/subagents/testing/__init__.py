"""subagents.testing."""
