"""The benchmark assistant: a small project written to a temporary directory.

Flows (each started with ``/<flow_id>``, no router call):

* ``bench_agent``: a general-purpose agent over the bench MCP server (stdio); the model
  (``react-2`` on :mod:`benchmarks.model_server`) makes 2 tool calls then task_completed.
* ``bench_text``: an agent whose model answers with streamed text (timestamped pieces).
* ``bench_stream``: an in-process custom action streaming 5 timestamped chunks.
* ``hello``: one ``utter_hello`` response (the cheapest turn).

Paths are absolute and the tracker store lives in the temporary directory, so nothing is
written into the repository.
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks._proc import BENCH_DIR

ENDPOINTS = """\
model_groups:
  - id: bench
    models:
      - provider: openai
        model: react-{k}
        api_base: {model_url}
        api_key: bench
        timeout: 60
  - id: text
    models:
      - provider: openai
        model: text-{pieces}
        api_base: {model_url}
        api_key: bench
        timeout: 60
mcp_servers:
  - name: bench
    type: stdio
    command: {python}
    args: ["{server}"]
action_endpoint:
  actions_module: actions
tracker_store:
  type: sqlite
  path: {root}/conversations.db
"""

DOMAIN = """\
version: "3.1"
slots: {}
responses:
  utter_hello:
    - text: "Hello!"
"""

FLOWS = """\
flows:
  bench_agent:
    description: Run the bench agent over the bench MCP server.
    steps:
      - call: bench_agent
  bench_text:
    description: An agent that answers with streamed text.
    steps:
      - call: text_agent
  bench_stream:
    description: A custom action that streams chunks.
    steps:
      - action: action_bench_stream
  hello:
    description: Say hello.
    steps:
      - action: utter_hello
"""

AGENT = """\
agent:
  name: {name}
  description: "{description}"
configuration:
  llm:
    model_group: {group}
  max_iterations: 50
connections:
  mcp_servers:
    - name: bench
"""

ACTIONS = '''\
"""A streaming action whose chunks carry the time they were sent."""

from __future__ import annotations

import asyncio
import time

from subagents.actions import Action


class ActionBenchStream(Action):
    def name(self) -> str:
        return "action_bench_stream"

    async def run(self, dispatcher, tracker, domain):
        await dispatcher.stream_start()
        for i in range(5):
            if i:
                await asyncio.sleep(0.02)
            await dispatcher.stream_chunk(text=f"[ts={time.time():.6f}] ")
        await dispatcher.stream_end()
        return []
'''


def write_project(root: Path, model_url: str, *, k: int = 2, pieces: int = 5) -> Path:
    """Write the bench project into ``root`` (created); returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "endpoints.yml").write_text(
        ENDPOINTS.format(
            k=k,
            pieces=pieces,
            model_url=model_url,
            python=sys.executable,
            server=BENCH_DIR / "bench_mcp_server.py",
            root=root,
        )
    )
    (root / "domain.yml").write_text(DOMAIN)
    (root / "flows.yml").write_text(FLOWS)
    for name, group, description in (
        ("bench_agent", "bench", "Answers with the bench tools."),
        ("text_agent", "text", "Answers in text."),
    ):
        agent_dir = root / "sub_agents" / name
        agent_dir.mkdir(parents=True, exist_ok=True)
        (agent_dir / "config.yml").write_text(
            AGENT.format(name=name, group=group, description=description)
        )
    (root / "actions").mkdir(exist_ok=True)
    (root / "actions" / "__init__.py").write_text(ACTIONS)
    return root
