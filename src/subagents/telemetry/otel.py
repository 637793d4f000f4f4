"""The OpenTelemetry implementation of the seam (imported only when configured).

Our own ``TracerProvider`` and ``MeterProvider`` (the process-wide globals are left to
the application embedding us): spans go to an OTLP exporter (HTTP/protobuf or gRPC)
through a batch processor; metrics to an OTLP exporter every ``metric_interval`` seconds
and/or to a private Prometheus registry that ``GET /metrics`` renders. Propagation uses
the globally configured propagator (W3C ``traceparent`` by default, ``OTEL_PROPAGATORS``
honoured). Exporter details left out of endpoints.yml come from the standard ``OTEL_*``
variables, which the OpenTelemetry exporters read themselves.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import SpanKind, Status, StatusCode

from subagents.telemetry.base import (
    METRICS,
    Attributes,
    Exporter,
    Metric,
    Settings,
    Span,
    Telemetry,
)

SCOPE = "subagents"
_KINDS = {"": SpanKind.INTERNAL, "client": SpanKind.CLIENT, "server": SpanKind.SERVER}
# Bucket boundaries advised by the GenAI semantic conventions (seconds, tokens).
_SECONDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
_TOKENS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216]
_COUNTS = [1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50]


def _clean(attributes: Attributes | None) -> dict[str, Any] | None:
    """``None`` values dropped. The runtime passes primitives (and lists of str) only, which
    is what OpenTelemetry takes; the SDK checks types itself, so nothing more is done here
    (this runs for every span and metric point)."""
    if not attributes:
        return None
    return {key: value for key, value in attributes.items() if value is not None}


class _Handle(Span):
    """A recording span someone opened: attributes, events and status go to it."""

    __slots__ = ("_span",)
    recording = True

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def set(self, key: str, value: Any) -> None:
        if value is not None:
            self._span.set_attribute(key, value)

    def event(self, name: str, attributes: Attributes | None = None) -> None:
        self._span.add_event(name, _clean(attributes))

    def error(self, error_type: str) -> None:
        self._span.set_attribute("error.type", error_type)
        self._span.set_status(Status(StatusCode.ERROR, error_type))


class OtelSpan(_Handle):
    """A span of ours: current while its ``with`` block runs, ended when it leaves.

    An exception leaving the block marks it failed with the exception's type only (its
    message may carry data); a cancellation is not a failure.
    """

    __slots__ = ("_token",)

    def __init__(self, span: trace.Span) -> None:
        super().__init__(span)
        self._token: object | None = None

    def __enter__(self) -> OtelSpan:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(self, *exc_info: object) -> None:
        exc = exc_info[1] if len(exc_info) > 1 else None
        if isinstance(exc, Exception):
            self.error(type(exc).__name__)
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
        self._span.end()


class OpenTelemetry(Telemetry):
    """Spans and metrics through the OpenTelemetry SDK.

    ``span_exporter`` / ``metric_reader`` replace the configured exporters (tests use the
    SDK's in-memory ones); spans then go out one by one, synchronously, unless ``batch``
    (as configured exporters are: benchmarks).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        redact: Callable[[str], str] | None = None,
        span_exporter: SpanExporter | None = None,
        metric_reader: MetricReader | None = None,
        batch: bool = False,
    ) -> None:
        self.settings = settings
        self._redact = redact
        # One instance per process (``run --workers N``: each worker is its own series).
        instance = f"{socket.gethostname()}-{os.getpid()}"
        resource = Resource.create(
            {"service.name": settings.service_name, "service.instance.id": instance}
        )
        self.capture_content = settings.capture_content
        self._tracer_provider: TracerProvider | None = None
        if span_exporter is not None or settings.traces is not None:
            provider = TracerProvider(resource=resource)
            if span_exporter is not None:
                processor = BatchSpanProcessor if batch else SimpleSpanProcessor
                provider.add_span_processor(processor(span_exporter))
            else:
                assert settings.traces is not None
                provider.add_span_processor(BatchSpanProcessor(_span_exporter(settings.traces)))
            self._tracer_provider = provider
            self.tracing = True
            self._tracer = provider.get_tracer(SCOPE)
        self._registry: Any = None
        self._meter_provider = self._meters(settings, resource, metric_reader)

    # ------------------------------------------------------------------ spans

    def span(self, name: str, attributes: Attributes | None = None, kind: str = "") -> Span:
        if not self.tracing:
            return super().span(name, attributes, kind)
        return OtelSpan(
            self._tracer.start_span(
                name, kind=_KINDS.get(kind, SpanKind.INTERNAL), attributes=_clean(attributes)
            )
        )

    def current(self) -> Span:
        span = trace.get_current_span()
        return _Handle(span) if span.is_recording() else super().current()

    def inject(self, headers: Mapping[str, str]) -> Mapping[str, str]:
        if not self.tracing or not trace.get_current_span().get_span_context().is_valid:
            return headers
        carrier = dict(headers)
        propagate.inject(carrier)
        return carrier

    def incoming(self, headers: Mapping[str, str]) -> AbstractContextManager[None]:
        if not self.tracing:
            return super().incoming(headers)
        return _attached(propagate.extract(headers))

    def content(self, value: Any) -> str | None:
        if not self.capture_content:
            return None
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        return self._redact(text) if self._redact is not None else text

    # ------------------------------------------------------------------ metrics

    def _meters(
        self, settings: Settings, resource: Resource, reader: MetricReader | None
    ) -> MeterProvider | None:
        readers: list[MetricReader] = []
        if reader is not None:
            readers.append(reader)
        if settings.metrics is not None:
            interval = settings.metric_interval * 1000
            exporter = _metric_exporter(settings.metrics)
            readers.append(PeriodicExportingMetricReader(exporter, interval))
        if settings.prometheus:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from prometheus_client import CollectorRegistry

            self._registry = CollectorRegistry(auto_describe=True)
            readers.append(
                PrometheusMetricReader(registry=self._registry, scope_info_enabled=False)
            )
            self.prometheus = True
        if not readers:
            return None
        # No exemplars: offering one per measurement (the default inside a sampled span)
        # was a third of the cost of a metric point.
        exemplars = (
            None if os.environ.get("OTEL_METRICS_EXEMPLAR_FILTER") else AlwaysOffExemplarFilter()
        )
        provider = MeterProvider(
            resource=resource, metric_readers=readers, exemplar_filter=exemplars
        )
        meter = provider.get_meter(SCOPE)
        self._instruments = {m.name: _instrument(meter, m) for m in METRICS}
        return provider

    def record(self, metric: Metric, value: float, attributes: Attributes | None = None) -> None:
        if self._meter_provider is None:
            return
        instrument = self._instruments[metric.name]
        if metric.kind == "histogram":
            instrument.record(value, _clean(attributes))
        else:
            instrument.add(value, _clean(attributes))

    def prometheus_text(self) -> tuple[bytes, str]:
        if self._registry is None:
            return super().prometheus_text()
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self._registry), CONTENT_TYPE_LATEST

    # ------------------------------------------------------------------ life

    def force_flush(self) -> None:
        """Export what is buffered now (tests, and before a process exits)."""
        if self._tracer_provider is not None:
            self._tracer_provider.force_flush()
        if self._meter_provider is not None:
            self._meter_provider.force_flush()

    def shutdown(self) -> None:
        tracer_provider, self._tracer_provider = self._tracer_provider, None
        meter_provider, self._meter_provider = self._meter_provider, None
        self.tracing = False
        self.prometheus = False
        if tracer_provider is not None:
            tracer_provider.shutdown()
        if meter_provider is not None:
            meter_provider.shutdown()


@contextmanager
def _attached(ctx: otel_context.Context) -> Iterator[None]:
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


def _instrument(meter: Any, metric: Metric) -> Any:
    if metric.kind == "counter":
        return meter.create_counter(metric.name, metric.unit, metric.description)
    if metric.kind == "updown":
        return meter.create_up_down_counter(metric.name, metric.unit, metric.description)
    bounds = _SECONDS if metric.unit == "s" else _TOKENS if metric.unit == "{token}" else _COUNTS
    return meter.create_histogram(
        metric.name, metric.unit, metric.description, explicit_bucket_boundaries_advisory=bounds
    )


def _endpoint(exporter: Exporter, signal: str) -> str | None:
    """The OTLP/HTTP URL of ``signal`` (``traces``/``metrics``) from a base endpoint, as
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` is read; ``None`` lets the exporter read the variables."""
    if exporter.endpoint is None:
        return None
    base = exporter.endpoint.rstrip("/")
    return base if base.endswith(f"/v1/{signal}") else f"{base}/v1/{signal}"


def _span_exporter(exporter: Exporter) -> SpanExporter:
    headers = dict(exporter.headers) or None
    if exporter.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GRPCSpanExporter,
        )

        return GRPCSpanExporter(
            endpoint=exporter.endpoint, insecure=exporter.insecure, headers=headers
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=_endpoint(exporter, "traces"), headers=headers)


def _metric_exporter(exporter: Exporter) -> Any:
    headers = dict(exporter.headers) or None
    if exporter.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GRPCMetricExporter,
        )

        return GRPCMetricExporter(
            endpoint=exporter.endpoint, insecure=exporter.insecure, headers=headers
        )
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter(endpoint=_endpoint(exporter, "metrics"), headers=headers)
