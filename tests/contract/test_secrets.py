"""Secrets from ${VAR} never appear in logs, the tracker, the store or LLM request bodies."""

from __future__ import annotations

import json
import logging
import subprocess
import textwrap
from pathlib import Path

import pytest
from contract_support import PYTHON, call, say, serve, toolbox_stdio, write_project

from subagents.agents.validate import validate_project
from subagents.dialogue.assistant import Assistant
from subagents.errors import MCPServerUnavailable
from subagents.testing import ScriptedModelServer

LLM_KEY = "sk-contract-llm-key-4711"
MCP_TOKEN = "mcp-contract-env-token-0815"
HEADER_SECRET = "header-contract-secret-2342"


def secret_project(root: Path, model_url: str) -> Path:
    endpoints = f"""
        model_groups:
          - id: default
            models:
              - provider: openai
                model: scripted
                api_base: {model_url}
                api_key: ${{CONTRACT_LLM_KEY}}
                retries: 0
                extra_headers:
                  X-Team: ${{CONTRACT_HEADER}}
        mcp_servers:
        """
    env = "env:\n  TOOLBOX_TOKEN: ${CONTRACT_MCP_TOKEN}\n"
    return write_project(
        root,
        {
            "endpoints.yml": textwrap.dedent(endpoints) + toolbox_stdio(extra=env),
            "domain.yml": "slots: {}\n",
            "flows.yml": """
                flows:
                  chat:
                    description: Answer anything.
                    steps:
                      - call: helper
                """,
            "sub_agents/helper/config.yml": """
                agent:
                  name: helper
                  description: Helps.
                connections:
                  mcp_servers:
                    - name: toolbox
                      include_tools: [env]
                """,
        },
    )


def assert_clean(text: str, where: str) -> None:
    for secret in (LLM_KEY, MCP_TOKEN, HEADER_SECRET):
        assert secret not in text, f"secret {secret!r} found in {where}"


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler can output from a formatted record (``exc_info`` is the live
    exception object; handlers print ``exc_text``)."""
    fields = {k: v for k, v in record.__dict__.items() if k != "exc_info"}
    return json.dumps(fields, default=str)


async def test_secrets_stay_out_of_logs_tracker_store_and_llm_bodies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CONTRACT_LLM_KEY", LLM_KEY)
    monkeypatch.setenv("CONTRACT_MCP_TOKEN", MCP_TOKEN)
    monkeypatch.setenv("CONTRACT_HEADER", HEADER_SECRET)
    caplog.set_level(logging.DEBUG)
    scenario = [
        call("start_flow", flow="chat"),
        # The MCP server echoes the token it was given through `env`.
        call("env", name="TOOLBOX_TOKEN"),
        call("task_completed", message="All done."),
    ]
    async with ScriptedModelServer(scenario) as model:
        root = secret_project(tmp_path / "p", model.url)
        assistant = await Assistant.load(root)  # default store: SQLite in the project
        try:
            async with serve(assistant) as client:
                assert [m["text"] for m in await say(client, "u1", "hello")] == ["All done."]
                tracker = (await client.get("/conversations/u1/tracker")).json()
        finally:
            await assistant.aclose()
        bodies = json.dumps(model.requests)

    assert model.remaining() == 0
    # The tool really ran and its (redacted) output reached the model.
    tool_results = [e for e in tracker["events"] if e["event"] == "tool_executed"]
    assert [e["result"] for e in tool_results][0] == "***"
    assert "***" in bodies
    assert_clean(bodies, "LLM request bodies")
    assert_clean(json.dumps(tracker), "the tracker")
    for file in (root / ".subagents").iterdir():
        assert_clean(file.read_bytes().decode("utf-8", "replace"), f"the store ({file.name})")
    # Every record, formatted as a handler would, extras included.
    logging.getLogger("subagents.contract").debug(
        "probe %s", LLM_KEY, extra={"header": HEADER_SECRET, "nested": {"t": [MCP_TOKEN]}}
    )
    assert_clean(caplog.text, "the formatted log")
    for record in caplog.records:
        assert_clean(record_text(record), f"log record {record.name}")


LEAKY_SERVER = (
    "import os, sys; "
    "print('auth failed for token ' + os.environ['LEAKY_TOKEN'], file=sys.stderr); "
    "sys.exit(3)"
)


def leaky_project(root: Path) -> Path:
    return write_project(
        root,
        {
            "endpoints.yml": f"""
                mcp_servers:
                  - name: leaky
                    type: stdio
                    command: {PYTHON}
                    args: ["-c", "{LEAKY_SERVER}"]
                    env:
                      LEAKY_TOKEN: ${{CONTRACT_MCP_TOKEN}}
                    max_retries: 1
                """,
            "sub_agents/helper/config.yml": """
                agent:
                  name: helper
                connections:
                  mcp_servers:
                    - name: leaky
                """,
        },
    )


async def test_unreachable_mcp_server_fails_the_start_naming_it_without_its_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CONTRACT_MCP_TOKEN", MCP_TOKEN)
    caplog.set_level(logging.DEBUG)
    root = leaky_project(tmp_path / "leaky")
    # Connections are opened when the assistant starts, not at the first message.
    with pytest.raises(MCPServerUnavailable) as failure:
        await Assistant.load(root)
    assert "'leaky'" in str(failure.value)
    assert "auth failed for token" in str(failure.value)  # the server's stderr tail
    logging.getLogger("subagents.contract").error("start failed", exc_info=failure.value)
    assert "auth failed for token ***" in caplog.text  # logged with the token redacted
    for record in caplog.records:
        assert_clean(record_text(record), f"log record {record.name}")


def test_subagents_run_fails_naming_the_server_without_its_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTRACT_MCP_TOKEN", MCP_TOKEN)
    root = leaky_project(tmp_path / "leaky")
    command = [PYTHON, "-m", "subagents.cli", "run", "--project", str(root), "--port", "0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "MCP server 'leaky'" in result.stderr
    assert_clean(result.stdout + result.stderr, "the output of `subagents run`")


def test_validate_connect_names_the_server_without_its_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTRACT_MCP_TOKEN", MCP_TOKEN)
    root = leaky_project(tmp_path / "leaky")
    found = validate_project(root, connect=True)
    problems = [str(p) for p in found if p.severity == "error"]  # (and "no flows" warned)
    assert len(problems) == 1
    assert "MCP server 'leaky'" in problems[0] and "auth failed for token ***" in problems[0]
