"""Authentication for URL MCP servers: static headers, bearer tokens, API keys, OAuth 2.1.

* ``token`` / ``api_key`` / ``headers``: sent with every request (:func:`static_headers`).
* OAuth client credentials with a configured ``token_url``: :class:`ClientCredentialsAuth`
  (``client_secret_post``, ``client_secret_basic`` or ``private_key_jwt``).
* OAuth client credentials without ``token_url``, and the authorization-code grant: the
  SDK's OAuth providers, which discover the token endpoint from the server's 401
  (protected resource metadata, authorization server metadata), register the client
  (pre-registered, Client ID Metadata Document or dynamic registration), ask for scopes,
  step up on 403 ``insufficient_scope`` and refresh tokens. Our part is the
  configuration, the token store, the login command and the errors.

An assistant runs unattended: when a server needs the interactive part of the
authorization-code grant at run time, nobody is there to approve it. Without an
:class:`Authorizer` the flow stops, the server's own 401 answers the request, and the
connection reports ``MCPAuthError`` naming ``subagents mcp login SERVER``
(:class:`AuthMonitor` remembers why). Token values are never logged or put in errors.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import anyio
import httpx2
from mcp.client.auth import OAuthFlowError
from mcp.client.auth.extensions.client_credentials import (
    ClientCredentialsOAuthProvider,
    PrivateKeyJWTOAuthProvider,
    SignedJWTParameters,
)
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata
from pydantic import AnyUrl

from subagents.config.models import MCPServerConfig, OAuthConfig
from subagents.errors import MCPAuthError, SubagentsError

from ._sdk import StoredExpiryOAuthProvider
from .tokens import ServerTokenStorage, TokenStore

logger = logging.getLogger("subagents.mcp.auth")

REFRESH_MARGIN_SECONDS = 30.0
"""A token is renewed this long before it expires (at most half its lifetime)."""

CLIENT_NAME = "subagents"


class OAuthTokenError(MCPAuthError):
    """The token endpoint refused or failed the client-credentials request."""


class Authorizer(Protocol):
    """The interactive part of the authorization-code grant.

    Given the authorization URL, get a person (or, in tests, an auto-approving server) to
    approve it and return the parameters of the redirect to :attr:`redirect_uri`.
    """

    redirect_uri: str

    async def authorize(self, authorization_url: str) -> AuthorizationCodeResult:
        """Approve ``authorization_url``; return the redirect's code, state and iss."""
        ...


class LoginRequired(SubagentsError):
    """Internal: the flow needs a person and none is there (caught by :class:`GuardedAuth`)."""


def static_headers(cfg: MCPServerConfig) -> dict[str, str]:
    """The headers every request to ``cfg``'s URL carries: ``headers``, ``token`` and
    ``api_key`` (formatted with ``header_format`` into ``header_name``)."""
    headers = dict(cfg.headers)
    if cfg.token:
        headers["Authorization"] = f"Bearer {cfg.token}"
    if cfg.api_key:
        headers[cfg.header_name] = cfg.header_format.format(api_key=cfg.api_key)
    return headers


def login_command(server: str) -> str:
    return f"subagents mcp login {server}"


# --------------------------------------------------------------------------- monitoring


@dataclass
class AuthProblem:
    """Why the last request to the MCP endpoint was refused (never holds a token)."""

    status: int | None
    detail: str
    login: bool = False
    """A login (``subagents mcp login``) would fix it."""
    insufficient_scope: bool = False
    """The refusal was the latest answer: 403 ``insufficient_scope`` (a step-up)."""


class AuthMonitor:
    """Watches the responses of one server's MCP endpoint and the OAuth flow.

    Installed as an ``httpx2`` response hook, it remembers the last refusal (401/403) and
    whether the last request that carried a session id was rejected as unknown (400/404),
    so that the connection can report what happened instead of a generic error.
    """

    def __init__(self, server: str, url: str, oauth: OAuthConfig | None) -> None:
        self.server = server
        self.url = httpx2.URL(url)
        self.oauth = oauth
        self.problem: AuthProblem | None = None
        self.session_rejected: int | None = None
        """HTTP status (400/404) of the last request with a session id that was rejected."""
        self.refused = 0
        """Requests whose connection was refused (they never reached the server)."""
        self.stepped_up = False
        """The next answer is to a request repeated after a step-up authorization."""

    async def on_response(self, response: httpx2.Response) -> None:
        """``httpx2`` response hook: classify answers from the MCP endpoint."""
        request = response.request
        if request.url.copy_with(query=None) != self.url.copy_with(query=None):
            return  # discovery, registration, token requests of the OAuth flow
        status = response.status_code
        stepped_up, self.stepped_up = self.stepped_up, False
        if status in (400, 404) and "mcp-session-id" in request.headers:
            self.session_rejected = status
        elif status in (401, 403):
            self._refused(status, response.headers.get("www-authenticate", ""), stepped_up)
        elif status < 400:
            self.problem = None
            self.session_rejected = None

    def _refused(self, status: int, challenge: str, stepped_up: bool = False) -> None:
        params = _challenge_params(challenge)
        error, scope = params.get("error", ""), params.get("scope", "")
        oauth_login = self.oauth is not None and self.oauth.effective_grant == "authorization_code"
        needs = f" (it asks for scope '{scope}')" if scope else ""
        if status == 403 and error == "insufficient_scope" and stepped_up:
            # The bounded step-up (one new authorization, one retry) did not get the scope:
            # another login would ask for the same and get the same.
            detail = (
                f"still answered HTTP 403 insufficient_scope{needs} after a new authorization"
                " that asked for it: the authorization server did not grant that scope to this"
                " account or client; ask its administrator to allow it"
            )
        elif status == 403 and error == "insufficient_scope":
            detail = f"answered HTTP 403 insufficient_scope{needs}: {self._scope_fix(scope)}"
        elif status == 403:
            detail = "answered HTTP 403 Forbidden: the credentials are valid but not allowed"
            detail += " this; check the account's permissions on the server"
        elif oauth_login:
            detail = f"answered HTTP 401 Unauthorized: run `{login_command(self.server)}`"
        elif self.oauth is not None:
            detail = "answered HTTP 401 Unauthorized: the OAuth client credentials were refused"
        else:
            detail = (
                "answered HTTP 401 Unauthorized: check `token`, `api_key` or `headers` of this"
                " server in endpoints.yml (or add `oauth:` if the server uses OAuth)"
            )
        if error and error != "insufficient_scope":
            detail += f" (error: {error})"
        keep_login_hint = self.problem is not None and self.problem.login and status == 401
        if keep_login_hint and self.problem is not None:
            self.problem.insufficient_scope = False
        else:
            step_up = status == 403 and error == "insufficient_scope"
            self.problem = AuthProblem(status, detail, oauth_login, step_up)

    def _scope_fix(self, scope: str) -> str:
        """What grants a scope the server asked for (a step-up nobody approved)."""
        if self.oauth is None or self.oauth.effective_grant != "authorization_code":
            return "grant the client that scope at the authorization server"
        login = f"run `{login_command(self.server)}`"
        if scope:  # a login asks for the server's 401 scope plus `oauth.scope`
            login = f"add '{scope}' to this server's `oauth.scope` in endpoints.yml, then {login}"
        return f"{login} to grant it"

    def flow_failed(self, reason: str, *, login: bool) -> None:
        """The OAuth flow stopped (no person to approve, refused refresh, bad metadata)."""
        if login and self.problem is not None and self.problem.insufficient_scope:
            return  # a step-up nobody could approve: the 403 already says which scope, and how
        if login:
            reason = f"{reason}: run `{login_command(self.server)}`"
        self.problem = AuthProblem(self.problem.status if self.problem else None, reason, login)

    def error(self) -> MCPAuthError | None:
        """The auth problem seen last, as an error naming the server and the fix."""
        if self.problem is None:
            return None
        return MCPAuthError(
            self.server, f"{self.url} {self.problem.detail}", status=self.problem.status
        )


def _challenge_params(challenge: str) -> dict[str, str]:
    """``key="value"`` pairs of a ``WWW-Authenticate: Bearer ...`` header."""
    params: dict[str, str] = {}
    for part in challenge.replace("Bearer ", "", 1).split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            params[key.strip().lower()] = value.strip().strip('"')
    return params


class GuardedAuth(httpx2.Auth):
    """Runs an SDK OAuth provider's flow; when the flow fails, the server's own answer
    (401/403) is returned instead of an exception, and :class:`AuthMonitor` says why.

    An exception inside the transport's request task would tear the whole session down
    and lose the reason; a refused request is something the connection can report.
    """

    requires_response_body = True

    def __init__(self, inner: httpx2.Auth, monitor: AuthMonitor) -> None:
        self.inner = inner
        self.monitor = monitor

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        flow = self.inner.async_auth_flow(request)
        try:
            try:
                outgoing = await flow.__anext__()
                refused = False
                while True:
                    if outgoing is request and refused:
                        # The SDK repeats the request once after a step-up authorization.
                        self.monitor.stepped_up = True
                    response = yield outgoing
                    if outgoing is request:
                        refused = response.status_code == 403
                    outgoing = await flow.asend(response)
            except StopAsyncIteration:
                return
            except LoginRequired as exc:
                self.monitor.flow_failed(str(exc), login=True)
            except MCPAuthError as exc:  # our client-credentials flow: final, no login helps
                self.monitor.flow_failed(exc.detail, login=False)
            except (OAuthFlowError, httpx2.HTTPError, ValueError) as exc:
                # OAuthFlowError covers refused tokens and registrations; ValueError bad
                # metadata. Their texts name endpoints and statuses, never token values.
                self.monitor.flow_failed(f"the OAuth flow failed: {exc}", login=True)
            request.headers.pop("Authorization", None)
            yield request  # its 401/403 is the answer the transport reports
        finally:
            await flow.aclose()


# --------------------------------------------------------------------------- providers


class _UnattendedAuthorizer:
    """Used when nobody can approve: every authorization needs ``subagents mcp login``."""

    def __init__(self, redirect_uri: str) -> None:
        self.redirect_uri = redirect_uri

    async def authorize(self, authorization_url: str) -> AuthorizationCodeResult:
        raise LoginRequired("this server needs an OAuth login that was not done (or expired)")


def redirect_uri_for(oauth: OAuthConfig) -> str:
    """The loopback callback URL a login receives the redirect on."""
    return f"http://127.0.0.1:{oauth.callback_port}/callback"


def build_oauth(
    cfg: MCPServerConfig, store: TokenStore, authorizer: Authorizer | None
) -> httpx2.Auth | None:
    """The ``httpx2`` auth of a URL server with ``oauth:`` (``None`` without it)."""
    oauth = cfg.oauth
    if oauth is None or cfg.url is None:
        return None
    if oauth.effective_grant == "client_credentials" and oauth.token_url:
        return ClientCredentialsAuth(oauth, server=cfg.name)
    storage = ServerTokenStorage(store, cfg.name, cfg.url)
    if oauth.effective_grant == "client_credentials":
        return _discovering_client_credentials(cfg, oauth, storage)
    return _authorization_code(cfg, oauth, storage, authorizer)


def _discovering_client_credentials(
    cfg: MCPServerConfig, oauth: OAuthConfig, storage: ServerTokenStorage
) -> httpx2.Auth:
    assert cfg.url is not None and oauth.client_id is not None  # checked at config load
    if oauth.private_key:
        params = SignedJWTParameters(
            issuer=oauth.client_id,
            subject=oauth.client_id,
            signing_key=oauth.private_key,
            signing_algorithm=oauth.signing_algorithm,
        )
        return PrivateKeyJWTOAuthProvider(
            server_url=cfg.url,
            storage=storage,
            client_id=oauth.client_id,
            assertion_provider=params.create_assertion_provider(),
            scope=oauth.scope,
            issuer=oauth.issuer,
        )
    method = oauth.token_endpoint_auth_method or "client_secret_basic"
    return ClientCredentialsOAuthProvider(
        server_url=cfg.url,
        storage=storage,
        client_id=oauth.client_id,
        client_secret=oauth.client_secret or "",
        token_endpoint_auth_method="client_secret_post"
        if method == "client_secret_post"
        else "client_secret_basic",
        scope=oauth.scope,
        issuer=oauth.issuer,
    )


def _authorization_code(
    cfg: MCPServerConfig,
    oauth: OAuthConfig,
    storage: ServerTokenStorage,
    authorizer: Authorizer | None,
) -> httpx2.Auth:
    assert cfg.url is not None
    approver: Authorizer = authorizer or _UnattendedAuthorizer(redirect_uri_for(oauth))
    pending: dict[str, AuthorizationCodeResult] = {}

    async def redirect(url: str) -> None:
        pending["result"] = await approver.authorize(with_scopes(url, oauth.scope))

    async def callback() -> AuthorizationCodeResult:
        return pending.pop("result")

    metadata = OAuthClientMetadata(
        client_name=CLIENT_NAME,
        redirect_uris=[AnyUrl(approver.redirect_uri)],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        scope=oauth.scope,
    )
    return StoredExpiryOAuthProvider(
        server_url=cfg.url,
        client_metadata=metadata,
        storage=_PreRegistered(storage, oauth, approver.redirect_uri),
        redirect_handler=redirect,
        callback_handler=callback,
        client_metadata_url=oauth.client_metadata_url,
    )


def with_scopes(authorization_url: str, extra: str | None) -> str:
    """The authorization URL asking also for the ``extra`` scopes (``oauth.scope``).

    The SDK asks for the scope of the server's 401 challenge alone when it names one, which
    would drop the configured scopes that some tools need (a step-up that an unattended
    assistant cannot approve). The scope is not part of PKCE or ``state``.
    """
    if not extra:
        return authorization_url
    parts = urlsplit(authorization_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    asked = " ".join(v for k, v in query if k == "scope")
    merged = " ".join(dict.fromkeys([*asked.split(), *extra.split()]))
    query = [(k, v) for k, v in query if k != "scope"] + [("scope", merged)]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


class _PreRegistered(ServerTokenStorage):
    """A server's token storage that answers with the configured client when there is one."""

    def __init__(self, base: ServerTokenStorage, oauth: OAuthConfig, redirect_uri: str) -> None:
        super().__init__(base.store, base.server, base.url)
        self._oauth = oauth
        self._redirect_uri = redirect_uri

    async def get_client_info(self) -> Any:
        oauth = self._oauth
        if not oauth.client_id:
            return await super().get_client_info()
        from mcp.shared.auth import OAuthClientInformationFull

        method = oauth.token_endpoint_auth_method or (
            "client_secret_basic" if oauth.client_secret else "none"
        )
        return OAuthClientInformationFull(
            client_id=oauth.client_id,
            client_secret=oauth.client_secret,
            redirect_uris=[AnyUrl(self._redirect_uri)],
            token_endpoint_auth_method=method,
            grant_types=["authorization_code", "refresh_token"],
        )


# --------------------------------------------------------------------------- client credentials


class ClientCredentialsAuth(httpx2.Auth):
    """``httpx2`` auth flow for the OAuth2 client-credentials grant with a known token URL.

    The token is fetched on first use, cached, and renewed shortly before ``expires_in``
    runs out. A 401 answer to a request made with a cached token renews it once. The
    client authenticates with ``client_secret_post`` (the default), ``client_secret_basic``
    or ``private_key_jwt``. A refusal of the client itself (``invalid_client``) is final.
    """

    def __init__(self, oauth: OAuthConfig, *, server: str = "", timeout: float = 30.0) -> None:
        self._oauth = oauth
        self._server = server
        self._timeout = timeout
        self._token: str | None = None
        self._valid_until = 0.0
        self._lock = anyio.Lock()
        self.fetch_count = 0
        """How many tokens were fetched (for diagnostics and tests)."""

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        token = await self.current_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            token = await self.current_token(stale=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    async def current_token(self, stale: str | None = None) -> str:
        """A valid access token, fetched when none is cached or the cached one is ``stale``
        (refused by the server). Also used by A2A agents' httpx auth flow."""
        async with self._lock:
            fresh = self._token is not None and time.monotonic() < self._valid_until
            if fresh and self._token != stale:
                assert self._token is not None
                return self._token
            return await self._fetch()

    def _request_parts(self) -> tuple[dict[str, Any], dict[str, str]]:
        oauth = self._oauth
        form: dict[str, Any] = {"grant_type": "client_credentials"}
        headers = {"Accept": "application/json"}
        method = oauth.token_endpoint_auth_method or (
            "private_key_jwt" if oauth.private_key else "client_secret_post"
        )
        if method == "client_secret_basic":
            user, password = oauth.client_id or "", oauth.client_secret or ""
            pair = f"{quote(user, safe='')}:{quote(password, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        elif method == "private_key_jwt":
            form["client_id"] = oauth.client_id
            form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            form["client_assertion"] = self._assertion()
        else:
            form["client_id"] = oauth.client_id
            if method == "client_secret_post":
                form["client_secret"] = oauth.client_secret
        if oauth.scope:
            form["scope"] = oauth.scope
        if oauth.audience:
            form["audience"] = oauth.audience
        return form, headers

    def _assertion(self) -> str:
        import jwt  # PyJWT, a dependency of the mcp SDK; only needed for private_key_jwt

        oauth = self._oauth
        now = int(time.time())
        claims = {
            "iss": oauth.client_id,
            "sub": oauth.client_id,
            "aud": oauth.issuer or oauth.token_url,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, oauth.private_key or "", algorithm=oauth.signing_algorithm)

    async def _fetch(self) -> str:
        url = self._oauth.token_url or ""
        form, headers = self._request_parts()
        started = time.monotonic()
        try:
            async with httpx2.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(url, data=form, headers=headers)
        except httpx2.HTTPError as exc:
            raise self._error(f"token endpoint {url} unreachable: {exc}") from None
        body = _json_body(response)
        if response.status_code != 200:
            error = str(body.get("error", "")) if body else ""
            hint = " (check client_id and the client secret or key)" * (error == "invalid_client")
            raise self._error(
                f"token endpoint {url} answered HTTP {response.status_code}"
                f"{f' {error}' if error else ''}{hint}",
                status=response.status_code,
            )
        token = body.get("access_token") if body else None
        if not isinstance(token, str) or not token:
            raise self._error(f"token endpoint {url} returned no access_token")
        lifetime = _expires_in(body or {})
        margin = min(REFRESH_MARGIN_SECONDS, lifetime / 2)
        self._token = token
        self._valid_until = started + lifetime - margin
        self.fetch_count += 1
        logger.debug("mcp.oauth.token_fetched", extra={"token_url": url, "expires_in": lifetime})
        return token

    def _error(self, message: str, *, status: int | None = None) -> OAuthTokenError:
        return OAuthTokenError(self._server or "oauth", message, status=status)


def _json_body(response: httpx2.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _expires_in(body: dict[str, Any]) -> float:
    """``expires_in`` seconds from a token response (one hour when absent or invalid)."""
    try:
        value = float(body.get("expires_in", 3600))
    except (TypeError, ValueError):
        return 3600.0
    return max(value, 0.0)
