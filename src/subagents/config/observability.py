"""``tracing:`` and ``metrics:`` in endpoints.yml, and the telemetry settings they make.

``tracing: {type: otlp, endpoint, protocol: http/protobuf | grpc, headers, service_name,
insecure, capture_content}``. Rasa's ``type: jaeger`` (``host``, ``port``) is accepted and
sent as OTLP to Jaeger's OTLP receiver (gRPC on 4317 unless the port is 4318, HTTP).
``metrics:`` is one mapping or a list of them: ``{type: prometheus}`` (``GET /metrics`` on
the REST server) and/or ``{type: otlp, ...}`` (pushed every ``export_interval`` seconds).
What endpoints.yml leaves out comes from the standard ``OTEL_*`` variables; without
``tracing:``, ``OTEL_TRACES_EXPORTER=otlp`` switches tracing on (``OTEL_METRICS_EXPORTER``
likewise: ``otlp`` or ``prometheus``); ``OTEL_SDK_DISABLED=true`` switches everything off.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from subagents.config.source import Problems, SourceFile
from subagents.telemetry import Exporter, Settings

INSTALL_HINT = "pip install 'subagents[otel]'"
JAEGER_OTLP_GRPC_PORT = 4317
JAEGER_OTLP_HTTP_PORT = 4318
_LEGACY_JAEGER_PORTS = {5775, 6831, 6832, 14250, 14268}
Protocol = Literal["http/protobuf", "grpc"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TracingConfig(_Model):
    """``tracing``: where spans go (OTLP), and whether message content is recorded."""

    type: Literal["otlp", "jaeger"] = "otlp"
    endpoint: str | None = None
    """OTLP base URL (``http://collector:4318``; ``/v1/traces`` is added for HTTP)."""
    protocol: Protocol | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    service_name: str | None = None
    insecure: bool | None = None
    """gRPC only: plain text instead of TLS."""
    capture_content: bool = False
    """Record messages and tool arguments/results on spans (secrets redacted)."""
    host: str | None = None
    """``type: jaeger``: the Jaeger host (with ``port``)."""
    port: int | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class MetricsConfig(_Model):
    """One ``metrics`` entry: ``prometheus`` (scraped) or ``otlp`` (pushed)."""

    type: Literal["otlp", "prometheus"]
    endpoint: str | None = None
    protocol: Protocol | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    service_name: str | None = None
    insecure: bool | None = None
    export_interval: float = Field(default=60.0, gt=0)
    """Seconds between OTLP pushes."""

    @field_validator("type", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


def as_list(value: Any) -> Any:
    """``metrics:`` may be one mapping or a list of them."""
    return [value] if isinstance(value, dict) else value


# --------------------------------------------------------------------------- checks


def check_observability(
    src: SourceFile, tracing: TracingConfig | None, metrics: list[MetricsConfig], problems: Problems
) -> None:
    """The extra is installed when needed; jaeger has a host; no legacy Jaeger port."""
    if tracing is not None:
        if tracing.type == "jaeger" and not tracing.host:
            problems.error(src, ("tracing", "host"), "type: jaeger needs a host (and port)")
        if tracing.type == "jaeger" and tracing.port in _LEGACY_JAEGER_PORTS:
            problems.warning(
                src,
                ("tracing", "port"),
                f"port {tracing.port} is a legacy Jaeger (Thrift) port; spans are sent as OTLP,"
                f" which Jaeger receives on {JAEGER_OTLP_GRPC_PORT} (gRPC) or"
                f" {JAEGER_OTLP_HTTP_PORT} (HTTP); the port is replaced by"
                f" {JAEGER_OTLP_GRPC_PORT}",
            )
        if not otel_installed():
            problems.error(src, ("tracing",), _missing("tracing"))
    if metrics:
        kinds = [m.type for m in metrics]
        if len(set(kinds)) != len(kinds):
            problems.error(src, ("metrics",), "each metrics type may appear once")
        if not otel_installed(prometheus="prometheus" in kinds):
            problems.error(src, ("metrics",), _missing("metrics"))


def _missing(what: str) -> str:
    return (
        f"{what} needs the OpenTelemetry packages, which are not installed;"
        f" install them with: {INSTALL_HINT}"
    )


def otel_installed(*, prometheus: bool = False) -> bool:
    """True when the ``otel`` extra (the parts needed) is importable."""
    names = ["opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"]
    if prometheus:
        names += ["opentelemetry.exporter.prometheus", "prometheus_client"]
    try:
        return all(importlib.util.find_spec(n) is not None for n in names)
    except (ModuleNotFoundError, ValueError):  # a parent missing, or blocked (None)
        return False


# --------------------------------------------------------------------------- settings


def telemetry_settings(
    tracing: TracingConfig | None, metrics: list[MetricsConfig], env: Mapping[str, str]
) -> Settings:
    """What to switch on, from endpoints.yml and the ``OTEL_*`` variables (file first)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return Settings()
    traces = _traces(tracing, env)
    otlp = next((m for m in metrics if m.type == "otlp"), None)
    exporters = {e.strip().lower() for e in env.get("OTEL_METRICS_EXPORTER", "").split(",")}
    metric_exporter = None
    if otlp is not None or "otlp" in exporters:
        metric_exporter = _exporter(otlp, env, "METRICS")
    service = (
        (tracing.service_name if tracing else None)
        or next((m.service_name for m in metrics if m.service_name), None)
        or env.get("OTEL_SERVICE_NAME")
        or "subagents"
    )
    return Settings(
        service_name=service,
        traces=traces,
        capture_content=bool(tracing and tracing.capture_content),
        metrics=metric_exporter,
        prometheus=any(m.type == "prometheus" for m in metrics) or "prometheus" in exporters,
        metric_interval=otlp.export_interval if otlp else _interval(env),
    )


def _traces(tracing: TracingConfig | None, env: Mapping[str, str]) -> Exporter | None:
    if tracing is None:
        wanted = {e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",")}
        return _exporter(None, env, "TRACES") if "otlp" in wanted else None
    if tracing.type == "jaeger":
        port = tracing.port or JAEGER_OTLP_GRPC_PORT
        if port in _LEGACY_JAEGER_PORTS:
            port = JAEGER_OTLP_GRPC_PORT
        protocol: str = "http/protobuf" if port == JAEGER_OTLP_HTTP_PORT else "grpc"
        insecure = True if tracing.insecure is None else tracing.insecure
        return Exporter(
            endpoint=f"http://{tracing.host}:{port}",
            protocol=protocol,
            headers=dict(tracing.headers),
            insecure=insecure,
        )
    return _exporter(tracing, env, "TRACES")


def _exporter(
    cfg: TracingConfig | MetricsConfig | None, env: Mapping[str, str], signal: str
) -> Exporter:
    protocol = (
        (cfg.protocol if cfg else None)
        or env.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol not in ("http/protobuf", "grpc"):
        protocol = "http/protobuf"  # http/json is not offered by the Python exporters
    return Exporter(
        endpoint=cfg.endpoint if cfg else None,
        protocol=protocol,
        headers=dict(cfg.headers) if cfg else {},
        insecure=cfg.insecure if cfg else None,
    )


def _interval(env: Mapping[str, str]) -> float:
    try:
        return max(0.1, float(env.get("OTEL_METRIC_EXPORT_INTERVAL", "60000")) / 1000)
    except ValueError:
        return 60.0
