"""Shared pytest configuration: the scripted-model fixtures for every test package."""

pytest_plugins = ["subagents.testing.pytest_plugin"]
