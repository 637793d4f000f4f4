"""Custom actions benchmark: webhook throughput and time to first streamed chunk.

    .venv/bin/python benchmarks/actions_bench.py [--requests 2000] [--concurrency 16]

Measures, in one run and on the same test action (``tests/actions/project``):

* webhook requests/second of our HTTP action server vs the Rasa SDK 3.21.1 server
  (each in its own process on 127.0.0.1, driven by our HTTP executor), and the server's
  CPU time per request (its whole process group, from /proc; Linux only), and
* time to first chunk of a streaming action: in-process executor, our gRPC server, and
  the Rasa SDK gRPC server.

The Rasa SDK runs from its test virtualenv (``~/.cache/subagents-tests/``; created on
first use, which needs the package index). Prints a markdown table. Both servers are
driven by the same in-process client (the HTTP executor, on httpx2), which on a 2-core
machine costs more CPU per request than either server and so bounds requests/s: the
server CPU per request is the figure that compares the servers themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "actions"))

from actions_helpers import DOMAIN, MODULE, PROJECT, tracker_state  # noqa: E402
from rasa_sdk_env import RasaServer as _Proc  # noqa: E402
from rasa_sdk_env import _stop, _wait_ready, free_port, rasa_action_server  # noqa: E402

from subagents.actions.executors import ActionExecutor  # noqa: E402
from subagents.actions.executors.direct import DirectExecutor  # noqa: E402
from subagents.actions.executors.grpc import GRPCExecutor  # noqa: E402
from subagents.actions.executors.http import HTTPExecutor  # noqa: E402


@contextmanager
def our_server(grpc: bool, log_dir: Path) -> Iterator[_Proc]:
    """Run ``subagents.actions.server.serve`` in its own process."""
    port = free_port()
    code = (
        "from subagents.actions.server import serve; "
        f"serve({str(PROJECT)!r}, {MODULE!r}, port={port}, grpc={grpc})"
    )
    log = log_dir / f"ours-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(PROJECT)},
        )
    server = _Proc(port, proc, log)
    try:
        _wait_ready(server, grpc)
        yield server
    finally:
        _stop(proc)


def group_cpu_seconds(pgid: int) -> float | None:
    """User+system CPU seconds of every process in group ``pgid`` (None without /proc)."""
    total, ticks = 0, os.sysconf("SC_CLK_TCK")
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[2]) == pgid:  # the servers run in their own session/group
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def server_bench(proc: _Proc, requests: int, concurrency: int) -> tuple[float, str]:
    """Requests/second and the server's CPU µs per request (text, "n/a" without /proc)."""
    before = group_cpu_seconds(proc.process.pid)
    rps = run_async(lambda: throughput(proc.http_url, requests, concurrency))
    after = group_cpu_seconds(proc.process.pid)
    if before is None or after is None:
        return rps, "n/a"
    return rps, f"{(after - before) / requests * 1e6:,.0f} µs"


async def throughput(url: str, requests: int, concurrency: int) -> float:
    """Requests/second of ``action_greet`` through the HTTP executor."""
    executor = HTTPExecutor(url, retries=0)
    state = tracker_state(name="bench")
    await executor.run("action_greet", state, DOMAIN)  # warm up, domain handshake
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await executor.run("action_greet", state, DOMAIN)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    await executor.aclose()
    return requests / elapsed


async def first_chunk_ms(executor: ActionExecutor, runs: int) -> float:
    """Median milliseconds from ``run()`` to the first streamed chunk."""
    samples: list[float] = []
    state = tracker_state(tokens=["a", "b", "c"])
    for _ in range(runs + 3):
        start = time.perf_counter()
        first: list[float] = []

        async def on_chunk(event: dict[str, Any], first: list[float] = first) -> None:
            if event["event"] == "stream_chunk" and not first:
                first.append(time.perf_counter())

        await executor.run("action_stream", state, DOMAIN, on_chunk=on_chunk)
        samples.append((first[0] - start) * 1000)
    await executor.aclose()
    return statistics.median(samples[3:])  # first runs warm connections up


def run_async(fn: Callable[[], Any]) -> Any:
    return asyncio.run(fn())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--chunk-runs", type=int, default=50)
    args = parser.parse_args()
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / "subagents-actions-bench"
    logs.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str]] = []

    with our_server(grpc=False, log_dir=logs) as ours:
        rps, cpu = server_bench(ours, args.requests, args.concurrency)
    with rasa_action_server(PROJECT, MODULE, grpc=False, log_dir=logs) as rasa:
        rasa_rps, rasa_cpu = server_bench(rasa, args.requests, args.concurrency)
    rows.append(("webhook req/s, subagents HTTP server", f"{rps:,.0f}"))
    rows.append(("webhook req/s, Rasa SDK 3.21.1 HTTP server", f"{rasa_rps:,.0f}"))
    rows.append(("throughput ratio subagents / Rasa SDK", f"{rps / rasa_rps:.2f}x"))
    rows.append(("server CPU per webhook request, subagents", cpu))
    rows.append(("server CPU per webhook request, Rasa SDK 3.21.1", rasa_cpu))

    direct = DirectExecutor.from_module(MODULE, PROJECT)
    ms = run_async(lambda: first_chunk_ms(direct, args.chunk_runs))
    rows.append(("time to first chunk, in-process (median)", f"{ms:.3f} ms"))
    with our_server(grpc=True, log_dir=logs) as ours:
        target = f"127.0.0.1:{ours.port}"
        ms = run_async(lambda: first_chunk_ms(GRPCExecutor(target), args.chunk_runs))
        rows.append(("time to first chunk, subagents gRPC server (median)", f"{ms:.3f} ms"))
    with rasa_action_server(PROJECT, MODULE, grpc=True, log_dir=logs) as rasa:
        target = f"127.0.0.1:{rasa.port}"
        ms = run_async(lambda: first_chunk_ms(GRPCExecutor(target), args.chunk_runs))
        rows.append(("time to first chunk, Rasa SDK gRPC server (median)", f"{ms:.3f} ms"))

    print(
        f"\nrequests={args.requests} concurrency={args.concurrency} chunk_runs={args.chunk_runs}\n"
    )
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
