"""Benchmark: the per-step cost of tracing and metrics, off and on, against the floor.

Same work and method as benchmark 1 (:mod:`benchmarks.react_bench`: K tool steps then
``task_completed`` on the bench model and MCP servers, drivers taking turns in blocks, the
median kept). Drivers:

* the httpx floor (hand-written steps, no framework);
* ``MCPOpenAgent``, telemetry off (nothing configured: today's state);
* the same agent with tracing and metrics on: the OpenTelemetry SDK, a batch span
  processor whose exporter serialises every span to OTLP protobuf as the OTLP exporter
  does (without the network send), and the metrics kept in a Prometheus registry.

Both agent drivers share one agent and one MCP connection; the installed telemetry is
switched at each run. Also reported: the seam's own cost when off (the no-op calls one
step makes, timed in a loop), as a share of the floor's step.

    python -m benchmarks.telemetry_bench [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

from benchmarks._proc import start_http_mcp_server, start_model_server
from benchmarks.floors import HttpxFloor, mcp_session, openai_tools
from benchmarks.react_bench import Figure, measure

OFF_NAME = "ours: tracing off"
ON_NAME = "ours: tracing + metrics on"


def _tracing_on() -> Any:
    """The OpenTelemetry implementation with a serialising (not sending) span exporter."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    import subagents.telemetry as telemetry
    from subagents.telemetry.otel import OpenTelemetry

    class SerialisingExporter(SpanExporter):
        spans = 0

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            encode_spans(spans).SerializeToString()
            self.spans += len(spans)
            return SpanExportResult.SUCCESS

    settings = telemetry.Settings(prometheus=True)
    impl = OpenTelemetry(settings, span_exporter=SerialisingExporter(), batch=True)
    return impl


class Switched:
    """One of the two agent drivers: installs its telemetry, then runs the shared agent."""

    def __init__(self, name: str, agent: Any, implementation: Any) -> None:
        self.name = name
        self.agent = agent
        self.implementation = implementation

    async def run(self, k: int) -> int:
        import subagents.telemetry as telemetry

        # Swapped without shutting the other one down (install() would): bench-only.
        telemetry._active = self.implementation
        return int(await self.agent.run(k))

    async def aclose(self) -> None:
        """The shared agent is closed once, by the runner."""


def noop_cost_us(iterations: int = 100_000) -> float:
    """µs per step of the seam's calls when off: what one tool step calls (two spans,
    content checks, the metric calls, one inject)."""
    import subagents.telemetry as telemetry

    telemetry.shutdown()
    headers = {"content-type": "application/json"}
    attributes = {"tool": "t", "server": "s"}
    started = time.perf_counter()
    for _ in range(iterations):
        with telemetry.span("chat m", {"gen_ai.request.model": "m"}) as span:
            telemetry.inject(headers)
            if span.recording:
                pass
        telemetry.observe(telemetry.LLM_DURATION, 0.1, attributes)
        with telemetry.span("execute_tool t", {"gen_ai.tool.name": "t"}) as span:
            telemetry.current()
        telemetry.count(telemetry.TOOL_CALLS, 1, attributes)
        telemetry.observe(telemetry.TOOL_DURATION, 0.1, attributes)
    return (time.perf_counter() - started) / iterations * 1e6


async def run_bench(
    *,
    k: int = 5,
    transports: Sequence[str] = ("stdio", "http"),
    runs: int = 20,
    concurrency: int = 50,
    conc_runs: int = 50,
    blocks: int = 5,
) -> list[Figure]:
    """Figures of the floor and both agent drivers, per transport, sequential and C at once."""
    from benchmarks import ours

    model, model_url = start_model_server()
    http_server = None
    figures: list[Figure] = []
    on = _tracing_on()
    try:
        mcp_url = None
        if "http" in transports:
            http_server, mcp_url = start_http_mcp_server()
        for transport in transports:
            async with AsyncExitStack() as stack:
                session = await stack.enter_async_context(mcp_session(transport, mcp_url))
                tools = await openai_tools(session)
                agent = ours.OurAgentDriver(transport, model_url, mcp_url, [k])
                await agent.start()
                drivers: list[Any] = [
                    HttpxFloor(model_url, session, tools),
                    Switched(OFF_NAME, agent, _off()),
                    Switched(ON_NAME, agent, on),
                ]
                try:
                    for conc, n in ((1, runs), (concurrency, conc_runs)):
                        figures += await measure(
                            drivers, transport, k, runs=n, concurrency=conc, blocks=blocks
                        )
                finally:
                    for driver in drivers:
                        await driver.aclose()
                    await agent.aclose()
    finally:
        import subagents.telemetry as telemetry

        telemetry._active = _off()
        on.shutdown()
        if http_server is not None:
            http_server.stop()
        model.stop()
    return figures


def _off() -> Any:
    import subagents.telemetry as telemetry

    return telemetry.Telemetry()


def table(figures: Sequence[Figure], noop_us: float) -> str:
    """Markdown: per-step figures (medians over blocks), tracing off as a ratio to the floor
    of its setting, tracing on as a ratio to tracing off."""
    by = {(f.transport, f.mode, f.driver): f for f in figures}
    lines = [
        "| transport | mode | wall µs/step floor / off / on | CPU µs/step floor / off / on |"
        " off × floor (wall / CPU) | on × off (wall / CPU) |",
        "|---|---|---|---|---|---|",
    ]
    for transport, mode in dict.fromkeys((f.transport, f.mode) for f in figures):
        floor = by[(transport, mode, HttpxFloor.name)]
        off = by[(transport, mode, OFF_NAME)]
        on = by[(transport, mode, ON_NAME)]
        errors = [f"{f.driver}: {f.error}" for f in (floor, off, on) if f.error]
        if errors:
            lines.append(f"| {transport} | {mode} | error: {'; '.join(errors)} |")
            continue
        lines.append(
            f"| {transport} | {mode} | {floor.wall:.0f} / {off.wall:.0f} / {on.wall:.0f} | "
            f"{floor.cpu:.0f} / {off.cpu:.0f} / {on.cpu:.0f} | "
            f"{off.wall / floor.wall:.2f} / {off.cpu / floor.cpu:.2f} | "
            f"{on.wall / off.wall:.2f} / {on.cpu / off.cpu:.2f} |"
        )
    seq = [f for f in figures if f.driver == HttpxFloor.name and f.mode == "seq" and f.wall_us]
    share = noop_us / min(f.wall for f in seq) * 100 if seq else float("nan")
    lines.append("")
    lines.append(
        f"Seam calls of one step with telemetry off: {noop_us:.2f} µs "
        f"({share:.2f} % of the fastest sequential floor step)."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.telemetry_bench [--quick]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny N (smoke run)")
    args = parser.parse_args(argv)
    noop = noop_cost_us(10_000 if args.quick else 200_000)
    if args.quick:
        figures = asyncio.run(
            run_bench(transports=("stdio",), runs=2, concurrency=5, conc_runs=5, blocks=1)
        )
    else:
        figures = asyncio.run(run_bench())
    print(table(figures, noop))


if __name__ == "__main__":
    main()
