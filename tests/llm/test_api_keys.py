"""API keys (issue 16, item 2): an empty key is named at start, per model group, and a key
the provider rejects is said to be rejected, naming the group, without retries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from subagents.cli import app
from subagents.config.models import AgentLLMConfig, EndpointsConfig
from subagents.errors import LLMUnavailableError
from subagents.llm import create_llm_client, resolve_llm_config
from subagents.testing import ScriptedModelServer

ENDPOINTS = """\
model_groups:
  - id: main
    models:
      - provider: openai
        model: gpt-4o
        api_key: ${OPENAI_API_KEY:-}
"""
FLOWS = "flows:\n  greet:\n    description: greet\n    steps:\n      - action: utter_hi\n"
DOMAIN = "responses:\n  utter_hi:\n    - text: Hi\n"


def _project(root: Path) -> Path:
    (root / "endpoints.yml").write_text(ENDPOINTS)
    (root / "flows.yml").write_text(FLOWS)
    (root / "domain.yml").write_text(DOMAIN)
    return root


def _env_without_key() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    return env


def test_validate_names_the_model_group_without_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["validate", "--project", str(_project(tmp_path))])
    assert result.exit_code == 0, result.output
    assert (
        "endpoints.yml:4: warning: model_groups[0].models[0]: model group 'main': no API key"
        " for openai/gpt-4o (OPENAI_API_KEY is not set and api_key is empty); every request"
        " would be rejected: export OPENAI_API_KEY=..., or run offline with --scripted FILE"
    ) in result.output
    monkeypatch.setenv("OPENAI_API_KEY", "sk-set")
    result = CliRunner().invoke(app, ["validate", "--project", str(tmp_path)])
    assert "API key" not in result.output


def test_shell_names_the_model_group_without_a_key_at_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "subagents.cli", "shell", "--project", str(_project(tmp_path))],
        input="/greet\n",
        capture_output=True,
        text=True,
        env=_env_without_key(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "llm.api_key_missing" in done.stderr
    assert "model group 'main': no API key for openai/gpt-4o" in done.stderr
    assert "Bot: Hi" in done.stdout  # a /flow needs no model: the shell works
    assert f"Loaded 0 agents, 1 flow, 0 MCP servers, 0 actions from {tmp_path}" in done.stdout


def test_shell_offline_does_not_ask_for_a_key(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yml"
    scenario.write_text("scenario: []\n")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "subagents.cli", "shell"),
            *("--project", str(_project(tmp_path)), "--scripted", str(scenario)),
        ],
        input="/greet\n",
        capture_output=True,
        text=True,
        env=_env_without_key(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "API key" not in done.stderr


@pytest.mark.parametrize("status", [401, 403])
async def test_a_rejected_key_names_the_group_and_is_not_retried(status: int) -> None:
    body = '{"error": {"message": "Incorrect API key provided: sk-wrong"}}'
    async with ScriptedModelServer([{"error": {"status": status, "body": body}}]) as model:
        endpoints = EndpointsConfig.model_validate(
            {
                "model_groups": [
                    {
                        "id": "main",
                        "models": [{"api_base": model.url, "api_key": "sk-wrong", "retries": 3}],
                    }
                ]
            }
        )
        client = create_llm_client(
            resolve_llm_config(endpoints, AgentLLMConfig(model_group="main"))
        )
        try:
            with pytest.raises(LLMUnavailableError) as caught:
                await client.complete([{"role": "user", "content": "hi"}])
        finally:
            await client.aclose()
        assert len(model.requests) == 1  # not retried
    message = str(caught.value)
    assert message.startswith("the provider rejected the API key of model group 'main' (")
    assert f"HTTP {status}" in message
    assert "sk-wrong" not in message
