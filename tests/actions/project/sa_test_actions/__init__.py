"""Test actions, importable by subagents and by the Rasa SDK (imports pick whichever exists)."""
