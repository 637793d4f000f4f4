"""A project for the multi-replica proofs, `subagents run` replicas, and a bursty client.

The project (``counter``) has two flows:

* ``/count`` (no LLM): the action ``action_count`` reads the slot ``n``, adds one and
  answers ``n=<new n> i=<the message's metadata i>``. If two turns of one conversation
  ever ran at once, or a committed turn were lost, two answers would carry the same ``n``
  or an ``n`` would be missing.
* ``/book``: the task agent ``booker`` (scripted model) asks for a name and waits; the
  next message, wherever it arrives, resumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

DOMAIN = """
slots:
  n:
    type: float
    initial_value: 0
  patient_name:
    type: text
responses:
  utter_booked:
    - text: "Booked for {patient_name}."
"""

FLOWS = """
flows:
  count:
    description: Count this conversation's turns.
    steps:
      - action: action_count
  book:
    description: Book an appointment.
    steps:
      - call: booker
        exit_if:
          - slots.patient_name is not null
      - action: utter_booked
"""

BOOKER = """
agent:
  name: booker
  description: Books appointments. Asks for the patient's name.
configuration:
  llm:
    model_group: default
  timeout: 20
"""

ACTIONS = """
from subagents.actions import Action, SlotSet


class ActionCount(Action):
    def name(self):
        return "action_count"

    async def run(self, dispatcher, tracker, domain):
        n = int(tracker.get_slot("n") or 0) + 1
        i = (tracker.latest_message.get("metadata") or {}).get("i")
        dispatcher.utter_message(text=f"n={n} i={i}")
        return [SlotSet("n", float(n))]
"""


def write_project(root: Path, endpoints: str) -> Path:
    """The counter project in ``root`` with ``endpoints`` as its endpoints.yml."""
    files = {
        "endpoints.yml": endpoints,
        "domain.yml": DOMAIN,
        "flows.yml": FLOWS,
        "sub_agents/booker/config.yml": BOOKER,
        "counter_actions/__init__.py": ACTIONS,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip(), encoding="utf-8")
    return root


def endpoints_yml(
    model_url: str,
    *,
    tracker: str,
    lock: str = "",
    broker: str = "",
) -> str:
    """endpoints.yml text: the scripted model, in-process actions, and the given stores."""
    return f"""
model_groups:
  - id: default
    models:
      - provider: openai
        model: scripted
        api_base: {model_url}
        api_key: not-a-key
        retries: 0
        timeout: 20
action_endpoint:
  actions_module: counter_actions
{tracker}
{lock}
{broker}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Replica:
    """A `subagents run` process on its own port, stopped by PID."""

    def __init__(self, project: Path, log: Path, *, args: Iterable[str] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        cmd = [sys.executable, "-m", "subagents.cli", "run", "--project", str(project)]
        cmd += ["--port", str(self.port), "--log-level", "warning", *args]
        self._log_file = log.open("ab")
        self.proc = subprocess.Popen(
            cmd, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_healthy(self, timeout: float = 60) -> Replica:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"replica exited: {self.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.05)
        raise AssertionError(f"replica not healthy after {timeout}s: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        """Signal the process (and, for --workers, its workers); wait; kill if it hangs."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)
        finally:
            self._log_file.close()


@dataclass
class Answer:
    """One turn the client sent, and what came back."""

    sender: str
    i: int
    replica: int
    texts: list[str] | None = None  # None: no HTTP answer (replica gone)
    error: str | None = None

    @property
    def n(self) -> int | None:
        """The ``n`` a successful count turn answered, else None."""
        if self.texts and len(self.texts) == 1 and self.texts[0].startswith("n="):
            return int(self.texts[0].split()[0][2:])
        return None


@dataclass
class Client:
    """Sends turns to replicas over HTTP, bounded by a timeout; records every answer."""

    urls: list[str]
    answers: list[Answer] = field(default_factory=list)
    timeout: float = 30.0

    async def send(
        self, http: httpx.AsyncClient, sender: str, i: int, replica: int, text: str = "/count"
    ) -> Answer:
        answer = Answer(sender, i, replica)
        self.answers.append(answer)
        try:
            response = await http.post(
                self.urls[replica] + "/webhooks/rest/webhook",
                json={"sender": sender, "message": text, "metadata": {"i": i}},
                timeout=self.timeout,
            )
            response.raise_for_status()
            answer.texts = [m.get("text") for m in response.json()]
        except httpx.HTTPError as exc:
            answer.error = f"{type(exc).__name__}: {exc}"
        return answer

    def committed(self, sender: str) -> list[Answer]:
        """Turns of ``sender`` the assistant answered as counted (so committed)."""
        return [a for a in self.answers if a.sender == sender and a.n is not None]


async def tracker(http: httpx.AsyncClient, url: str, sender: str) -> dict[str, Any]:
    response = await http.get(f"{url}/conversations/{sender}/tracker", timeout=30)
    response.raise_for_status()
    return dict(response.json())


def turns_of(events: list[dict[str, Any]]) -> list[tuple[int, list[str]]]:
    """Split a conversation's events into turns: (metadata i of the user event, kinds)."""
    turns: list[tuple[int, list[str]]] = []
    for event in events:
        if event["event"] == "user":
            turns.append((int(event["metadata"]["i"]), []))
        elif turns:
            turns[-1][1].append(event["event"])
    return turns


def check_conversation(events: list[dict[str, Any]], committed: list[Answer]) -> None:
    """The proof for one conversation of count turns.

    Every answered turn is in the log exactly once, each turn's events are contiguous
    (user, action, bot, slot... before the next user event), the ``n`` values the turns
    answered run 1, 2, 3... in the log's order, and every turn in the log answered its n.
    """
    turns = turns_of(events)
    logged = [i for i, _ in turns]
    assert len(logged) == len(set(logged)), f"a turn was stored twice: {logged}"
    bots = [e["text"] for e in events if e["event"] == "bot"]
    assert bots == [f"n={k} i={i}" for k, i in enumerate(logged, start=1)], bots
    for _, kinds in turns:
        assert kinds.count("bot") == 1 and "user" not in kinds, kinds
    answered = {a.i: a.n for a in committed}
    in_log = {i: k for k, i in enumerate(logged, start=1)}
    for i, n in answered.items():
        assert in_log.get(i) == n, f"turn i={i} answered n={n} but the log has {in_log.get(i)}"


async def wait_until(predicate: Any, within: float, what: str) -> None:
    """Poll an async predicate until true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {within}s waiting for {what}")
