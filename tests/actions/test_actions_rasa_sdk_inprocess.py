"""``actions_module`` written against the real Rasa SDK runs in-process unchanged: a real
``rasa-sdk`` (its own venv, see rasa_sdk_env.py) beside subagents, one real assistant."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest
from rasa_sdk_env import HERE, rasa_action_server, rasa_python

import subagents
from subagents.actions.executors.http import HTTPExecutor

PROJECT = HERE / "rasa_sdk_project"
SRC = Path(subagents.__file__).resolve().parents[1]

# The first test on a new machine builds the Rasa SDK venv (pip, up to 10 minutes).
pytestmark = pytest.mark.timeout(900)


def rasa_site_packages() -> str:
    python = rasa_python()
    done = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


async def test_rasa_sdk_actions_run_in_process_with_the_sdks_own_classes() -> None:
    site = rasa_site_packages()
    proc = await asyncio.create_subprocess_exec(
        sys_executable(),
        str(HERE / "rasa_sdk_inprocess.py"),
        str(PROJECT),
        site,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-3000:]
    data = json.loads(out)
    assert data["rasa_sdk"].startswith(site)  # the real package, not a stand-in
    texts = data["texts"]
    assert texts["greet"] == [
        "Hello, Ada! (rasa_sdk.interfaces/rasa_sdk.executor)",
        "Thanks for stopping by.",  # utter_message(response=...) rendered from the domain
    ]
    # Streamed chunks went out live (so the streamed message comes first, as for our own
    # actions: whole messages are sent when the action returns), in one message.
    assert data["chunks"] == ["one ", "two ", "three"]
    assert texts["stream"] == ["one two three", "before", "after"]
    assert texts["stream_unary"] == texts["stream"]
    assert texts["echo"] == ["you said /echo"]  # a plain `def run`, run in a thread
    assert texts["reject"] == ["Sorry, something went wrong. Please try again."]
    assert "not today" in data["cancelled"][-1]
    assert data["slots"]["greeted"] is True and data["slots"]["streamed"] is True
    # Barge-in after the first chunk: the SDK's stream stops, its events still count.
    barge = data["barge_in"]
    assert barge["heard"] == ["one "] and barge["barged_in"] is True
    assert barge["messages"] == ["before", "after"]
    assert barge["events"] == [
        {"event": "slot", "timestamp": None, "name": "streamed", "value": True}
    ]


async def test_the_same_actions_are_served_by_the_rasa_sdk_itself(tmp_path: Path) -> None:
    """The actions package is a genuine Rasa SDK package: its own server runs it too."""
    from actions_helpers import DOMAIN, tracker_state

    domain = {**DOMAIN, "responses": {"utter_thanks": [{"text": "Thanks for stopping by."}]}}
    with rasa_action_server(PROJECT, "rasa_actions", grpc=False, log_dir=tmp_path) as server:
        executor = HTTPExecutor(server.http_url, retries=0, timeout=10)
        try:
            result = await executor.run("action_rasa_greet", tracker_state(name="Ada"), domain)
        finally:
            await executor.aclose()
    assert result.responses[0]["text"] == "Hello, Ada! (rasa_sdk.interfaces/rasa_sdk.executor)"
    assert result.events[0]["name"] == "greeted" and result.events[0]["value"] is True


def sys_executable() -> str:
    import sys

    return sys.executable
