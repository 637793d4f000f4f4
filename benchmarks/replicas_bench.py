"""Turns/s and p95 with production stores: SQLite, PostgreSQL, --workers 2, 3 replicas.

    python -m benchmarks.replicas_bench [--seconds 8] [--concurrency 32]

Every configuration serves the same small project over real HTTP (`subagents run`
processes): the flow ``/count`` runs one in-process action that reads and writes a slot,
so a turn is the framework's own work plus the stores (no LLM: the model's latency would
hide ours). A client in this process keeps ``--concurrency`` conversations busy, each
sending its next turn when the previous one is answered, round-robin over the servers.
The machine's PostgreSQL (127.0.0.1:5432, db ``test``) and Redis (6379) are used, in a
schema and key prefix of their own, removed afterwards. Also measured: the lock overhead
per turn (Redis ticket lock vs in-process lock, acquire + release, sequential).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from benchmarks._proc import PYTHON, Child, free_port, percentile, wait_http

PG = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"

PROJECT = {
    "domain.yml": "slots:\n  n:\n    type: float\n    initial_value: 0\n",
    "flows.yml": (
        "flows:\n  count:\n    description: Count.\n    steps:\n      - action: action_count\n"
    ),
    "bench_actions/__init__.py": (
        "from subagents.actions import Action, SlotSet\n\n\n"
        "class ActionCount(Action):\n"
        "    def name(self):\n        return 'action_count'\n\n"
        "    async def run(self, dispatcher, tracker, domain):\n"
        "        n = int(tracker.get_slot('n') or 0) + 1\n"
        "        dispatcher.utter_message(text=f'n={n}')\n"
        "        return [SlotSet('n', float(n))]\n"
    ),
}
ENDPOINTS = """
model_groups:
  - id: default
    models: [{provider: openai, model: none, api_base: "http://127.0.0.1:9/v1", api_key: x}]
action_endpoint: {actions_module: bench_actions}
"""


def write_project(root: Path, stores: str) -> Path:
    for name, text in {**PROJECT, "endpoints.yml": ENDPOINTS + stores}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def serve(root: Path, *args: str) -> tuple[Child, str]:
    port = free_port()
    cmd = [PYTHON, "-m", "subagents.cli", "run", "--project", str(root), "--port", str(port)]
    child = Child([*cmd, "--log-level", "warning", *args])
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/health", timeout=60, child=child)
    return child, url


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its live descendants (``--workers`` children)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(cpu_seconds(int(k)) for k in kids)


async def drive(urls: list[str], seconds: float, concurrency: int) -> dict[str, float]:
    """Closed-loop load: ``concurrency`` conversations, each one turn at a time."""
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def conversation(k: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        sender = f"bench-{uuid.uuid4().hex[:8]}"
        turn = 0
        while time.perf_counter() < stop_at:
            url = urls[(k + turn) % len(urls)]
            started = time.perf_counter()
            response = await http.post(
                url + "/webhooks/rest/webhook", json={"sender": sender, "message": "/count"}
            )
            latencies.append(time.perf_counter() - started)
            turn += 1
            if response.status_code != 200 or response.json()[0]["text"] != f"n={turn}":
                errors += 1

    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        stop_at = time.perf_counter() + 1.0  # warm-up: connections, first loads
        await asyncio.gather(*(conversation(k, http) for k in range(concurrency // 4)))
        warm = len(latencies)
        stop_at = time.perf_counter() + seconds
        started = time.perf_counter()
        await asyncio.gather(*(conversation(k, http) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
    all_turns = len(latencies)
    del latencies[:warm]
    return {
        "turns": all_turns,  # CPU is measured over the warm-up too
        "turns_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "errors": errors,
    }


async def lock_overhead(n: int = 2000) -> dict[str, float]:
    """µs per acquire + release, uncontended, one after the other."""
    from subagents.config.models import LockStoreConfig
    from subagents.stores import InMemoryLockStore
    from subagents.stores.redis_lock import RedisLockStore

    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    redis_lock = RedisLockStore(LockStoreConfig(type="redis", url=REDIS, key_prefix=prefix))
    result = {}
    for name, store in (("in_memory", InMemoryLockStore()), ("redis", redis_lock)):
        async with store.hold("warm"):
            pass
        started = time.perf_counter()
        for i in range(n):
            async with store.hold(f"c{i % 50}"):
                pass
        result[name] = (time.perf_counter() - started) / n * 1e6
        await store.aclose()
    return result


async def run_all(seconds: float, concurrency: int) -> list[tuple[str, dict[str, float]]]:
    import asyncpg

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    conn = await asyncpg.connect(PG)
    await conn.execute(f"CREATE SCHEMA {schema}")
    pg = f'tracker_store: {{type: sql, url: "{PG}?search_path={schema}"}}\n'
    lock = f'lock_store: {{type: redis, url: "{REDIS}", key_prefix: "{prefix}"}}\n'
    configs: list[tuple[str, str, list[str], int]] = [
        ("1 process, SQLite", "", [], 1),
        ("1 process, PostgreSQL", pg, [], 1),
        ("1 process, PostgreSQL + Redis lock", pg + lock, [], 1),
        ("--workers 2, PostgreSQL + Redis lock", pg + lock, ["--workers", "2"], 1),
        ("3 replicas, PostgreSQL + Redis lock", pg + lock, [], 3),
    ]
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i, (name, stores, args, replicas) in enumerate(configs):
                root = write_project(Path(tmp) / f"p{i}", stores)
                servers = [serve(root, *args) for _ in range(replicas)]
                try:
                    if args:  # --workers: wait until every worker has loaded and listens
                        await asyncio.sleep(5)
                    cpu = sum(cpu_seconds(c.pid) for c, _ in servers)
                    figures = await drive([u for _, u in servers], seconds, concurrency)
                    cpu = sum(cpu_seconds(c.pid) for c, _ in servers) - cpu
                    turns = figures.pop("turns")
                    figures["cpu_ms_per_turn"] = cpu / turns * 1000
                finally:
                    for child, _ in servers:
                        child.stop()
                results.append((name, figures))
                print(f"{name}: {figures}", file=sys.stderr)
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    opts = parser.parse_args()
    load = os.getloadavg()
    results = asyncio.run(run_all(opts.seconds, opts.concurrency))
    locks = asyncio.run(lock_overhead())
    base = results[0][1]["turns_s"]
    print(
        f"load average before: {load[0]:.1f}; nproc {os.cpu_count()}; "
        f"concurrency {opts.concurrency}; {opts.seconds:g} s per configuration\n"
    )
    print(
        "| configuration | turns/s | vs 1 process SQLite | p50 ms | p95 ms | server CPU ms/turn"
        " | errors |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, f in results:
        print(
            f"| {name} | {f['turns_s']:.0f} | {f['turns_s'] / base:.2f}× | "
            f"{f['p50_ms']:.1f} | {f['p95_ms']:.1f} | {f['cpu_ms_per_turn']:.2f} | "
            f"{f['errors']:.0f} |"
        )
    print(
        f"\nlock acquire + release, uncontended: in_memory {locks['in_memory']:.1f} µs, "
        f"redis {locks['redis']:.0f} µs"
    )
    subprocess.run(["uptime"], check=False)


if __name__ == "__main__":
    main()
