"""``subagents mcp login | logout | status``: the interactive part of OAuth, done once.

An assistant runs unattended, so nobody can approve an authorization page while it
serves. ``login`` does that part ahead of time: it connects to the server with a
:class:`LoopbackAuthorizer`, which prints the authorization URL (and opens a browser when
there is one) and receives the redirect on ``http://127.0.0.1:<callback_port>/callback``;
the tokens go to the token store, where the running assistant finds and refreshes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from mcp.shared.auth import AuthorizationCodeResult

from subagents.config.models import MCPServerConfig
from subagents.errors import MCPAuthError, MCPServerUnavailable

from .connection import MCPServerConnection
from .tokens import ServerTokenStorage, TokenStore

LOGIN_TIMEOUT = 300.0
"""Seconds a login waits for the browser's redirect."""

_PAGE = (
    "<!doctype html><meta charset=utf-8><title>subagents</title>"
    "<p style='font-family:sans-serif'>{text}</p>"
)


class LoginError(MCPAuthError):
    """A login could not be completed (refused, timed out, misconfigured)."""


class LoopbackAuthorizer:
    """Shows the authorization URL and receives the redirect on a 127.0.0.1 port.

    The port is bound *before* the URL is shown, so a quick approval is never missed;
    a port in use is reported with the setting to change (``oauth.callback_port``).
    """

    def __init__(
        self,
        server: str,
        port: int,
        *,
        show: Callable[[str], None],
        open_browser: bool = True,
        timeout: float = LOGIN_TIMEOUT,
    ) -> None:
        self.server = server
        self.port = port
        self.redirect_uri = f"http://127.0.0.1:{port}/callback"
        self._show = show
        self._open_browser = open_browser
        self._timeout = timeout

    async def authorize(self, authorization_url: str) -> AuthorizationCodeResult:
        done: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                line = (await asyncio.wait_for(reader.readline(), 10)).decode("latin-1")
                target = line.split(" ")[1] if line.count(" ") >= 2 else "/"
                parsed = urlparse(target)
                params = {k: v[0] for k, v in parse_qs(parsed.query).items()}
                ok = parsed.path == "/callback" and ("code" in params or "error" in params)
                text = "Authorized: you can close this window." if ok else "Not found."
                if ok and "error" in params:
                    text = f"Authorization failed: {params['error']}."
                body = _PAGE.format(text=text).encode()
                status = "200 OK" if ok else "404 Not Found"
                head = f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
                head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                writer.write(head.encode() + body)
                await writer.drain()
                if ok and not done.done():
                    done.set_result(params)
            except (TimeoutError, OSError, IndexError):
                pass
            finally:
                writer.close()

        try:
            listener = await asyncio.start_server(handle, "127.0.0.1", self.port)
        except OSError as exc:
            raise LoginError(
                self.server,
                f"cannot receive the login redirect on 127.0.0.1:{self.port} ({exc.strerror});"
                " set another `oauth.callback_port` for this server in endpoints.yml",
            ) from None
        async with listener:
            self._show(authorization_url)
            if self._open_browser:
                with contextlib.suppress(Exception):  # no browser here: the URL was shown
                    await asyncio.to_thread(webbrowser.open, authorization_url)
            try:
                params = await asyncio.wait_for(done, self._timeout)
            except TimeoutError:
                raise LoginError(
                    self.server,
                    f"no authorization arrived within {self._timeout:g} seconds; "
                    "run the login again and approve the page",
                ) from None
        if "error" in params:
            detail = params.get("error_description") or params["error"]
            raise LoginError(self.server, f"the authorization server refused: {detail}")
        return AuthorizationCodeResult(
            code=params["code"], state=params.get("state"), iss=params.get("iss")
        )


@dataclass
class LoginResult:
    server: str
    authorized: bool
    """False when the server never asked for authorization."""
    tools: int
    expires_at: float | None


def login_servers(servers: list[MCPServerConfig]) -> dict[str, MCPServerConfig]:
    """The servers a person logs in to: URL servers with the authorization-code grant."""
    return {
        s.name: s
        for s in servers
        if s.url and s.oauth is not None and s.oauth.effective_grant == "authorization_code"
    }


def pick_server(servers: list[MCPServerConfig], name: str) -> MCPServerConfig:
    """The configured server ``name``, or an error saying which ones use OAuth login."""
    logins = login_servers(servers)
    if name in logins:
        return logins[name]
    known = ", ".join(logins) or "none"
    if any(s.name == name for s in servers):
        raise LoginError(
            name,
            "does not use an OAuth login: add `oauth: {}` to it in endpoints.yml (servers"
            f" with OAuth login: {known})",
        )
    raise LoginError(
        name, f"is not in endpoints.yml mcp_servers (servers with OAuth login: {known})"
    )


async def login(
    cfg: MCPServerConfig,
    store: TokenStore,
    authorizer: LoopbackAuthorizer,
    *,
    project_root: Path | None = None,
) -> LoginResult:
    """Authorize ``cfg`` interactively and store its tokens (replacing older ones)."""
    assert cfg.url is not None
    storage = ServerTokenStorage(store, cfg.name, cfg.url)
    record = await store.get(storage.key)
    granted: str | None = None
    if record is not None and "tokens" in record:
        # A new login must ask again (e.g. for more scopes); the registration is kept, and
        # so are the scopes granted before (a step-up's), asked for again with the new ones.
        granted = (record.pop("tokens", None) or {}).get("scope")
        record.pop("expires_at", None)
        await store.put(storage.key, record)
    update: dict[str, Any] = {"max_retries": 1}
    if granted and cfg.oauth is not None:
        wanted = " ".join(dict.fromkeys([*(cfg.oauth.scope or "").split(), *granted.split()]))
        update["oauth"] = cfg.oauth.model_copy(update={"scope": wanted})
    once = cfg.model_copy(update=update)
    conn = MCPServerConnection(
        once, project_root=project_root, token_store=store, authorizer=authorizer
    )
    try:
        tools = await conn.list_tools()
    except MCPServerUnavailable as exc:
        if isinstance(exc, MCPAuthError):
            raise LoginError(cfg.name, exc.detail, status=exc.status) from None
        raise
    finally:
        await conn.aclose()
    tokens = await storage.get_tokens()
    return LoginResult(cfg.name, tokens is not None, len(tools), await storage.expires_at())


async def logout(cfg: MCPServerConfig, store: TokenStore) -> bool:
    """Forget the server's tokens and registration; True when there were some."""
    assert cfg.url is not None
    return await ServerTokenStorage(store, cfg.name, cfg.url).clear()


@dataclass
class ServerStatus:
    server: str
    url: str
    grant: str
    state: str
    """``authorized``, ``expired`` (refreshed on next use), ``not logged in``, ``machine``."""
    expires_at: float | None = None
    refreshable: bool = False

    def describe(self, now: float | None = None) -> str:
        """One line for ``subagents mcp status``."""
        now = time.time() if now is None else now
        if self.state == "machine":
            return f"{self.server}: client credentials (no login needed) - {self.url}"
        if self.state == "not logged in":
            return f"{self.server}: not logged in - run `subagents mcp login {self.server}`"
        refresh = ", refreshable" if self.refreshable else ""
        if self.expires_at is None:
            when = "no expiry given"
        elif self.expires_at > now:
            when = f"token expires in {_duration(self.expires_at - now)}"
        else:
            when = f"token expired {_duration(now - self.expires_at)} ago"
            if not self.refreshable:
                when += f" - run `subagents mcp login {self.server}`"
        return f"{self.server}: {self.state} ({when}{refresh}) - {self.url}"


async def status(servers: list[MCPServerConfig], store: TokenStore) -> list[ServerStatus]:
    """The OAuth state of every URL server with ``oauth:`` (never shows a token)."""
    result: list[ServerStatus] = []
    now = time.time()
    for cfg in servers:
        if cfg.url is None or cfg.oauth is None:
            continue
        grant = cfg.oauth.effective_grant
        if grant == "client_credentials":
            result.append(ServerStatus(cfg.name, cfg.url, grant, "machine"))
            continue
        key = ServerTokenStorage(store, cfg.name, cfg.url).key
        record: dict[str, Any] = await store.get(key) or {}
        tokens = record.get("tokens") or {}
        if not tokens:
            result.append(ServerStatus(cfg.name, cfg.url, grant, "not logged in"))
            continue
        expires = record.get("expires_at")
        expired = isinstance(expires, int | float) and expires <= now
        result.append(
            ServerStatus(
                cfg.name,
                cfg.url,
                grant,
                "expired" if expired else "authorized",
                float(expires) if isinstance(expires, int | float) else None,
                refreshable=bool(tokens.get("refresh_token")),
            )
        )
    return result


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
