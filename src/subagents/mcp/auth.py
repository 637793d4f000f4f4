"""Authentication for URL MCP servers: static headers, bearer tokens, API keys and the
OAuth2 client-credentials grant (tokens cached until shortly before they expire)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

import anyio
import httpx2

from subagents.config.models import MCPServerConfig, OAuthConfig
from subagents.errors import SubagentsError

logger = logging.getLogger("subagents.mcp.auth")

REFRESH_MARGIN_SECONDS = 30.0
"""A token is renewed this long before it expires (at most half its lifetime)."""


class OAuthTokenError(SubagentsError):
    """The token endpoint refused or failed the client-credentials request."""


def static_headers(cfg: MCPServerConfig) -> dict[str, str]:
    """The headers every request to ``cfg``'s URL carries: ``headers``, ``token`` and
    ``api_key`` (formatted with ``header_format`` into ``header_name``)."""
    headers = dict(cfg.headers)
    if cfg.token:
        headers["Authorization"] = f"Bearer {cfg.token}"
    if cfg.api_key:
        headers[cfg.header_name] = cfg.header_format.format(api_key=cfg.api_key)
    return headers


class ClientCredentialsAuth(httpx2.Auth):
    """``httpx2`` auth flow for the OAuth2 client-credentials grant.

    The token is fetched on first use, cached, and renewed shortly before ``expires_in``
    runs out. A 401 answer to a request made with a cached token renews it once.
    The client secret is sent in the form body (``client_secret_post``).
    """

    def __init__(self, oauth: OAuthConfig, *, timeout: float = 30.0) -> None:
        self._oauth = oauth
        self._timeout = timeout
        self._token: str | None = None
        self._valid_until = 0.0
        self._lock = anyio.Lock()
        self.fetch_count = 0
        """How many tokens were fetched (for diagnostics and tests)."""

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        token = await self._current_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            token = await self._current_token(stale=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    async def _current_token(self, stale: str | None = None) -> str:
        async with self._lock:
            fresh = self._token is not None and time.monotonic() < self._valid_until
            if fresh and self._token != stale:
                assert self._token is not None
                return self._token
            return await self._fetch()

    async def _fetch(self) -> str:
        oauth = self._oauth
        form: dict[str, Any] = {
            "grant_type": "client_credentials",
            "client_id": oauth.client_id,
            "client_secret": oauth.client_secret,
        }
        if oauth.scope:
            form["scope"] = oauth.scope
        if oauth.audience:
            form["audience"] = oauth.audience
        started = time.monotonic()
        try:
            async with httpx2.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(
                    oauth.token_url, data=form, headers={"Accept": "application/json"}
                )
        except httpx2.HTTPError as exc:
            raise OAuthTokenError(f"token endpoint {oauth.token_url} unreachable: {exc}") from exc
        if response.status_code != 200:
            raise OAuthTokenError(
                f"token endpoint {oauth.token_url} answered HTTP {response.status_code}: "
                f"{response.text[:200]}"
            )
        try:
            body = response.json()
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise OAuthTokenError(
                f"token endpoint {oauth.token_url} returned no access_token"
            ) from exc
        lifetime = _expires_in(body)
        margin = min(REFRESH_MARGIN_SECONDS, lifetime / 2)
        self._token = token
        self._valid_until = started + lifetime - margin
        self.fetch_count += 1
        logger.debug(
            "mcp.oauth.token_fetched", extra={"token_url": oauth.token_url, "expires_in": lifetime}
        )
        return token


def _expires_in(body: dict[str, Any]) -> float:
    """``expires_in`` seconds from a token response (one hour when absent or invalid)."""
    try:
        value = float(body.get("expires_in", 3600))
    except (TypeError, ValueError):
        return 3600.0
    return max(value, 0.0)
