"""Benchmark 1: cost per ReAct step, framework vs the floor, stdio and streamable HTTP.

For each transport and each K, every driver does N sequential runs of K tool steps then
``task_completed`` (K+1 LLM calls), and rounds of C runs at once. Drivers take turns in
blocks (floor, ours, floor, ours...) so drift on a shared machine hits all of them; the
figure kept is the median over blocks. A "step" is one LLM call plus the tool call it asked
for; wall time and this process's CPU time are both reported per step.

    python -m benchmarks.react_bench [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from benchmarks._proc import cell, median, start_http_mcp_server, start_model_server
from benchmarks.floors import HttpxFloor, OpenAIFloor, mcp_session, openai_tools


class Driver(Protocol):
    name: str

    async def run(self, k: int) -> int: ...

    async def aclose(self) -> None: ...


@dataclass
class Figure:
    """Per-step figures of one driver in one setting (medians over blocks)."""

    transport: str
    k: int
    mode: str  # "seq" or "conc<C>"
    driver: str
    wall_us: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    steps_per_s: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def wall(self) -> float:
        return median(self.wall_us)

    @property
    def cpu(self) -> float:
        return median(self.cpu_us)

    @property
    def rate(self) -> float:
        return median(self.steps_per_s)


async def _block(driver: Driver, k: int, runs: int, concurrency: int) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and LLM calls for ``runs`` runs, ``concurrency`` at once."""
    gc.collect()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    steps = 0
    if concurrency <= 1:
        for _ in range(runs):
            steps += await driver.run(k)
    else:
        for _ in range(max(1, runs // concurrency)):
            results = await asyncio.gather(*(driver.run(k) for _ in range(concurrency)))
            steps += sum(results)
    return time.perf_counter() - wall0, time.process_time() - cpu0, steps


async def measure(
    drivers: Sequence[Driver],
    transport: str,
    k: int,
    *,
    runs: int,
    concurrency: int,
    blocks: int,
) -> list[Figure]:
    """Alternate the drivers for ``blocks`` blocks; one :class:`Figure` per driver."""
    mode = "seq" if concurrency <= 1 else f"conc{concurrency}"
    figures = [Figure(transport, k, mode, d.name) for d in drivers]
    for driver, figure in zip(drivers, figures, strict=True):
        try:  # warm up: connections, caches, lazy imports
            await _block(driver, k, min(runs, max(concurrency, 2)), concurrency)
        except Exception as exc:  # a broken driver is reported, not fatal to the run
            figure.error = f"{type(exc).__name__}: {exc}"
    for _ in range(blocks):
        for driver, figure in zip(drivers, figures, strict=True):
            if figure.error:
                continue
            try:
                wall, cpu, steps = await _block(driver, k, runs, concurrency)
            except Exception as exc:
                figure.error = f"{type(exc).__name__}: {exc}"
                continue
            figure.wall_us.append(wall / steps * 1e6)
            figure.cpu_us.append(cpu / steps * 1e6)
            figure.steps_per_s.append(steps / wall)
    return figures


async def _drivers_for(
    transport: str, model_url: str, mcp_url: str | None, k_values: Sequence[int], stack: Any
) -> list[Driver]:
    session = await stack.enter_async_context(mcp_session(transport, mcp_url))
    tools = await openai_tools(session)
    drivers: list[Driver] = [
        HttpxFloor(model_url, session, tools),
        OpenAIFloor(model_url, session, tools),
    ]
    try:
        import httpx2

        drivers.append(HttpxFloor(model_url, session, tools, module=httpx2))
    except ImportError:  # pragma: no cover - httpx2 comes with mcp 2.x
        pass
    try:
        from benchmarks import ours
    except ImportError as exc:  # pragma: no cover - benchmarks/ours.py is ours
        print(f"# our drivers unavailable: {exc}")
        return drivers
    candidates: list[Any] = [
        ours.OurLLMClientDriver(session, model_url, tools),
        ours.OurAgentOnSessionDriver(session, model_url, k_values),
        ours.OurAgentDriver(transport, model_url, mcp_url, k_values),
    ]
    for driver in candidates:
        try:
            if hasattr(driver, "start"):
                await driver.start()
            drivers.append(driver)
        except Exception as exc:  # a part of the framework not there yet, or broken
            print(f"# {driver.name}: failed to start: {type(exc).__name__}: {exc}")
    return drivers


async def run_react(
    *,
    k_values: Sequence[int] = (5, 20),
    transports: Sequence[str] = ("stdio", "http"),
    runs: int = 20,
    concurrency: int = 50,
    conc_runs: int = 50,
    blocks: int = 3,
) -> list[Figure]:
    """Every figure of benchmark 1."""
    from contextlib import AsyncExitStack

    model, model_url = start_model_server()
    http_server = None
    figures: list[Figure] = []
    try:
        mcp_url = None
        if "http" in transports:
            http_server, mcp_url = start_http_mcp_server()
        for transport in transports:
            async with AsyncExitStack() as stack:
                drivers = await _drivers_for(transport, model_url, mcp_url, k_values, stack)
                try:
                    for k in k_values:
                        figures += await measure(
                            drivers, transport, k, runs=runs, concurrency=1, blocks=blocks
                        )
                        figures += await measure(
                            drivers,
                            transport,
                            k,
                            runs=conc_runs,
                            concurrency=concurrency,
                            blocks=blocks,
                        )
                finally:
                    for driver in drivers:
                        await driver.aclose()
    finally:
        if http_server is not None:
            http_server.stop()
        model.stop()
    return figures


def table(figures: Sequence[Figure]) -> str:
    """Markdown table: per-step wall/CPU, steps/s, ratio to the httpx floor."""
    floor = {(f.transport, f.k, f.mode): f for f in figures if f.driver == HttpxFloor.name}
    lines = [
        "| transport | K | mode | driver | wall µs/step | CPU µs/step | steps/s | wall × floor |"
        " CPU × floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        base = floor.get((f.transport, f.k, f.mode))
        if f.error:
            head = f"| {f.transport} | {f.k} | {f.mode} | {f.driver}"
            lines.append(f"{head} | error: {cell(f.error)} |")
            continue
        wall_ratio = f.wall / base.wall if base and base.wall_us else float("nan")
        cpu_ratio = f.cpu / base.cpu if base and base.cpu_us else float("nan")
        lines.append(
            f"| {f.transport} | {f.k} | {f.mode} | {f.driver} | {f.wall:.0f} | {f.cpu:.0f} | "
            f"{f.rate:.0f} | {wall_ratio:.2f} | {cpu_ratio:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.react_bench [--quick]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny N (smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        figs = asyncio.run(run_react(k_values=(5,), runs=2, concurrency=5, conc_runs=5, blocks=1))
    else:
        figs = asyncio.run(run_react())
    print(table(figs))


if __name__ == "__main__":
    main()
