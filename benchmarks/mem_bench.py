"""Benchmark 5 (MCP): memory per connected MCP server.

In a fresh process, connect N stdio bench MCP servers and compare this process's RSS
before and after (the client side: sessions, tasks, tool caches), plus the RSS of the
server child processes. Ours (``subagents.mcp.MCPManager``) against the floor (N bare
``ClientSession`` objects).

    python -m benchmarks.mem_bench [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

from benchmarks._proc import BENCH_DIR, PYTHON, ROOT, cell, rss_kib


def _children_rss(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with suppress(OSError, RuntimeError):
                total += rss_kib(int(child))
    return total


async def _connect_floor(stack: AsyncExitStack, count: int) -> None:
    from benchmarks.floors import mcp_session

    for _ in range(count):
        session = await stack.enter_async_context(mcp_session("stdio"))
        await session.list_tools()


async def _connect_ours(stack: AsyncExitStack, count: int) -> None:
    from subagents.config.models import MCPServerConfig
    from subagents.mcp import MCPManager

    configs = [
        MCPServerConfig(
            name=f"bench{i}",
            type="stdio",
            command=sys.executable,
            args=[str(BENCH_DIR / "bench_mcp_server.py")],
        )
        for i in range(count)
    ]
    manager = MCPManager(configs)
    await stack.enter_async_context(manager)
    await manager.start()
    for i in range(count):
        await manager.toolset(f"bench{i}").list_tools()


async def _child_main(mode: str, count: int) -> dict[str, int]:
    # Import what both modes need before the baseline, so only connections are counted.
    import mcp.client.stdio  # noqa: F401

    if mode == "ours":
        import subagents.mcp  # noqa: F401
    gc.collect()
    before = rss_kib(os.getpid())
    async with AsyncExitStack() as stack:
        await (_connect_ours if mode == "ours" else _connect_floor)(stack, count)
        gc.collect()
        after = rss_kib(os.getpid())
        children = _children_rss(os.getpid())
    return {"before": before, "after": after, "children": children}


@dataclass
class MemFigure:
    """KiB per connected server: client side and server child."""

    mode: str
    count: int
    client_kib: float = float("nan")
    child_kib: float = float("nan")
    error: str | None = None


def measure(mode: str, count: int) -> MemFigure:
    """Run the measurement in a fresh interpreter."""
    figure = MemFigure(mode, count)
    done = subprocess.run(
        [PYTHON, "-m", "benchmarks.mem_bench", "--child", mode, "--servers", str(count)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    if done.returncode != 0:
        figure.error = done.stderr.strip() or f"exit {done.returncode}"
        return figure
    data = json.loads(done.stdout.strip().splitlines()[-1])
    figure.client_kib = (data["after"] - data["before"]) / count
    figure.child_kib = data["children"] / count
    return figure


def table(figures: list[MemFigure]) -> str:
    """Markdown table of memory per MCP server."""
    lines = [
        "| client | servers | client RSS per server | server process RSS |",
        "|---|---|---|---|",
    ]
    for f in figures:
        name = "floor: ClientSession" if f.mode == "floor" else "ours: MCPManager"
        if f.error:
            lines.append(f"| {name} | {f.count} | error: {cell(f.error)} | |")
        else:
            lines.append(
                f"| {name} | {f.count} | {f.client_kib:.0f} KiB | {f.child_kib / 1024:.1f} MiB |"
            )
    return "\n".join(lines)


def run_mem(count: int = 8) -> list[MemFigure]:
    """Floor and ours with ``count`` servers each."""
    return [measure("floor", count), measure("ours", count)]


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.mem_bench [--quick]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", choices=["floor", "ours"])
    parser.add_argument("--servers", type=int, default=8)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(_child_main(args.child, args.servers))))
        return
    print(table(run_mem(2 if args.quick else args.servers)))


if __name__ == "__main__":
    main()
