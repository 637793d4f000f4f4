"""Helpers shared by the telemetry tests (imported by module name)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import subagents.telemetry as telemetry
from subagents.telemetry.otel import OpenTelemetry

ROOT = Path(__file__).resolve().parents[2]
TOOLBOX_SERVER = ROOT / "tests" / "servers" / "toolbox_server.py"


class Recorded:
    """The spans and metrics recorded while a test ran."""

    def __init__(self, capture_content: bool = False) -> None:
        self.spans = InMemorySpanExporter()
        self.metrics = InMemoryMetricReader()
        self.impl = OpenTelemetry(
            telemetry.Settings(capture_content=capture_content),
            redact=None,
            span_exporter=self.spans,
            metric_reader=self.metrics,
        )

    def finished(self) -> list[Any]:
        return list(self.spans.get_finished_spans())

    def metric_points(self) -> dict[str, list[Any]]:
        """Metric name -> its data points."""
        data = self.metrics.get_metrics_data()
        found: dict[str, list[Any]] = {}
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found


def write_yaml(path: Path, data: Any) -> None:
    """JSON is YAML."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def stdio_toolbox(name: str = "toolbox") -> dict[str, Any]:
    """endpoints.yml entry for the test MCP server over stdio."""
    return {
        "name": name,
        "type": "stdio",
        "command": sys.executable,
        "args": [str(TOOLBOX_SERVER), "stdio"],
    }
