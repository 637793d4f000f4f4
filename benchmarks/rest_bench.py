"""Benchmarks 2, 4 and 5 (conversations): through ``subagents run`` and the REST channel.

The server runs in its own process on the bench project (:mod:`benchmarks.project`) with
the zero-latency model server in a third process; this process is only the HTTP client.

* memory per idle conversation: RSS of the server before and after M conversations that
  ended (``/hello``) and M conversations left waiting in an agent (``/bench_text``, the
  agent asked the user something);
* streaming: time from a custom action's ``stream_chunk`` (and from the model's text
  delta) to the chunk arriving at a ``?stream=true`` client — the chunk text carries the
  wall-clock time it was produced; same machine, same clock;
* throughput: C conversations at once, T turns each (``/bench_agent``: an agent making two
  MCP tool calls), turns per second, p50/p95 latency per turn, peak RSS of the server.

    python -m benchmarks.rest_bench [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

try:  # the load generator uses httpx2 when present: httpx's pool is O(connections) per
    # request, which at 100 connections costs the client more CPU than the server it loads.
    import httpx2 as http_client
except ImportError:  # pragma: no cover - httpx2 comes with mcp 2.x
    http_client = httpx  # type: ignore[no-redef,misc]

from benchmarks._proc import (
    PYTHON,
    Child,
    cell,
    cpu_seconds,
    free_port,
    percentile,
    rss_kib,
    start_model_server,
    wait_http,
)
from benchmarks.project import write_project

_TS = re.compile(r"\[ts=(\d+\.\d+)\]")


@dataclass
class RestFigures:
    """Everything measured through the REST channel."""

    turns: int = 0
    elapsed_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    peak_rss_kib: int = 0
    server_cpu_s: float = 0.0
    idle_done_kib: float = float("nan")
    idle_waiting_kib: float = float("nan")
    action_chunk_ms: list[float] = field(default_factory=list)
    model_chunk_ms: list[float] = field(default_factory=list)
    chunks_before_end: str = ""
    errors: list[str] = field(default_factory=list)


class Server:
    """``subagents run`` on the bench project, in a child process."""

    def __init__(self, project: Path, profile: Path | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.profile = profile
        prefix = [PYTHON]
        if profile is not None:  # sampled by pyinstrument, saved at exit (SIGINT)
            prefix += ["-m", "pyinstrument", "-r", "pyisession", "-o", str(profile)]
        self.child = Child(
            [
                *prefix,
                "-m",
                "subagents.cli",
                "run",
                "--project",
                str(project),
                "--port",
                str(self.port),
            ],
            cwd=project,
        )
        wait_http(f"{self.base}/health", timeout=60, child=self.child)

    def rss(self, field_name: str = "VmRSS") -> int:
        return rss_kib(self.child.pid, field_name)

    def stop(self) -> None:
        if self.profile is not None and self.child.proc.poll() is None:
            # SIGINT: uvicorn shuts down cleanly, then pyinstrument writes the session.
            os.kill(self.child.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.child.proc.wait(30)
        self.child.stop()


async def _turn(client: Any, sender: str, message: str) -> list[dict[str, Any]]:
    response = await client.post(
        "/webhooks/rest/webhook", json={"sender": sender, "message": message}
    )
    response.raise_for_status()
    body: list[dict[str, Any]] = response.json()
    return body


async def _many(client: Any, prefix: str, count: int, message: str) -> None:
    """``count`` one-turn conversations, 50 at a time."""
    for start in range(0, count, 50):
        await asyncio.gather(
            *(_turn(client, f"{prefix}-{i}", message) for i in range(start, min(count, start + 50)))
        )


async def measure_idle(server: Server, client: Any, count: int, fig: RestFigures) -> None:
    """KiB of server RSS per conversation that ended / that waits in an agent."""
    await _many(client, "warm-hello", 20, "/hello")
    await _many(client, "warm-text", 20, "/bench_text")
    before = server.rss()
    await _many(client, "idle-hello", count, "/hello")
    middle = server.rss()
    await _many(client, "idle-text", count, "/bench_text")
    after = server.rss()
    fig.idle_done_kib = (middle - before) / count
    fig.idle_waiting_kib = (after - middle) / count


async def _stream_once(client: Any, sender: str, message: str) -> tuple[list[float], int, int]:
    """Chunk latencies (ms) of one streamed turn, chunk lines and the total line count."""
    latencies: list[float] = []
    lines = 0
    last_chunk_line = -1
    async with client.stream(
        "POST",
        "/webhooks/rest/webhook?stream=true",
        json={"sender": sender, "message": message},
    ) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            arrived = time.time()
            if not line.strip():
                continue
            lines += 1
            data = json.loads(line)
            if data.get("chunk"):
                last_chunk_line = lines
                for stamp in _TS.findall(data.get("text") or ""):
                    latencies.append((arrived - float(stamp)) * 1000)
    return latencies, last_chunk_line, lines


async def measure_streaming(client: Any, runs: int, fig: RestFigures) -> None:
    """Chunk→wire latency for an action's chunks and for the model's text deltas."""
    for i in range(runs):
        lat, _, _ = await _stream_once(client, f"stream-action-{i}", "/bench_stream")
        fig.action_chunk_ms += lat
        lat, _, _ = await _stream_once(client, f"stream-model-{i}", "/bench_text")
        fig.model_chunk_ms += lat
    if not fig.action_chunk_ms:
        fig.errors.append("streaming: no timestamped action chunk arrived with chunk: true")
    if not fig.model_chunk_ms:
        fig.errors.append("streaming: no timestamped model text delta arrived with chunk: true")


async def measure_throughput(
    server: Server, client: Any, conversations: int, turns: int, fig: RestFigures
) -> None:
    """``conversations`` at once, ``turns`` agent turns each."""

    async def conversation(sender: str) -> None:
        for _ in range(turns):
            start = time.perf_counter()
            reply = await _turn(client, sender, "/bench_agent")
            fig.latencies_s.append(time.perf_counter() - start)
            if not any("Done after" in (m.get("text") or "") for m in reply):
                raise RuntimeError(f"unexpected reply: {json.dumps(reply)[:200]}")

    await conversation("warm-agent")
    fig.latencies_s.clear()
    cpu = cpu_seconds(server.child.pid)
    start = time.perf_counter()
    await asyncio.gather(*(conversation(f"conv-{i}") for i in range(conversations)))
    fig.elapsed_s = time.perf_counter() - start
    fig.server_cpu_s = cpu_seconds(server.child.pid) - cpu
    fig.turns = conversations * turns


async def _run_all(server: Server, args: dict[str, int], fig: RestFigures) -> None:
    limits = http_client.Limits(max_connections=200, max_keepalive_connections=200)
    async with http_client.AsyncClient(base_url=server.base, timeout=120, limits=limits) as client:
        for name, step in (
            ("idle memory", measure_idle(server, client, args["idle"], fig)),
            ("streaming", measure_streaming(client, args["stream_runs"], fig)),
            (
                "throughput",
                measure_throughput(server, client, args["conversations"], args["turns"], fig),
            ),
        ):
            try:
                await step
            except Exception as exc:  # report and go on with the other measures
                fig.errors.append(f"{name}: {type(exc).__name__}: {exc}")
    fig.peak_rss_kib = server.rss("VmHWM")


def run_rest(
    conversations: int = 100,
    turns: int = 5,
    idle: int = 500,
    stream_runs: int = 10,
    profile: Path | None = None,
) -> RestFigures:
    """Every REST figure, with the server and the model server in child processes."""
    fig = RestFigures()
    model, model_url = start_model_server()
    try:
        with tempfile.TemporaryDirectory(prefix="subagents-bench-") as tmp:
            project = write_project(Path(tmp) / "project", model_url)
            server = Server(project, profile)
            try:
                params = {
                    "conversations": conversations,
                    "turns": turns,
                    "idle": idle,
                    "stream_runs": stream_runs,
                }
                asyncio.run(_run_all(server, params, fig))
            finally:
                server.stop()
    except Exception as exc:
        fig.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        model.stop()
    return fig


def _ms(values: list[float], pct: float) -> str:
    return f"{percentile(values, pct):.1f} ms" if values else "-"


def table(fig: RestFigures, conversations: int) -> str:
    """Markdown table of the REST figures."""
    lines = ["| measure | value | target | result |", "|---|---|---|---|"]
    if fig.turns:
        lat = [x * 1000 for x in fig.latencies_s]
        rate = fig.turns / fig.elapsed_s
        lines += [
            f"| turns/s, {conversations} conversations at once (agent, 2 tool steps) "
            f"| {rate:.0f} | | |",
            f"| latency per turn p50 / p95 | {_ms(lat, 50)} / {_ms(lat, 95)} | | |",
            f"| server CPU per turn | {fig.server_cpu_s / fig.turns * 1000:.1f} ms | | |",
            f"| peak RSS of the server | {fig.peak_rss_kib / 1024:.0f} MiB | | |",
        ]
    if fig.idle_done_kib == fig.idle_done_kib:  # not NaN
        lines.append(f"| memory per ended conversation | {fig.idle_done_kib:.1f} KiB | | |")
        lines.append(
            f"| memory per conversation waiting in an agent | {fig.idle_waiting_kib:.1f} KiB | | |"
        )
    for label, values in (
        ("action stream_chunk → client", fig.action_chunk_ms),
        ("model text delta → client", fig.model_chunk_ms),
    ):
        if values:
            p50, p95 = percentile(values, 50), percentile(values, 95)
            verdict = "pass" if p95 < 5 else "miss"
            target = "< 5 ms" if label.startswith("action") else ""
            lines.append(
                f"| {label} p50 / p95 / max | {p50:.2f} / {p95:.2f} / {max(values):.2f} ms "
                f"| {target} | {verdict if target else ''} |"
            )
    for error in fig.errors:
        lines.append(f"| error | {cell(error)} | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.rest_bench [--quick]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--profile-server",
        type=Path,
        metavar="FILE",
        help="run the server under pyinstrument, save the session to FILE and summarise it",
    )
    args = parser.parse_args(argv)
    sizes = {"conversations": 10, "turns": 2, "idle": 50, "stream_runs": 2} if args.quick else {}
    fig = run_rest(**sizes, profile=args.profile_server)
    print(table(fig, sizes.get("conversations", 100)))
    profile = args.profile_server
    if profile is not None and profile.exists() and profile.stat().st_size:
        from pyinstrument.session import Session

        from benchmarks.profile_step import summarize

        session = Session.load(str(args.profile_server))
        turns = max(1, fig.turns)
        print(f"\n## server profile (whole run, per throughput turn: {turns} turns)\n")
        print(summarize(session.root_frame(), turns, unit="turn"))


if __name__ == "__main__":
    main()
