"""Fixtures: telemetry with in-memory exporters, and small projects in tmp dirs."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from telemetry_helpers import Recorded, write_yaml

import subagents.telemetry as telemetry
from subagents.dialogue.assistant import Assistant
from subagents.stores import InMemoryTrackerStore


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    """Telemetry on, recording into memory, for the length of the test."""
    rec = Recorded()
    telemetry.install(rec.impl)
    yield rec
    telemetry.shutdown()


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """``make_project(domain=, flows=, endpoints=, agents=, actions=, files=)``."""

    def make(
        *,
        domain: dict[str, Any] | None = None,
        flows: dict[str, Any] | None = None,
        endpoints: dict[str, Any] | None = None,
        agents: dict[str, dict[str, Any]] | None = None,
        actions: str | None = None,
        files: dict[str, str] | None = None,
    ) -> Path:
        root = tmp_path / "project"
        root.mkdir()
        endpoints = dict(endpoints or {})
        endpoints.setdefault("tracker_store", {"type": "memory"})
        if actions is not None:
            package = f"otel_actions_{abs(hash(str(root))) % 10**8}"
            (root / package).mkdir()
            (root / package / "__init__.py").write_text(textwrap.dedent(actions))
            endpoints.setdefault("action_endpoint", {"actions_module": package})
        write_yaml(root / "endpoints.yml", endpoints)
        write_yaml(root / "domain.yml", domain or {})
        write_yaml(root / "flows.yml", {"flows": flows or {}})
        for name, config in (agents or {}).items():
            write_yaml(root / "sub_agents" / name / "config.yml", config)
        for name, text in (files or {}).items():
            (root / name).write_text(textwrap.dedent(text))
        return root

    return make


@pytest_asyncio.fixture
async def load_assistant() -> AsyncIterator[Callable[..., Awaitable[Assistant]]]:
    """``await load_assistant(root, llm_url=...)``; closed at teardown."""
    opened: list[Assistant] = []

    async def load(root: Path, **kwargs: Any) -> Assistant:
        kwargs.setdefault("tracker_store", InMemoryTrackerStore())
        kwargs.setdefault("seed", 0)
        assistant = await Assistant.load(root, **kwargs)
        opened.append(assistant)
        return assistant

    yield load
    for assistant in opened:
        await assistant.aclose()
