"""OAuth against real servers: the toolbox server behind a small authorization server
(``tests/servers/oauth_gate.py``: metadata, dynamic registration, auto-approving
authorize, token, refresh). ``subagents mcp login`` is driven end to end, its callback on
127.0.0.1; refreshes, refusals and what the errors say are checked."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from mcp_helpers import HttpServerProcess
from typer.testing import CliRunner

from subagents.cli import app
from subagents.config.models import MCPServerConfig, OAuthConfig
from subagents.errors import MCPAuthError
from subagents.mcp import AuthorizationCodeResult, FileTokenStore, MCPManager, MemoryTokenStore

SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def oauth_server(http_server):
    def start(ttl: float = 3600.0) -> HttpServerProcess:
        return http_server("http", extra_args=("--oauth", "--token-ttl", str(ttl)))

    return start


def stats(server: HttpServerProcess) -> dict[str, int]:
    return httpx.get(f"{server.base}/admin/stats", timeout=10).json()


class Approver:
    """Approves like a person clicking "allow": follows the page to its redirect."""

    def __init__(self, port: int) -> None:
        self.redirect_uri = f"http://127.0.0.1:{port}/callback"
        self.asked = 0

    async def authorize(self, authorization_url: str) -> AuthorizationCodeResult:
        self.asked += 1
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(authorization_url, follow_redirects=False)
        query = parse_qs(urlparse(answer.headers["location"]).query)
        return AuthorizationCodeResult(code=query["code"][0], state=query["state"][0])


def config(server: HttpServerProcess, port: int, **fields) -> MCPServerConfig:
    fields.setdefault("max_retries", 1)
    return MCPServerConfig(
        name="remote",
        type="http",
        url=server.url,
        oauth=OAuthConfig(callback_port=port),
        timeout=20.0,
        connect_timeout=20.0,
        **fields,
    )


def cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "NO_COLOR": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "subagents.cli", *args, "--project", str(cwd)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def write_project(root: Path, server: HttpServerProcess, port: int) -> None:
    (root / "endpoints.yml").write_text(
        "mcp_servers:\n"
        "  - name: remote\n"
        "    type: http\n"
        f"    url: {server.url}\n"
        "    oauth:\n"
        f"      callback_port: {port}\n"
    )


def test_login_command_end_to_end_then_runs_unattended(oauth_server, tmp_path) -> None:
    server = oauth_server()
    port = free_port()
    write_project(tmp_path, server, port)
    login = cli("mcp", "login", "remote", "--no-browser", cwd=tmp_path)
    try:
        assert login.stdout is not None
        url = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not url:
            line = login.stdout.readline()
            if not line:
                break
            if line.startswith("http://"):
                url = line.strip()
        assert url.startswith(f"{server.base}/authorize?"), "no authorization URL shown"
        # The "browser": the authorization server approves and redirects to the callback.
        page = httpx.get(url, follow_redirects=True, timeout=30)
        assert page.status_code == 200 and "Authorized" in page.text
        rest, _ = login.communicate(timeout=60)
    finally:
        if login.poll() is None:
            login.kill()
            login.wait(10)
    assert login.returncode == 0, rest
    assert "Logged in to 'remote'" in rest

    token_file = tmp_path / ".subagents" / "mcp-tokens.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    record = next(iter(json.loads(token_file.read_text()).values()))
    access = record["tokens"]["access_token"]
    assert stats(server) == {"registered": 1, "authorized": 1, "code_grants": 1, "refreshes": 0}

    shown = CliRunner().invoke(app, ["mcp", "status", "--project", str(tmp_path)]).output
    assert "remote: authorized (token expires in " in shown and access not in shown

    async def use_it() -> str:  # the assistant (no authorizer) finds the stored login
        async with MCPManager([config(server, port)], project_root=tmp_path) as mcp:
            return (await mcp.toolset("remote").call_tool("echo", {"text": "hi"})).text

    assert asyncio.run(use_it()) == "hi"
    assert stats(server)["authorized"] == 1

    out = CliRunner().invoke(app, ["mcp", "logout", "remote", "--project", str(tmp_path)])
    assert "Logged out of 'remote'" in out.output
    assert json.loads(token_file.read_text()) == {}
    shown = CliRunner().invoke(app, ["mcp", "status", "--project", str(tmp_path)]).output
    assert "remote: not logged in - run `subagents mcp login remote`" in shown


async def test_expired_token_is_refreshed_at_run_time(oauth_server, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    server = oauth_server(ttl=2)
    port = free_port()
    store = MemoryTokenStore()
    approver = Approver(port)
    async with MCPManager([config(server, port)], token_store=store, authorizer=approver) as mcp:
        await mcp.start()
    assert approver.asked == 1
    record = next(iter((await store.items()).values()))
    first = record["tokens"]["access_token"]
    deadline = time.monotonic() + 10
    while time.time() < record["expires_at"] and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)  # polling a wall-clock expiry (bounded by the deadline)
    # Unattended: no authorizer. The expired token is refreshed, not re-authorized.
    async with MCPManager([config(server, port)], token_store=store) as mcp:
        assert (await mcp.toolset("remote").call_tool("echo", {"text": "x"})).text == "x"
    assert stats(server)["refreshes"] == 1 and stats(server)["code_grants"] == 1
    fresh = next(iter((await store.items()).values()))["tokens"]
    assert fresh["access_token"] != first
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for secret in (first, fresh["access_token"], fresh["refresh_token"]):
        assert secret not in logged


async def test_missing_login_names_the_command(oauth_server) -> None:
    server = oauth_server()
    started = time.monotonic()
    async with MCPManager(
        [config(server, free_port(), max_retries=3)], token_store=MemoryTokenStore()
    ) as mcp:
        with pytest.raises(MCPAuthError) as info:
            await mcp.start()
    assert info.value.status == 401 and info.value.server == "remote"
    assert "run `subagents mcp login remote`" in str(info.value)
    assert stats(server)["authorized"] == 0
    assert time.monotonic() - started < 30  # no retries with backoff: a login is needed


async def test_refused_refresh_asks_for_a_new_login(oauth_server) -> None:
    server = oauth_server()
    port = free_port()
    store = MemoryTokenStore()
    async with MCPManager(
        [config(server, port)], token_store=store, authorizer=Approver(port)
    ) as mcp:
        await mcp.start()
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(f"{server.base}/admin/revoke?refresh=1")
    async with MCPManager([config(server, port)], token_store=store) as mcp:
        with pytest.raises(MCPAuthError, match="subagents mcp login remote"):
            await mcp.start()
    tokens = next(iter((await store.items()).values()))["tokens"]
    assert tokens["access_token"] not in str(tokens.keys())


async def test_wrong_static_token_is_a_401_with_the_fix(oauth_server) -> None:
    server = oauth_server()
    cfg = MCPServerConfig(
        name="remote", type="http", url=server.url, token="not-the-right-token", max_retries=3
    )
    async with MCPManager([cfg]) as mcp:
        with pytest.raises(MCPAuthError) as info:
            await mcp.start()
    message = str(info.value)
    assert info.value.status == 401 and "HTTP 401" in message and "`token`" in message
    assert "not-the-right-token" not in message


async def test_token_file_store_is_private(tmp_path) -> None:
    store = FileTokenStore(tmp_path / "deep" / "tokens.json")
    await store.put("a b", {"tokens": {"access_token": "t"}})
    assert stat.S_IMODE((tmp_path / "deep" / "tokens.json").stat().st_mode) == 0o600
    assert await store.get("a b") == {"tokens": {"access_token": "t"}}
    assert await store.delete("a b") and await store.items() == {}
