"""The action endpoint's remaining auth and TLS options (Rasa's): a client certificate
(``ssl_client_cert`` / ``ssl_client_key``), extra ``headers`` and ``basic_auth``, against a
real HTTPS action server that requires a client certificate signed by its CA and checks
the basic credentials and the header itself; and the same over gRPC (mutual TLS)."""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from actions_helpers import DOMAIN, MODULE, PROJECT, mutual_tls_certs, tracker_state

from subagents.actions import ActionRegistry
from subagents.actions.core import ActionServerCore
from subagents.actions.executors import create_executor
from subagents.actions.http_app import create_app
from subagents.config.models import ActionEndpointConfig
from subagents.errors import ActionServerError, ConfigError
from subagents.testing import serve_asgi

USER, PASSWORD = "assistant", "s3cret-pass"


def guarded(app: Any, seen: list[dict[str, str]]) -> Any:
    """The action server app behind basic auth and a required ``X-Tenant`` header."""
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    async def guard(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            seen.append(headers)
            if headers.get("authorization") != expected or headers.get("x-tenant") != "acme":
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await app(scope, receive, send)

    return guard


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, Path]:
    return mutual_tls_certs(tmp_path)


@pytest.fixture
async def https_server(certs: dict[str, Path]) -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    app = guarded(create_app(ActionServerCore(ActionRegistry.from_module(MODULE, PROJECT))), seen)
    async with serve_asgi(
        app,
        ssl_certfile=str(certs["server_cert"]),
        ssl_keyfile=str(certs["server_key"]),
        ssl_ca_certs=str(certs["ca"]),
        ssl_cert_reqs=ssl.CERT_REQUIRED,  # no client certificate signed by the CA: no TLS
    ) as url:
        yield url, seen


def endpoint(url: str, certs: dict[str, Path], **changes: Any) -> ActionEndpointConfig:
    config: dict[str, Any] = {
        "url": f"{url}/webhook",
        "cafile": str(certs["ca"]),
        "ssl_client_cert": str(certs["client_cert"]),
        "ssl_client_key": str(certs["client_key"]),
        "basic_auth": {"username": USER, "password": PASSWORD},
        "headers": {"X-Tenant": "acme"},
        "retries": 0,
        "timeout": 10,
    }
    config.update(changes)
    return ActionEndpointConfig.model_validate({k: v for k, v in config.items() if v is not None})


async def run(cfg: ActionEndpointConfig) -> Any:
    executor = create_executor(cfg, PROJECT)
    try:
        return await executor.run("action_greet", tracker_state(name="Bo"), DOMAIN)
    finally:
        await executor.aclose()


async def test_client_certificate_basic_auth_and_headers_reach_the_server(
    https_server: tuple[str, list[dict[str, str]]], certs: dict[str, Path]
) -> None:
    url, seen = https_server
    result = await run(endpoint(url, certs))
    assert result.responses[0]["text"] == "Hello, Bo!"
    assert seen[-1]["x-tenant"] == "acme"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"ssl_client_cert": None, "ssl_client_key": None}, "request to .* failed"),
        ({"ssl_client_cert": "stranger_cert", "ssl_client_key": "stranger_key"}, "failed"),
        ({"basic_auth": {"username": USER, "password": "wrong"}}, "HTTP 401"),
        ({"headers": {}}, "HTTP 401"),
    ],
)
async def test_the_server_refuses_what_is_missing_or_wrong(
    https_server: tuple[str, list[dict[str, str]]],
    certs: dict[str, Path],
    changes: dict[str, Any],
    error: str,
) -> None:
    url, _ = https_server
    for key in ("ssl_client_cert", "ssl_client_key"):
        if isinstance(changes.get(key), str):
            changes[key] = str(certs[changes[key]])
    with pytest.raises(ActionServerError, match=error):
        await run(endpoint(url, certs, **changes))


def test_unreadable_certificate_files_are_config_errors(certs: dict[str, Path]) -> None:
    cfg = endpoint("https://127.0.0.1:1", certs, ssl_client_key="missing.key")
    with pytest.raises(ConfigError) as exc:
        create_executor(cfg, PROJECT)
    assert exc.value.problem.field == "action_endpoint.ssl_client_key"
    assert "cannot read action_endpoint.ssl_client_key" in str(exc.value)
    mismatched = endpoint("https://127.0.0.1:1", certs, ssl_client_key=str(certs["stranger_key"]))
    with pytest.raises(ConfigError, match="not a matching PEM certificate and private key"):
        create_executor(mismatched, PROJECT)


async def test_grpc_mutual_tls_and_metadata(certs: dict[str, Path]) -> None:
    from subagents.actions.grpc_service import ActionService
    from subagents.actions.protos import action_webhook_pb2_grpc as pb_grpc

    seen: list[dict[str, str]] = []

    class Metadata(grpc.aio.ServerInterceptor):  # type: ignore[misc]
        async def intercept_service(self, continuation: Any, details: Any) -> Any:
            seen.append(dict(details.invocation_metadata))
            return await continuation(details)

    server = grpc.aio.server(interceptors=[Metadata()])
    core = ActionServerCore(ActionRegistry.from_module(MODULE, PROJECT))
    pb_grpc.add_ActionServiceServicer_to_server(ActionService(core), server)
    credentials = grpc.ssl_server_credentials(
        [(certs["server_key"].read_bytes(), certs["server_cert"].read_bytes())],
        root_certificates=certs["ca"].read_bytes(),
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    try:
        url = f"grpcs://127.0.0.1:{port}"
        cfg = endpoint(url, certs, basic_auth=None, token="tok")
        result = await run(cfg)
        assert result.responses[0]["text"] == "Hello, Bo!"
        assert seen[-1]["x-tenant"] == "acme" and seen[-1]["authorization"] == "Bearer tok"
        with pytest.raises(ActionServerError):
            await run(endpoint(url, certs, ssl_client_cert=None, ssl_client_key=None))
    finally:
        await server.stop(grace=1.0)
