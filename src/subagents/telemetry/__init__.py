"""The instrumentation seam: what the runtime calls to trace and measure its work.

Every function here does nothing until :func:`configure` installs the OpenTelemetry
implementation (:mod:`subagents.telemetry.otel`), which happens only when endpoints.yml
(or an ``OTEL_*`` variable) asks for tracing or metrics. Off, nothing of OpenTelemetry is
imported and a call costs one function call returning a shared no-op object, so the
runtime calls these unconditionally, one line (or one ``with``) at each point::

    with telemetry.span("agent.run", {"gen_ai.agent.name": name}) as span:
        ...
        span.set("subagents.agent.status", status)
    telemetry.count(telemetry.AGENT_RUNS, 1, {"agent": name, "status": status})

This package sits in the bottom layer (docs/ARCHITECTURE.md): it imports nothing of
ours, so every layer may call it. Attribute values are OpenTelemetry's: str, bool, int,
float or a sequence of one of them. Message and tool payloads go through :func:`content`,
which returns ``None`` unless ``tracing.capture_content`` is on (then the text, with
secrets redacted as in logs).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from subagents.telemetry.base import (
    ACTION_CALLS,
    ACTION_DURATION,
    AGENT_ITERATIONS,
    AGENT_RUNS,
    AGENTS_WAITING,
    LLM_DURATION,
    LLM_TOKENS,
    MCP_RECONNECTS,
    METRICS,
    STORE_DURATION,
    TOOL_CALLS,
    TOOL_DURATION,
    TOOL_ERRORS,
    TURN_DURATION,
    TURNS,
    Attributes,
    Exporter,
    Metric,
    Settings,
    Span,
    Telemetry,
)

_OFF = Telemetry()
_active: Telemetry = _OFF


def span(name: str, attributes: Attributes | None = None, kind: str = "") -> Span:
    """A span (a context manager), child of the current one; ``kind``: ``client``,
    ``server`` or internal (empty)."""
    return _active.span(name, attributes, kind)


def current() -> Span:
    """The span in progress (a no-op when tracing is off or no span is open)."""
    return _active.current()


def event(name: str, attributes: Attributes | None = None) -> None:
    """Add an event to the span in progress (retries, for example)."""
    _active.current().event(name, attributes)


def inject(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` plus ``traceparent`` (a new mapping) when tracing; else ``headers`` itself."""
    return _active.inject(headers)


def incoming(headers: Mapping[str, str]) -> AbstractContextManager[None]:
    """Make an incoming request's ``traceparent`` the parent of the spans opened inside."""
    return _active.incoming(headers)


def count(metric: Metric, value: float = 1, attributes: Attributes | None = None) -> None:
    """Add ``value`` to a counter (or an up-down counter)."""
    _active.record(metric, value, attributes)


def observe(metric: Metric, value: float, attributes: Attributes | None = None) -> None:
    """Record ``value`` in a histogram."""
    _active.record(metric, value, attributes)


def content(value: Any) -> str | None:
    """``value`` as text for a span when ``tracing.capture_content`` is on (secrets
    redacted as in logs); ``None`` (record nothing) otherwise."""
    return _active.content(value)


def tracing() -> bool:
    """True when spans are recorded (to skip work only spans need)."""
    return _active.tracing


def prometheus() -> bool:
    """True when ``metrics: {type: prometheus}`` is configured (``GET /metrics``)."""
    return _active.prometheus


def prometheus_text() -> tuple[bytes, str]:
    """The Prometheus exposition of the metrics, and its content type."""
    return _active.prometheus_text()


def configure(settings: Settings, *, redact: Any = None) -> Telemetry:
    """Install the OpenTelemetry implementation for ``settings`` (replacing, and shutting
    down, any earlier one); turn telemetry off when nothing is enabled.

    ``redact`` maps text to text with secrets removed (applied to captured content).
    Raises ``ImportError`` when the ``otel`` extra is missing.
    """
    global _active
    previous, _active = _active, _OFF
    previous.shutdown()
    if settings.enabled:
        from subagents.telemetry.otel import OpenTelemetry

        _active = OpenTelemetry(settings, redact=redact)
    return _active


def install(implementation: Telemetry) -> None:
    """Install an implementation as it is (tests: one with an in-memory exporter)."""
    global _active
    previous, _active = _active, implementation
    if previous is not implementation:
        previous.shutdown()


def release(implementation: Telemetry) -> None:
    """Stop using ``implementation`` if it is the installed one (off afterwards); the
    caller shuts it down (a flush may block: off the event loop, say)."""
    global _active
    if _active is implementation:
        _active = _OFF


def shutdown() -> None:
    """Flush and stop exporting; telemetry is off afterwards."""
    global _active
    previous, _active = _active, _OFF
    previous.shutdown()


def active() -> Telemetry:
    """The installed implementation (the off state when nothing is configured)."""
    return _active


__all__ = [
    "ACTION_CALLS",
    "ACTION_DURATION",
    "AGENTS_WAITING",
    "AGENT_ITERATIONS",
    "AGENT_RUNS",
    "LLM_DURATION",
    "LLM_TOKENS",
    "MCP_RECONNECTS",
    "METRICS",
    "STORE_DURATION",
    "TOOL_CALLS",
    "TOOL_DURATION",
    "TOOL_ERRORS",
    "TURNS",
    "TURN_DURATION",
    "Attributes",
    "Exporter",
    "Metric",
    "Settings",
    "Span",
    "Telemetry",
    "configure",
    "count",
    "current",
    "event",
    "incoming",
    "inject",
    "observe",
    "span",
]
