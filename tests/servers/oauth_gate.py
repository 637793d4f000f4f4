"""A small OAuth 2.1 authorization server in front of an MCP app (ASGI), for the tests.

``OAuthGate(app, base_url, token_ttl=...)`` serves, beside the wrapped MCP app at ``/mcp``:

* protected resource metadata (``/.well-known/oauth-protected-resource/mcp``) and
  authorization server metadata (``/.well-known/oauth-authorization-server``);
* dynamic client registration (``POST /register``);
* ``GET /authorize``, which approves at once (no person needed) and redirects with a code;
* ``POST /token``: authorization code with PKCE (S256), and refresh tokens;
* ``GET /admin/stats`` (counts) and ``POST /admin/revoke`` (forget every access token;
  ``?refresh=1`` also every refresh token), so tests can check refreshes and logins.

Requests to ``/mcp`` without a valid bearer token get 401 with a ``WWW-Authenticate``
header naming the resource metadata, as the MCP authorization spec describes.

Scopes (``tool_scopes={"tool name": "scope"}``): the 401 asks for ``tools`` only; a
``tools/call`` of a listed tool with a token that lacks its scope gets 403
``insufficient_scope`` naming it (step-up). Tokens carry the scopes requested at
``/authorize``, cut down to ``grantable`` when given (an authorization server that will
not grant a scope). ``GET /admin/scopes``: the scopes each authorization asked for, and
how many 403s were sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode


class OAuthGate:
    def __init__(
        self,
        app: Any,
        base_url: str,
        *,
        token_ttl: float = 3600.0,
        tool_scopes: dict[str, str] | None = None,
        grantable: set[str] | None = None,
    ) -> None:
        self.app = app
        self.base = base_url.rstrip("/")
        self.token_ttl = token_ttl
        self.tool_scopes = dict(tool_scopes or {})
        self.grantable = grantable
        self.clients: dict[str, dict[str, Any]] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.access: dict[str, float] = {}  # token -> expiry (monotonic)
        self.granted: dict[str, set[str]] = {}  # access or refresh token -> its scopes
        self.refresh: set[str] = set()
        self.scope_log: dict[str, Any] = {"requested": [], "insufficient": 0}
        self.stats = {"registered": 0, "authorized": 0, "code_grants": 0, "refreshes": 0}

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        route = self._routes().get((method, path.rstrip("/") or "/"))
        if route is not None:
            body = await _read_body(receive)
            status, headers, payload = route(scope, body)
            await _respond(send, status, headers, payload)
            return
        metadata = f'resource_metadata="{self.base}/.well-known/oauth-protected-resource/mcp"'
        if path.startswith("/mcp") and not self._authorized(scope):
            challenge = f"Bearer {metadata}"
            if self.tool_scopes:
                challenge += ', scope="tools"'
            await _respond(
                send,
                401,
                {"www-authenticate": challenge},
                {"error": "invalid_token", "error_description": "authorization needed"},
            )
            return
        if path.startswith("/mcp") and self.tool_scopes and method == "POST":
            body = await _read_body(receive)
            needed = self._missing_scope(scope, body)
            if needed:
                self.scope_log["insufficient"] += 1
                challenge = f'Bearer error="insufficient_scope", scope="{needed}", {metadata}'
                await _respond(
                    send,
                    403,
                    {"www-authenticate": challenge},
                    {"error": "insufficient_scope", "error_description": f"needs {needed}"},
                )
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _missing_scope(self, scope: Any, body: bytes) -> str | None:
        """The scope a ``tools/call`` needs and the request's token lacks, if any."""
        try:
            message = json.loads(body or b"{}")
        except ValueError:
            return None
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            return None
        needed = self.tool_scopes.get(str((message.get("params") or {}).get("name")))
        if needed is None or needed in self.granted.get(_bearer(scope), set()):
            return None
        return needed

    def _routes(self) -> dict[tuple[str, str], Any]:
        return {
            ("GET", "/.well-known/oauth-protected-resource/mcp"): self._resource_metadata,
            ("GET", "/.well-known/oauth-protected-resource"): self._resource_metadata,
            ("GET", "/.well-known/oauth-authorization-server"): self._server_metadata,
            ("POST", "/register"): self._register,
            ("GET", "/authorize"): self._authorize,
            ("POST", "/token"): self._token,
            ("GET", "/admin/stats"): lambda scope, body: (200, {}, self.stats),
            ("POST", "/admin/revoke"): self._revoke,
            ("GET", "/admin/scopes"): lambda scope, body: (200, {}, self.scope_log),
        }

    def _authorized(self, scope: Any) -> bool:
        expiry = self.access.get(_bearer(scope))
        return expiry is not None and time.monotonic() < expiry

    # ------------------------------------------------------------------ endpoints

    def _resource_metadata(self, scope: Any, body: bytes) -> tuple[int, dict[str, str], Any]:
        return (
            200,
            {},
            {
                "resource": f"{self.base}/mcp",
                "authorization_servers": [self.base],
                "scopes_supported": ["tools", *sorted(set(self.tool_scopes.values()))],
            },
        )

    def _server_metadata(self, scope: Any, body: bytes) -> tuple[int, dict[str, str], Any]:
        return (
            200,
            {},
            {
                "issuer": self.base,
                "authorization_endpoint": f"{self.base}/authorize",
                "token_endpoint": f"{self.base}/token",
                "registration_endpoint": f"{self.base}/register",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none"],
                "scopes_supported": ["tools"],
            },
        )

    def _register(self, scope: Any, body: bytes) -> tuple[int, dict[str, str], Any]:
        request = json.loads(body or b"{}")
        client_id = f"client-{secrets.token_hex(4)}"
        record = {
            "client_id": client_id,
            "client_id_issued_at": int(time.time()),
            "redirect_uris": request.get("redirect_uris", []),
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
        self.clients[client_id] = record
        self.stats["registered"] += 1
        return 201, {}, record

    def _authorize(self, scope: Any, body: bytes) -> tuple[int, dict[str, str], Any]:
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        client = self.clients.get(query.get("client_id", ""))
        if client is None or query.get("redirect_uri") not in client["redirect_uris"]:
            return 400, {}, {"error": "invalid_request", "error_description": "unknown client"}
        code = secrets.token_urlsafe(16)
        requested = query.get("scope", "")
        self.scope_log["requested"].append(requested)
        scopes = set(requested.split()) or {"tools"}
        if self.grantable is not None:
            scopes &= self.grantable
        self.codes[code] = {
            "client_id": client["client_id"],
            "challenge": query.get("code_challenge"),
            "redirect_uri": query["redirect_uri"],
            "scopes": scopes,
        }
        self.stats["authorized"] += 1
        params = {"code": code, "state": query.get("state", "")}
        return 302, {"location": f"{query['redirect_uri']}?{urlencode(params)}"}, {}

    def _token(self, scope: Any, body: bytes) -> tuple[int, dict[str, str], Any]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self.refresh:
                return 400, {}, {"error": "invalid_grant"}
            self.stats["refreshes"] += 1
            return 200, {}, self._issue(form["refresh_token"], self.granted[form["refresh_token"]])
        grant = self.codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        if grant is None or grant["challenge"] != challenge:
            return 400, {}, {"error": "invalid_grant"}
        self.stats["code_grants"] += 1
        refresh = secrets.token_urlsafe(24)
        self.refresh.add(refresh)
        self.granted[refresh] = grant["scopes"]
        return 200, {}, self._issue(refresh, grant["scopes"])

    def _issue(self, refresh: str, scopes: set[str]) -> dict[str, Any]:
        token = secrets.token_urlsafe(24)
        self.access[token] = time.monotonic() + self.token_ttl
        self.granted[token] = scopes
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_ttl,
            "refresh_token": refresh,
            "scope": " ".join(sorted(scopes)),
        }

    def _revoke(self, scope: Any, body: bytes) -> tuple[int, dict[str, str], Any]:
        self.access.clear()
        if b"refresh=1" in scope["query_string"]:
            self.refresh.clear()
        return 200, {}, {"revoked": True}


def _bearer(scope: Any) -> str:
    headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
    value = headers.get("authorization", "")
    return value[7:] if value.startswith("Bearer ") else ""


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that hands the already-read body to the app, then the real one."""
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _respond(send: Any, status: int, headers: dict[str, str], payload: Any) -> None:
    data = json.dumps(payload).encode()
    raw = [
        (b"content-type", b"application/json"),
        *((k.encode(), v.encode()) for k, v in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})
