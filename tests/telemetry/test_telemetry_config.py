"""`tracing:` / `metrics:` in endpoints.yml, the OTEL_* variables, the missing extra, and
telemetry that is off costing no import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from subagents.config.loader import collect_project
from subagents.config.observability import telemetry_settings
from subagents.telemetry import Exporter

ROOT = Path(__file__).resolve().parents[2]


def project(tmp_path: Path, endpoints: dict[str, Any]) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "endpoints.yml").write_text(json.dumps(endpoints))
    return tmp_path


def settings_of(tmp_path: Path, endpoints: dict[str, Any], env: dict[str, str] | None = None):
    loaded, problems = collect_project(project(tmp_path, endpoints), env=env or {})
    assert loaded is not None, problems
    errors = [str(p) for p in problems if p.severity == "error"]
    assert not errors
    cfg = loaded.endpoints
    return telemetry_settings(cfg.tracing, cfg.metrics, env or {}), problems


def test_otlp_tracing_and_both_metrics(tmp_path: Path) -> None:
    settings, _ = settings_of(
        tmp_path,
        {
            "tracing": {
                "type": "otlp",
                "endpoint": "http://collector:4317",
                "protocol": "grpc",
                "insecure": True,
                "service_name": "shop-bot",
                "headers": {"x-key": "${KEY}"},
                "capture_content": True,
            },
            "metrics": [{"type": "prometheus"}, {"type": "otlp", "export_interval": 5}],
        },
        {"KEY": "secret-value"},
    )
    assert settings.traces == Exporter(
        endpoint="http://collector:4317",
        protocol="grpc",
        headers={"x-key": "secret-value"},
        insecure=True,
    )
    assert settings.service_name == "shop-bot"
    assert settings.capture_content is True
    assert settings.prometheus is True
    assert settings.metrics == Exporter(protocol="http/protobuf")
    assert settings.metric_interval == 5


def test_tracing_header_values_are_secrets(tmp_path: Path) -> None:
    loaded, _ = collect_project(
        project(tmp_path, {"tracing": {"endpoint": "http://c:4318", "headers": {"k": "${K}"}}}),
        env={"K": "collector-api-key"},
    )
    assert loaded is not None
    assert "collector-api-key" in loaded.secrets


def test_jaeger_maps_to_otlp_and_legacy_ports_warn(tmp_path: Path) -> None:
    settings, problems = settings_of(
        tmp_path, {"tracing": {"type": "jaeger", "host": "jaeger", "port": 6831}}
    )
    assert settings.traces == Exporter(
        endpoint="http://jaeger:4317", protocol="grpc", headers={}, insecure=True
    )
    warnings = [str(p) for p in problems if p.severity == "warning"]
    assert any("6831 is a legacy Jaeger" in w and "4317" in w for w in warnings), warnings


def test_jaeger_on_the_otlp_http_port_uses_http(tmp_path: Path) -> None:
    settings, _ = settings_of(tmp_path, {"tracing": {"type": "jaeger", "host": "j", "port": 4318}})
    assert settings.traces is not None
    assert (settings.traces.endpoint, settings.traces.protocol) == (
        "http://j:4318",
        "http/protobuf",
    )


def test_jaeger_without_host_is_an_error_naming_the_field(tmp_path: Path) -> None:
    _, problems = collect_project(project(tmp_path, {"tracing": {"type": "jaeger"}}), env={})
    assert any("tracing.host" in (p.field or "") or "needs a host" in p.message for p in problems)
    assert [p.file for p in problems if p.severity == "error"] == ["endpoints.yml"]


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    _, problems = collect_project(project(tmp_path, {"tracing": {"endpont": "x"}}), env={})
    assert any("endpont" in str(p) for p in problems if p.severity == "error")


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_otel_traces_exporter_switches_tracing_on(
    tmp_path: Path, env: dict[str, str], on: bool
) -> None:
    settings, _ = settings_of(tmp_path, {}, env)
    assert (settings.traces is not None) is on


def test_env_fills_what_the_file_leaves_out_and_the_file_wins(tmp_path: Path) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_SERVICE_NAME": "from-env",
        "OTEL_METRICS_EXPORTER": "prometheus",
    }
    settings, _ = settings_of(tmp_path, {"tracing": {"endpoint": "http://c:4317"}}, env)
    assert settings.traces is not None and settings.traces.protocol == "grpc"
    assert settings.service_name == "from-env"
    assert settings.prometheus is True
    settings, _ = settings_of(
        tmp_path / "b", {"tracing": {"protocol": "http/protobuf", "service_name": "file"}}, env
    )
    assert settings.traces is not None and settings.traces.protocol == "http/protobuf"
    assert settings.service_name == "file"


def test_otel_sdk_disabled_wins_over_the_file(tmp_path: Path) -> None:
    settings, _ = settings_of(
        tmp_path,
        {"tracing": {"endpoint": "http://c"}, "metrics": {"type": "prometheus"}},
        {"OTEL_SDK_DISABLED": "true"},
    )
    assert not settings.enabled


BLOCK_OTEL = "import sys; sys.modules['opentelemetry.sdk'] = None\n"


def test_missing_extra_is_a_load_error_naming_the_pip_command(tmp_path: Path) -> None:
    root = project(tmp_path, {"tracing": {"endpoint": "http://127.0.0.1:4318"}})
    code = BLOCK_OTEL + textwrap.dedent(
        f"""
        from subagents.cli import main
        sys.argv = ["subagents", "validate", "--project", {str(root)!r}]
        main()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert (
        "endpoints.yml:1: tracing: tracing needs the OpenTelemetry packages, which are not"
        " installed; install them with: pip install 'subagents[otel]'"
    ) in output


def test_off_means_no_opentelemetry_sdk_is_imported(tmp_path: Path) -> None:
    """A whole turn through a project without tracing: the SDK is never imported."""
    (tmp_path / "domain.yml").write_text('{"responses": {"utter_hi": [{"text": "Hi!"}]}}')
    (tmp_path / "flows.yml").write_text(
        '{"flows": {"hi": {"description": "Say hi.", "steps": [{"action": "utter_hi"}]}}}'
    )
    (tmp_path / "endpoints.yml").write_text('{"tracker_store": {"type": "memory"}}')
    code = textwrap.dedent(
        f"""
        import asyncio, sys
        import subagents.telemetry as telemetry
        from subagents.dialogue.assistant import Assistant
        from subagents.llm.scripted import ScriptedLLM

        async def main():
            llms = lambda config: ScriptedLLM([])
            assistant = await Assistant.load({str(tmp_path)!r}, llm_factory=llms)
            reply = await assistant.handle_message("u", "/hi")
            await assistant.aclose()
            return reply

        reply = asyncio.run(main())
        assert reply[0]["text"] == "Hi!", reply
        loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "prometheus")))
        print("LOADED", loaded, type(telemetry.active()).__name__)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED [] Telemetry" in result.stdout, result.stdout
