"""Fixtures: small projects written to tmp dirs, and assistants loaded from them."""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from dialogue_helpers import continue_router

from subagents.dialogue.assistant import Assistant
from subagents.stores import InMemoryTrackerStore


def write_yaml(path: Path, data: Any) -> None:
    """JSON is YAML: write the dict as JSON (keeps the test data plain Python)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


ProjectFactory = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> ProjectFactory:
    """``make_project(domain=..., flows=..., endpoints=..., agents=..., actions=...)``."""

    def make(
        *,
        domain: dict[str, Any] | None = None,
        flows: dict[str, Any] | None = None,
        endpoints: dict[str, Any] | None = None,
        agents: dict[str, dict[str, Any]] | None = None,
        actions: str | None = None,
        name: str = "project",
    ) -> Path:
        root = tmp_path / name
        root.mkdir()
        endpoints = dict(endpoints or {})
        endpoints.setdefault("tracker_store", {"type": "memory"})
        if actions is not None:
            package = f"actions_{name}_{abs(hash(str(root))) % 10**8}"
            (root / package).mkdir()
            (root / package / "__init__.py").write_text(textwrap.dedent(actions))
            endpoints["action_endpoint"] = {"actions_module": package}
        write_yaml(root / "endpoints.yml", endpoints)
        write_yaml(root / "domain.yml", domain or {})
        write_yaml(root / "flows.yml", {"flows": flows or {}})
        for agent_name, config in (agents or {}).items():
            write_yaml(root / "sub_agents" / agent_name / "config.yml", config)
        return root

    return make


@pytest_asyncio.fixture
async def load_assistant() -> AsyncIterator[Callable[..., Awaitable[Assistant]]]:
    """``await load_assistant(root, llm_url=..., **kw)``; closed at teardown.

    Without ``llm_url`` or ``llm_factory`` the models are an in-process scripted router that
    always replies with nothing (the message goes to what waits): offline, no API key.
    """
    opened: list[Assistant] = []

    async def load(root: Path, **kwargs: Any) -> Assistant:
        kwargs.setdefault("tracker_store", InMemoryTrackerStore())
        kwargs.setdefault("seed", 0)
        if "llm_url" not in kwargs:
            kwargs.setdefault("llm_factory", continue_router())
        assistant = await Assistant.load(root, **kwargs)
        opened.append(assistant)
        return assistant

    yield load
    for assistant in opened:
        await assistant.aclose()
