"""subagents.stores."""
