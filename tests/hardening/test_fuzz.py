"""Fuzz the REST API with schemathesis against a running ``subagents run --scripted``.

Bounded: the fuzzing phase only (positive and negative cases), a fixed number of examples
per operation, a fixed seed, a time cap. Asserts no 5xx and that every response matches
the published OpenAPI document (/openapi.json) in body and content type.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import write_project

EXAMPLES = 25
TIME_CAP = 150


@pytest.fixture
def running(tmp_path: Path, free_port: int) -> Iterator[str]:
    # retries: 0 so that a fuzzed message the scenario has no reply for is answered at once
    model = {"provider": "openai", "model": "scripted", "retries": 0, "timeout": 10}
    root = write_project(
        tmp_path / "p",
        {
            "model_groups": [{"id": "default", "models": [model]}],
            "tracker_store": {"type": "memory"},
        },
    )
    scenario = tmp_path / "fuzz.yml"
    scenario.write_text(json.dumps({"scenario": [{"text": "Hello from the scripted model."}]}))
    cmd = [sys.executable, "-m", "subagents.cli", "run", "--project", str(root)]
    cmd += ["--port", str(free_port), "--scripted", str(scenario), "--log-level", "warning"]
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{free_port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_schemathesis_finds_no_5xx_and_no_schema_violation(running: str, tmp_path: Path) -> None:
    exe = shutil.which("schemathesis") or shutil.which("st")
    assert exe, "schemathesis is in the test extra: pip install -e '.[test]'"
    cmd = [
        exe,
        "run",
        f"{running}/openapi.json",
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        "18",
        "--phases",
        "fuzzing",
        "--request-timeout",
        "20",
        "--suppress-health-check",
        "all",
        "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=TIME_CAP, cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Tested: 6" in result.stdout, result.stdout[-2000:]  # every operation was fuzzed
