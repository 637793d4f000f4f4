"""The seam's types: metric names, settings, and the no-op span and implementation.

Kept apart from :mod:`subagents.telemetry` (which re-exports them) so that the
OpenTelemetry implementation can build on them without an import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

Attributes = Mapping[str, Any]

# --------------------------------------------------------------------------- metric names
# Stable names and units (Prometheus shows them with dots as underscores, plus the unit
# and ``_total`` suffixes: ``subagents_turns_total``, ``subagents_turn_duration_seconds``).


@dataclass(frozen=True)
class Metric:
    """One instrument: its name, kind (counter, histogram, updown) and unit."""

    name: str
    kind: str
    unit: str
    description: str


TURNS = Metric("subagents.turns", "counter", "{turn}", "User turns handled")
TURN_DURATION = Metric("subagents.turn.duration", "histogram", "s", "Duration of one user turn")
AGENT_RUNS = Metric("subagents.agent.runs", "counter", "{run}", "Agent runs, by agent and status")
AGENT_ITERATIONS = Metric(
    "subagents.agent.iterations", "histogram", "{iteration}", "LLM calls per agent run"
)
LLM_DURATION = Metric(
    "gen_ai.client.operation.duration", "histogram", "s", "Duration of one LLM request"
)
LLM_TOKENS = Metric(
    "gen_ai.client.token.usage", "histogram", "{token}", "Tokens per LLM request (input, output)"
)
TOOL_CALLS = Metric("subagents.tool.calls", "counter", "{call}", "Tool calls, by tool and server")
TOOL_ERRORS = Metric("subagents.tool.errors", "counter", "{call}", "Tool calls that failed")
TOOL_DURATION = Metric("subagents.tool.duration", "histogram", "s", "Duration of one tool call")
ACTION_CALLS = Metric("subagents.action.calls", "counter", "{call}", "Custom action calls")
ACTION_DURATION = Metric(
    "subagents.action.duration", "histogram", "s", "Duration of one custom action"
)
MCP_RECONNECTS = Metric(
    "subagents.mcp.reconnects", "counter", "{connection}", "MCP connections re-opened"
)
AGENTS_WAITING = Metric(
    "subagents.agents.waiting", "updown", "{agent}", "Agents waiting for the user's reply"
)
STORE_DURATION = Metric(
    "subagents.store.duration", "histogram", "s", "Duration of one tracker store operation"
)
METRICS = (
    TURNS,
    TURN_DURATION,
    AGENT_RUNS,
    AGENT_ITERATIONS,
    LLM_DURATION,
    LLM_TOKENS,
    TOOL_CALLS,
    TOOL_ERRORS,
    TOOL_DURATION,
    ACTION_CALLS,
    ACTION_DURATION,
    MCP_RECONNECTS,
    AGENTS_WAITING,
    STORE_DURATION,
)


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Exporter:
    """Where OTLP data goes; ``None`` fields fall back to the ``OTEL_*`` variables."""

    endpoint: str | None = None
    protocol: str = "http/protobuf"
    """``http/protobuf`` or ``grpc``."""
    headers: Mapping[str, str] = field(default_factory=dict)
    insecure: bool | None = None


@dataclass(frozen=True)
class Settings:
    """What to switch on (built from endpoints.yml by ``subagents.config.observability``)."""

    service_name: str = "subagents"
    traces: Exporter | None = None
    capture_content: bool = False
    metrics: Exporter | None = None
    prometheus: bool = False
    metric_interval: float = 60.0
    """Seconds between OTLP metric exports."""

    @property
    def enabled(self) -> bool:
        return self.traces is not None or self.metrics is not None or self.prometheus


# --------------------------------------------------------------------------- the no-op


class Span:
    """A span as the runtime sees it. This base class is the off state: it does nothing."""

    __slots__ = ()
    recording = False
    """True when attributes are kept (compute costly ones only then)."""

    def __enter__(self) -> Span:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set(self, key: str, value: Any) -> None:
        """Set one attribute (``None`` values are skipped)."""

    def event(self, name: str, attributes: Attributes | None = None) -> None:
        """Add a timestamped event to this span."""

    def error(self, error_type: str) -> None:
        """Mark the span failed, with ``error.type`` (never a message: it may hold data)."""


NOOP_SPAN = Span()


class Telemetry:
    """The implementation behind the module functions. This base class is the off state."""

    tracing = False
    capture_content = False
    prometheus = False

    def span(self, name: str, attributes: Attributes | None = None, kind: str = "") -> Span:
        return NOOP_SPAN

    def current(self) -> Span:
        return NOOP_SPAN

    def inject(self, headers: Mapping[str, str]) -> Mapping[str, str]:
        return headers

    def incoming(self, headers: Mapping[str, str]) -> AbstractContextManager[None]:
        return nullcontext()

    def record(self, metric: Metric, value: float, attributes: Attributes | None = None) -> None:
        return None

    def content(self, value: Any) -> str | None:
        return None

    def prometheus_text(self) -> tuple[bytes, str]:
        return b"", "text/plain"

    def shutdown(self) -> None:
        return None
