"""Step-up authorization on 403 ``insufficient_scope``, end to end: a real SDK
streamable-HTTP server (``tests/servers/scoped_server.py``) behind the small authorization
server of ``oauth_gate.py``, whose ``admin_reset`` tool needs the ``admin`` scope that the
first login does not ask for."""

from __future__ import annotations

import logging
import socket
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from mcp_helpers import SERVERS, HttpServerProcess

from subagents.config.models import MCPServerConfig, OAuthConfig
from subagents.errors import MCPAuthError
from subagents.mcp import AuthorizationCodeResult, MCPManager, MemoryTokenStore
from subagents.mcp.login import login

pytestmark = pytest.mark.timeout(120)

SCOPED = SERVERS / "scoped_server.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Approver:
    """Approves like a person clicking "allow"; remembers the scopes each page asked for."""

    def __init__(self, port: int) -> None:
        self.redirect_uri = f"http://127.0.0.1:{port}/callback"
        self.scopes: list[str] = []

    async def authorize(self, authorization_url: str) -> AuthorizationCodeResult:
        self.scopes.append(parse_qs(urlparse(authorization_url).query)["scope"][0])
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(authorization_url, follow_redirects=False)
        query = parse_qs(urlparse(answer.headers["location"]).query)
        return AuthorizationCodeResult(code=query["code"][0], state=query["state"][0])


def scope_log(server: HttpServerProcess) -> dict[str, Any]:
    return dict(httpx.get(f"{server.base}/admin/scopes", timeout=10).json())


def config(server: HttpServerProcess, port: int) -> MCPServerConfig:
    return MCPServerConfig(
        name="remote",
        type="http",
        url=server.url,
        oauth=OAuthConfig(callback_port=port),
        timeout=20.0,
        connect_timeout=20.0,
        max_retries=1,
    )


async def test_insufficient_scope_re_authorizes_with_the_wider_scope(
    http_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server: HttpServerProcess = http_server("http", script=SCOPED)
    port = free_port()
    store = MemoryTokenStore()
    approver = Approver(port)
    async with MCPManager([config(server, port)], token_store=store, authorizer=approver) as mcp:
        remote = mcp.toolset("remote")
        assert (await remote.call_tool("echo", {"text": "hi"})).text == "hi"
        assert approver.scopes == ["tools"]  # the 401 asked for tools only
        # admin_reset answers 403 insufficient_scope, scope="admin": one new authorization
        # asking for both scopes (the earlier grant kept), then the same call succeeds.
        assert (await remote.call_tool("admin_reset", {})).text == "reset 1"
        assert approver.scopes == ["tools", "tools admin"]
        assert scope_log(server) == {"requested": ["tools", "tools admin"], "insufficient": 1}
        # The wider token serves every later call, of either tool, without asking again.
        assert (await remote.call_tool("admin_reset", {})).text == "reset 2"
        assert (await remote.call_tool("echo", {"text": "again"})).text == "again"
    assert approver.scopes == ["tools", "tools admin"]
    assert scope_log(server)["insufficient"] == 1
    record = next(iter((await store.items()).values()))
    assert record["tokens"]["scope"].split() == ["admin", "tools"]  # the stored grant
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert record["tokens"]["access_token"] not in logged
    assert record["tokens"]["refresh_token"] not in logged


async def test_a_second_403_after_step_up_is_reported_not_looped(http_server: Any) -> None:
    # This authorization server never grants "admin": the step-up gets a token without it.
    server: HttpServerProcess = http_server(
        "http", script=SCOPED, extra_args=("--grantable", "tools")
    )
    port = free_port()
    approver = Approver(port)
    started = time.monotonic()
    async with MCPManager(
        [config(server, port)], token_store=MemoryTokenStore(), authorizer=approver
    ) as mcp:
        remote = mcp.toolset("remote")
        assert (await remote.call_tool("echo", {"text": "hi"})).text == "hi"
        with pytest.raises(MCPAuthError) as info:
            await remote.call_tool("admin_reset", {})
        # One step-up authorization, one retry, then the answer: no loop.
        assert approver.scopes == ["tools", "tools admin"]
        assert scope_log(server)["insufficient"] == 2
        # The connection still serves what the token allows.
        assert (await remote.call_tool("echo", {"text": "still"})).text == "still"
    message = str(info.value)
    assert info.value.status == 403 and info.value.server == "remote"
    assert "still answered HTTP 403 insufficient_scope (it asks for scope 'admin')" in message
    assert "the authorization server did not grant that scope" in message
    assert "subagents mcp login" not in message  # a new login would get the same answer
    assert time.monotonic() - started < 60


async def test_unattended_step_up_names_the_scope_and_the_login(http_server: Any) -> None:
    server: HttpServerProcess = http_server("http", script=SCOPED)
    port = free_port()
    store = MemoryTokenStore()
    async with MCPManager(
        [config(server, port)], token_store=store, authorizer=Approver(port)
    ) as mcp:
        await mcp.start()  # logged in with the "tools" scope
    async with MCPManager([config(server, port)], token_store=store) as mcp:  # nobody there
        remote = mcp.toolset("remote")
        with pytest.raises(MCPAuthError) as info:
            await remote.call_tool("admin_reset", {})
        assert (await remote.call_tool("echo", {"text": "ok"})).text == "ok"
    assert info.value.status == 403
    assert "HTTP 403 insufficient_scope (it asks for scope 'admin')" in str(info.value)
    assert (
        "add 'admin' to this server's `oauth.scope` in endpoints.yml, then run "
        "`subagents mcp login remote` to grant it"
    ) in str(info.value)
    assert scope_log(server) == {"requested": ["tools"], "insufficient": 1}

    # Following that advice: the login asks for the 401's scope and the configured one ...
    wider = config(server, port).model_copy(
        update={"oauth": OAuthConfig(callback_port=port, scope="admin")}
    )
    approver = Approver(port)
    assert (await login(wider, store, approver)).authorized  # type: ignore[arg-type]
    assert approver.scopes == ["tools admin"]
    async with MCPManager([config(server, port)], token_store=store) as mcp:  # unattended
        assert (await mcp.toolset("remote").call_tool("admin_reset", {})).text == "reset 1"
    # ... and a later login keeps what was granted even without `oauth.scope`.
    assert (await login(config(server, port), store, approver)).authorized  # type: ignore[arg-type]
    assert approver.scopes == ["tools admin", "tools admin"]
