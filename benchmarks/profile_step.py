"""Profile one driver of benchmark 1 with pyinstrument and attribute time per step.

    python -m benchmarks.profile_step --driver ours --transport stdio --k 5 --runs 40
    python -m benchmarks.profile_step --driver floor ... # the same for the httpx floor
    python -m benchmarks.profile_step --driver ours --concurrency 50 --tree

Prints self time per step grouped by where it is spent (``subagents.<module>``, ``mcp``,
``httpx``, ``anyio``, ``asyncio``, ``pydantic``, ...) and the heaviest functions, so the
difference between ours and the floor names its cause (file:function). ``--tree`` also
prints pyinstrument's call tree. Needs the ``bench`` extra (``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from contextlib import AsyncExitStack
from typing import Any

from benchmarks._proc import start_http_mcp_server, start_model_server
from benchmarks.floors import HttpxFloor, OpenAIFloor, mcp_session, openai_tools

_GROUPS = (
    ("/subagents/", None),
    ("/mcp_types/", "mcp"),
    ("/mcp/", "mcp"),
    ("/httpx2/", "httpx2"),
    ("/httpcore2/", "httpcore2"),
    ("/httpx/", "httpx"),
    ("/httpcore/", "httpcore"),
    ("/h11/", "h11"),
    ("/anyio/", "anyio"),
    ("/pydantic_core/", "pydantic"),
    ("/pydantic/", "pydantic"),
    ("/jsonschema", "jsonschema"),
    ("/jinja2/", "jinja2"),
    ("/openai/", "openai"),
    ("/asyncio/", "asyncio"),
    ("selectors.py", "asyncio"),
    ("/json/", "json"),
    ("/benchmarks/", "benchmark driver"),
)


def group_of(path: str) -> str:
    """The bucket a source file belongs to (``subagents.<package>`` for ours)."""
    for marker, name in _GROUPS:
        if marker in path:
            if name is None:
                rest = path.split("/subagents/", 1)[1]
                return "subagents." + rest.split("/")[0].removesuffix(".py")
            return name
    return "other" if path else "[native/await]"


def _walk(frame: Any, groups: Counter[str], funcs: Counter[str], parent: str = "") -> None:
    # Synthetic frames ([self], [await], [sleep]) hold time of their parent's code.
    if frame.is_synthetic:
        return  # [self]/[await] time is already in the parent's total_self_time
    path, function = frame.file_path or "", frame.function
    own = frame.total_self_time
    if own:
        groups[group_of(path) if path else "[idle: await/sleep]"] += own
        short = path.split("site-packages/")[-1].split("/work/main/")[-1].split("lib/python3")[-1]
        funcs[f"{short}:{function}"] += own
    for child in frame.children:
        _walk(child, groups, funcs, f"{path}:{frame.function}")


def summarize(root: Any, count: int, top: int = 25, unit: str = "step") -> str:
    """Markdown: self time per ``unit`` grouped by package, then the heaviest functions."""
    groups: Counter[str] = Counter()
    funcs: Counter[str] = Counter()
    if root is not None:
        _walk(root, groups, funcs)
    total = sum(groups.values()) or 1.0
    lines = [f"sampled {total * 1e6 / count:.0f} µs/{unit}", ""]
    lines += [f"| where | µs/{unit} | share |", "|---|---|---|"]
    for name, secs in groups.most_common():
        lines.append(f"| {name} | {secs * 1e6 / count:.0f} | {secs / total:.0%} |")
    lines += ["", f"| function (self time) | µs/{unit} |", "|---|---|"]
    for name, secs in funcs.most_common(top):
        lines.append(f"| {name} | {secs * 1e6 / count:.1f} |")
    return "\n".join(lines)


async def _profile(args: argparse.Namespace) -> None:
    from pyinstrument import Profiler

    model, model_url = start_model_server()
    http_server, mcp_url = (None, None)
    if args.transport == "http":
        http_server, mcp_url = start_http_mcp_server()
    try:
        async with AsyncExitStack() as stack:
            session = await stack.enter_async_context(mcp_session(args.transport, mcp_url))
            tools = await openai_tools(session)
            driver: Any
            if args.driver == "floor":
                driver = HttpxFloor(model_url, session, tools)
            elif args.driver == "floor-httpx2":
                import httpx2

                driver = HttpxFloor(model_url, session, tools, module=httpx2)
            elif args.driver == "openai":
                driver = OpenAIFloor(model_url, session, tools)
            else:
                from benchmarks import ours

                if args.driver == "ours":
                    driver = ours.OurAgentDriver(args.transport, model_url, mcp_url, [args.k])
                else:
                    driver = ours.OurAgentOnSessionDriver(session, model_url, [args.k])
                await driver.start()
            try:
                await _sample(driver, args, Profiler)
            finally:
                await driver.aclose()
    finally:
        if http_server is not None:
            http_server.stop()
        model.stop()


async def _batch(driver: Any, k: int, runs: int, concurrency: int) -> int:
    steps = 0
    if concurrency <= 1:
        for _ in range(runs):
            steps += await driver.run(k)
        return steps
    for _ in range(max(1, runs // concurrency)):
        steps += sum(await asyncio.gather(*(driver.run(k) for _ in range(concurrency))))
    return steps


async def _sample(driver: Any, args: argparse.Namespace, profiler_cls: Any) -> None:
    await _batch(driver, args.k, max(2, args.concurrency), args.concurrency)  # warm up
    profiler = profiler_cls(interval=0.001, async_mode="disabled")
    wall = time.perf_counter()
    profiler.start()
    steps = await _batch(driver, args.k, args.runs, args.concurrency)
    session = profiler.stop()
    wall = time.perf_counter() - wall
    root = session.root_frame()
    print(f"# {args.driver} {args.transport} K={args.k} conc={args.concurrency}: {steps} steps")
    print(f"# wall {wall * 1e6 / steps:.0f} µs/step under the profiler")
    print(summarize(root, steps, args.top, unit="step"))
    if args.tree:
        print(profiler.output_text(unicode=True, color=False))


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.profile_step [options]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--driver",
        choices=["floor", "floor-httpx2", "openai", "ours", "ours-session"],
        default="ours",
    )
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--tree", action="store_true")
    asyncio.run(_profile(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
