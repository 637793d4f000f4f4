"""OAuth token stores chosen by ``mcp_token_store``: SQLite, the machine's PostgreSQL and
Redis (each test in its own schema / key prefix), behind the real toolbox server and its
small authorization server (``tests/servers/oauth_gate.py``).

A login done by ``subagents mcp login`` (one process) is used by a fresh MCPManager (this
process); a refresh rewrites the stored record; ``subagents mcp logout`` removes it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp_helpers import HttpServerProcess

from subagents.config.models import MCPServerConfig, MCPTokenStoreConfig, OAuthConfig
from subagents.errors import SchemaVersionError, StoreUnavailable
from subagents.mcp import MCPManager
from subagents.mcp.token_stores import (
    SCHEMA_VERSION,
    PostgresTokenStore,
    RedisTokenStore,
    SQLiteTokenStore,
    check_token_store,
    create_token_store,
)
from subagents.mcp.tokens import FileTokenStore

pytestmark = pytest.mark.timeout(180)

SRC = Path(__file__).resolve().parents[2] / "src"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def require(port: int, name: str) -> None:
    """Fail (never skip) unless the machine's service answers (.ci/run starts it)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return
    except OSError:
        pytest.fail(f"{name} is not reachable at 127.0.0.1:{port}; start it (.ci/run does)")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@contextlib.asynccontextmanager
async def pg_schema() -> AsyncIterator[str]:
    """A fresh schema on the machine's PostgreSQL, dropped afterwards."""
    import asyncpg

    require(5432, "postgresql")
    name = unique("tok")
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f"CREATE SCHEMA {name}")
        yield name
    finally:
        await conn.execute(f"DROP SCHEMA {name} CASCADE")
        await conn.close()


async def drop_redis_prefix(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def token_store_config(kind: str, tmp_path: Path) -> AsyncIterator[MCPTokenStoreConfig]:
    """An ``mcp_token_store`` of ``kind`` in a namespace of its own, removed afterwards."""
    if kind == "postgresql":
        async with pg_schema() as schema:
            url = f"{PG_DSN}?search_path={schema}"
            yield MCPTokenStoreConfig(type="sql", url=url)
    elif kind == "redis":
        require(6379, "redis")
        prefix = unique("tok") + ":"
        try:
            yield MCPTokenStoreConfig(type="redis", url=REDIS_URL, key_prefix=prefix)
        finally:
            await drop_redis_prefix(prefix)
    else:
        yield MCPTokenStoreConfig(type=kind, path=str(tmp_path / "store" / f"tokens.{kind}"))


KINDS = ["file", "sqlite", "postgresql", "redis"]


@pytest.mark.parametrize("kind", KINDS)
async def test_store_contract(kind: str, tmp_path: Path) -> None:
    async with token_store_config(kind, tmp_path) as cfg:
        store = create_token_store(cfg, tmp_path)
        assert await store.get("a http://x/mcp") is None
        assert await store.items() == {}
        record: dict[str, Any] = {"tokens": {"access_token": "t1"}, "expires_at": 12.5}
        await store.put("a http://x/mcp", record)
        await store.put("b http://y/mcp", {"client_info": {"client_id": "c"}})
        # Another instance (another process would build the same) sees the same records.
        again = create_token_store(cfg, tmp_path)
        assert await again.get("a http://x/mcp") == record
        await again.put("a http://x/mcp", {"tokens": {"access_token": "t2"}})
        assert await store.get("a http://x/mcp") == {"tokens": {"access_token": "t2"}}
        assert set(await store.items()) == {"a http://x/mcp", "b http://y/mcp"}
        assert await store.delete("a http://x/mcp") is True
        assert await store.delete("a http://x/mcp") is False
        assert await again.items() == {"b http://y/mcp": {"client_info": {"client_id": "c"}}}
        if kind != "file":
            assert await store.schema_status() == (SCHEMA_VERSION, SCHEMA_VERSION)  # type: ignore[attr-defined]
        if kind in ("file", "sqlite"):
            path = Path(str(cfg.path))
            assert os.stat(path).st_mode & 0o777 == 0o600


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "redis"])
async def test_newer_schema_is_refused_with_the_fix(kind: str, tmp_path: Path) -> None:
    async with token_store_config(kind, tmp_path) as cfg:
        store: Any = create_token_store(cfg, tmp_path)
        await store.put("k", {"tokens": {}})
        await _bump_schema(store, SCHEMA_VERSION + 1)
        fresh: Any = create_token_store(cfg, tmp_path)
        with pytest.raises(SchemaVersionError, match="upgrade subagents") as info:
            await fresh.get("k")
        assert f"schema version {SCHEMA_VERSION + 1}" in str(info.value)
        findings = await check_token_store(cfg, tmp_path)
        assert [(f[0], f[1]) for f in findings] == [(("mcp_token_store", "type"), "error")]


async def _bump_schema(store: Any, version: int) -> None:
    if isinstance(store, RedisTokenStore):
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(REDIS_URL)
        await client.set(store.version_key, version)
        await client.aclose()
    elif isinstance(store, PostgresTokenStore):
        await store._run(
            lambda c: c.execute("UPDATE subagents_mcp_tokens_schema SET version = $1", version)
        )
    else:
        assert isinstance(store, SQLiteTokenStore)
        await store._run(
            lambda c: c.execute("UPDATE subagents_mcp_tokens_schema SET version = ?", (version,))
        )


@pytest.mark.parametrize("kind", ["postgresql", "redis"])
async def test_unreachable_store_names_it_without_the_password(kind: str, tmp_path: Path) -> None:
    if kind == "redis":
        cfg = MCPTokenStoreConfig(
            type="redis", url="127.0.0.1", port=1, password="s3cret-pw", timeout=1
        )
    else:
        cfg = MCPTokenStoreConfig(
            type="sql", url="127.0.0.1", port=1, db="x", username="u", password="s3cret-pw"
        )
    store = create_token_store(cfg, tmp_path)
    with pytest.raises(StoreUnavailable) as info:
        await store.get("k")
    assert f"MCP token store {kind} 127.0.0.1:1" in str(info.value)
    assert "s3cret-pw" not in str(info.value)
    findings = await check_token_store(cfg, tmp_path)
    assert findings and findings[0][:2] == (("mcp_token_store", "url"), "error")
    assert "cannot reach it" in findings[0][2] and "s3cret-pw" not in findings[0][2]


def test_default_is_the_private_file(tmp_path: Path) -> None:
    store = create_token_store(None, tmp_path)
    assert isinstance(store, FileTokenStore)
    assert store.path == tmp_path / ".subagents" / "mcp-tokens.json"
    assert MCPManager([], project_root=tmp_path).token_store.where == store.where  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- end to end


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stats(server: HttpServerProcess) -> dict[str, int]:
    return dict(httpx.get(f"{server.base}/admin/stats", timeout=10).json())


def store_yaml(cfg: MCPTokenStoreConfig) -> str:
    fields = cfg.model_dump(exclude_defaults=True, exclude={"type"})
    lines = [f"  type: {cfg.type}"] + [f"  {k}: {json.dumps(v)}" for k, v in fields.items()]
    return "mcp_token_store:\n" + "\n".join(lines) + "\n"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "subagents.cli", *args, "--project", str(cwd)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@contextlib.contextmanager
def login_process(root: Path) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "subagents.cli", "mcp", "login", "remote", "--no-browser"]
        + ["--project", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def run_login(root: Path, server: HttpServerProcess) -> str:
    """``subagents mcp login remote`` in its own process, approved like a person would."""
    with login_process(root) as login:
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
        page = httpx.get(url, follow_redirects=True, timeout=30)
        assert page.status_code == 200 and "Authorized" in page.text
        rest, _ = login.communicate(timeout=60)
        assert login.returncode == 0, rest
    return rest


@pytest.mark.parametrize("kind", ["redis", "postgresql", "sqlite"])
async def test_login_in_one_process_used_refreshed_and_removed(
    kind: str, http_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server: HttpServerProcess = http_server("http", extra_args=("--oauth", "--token-ttl", "2"))
    port = free_port()
    async with token_store_config(kind, tmp_path) as store_cfg:
        (tmp_path / "endpoints.yml").write_text(
            f"mcp_servers:\n  - name: remote\n    type: http\n    url: {server.url}\n"
            f"    oauth:\n      callback_port: {port}\n" + store_yaml(store_cfg)
        )
        shown = await asyncio.to_thread(run_login, tmp_path, server)
        assert "Logged in to 'remote'" in shown and f"MCP token store {kind}" in shown
        assert not (tmp_path / ".subagents" / "mcp-tokens.json").exists()
        store = create_token_store(store_cfg, tmp_path)
        (key, record), *others = (await store.items()).items()
        assert key == f"remote {server.url}" and not others
        first = record["tokens"]["access_token"]
        assert record["client_info"]["client_id"].startswith("client-")

        status = await asyncio.to_thread(cli, "mcp", "status", cwd=tmp_path)
        # The 2 s token may have expired while the command started: either way, refreshable.
        assert re.search(r"remote: (authorized|expired) \(.*, refreshable\)", status.stdout), (
            status.stdout
        )
        assert first not in status.stdout

        # Once the 2 s token expired, a fresh manager (no authorizer: unattended) refreshes
        # it through the stored refresh token and writes the new one back.
        deadline = time.monotonic() + 10
        while time.time() < record["expires_at"] and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)  # polling a wall-clock expiry (bounded by the deadline)
        cfg = MCPServerConfig(
            name="remote",
            type="http",
            url=server.url,
            oauth=OAuthConfig(callback_port=port),
            max_retries=1,
        )
        async with MCPManager([cfg], project_root=tmp_path, token_store_config=store_cfg) as mcp:
            assert (await mcp.toolset("remote").call_tool("echo", {"text": "hi"})).text == "hi"
        assert stats(server) == {"registered": 1, "authorized": 1, "code_grants": 1, "refreshes": 1}
        fresh = await store.get(key)
        assert fresh is not None and fresh["tokens"]["access_token"] != first
        assert fresh["expires_at"] > record["expires_at"]

        out = await asyncio.to_thread(cli, "mcp", "logout", "remote", cwd=tmp_path)
        assert "Logged out of 'remote'" in out.stdout
        assert await store.items() == {}
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for secret in (first, fresh["tokens"]["access_token"], fresh["tokens"]["refresh_token"]):
        assert secret not in logged


def test_unreachable_store_in_the_commands_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "endpoints.yml").write_text(
        "mcp_servers:\n  - name: remote\n    type: http\n    url: http://127.0.0.1:9/mcp\n"
        "    oauth: {}\n"
        "mcp_token_store:\n  type: redis\n  url: 127.0.0.1\n  port: 1\n  timeout: 1\n"
    )
    for args in (("mcp", "status"), ("mcp", "logout", "remote")):
        result = cli(*args, cwd=tmp_path)
        assert result.returncode == 1
        assert "MCP token store redis 127.0.0.1:1" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- configuration


def test_bad_settings_name_the_field_and_the_fix(tmp_path: Path) -> None:
    from subagents.agents.validate import validate_project

    (tmp_path / "endpoints.yml").write_text(
        "mcp_token_store:\n  type: sql\n  dialect: mysql\n  password: hunter22\n  path: x.db\n"
    )
    found = {
        (str(p).split(": ")[0], p.field, p.severity): str(p)
        for p in validate_project(tmp_path)
        if (p.field or "").startswith("mcp_token_store")
    }
    assert set(found) == {
        ("endpoints.yml:3", "mcp_token_store.dialect", "error"),
        ("endpoints.yml:4", "mcp_token_store.password", "error"),
        ("endpoints.yml:5", "mcp_token_store.path", "warning"),
    }
    assert "use 'postgresql'" in found[("endpoints.yml:3", "mcp_token_store.dialect", "error")]
    assert "use ${VAR}" in found[("endpoints.yml:4", "mcp_token_store.password", "error")]

    (tmp_path / "endpoints.yml").write_text("mcp_token_store:\n  type: mongo\n")
    (problem,) = [p for p in validate_project(tmp_path) if p.field == "mcp_token_store.type"]
    assert "redis" in str(problem) and "sqlite" in str(problem)


def test_validate_connect_reaches_the_token_store(tmp_path: Path) -> None:
    from subagents.scaffold import write_project

    require(6379, "redis")
    root = tmp_path / "p"
    write_project(root)
    endpoints = (root / "endpoints.yml").read_text()
    dead = "mcp_token_store:\n  type: redis\n  url: redis://127.0.0.1:1/0\n  timeout: 1\n"
    (root / "endpoints.yml").write_text(endpoints + dead)
    result = cli("validate", "--connect", cwd=root)
    assert result.returncode == 1
    assert (
        "endpoints.yml: mcp_token_store.url: cannot reach it: MCP token store redis 127.0.0.1:1"
        in result.stdout
    ), result.stdout + result.stderr
    live = f"mcp_token_store:\n  type: redis\n  url: {REDIS_URL}\n  key_prefix: '{unique('v')}:'\n"
    (root / "endpoints.yml").write_text(endpoints + live)
    result = cli("validate", "--connect", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mcp_token_store" not in result.stdout


async def test_unreachable_store_at_run_time_names_the_server_and_the_store(
    http_server: Any,
) -> None:
    from subagents.errors import MCPServerUnavailable

    server: HttpServerProcess = http_server("http", extra_args=("--oauth",))
    cfg = MCPServerConfig(
        name="remote", type="http", url=server.url, oauth=OAuthConfig(), max_retries=1
    )
    dead = MCPTokenStoreConfig(type="redis", url="127.0.0.1", port=1, timeout=1)
    async with MCPManager([cfg], token_store_config=dead) as mcp:
        with pytest.raises(MCPServerUnavailable) as info:
            await mcp.start()
    assert info.value.server == "remote"
    assert "MCP token store redis 127.0.0.1:1" in str(info.value)
