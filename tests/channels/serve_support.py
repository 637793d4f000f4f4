"""Helpers for the serving tests: a small clinic project in a temp dir, the assistant
served by a real uvicorn on 127.0.0.1, and a `subagents run` subprocess.

The project (``clinic``) has a task agent ``booker`` (two slots), an open agent
``concierge``, both over the real stdio MCP server ``booking_server.py``, an in-process
streaming action and an action that waits on a gate file (to prove streaming is not
buffered).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from subagents.server import create_app
from subagents.testing import ScriptedModelServer, serve_asgi

HERE = Path(__file__).parent
BOOKING_SERVER = HERE / "booking_server.py"

ENDPOINTS = f"""
model_groups:
  - id: default
    models:
      - provider: openai
        model: scripted
        api_key: ${{TEST_MODEL_KEY:-not-a-key}}
        retries: 0
        timeout: 20
mcp_servers:
  - name: booking
    type: stdio
    command: {sys.executable}
    args: ["{BOOKING_SERVER}"]
action_endpoint:
  actions_module: actions
"""

DOMAIN = """
slots:
  patient_name:
    type: text
  appointment_date:
    type: text
  bookings:
    type: float
    initial_value: 0
responses:
  utter_greet:
    - text: "Hello from the clinic!"
"""

FLOWS = """
flows:
  book_appointment:
    description: Book a doctor's appointment.
    steps:
      - call: booker
        exit_if:
          - slots.patient_name is not null
          - slots.appointment_date is not null
      - action: action_confirm_booking
  clinic_info:
    description: Answer questions about the clinic, such as its opening hours.
    steps:
      - call: concierge
  greet:
    description: The user says hello.
    steps:
      - action: utter_greet
  gated:
    description: A streaming action that waits for the test (streaming check).
    steps:
      - action: action_gated_stream
"""

BOOKER = """
agent:
  name: booker
  description: Books appointments. Collects the patient's name and a free date.
configuration:
  llm:
    model_group: default
  timeout: 30
connections:
  mcp_servers:
    - name: booking
      include_tools: [available_dates]
"""

CONCIERGE = """
agent:
  name: concierge
  description: Answers questions about the clinic.
configuration:
  llm:
    model_group: default
  timeout: 30
connections:
  mcp_servers:
    - name: booking
"""

ACTIONS = '''
from __future__ import annotations

import asyncio
import os
from pathlib import Path

from subagents.actions import Action, SlotSet


class ActionConfirmBooking(Action):
    def name(self):
        return "action_confirm_booking"

    async def run(self, dispatcher, tracker, domain):
        name = tracker.get_slot("patient_name")
        date = tracker.get_slot("appointment_date")
        await dispatcher.stream_start()
        for piece in ["Booked ", str(name), " on ", str(date), "."]:
            await dispatcher.stream_chunk(text=piece)
        await dispatcher.stream_end()
        return [SlotSet("bookings", float(tracker.get_slot("bookings") or 0) + 1)]


class ActionGatedStream(Action):
    """Streams one chunk, then waits (bounded) for the test to create the gate file."""

    def name(self):
        return "action_gated_stream"

    async def run(self, dispatcher, tracker, domain):
        gate = Path(os.environ["CLINIC_GATE_FILE"])
        await dispatcher.stream_start()
        await dispatcher.stream_chunk(text="first")
        deadline = asyncio.get_running_loop().time() + 15
        while not gate.exists() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        await dispatcher.stream_chunk(text=" then" if gate.exists() else " TIMED-OUT")
        await dispatcher.stream_end()
        dispatcher.utter_message(text="done")
        return []
'''


def write_clinic(root: Path) -> Path:
    """Write the clinic project into ``root``; return it."""
    files = {
        "endpoints.yml": ENDPOINTS,
        "domain.yml": DOMAIN,
        "flows.yml": FLOWS,
        "sub_agents/booker/config.yml": BOOKER,
        "sub_agents/concierge/config.yml": CONCIERGE,
        "actions/__init__.py": "",
        "actions/clinic.py": ACTIONS,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip(), encoding="utf-8")
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in this event loop; yield its URL."""
    async with serve_asgi(app) as url:
        yield url


class Served:
    """The clinic served over real HTTP: the model, the assistant, an httpx client."""

    def __init__(self, model: ScriptedModelServer, assistant: Any, client: httpx.AsyncClient):
        self.model = model
        self.assistant = assistant
        self.client = client

    async def say(self, sender: str, text: str) -> list[dict[str, Any]]:
        """POST one message; assert HTTP 200; return the bot messages."""
        response = await self.client.post(
            "/webhooks/rest/webhook", json={"sender": sender, "message": text}
        )
        assert response.status_code == 200, response.text
        return list(response.json())

    async def texts(self, sender: str, text: str) -> list[str]:
        return [m.get("text") for m in await self.say(sender, text)]

    async def tracker(self, sender: str) -> dict[str, Any]:
        response = await self.client.get(f"/conversations/{sender}/tracker")
        assert response.status_code == 200, response.text
        return dict(response.json())


@contextlib.asynccontextmanager
async def serve_project(root: Path, scenario: Any) -> AsyncIterator[Served]:
    """Load the project on a scripted model and serve it with uvicorn on 127.0.0.1."""
    from subagents.dialogue.assistant import Assistant

    async with ScriptedModelServer(scenario) as model:
        assistant = await Assistant.load(root, llm_url=model.url)
        try:
            async with (
                serve_app(create_app(assistant)) as url,
                httpx.AsyncClient(base_url=url, timeout=30) as client,
            ):
                yield Served(model, assistant, client)
        finally:
            await assistant.aclose()


def events_named(tracker: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [e for e in tracker["events"] if e.get("event") == name]


# --------------------------------------------------------------------------- subprocess


class RunProcess:
    """A `subagents run` subprocess, stopped by PID."""

    def __init__(self, project: Path, port: int, scenario: Path, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        cmd = [
            sys.executable,
            "-m",
            "subagents.cli",
            "run",
            "--project",
            str(project),
            "--port",
            str(port),
            "--scripted",
            str(scenario),
        ]
        self._log_file = log.open("ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log_file, stderr=subprocess.STDOUT)

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"subagents run exited: {self.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise AssertionError(f"subagents run not healthy after {timeout}s: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log_file.close()
