"""MCP over streamable HTTP and SSE against the toolbox server in a child process:
headers and credentials on the wire, OAuth client credentials, restarts and reconnects."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import pytest
import pytest_asyncio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from subagents.config.models import MCPServerConfig, OAuthConfig
from subagents.errors import MCPServerUnavailable


def url_config(server, name: str = "remote", **fields) -> MCPServerConfig:
    fields.setdefault("timeout", 10.0)
    fields.setdefault("connect_timeout", 10.0)
    return MCPServerConfig(name=name, type=server.kind, url=server.url, **fields)


def mcp_posts(server) -> list[dict]:
    return [r for r in server.recorded() if r["method"] == "POST"]


async def test_streamable_http_calls_and_sends_headers_and_bearer(managers, http_server) -> None:
    server = http_server("http")
    cfg = url_config(server, headers={"X-Tenant": "acme"}, token="secret-token")
    manager = managers(cfg)
    await manager.start()
    toolset = manager.toolset("remote")
    assert "echo" in {t.name for t in await toolset.list_tools()}
    assert (await toolset.call_tool("echo", {"text": "over http"})).text == "over http"
    posts = mcp_posts(server)
    assert posts, "the server saw no POST"
    assert all(p["headers"]["authorization"] == "Bearer secret-token" for p in posts)
    assert all(p["headers"]["x-tenant"] == "acme" for p in posts)


async def test_api_key_header_with_format(managers, http_server) -> None:
    server = http_server("http")
    cfg = url_config(
        server, api_key="k-123", header_name="X-Api-Key", header_format="Key {api_key}"
    )
    manager = managers(cfg)
    assert (await manager.toolset("remote").call_tool("echo", {"text": "k"})).text == "k"
    assert all(p["headers"]["x-api-key"] == "Key k-123" for p in mcp_posts(server))


async def test_sse_transport(managers, http_server) -> None:
    server = http_server("sse")
    manager = managers(url_config(server, token="sse-token"))
    toolset = manager.toolset("remote")
    assert (await toolset.call_tool("echo", {"text": "over sse"})).text == "over sse"
    requests = server.recorded()
    assert {r["method"] for r in requests} == {"GET", "POST"}
    assert all(r["headers"]["authorization"] == "Bearer sse-token" for r in requests)


async def test_sse_reconnects_after_server_restart(managers, http_server) -> None:
    server = http_server("sse")
    toolset = managers(url_config(server)).toolset("remote")
    first_pid = (await toolset.call_tool("pid", {})).text
    server.stop()
    server.start()  # same port
    # pid is read-only: safe to repeat on the new connection
    assert (await toolset.call_tool("pid", {})).text != first_pid


async def test_http_server_restart_is_survived(managers, http_server) -> None:
    server = http_server("http")
    toolset = managers(url_config(server)).toolset("remote")
    first_pid = (await toolset.call_tool("pid", {})).text
    assert (await toolset.call_tool("increment", {})).text == "1"
    server.stop()
    server.start()  # same port
    assert (await toolset.call_tool("pid", {})).text != first_pid
    assert (await toolset.call_tool("increment", {})).text == "1"


async def test_legacy_http_session_expiry_reconnects(managers, http_server) -> None:
    server = http_server("http", legacy_only=True)
    toolset = managers(url_config(server)).toolset("remote")
    assert (await toolset.call_tool("increment", {})).text == "1"
    connects = toolset.connect_count
    server.stop()
    server.start()
    # the old session id is rejected (404) before the tool runs: even a
    # non-idempotent call is sent again on a new session
    assert (await toolset.call_tool("increment", {})).text == "1"
    assert toolset.connect_count == connects + 1


async def test_session_forgotten_with_400_reconnects_once(managers, http_server) -> None:
    """TypeScript-SDK servers answer an unknown session id with 400, not 404."""
    server = http_server("http", legacy_only=True, extra_args=("--session-400",))
    toolset = managers(url_config(server)).toolset("remote")
    assert (await toolset.call_tool("increment", {})).text == "1"
    connects = toolset.connect_count
    server.stop()
    server.start()  # same port, same record file
    assert (await toolset.call_tool("increment", {})).text == "1"  # rejected unrun: repeated
    assert (await toolset.call_tool("increment", {})).text == "2"  # and the session works
    assert toolset.connect_count == connects + 1
    # The server/discover probe ran on the first connect only: reconnects go straight
    # to initialize.
    probes = [r for r in server.recorded() if r["headers"].get("mcp-method") == "server/discover"]
    assert len(probes) == 1
    assert toolset.negotiated_mode == "legacy"


async def test_http_server_gone_is_unavailable_after_retries(managers, http_server) -> None:
    server = http_server("http")
    toolset = managers(url_config(server, max_retries=2)).toolset("remote")
    assert (await toolset.call_tool("echo", {"text": "x"})).text == "x"
    server.stop()
    # The connection is refused: nothing ran, so this is never "the call may have run".
    with pytest.raises(MCPServerUnavailable) as info:
        await toolset.call_tool("increment", {})
    assert "remote" in str(info.value) and "may have run" not in str(info.value)
    with pytest.raises(MCPServerUnavailable, match="remote.*2 attempt"):
        await toolset.call_tool("echo", {"text": "x"})


async def test_unreachable_url_names_server(managers) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    cfg = MCPServerConfig(name="nowhere", type="http", url=f"http://127.0.0.1:{port}/mcp")
    with pytest.raises(MCPServerUnavailable) as info:
        await managers(cfg).start()
    assert info.value.server == "nowhere"
    assert f"127.0.0.1:{port}" in str(info.value) and "3 attempt(s)" in str(info.value)


# --------------------------------------------------------------------------- OAuth


@dataclass
class TokenEndpoint:
    url: str
    expires_in: int
    grants: list[dict[str, str]] = field(default_factory=list)


@pytest_asyncio.fixture
async def token_endpoint() -> AsyncIterator[TokenEndpoint]:
    """A client-credentials token endpoint (starlette + uvicorn on 127.0.0.1)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    endpoint = TokenEndpoint(url=f"http://127.0.0.1:{sock.getsockname()[1]}/token", expires_in=3600)

    async def token(request: Request) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        endpoint.grants.append(form)
        if form.get("client_secret") != "s3cret" or form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        n = len(endpoint.grants)
        body = {
            "access_token": f"tok-{n}",
            "token_type": "Bearer",
            "expires_in": endpoint.expires_in,
        }
        return JSONResponse(body)

    app = Starlette(routes=[Route("/token", token, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = asyncio.get_running_loop().time() + 10
    while not server.started and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    yield endpoint
    server.should_exit = True
    await asyncio.wait_for(task, 10)
    sock.close()


def oauth(endpoint: TokenEndpoint, secret: str = "s3cret") -> OAuthConfig:
    return OAuthConfig(
        token_url=endpoint.url, client_id="agent", client_secret=secret, scope="tools:call"
    )


async def test_oauth_token_is_fetched_once_and_sent(managers, http_server, token_endpoint) -> None:
    server = http_server("http")
    toolset = managers(url_config(server, oauth=oauth(token_endpoint))).toolset("remote")
    for i in range(3):
        assert (await toolset.call_tool("echo", {"text": str(i)})).text == str(i)
    assert len(token_endpoint.grants) == 1
    grant = token_endpoint.grants[0]
    assert grant["client_id"] == "agent" and grant["scope"] == "tools:call"
    assert all(p["headers"]["authorization"] == "Bearer tok-1" for p in mcp_posts(server))


async def test_oauth_token_is_renewed_before_expiry(managers, http_server, token_endpoint) -> None:
    token_endpoint.expires_in = 1  # renewed after half its lifetime
    server = http_server("http")
    toolset = managers(url_config(server, oauth=oauth(token_endpoint))).toolset("remote")
    assert (await toolset.call_tool("echo", {"text": "a"})).text == "a"
    first = len(token_endpoint.grants)
    await asyncio.sleep(0.6)  # let the token reach its renewal time (not a readiness wait)
    assert (await toolset.call_tool("echo", {"text": "b"})).text == "b"
    assert len(token_endpoint.grants) == first + 1
    assert mcp_posts(server)[-1]["headers"]["authorization"] == f"Bearer tok-{first + 1}"


async def test_oauth_refused_credentials_fail_the_start(
    managers, http_server, token_endpoint
) -> None:
    server = http_server("http")
    cfg = url_config(server, oauth=oauth(token_endpoint, secret="wrong"), max_retries=1)
    with pytest.raises(MCPServerUnavailable, match="remote.*token endpoint.*401"):
        await managers(cfg).start()
