"""Helpers for the configuration tests: write a project tree from YAML snippets."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from subagents.agents.validate import validate_project
from subagents.errors import ConfigProblem

ENDPOINTS = """
model_groups:
  - id: openai-gpt-4o
    models:
      - provider: openai
        model: gpt-4o
        api_key: ${OPENAI_API_KEY}
mcp_servers:
  - name: trade_server
    type: http
    url: http://127.0.0.1:8080/mcp
    token: ${TRADE_TOKEN}
  - name: files
    type: stdio
    command: python
    args: [server.py]
    env:
      FILES_KEY: ${FILES_KEY:-files-default-secret}
action_endpoint:
  actions_module: actions
"""

AGENT = """
agent:
  name: stock_explorer
  description: "Agent that helps users research and analyze stock options"
configuration:
  llm:
    model-group: openai-gpt-4o
  prompt_template: sub_agents/stock_explorer/prompt_template.jinja2
  timeout: 30
  max_retries: 3
connections:
  mcp_servers:
    - name: trade_server
      include_tools:
        - find_symbol
        - fetch_live_price
"""

DOMAIN = """
version: "3.1"
slots:
  user_name:
    type: text
  age:
    type: float
  category:
    type: categorical
    values: [A, B, C]
  confirmed:
    type: bool
responses:
  utter_ask_user_name:
    - text: What is your name?
  utter_done:
    - text: Done, {user_name}!
actions:
  - action_check_stock
"""

FLOWS = """
flows:
  research:
    description: Research stocks
    steps:
      - call: stock_explorer
      - action: utter_done
  onboarding:
    description: Collect the user's details
    steps:
      - collect: user_name
      - id: get_details
        call: stock_explorer
        exit_if:
          - slots.age is not null
          - slots.category = 'A' or slots.category = 'B'
        next:
          - if: slots.age >= 18
            then:
              - action: action_check_stock
                next: END
          - else: adult_only
      - id: adult_only
        action: utter_done
"""

ENV = {"OPENAI_API_KEY": "sk-test-openai", "TRADE_TOKEN": "tok-trade-123"}


def write(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path → text, dedented) under ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def good_project(root: Path, overrides: dict[str, str | None] | None = None) -> Path:
    """A valid project; ``overrides`` replace files by relative path (None removes one)."""
    files: dict[str, str | None] = {
        "endpoints.yml": ENDPOINTS,
        "domain.yml": DOMAIN,
        "flows.yml": FLOWS,
        "sub_agents/stock_explorer/config.yml": AGENT,
        "sub_agents/stock_explorer/prompt_template.jinja2": "Task: {{ description }}\n",
    }
    files.update(overrides or {})
    write(root, {k: v for k, v in files.items() if v is not None})
    return root


def problems(root: Path, env: dict[str, str] | None = None) -> list[ConfigProblem]:
    return validate_project(root, env=ENV if env is None else env)


def only(found: list[ConfigProblem], severity: str = "error") -> ConfigProblem:
    """The one problem of ``severity``; fails listing them all otherwise."""
    matching = [p for p in found if p.severity == severity]
    assert len(matching) == 1, "\n".join(str(p) for p in found)
    return matching[0]


def assert_problem(
    found: list[ConfigProblem],
    file: str,
    line: int,
    field: str,
    *words: str,
    severity: str = "error",
) -> ConfigProblem:
    """Exactly one problem of ``severity``, at file:line, naming ``field`` and ``words``."""
    problem = only(found, severity)
    text = str(problem)
    assert text.startswith(f"{file}:{line}: "), text
    assert problem.field == field, text
    assert field in text, text
    for word in words:
        assert word in text, text
    return problem


def isolated_imports(prefix: str) -> Callable[..., Any]:
    """An autouse fixture for a test module that imports user packages named ``prefix*``.

    Restores ``sys.path`` (project roots are put first on it) and forgets those packages,
    so every test imports its own freshly written files.
    """

    @pytest.fixture(autouse=True)
    def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        monkeypatch.setattr(sys, "path", list(sys.path))
        before = set(sys.modules)
        yield
        for name in set(sys.modules) - before:
            if name.startswith(prefix):
                del sys.modules[name]

    return _isolated
