"""The `subagents` command: init, validate, and serving a freshly initialised project."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import uvicorn
from typer.testing import CliRunner

from subagents.cli import app
from subagents.server import create_project_app

REPO = Path(__file__).resolve().parents[1]


def invoke(*args: str) -> tuple[int, str]:
    """Run the command in-process (fast); return the exit code and all output."""
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_import_is_light() -> None:
    code = (
        "import sys, subagents.cli; "
        "heavy = [m for m in ('uvicorn', 'litellm', 'grpc', 'openai') if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    code, output = invoke("init", str(tmp_path))
    assert code == 1
    assert "not empty" in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_validate_exit_codes(tmp_path: Path) -> None:
    code, output = invoke("validate", "--project", str(REPO))
    assert code == 0, output
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "flows.yml").write_text(
        "flows:\n  f:\n    description: x\n    steps:\n      - collect: nope\n"
    )
    code, output = invoke("validate", "--project", str(broken))
    assert code == 1
    problem = next(line for line in output.splitlines() if "nope" in line)
    assert problem.startswith("flows.yml:5: ")  # relative to the project, with the line


def test_validate_reports_success_on_stdout() -> None:
    result = CliRunner().invoke(app, ["validate", "--project", str(REPO)])
    assert result.exit_code == 0, result.output
    # scripts read stdout; not an error. It says what it found.
    assert f"ok: {REPO} is valid: 3 agents, 6 flows, 2 MCP servers, 2 actions (" in result.stdout
    assert result.stderr == ""


async def test_init_output_validates_and_serves(tmp_path: Path) -> None:
    project = tmp_path / "new"
    code, output = invoke("init", str(project))
    assert code == 0, output
    for name in [
        "endpoints.yml",
        "domain.yml",
        "flows.yml",
        "actions/actions.py",
        "mcp_servers/clock_server.py",
        "sub_agents/time_helper/config.yml",
        "scenarios/demo.yml",
    ]:
        assert (project / name).is_file(), name
    code, output = invoke("validate", "--project", str(project))
    assert code == 0, output

    # Serve it the way `subagents run --scripted` does (the lifespan loads the project).
    app = create_project_app(project, scenario=project / "scenarios/demo.yml")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="on"))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:  # noqa: ASYNC110 - uvicorn exposes no event
                assert not task.done(), "the server stopped while starting"
                await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            assert (await client.get("/health")).json() == {"status": "ok"}
            reply = await client.post(
                "/webhooks/rest/webhook", json={"sender": "me", "message": "hello"}
            )
            assert reply.status_code == 200
            assert reply.json() == [
                {"recipient_id": "me", "text": "Hi! Ask me what time it is anywhere in the world."}
            ]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
    # The lifespan closed the assistant: its SQLite store holds the conversation.
    assert (project / ".subagents/conversations.db").is_file()


def test_shell_plays_the_scaffold_demo_offline(tmp_path: Path) -> None:
    project = tmp_path / "demo"
    assert invoke("init", str(project))[0] == 0
    code, output = invoke(
        "shell", "--project", str(project), "--scripted", str(project / "scenarios/demo.yml")
    )
    assert code == 0, output
    assert "Bot: Hi! Ask me what time it is" in output
    assert "… time_helper is working" in output
    assert "… running action_count_question" in output
    assert "Bot: I asked the clock server for the time in Tokyo (Asia/Tokyo)." in output
    # The demo shows the time the real clock MCP server returned.
    reading = re.search(r"Bot: The clock server says: (\w+day \d\d \w+ \d{4}, \d\d:\d\d)", output)
    assert reading, output
    assert "(Asia/Tokyo). That was question #1. Anything else?" in output


def test_pytest_passes_in_a_freshly_initialised_project(tmp_path: Path) -> None:
    project = tmp_path / "fresh"
    code, output = invoke("init", str(project))
    assert code == 0, output
    # The next steps say to run pytest, and what to install for it first.
    steps = output.split("Next steps:")[1]
    assert steps.index("pip install pytest pytest-asyncio") < steps.index("  pytest ")
    for name in ["pytest.ini", "tests/conftest.py", "tests/test_demo.py"]:
        assert (project / name).is_file(), name
    # The user's own run: pytest in the project directory, nothing of ours configured.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The two Python tests, plus (with subagents installed, as a user has it) the
    # conversation test cases of tests/conversations.yml through the pytest11 entry point.
    from importlib.metadata import entry_points

    installed = any(e.name == "subagents_conversations" for e in entry_points(group="pytest11"))
    cases = (project / "tests" / "conversations.yml").read_text().count("- test_case:")
    assert f"{2 + cases if installed else 2} passed" in result.stdout, result.stdout
    assert "warning" not in result.stdout.lower()  # e.g. no asyncio loop-scope warning


def test_readme_first_command_plays_the_example_offline(tmp_path: Path) -> None:
    """`subagents shell --scripted scenarios/demo.yml` on the repository's example."""
    project = tmp_path / "example"
    project.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", ".subagents")
    for name in ["endpoints.yml", "domain.yml", "flows.yml"]:
        shutil.copy(REPO / name, project / name)
    for name in ["sub_agents", "mcp_servers", "actions", "scenarios", "prompts"]:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, project / name, ignore=ignore)
    code, output = invoke(
        "shell", "--project", str(project), "--scripted", str(project / "scenarios/demo.yml")
    )
    assert code == 0, output
    lines = [line.strip() for line in output.splitlines()]
    # The task agent asked; the user changed the topic (weather) and the booking came
    # back with its question; a correction changed the service; then the agent checked
    # availability over MCP, booked, and the
    # streaming action confirmed; the open agents answered; the plain action counted.
    expected = [
        "Bot: Sure! Which day would you like to come in?",
        "Bot: It's 17°C and sunny in Paris right now.",
        "Bot: Let's get back to your booking.",
        "Bot: Sure! Which day would you like to come in?",
        "Bot: Got it, I've changed that to beard trim.",
        "Bot: All set, Alex! Your beard trim is booked for 2030-05-14 at 13:00. See you then!",
        "Bot: At 17°C and sunny: a light sweater or a shirt, plus sunglasses.",
        "Bot: You have made 1 booking(s) with us, Alex.",
    ]
    start = 0
    for line in expected:  # in this order (the question appears twice)
        start = lines.index(line, start) + 1
    assert "note:" not in output  # every scripted reply was used
    # Progress shows the work (agents, MCP tools, actions), not the agents' bookkeeping.
    assert "… running check_availability" in lines
    assert "… running get_weather" in lines
    assert "… running action_salon_summary" in lines
    assert not [line for line in lines if line.startswith("… running set_slot_")]
    assert "… running task_completed" not in lines
