"""HTTP executor: calls an action server's ``POST /webhook`` (ours or a Rasa SDK one).

One JSON request, one JSON response; streamed chunks arrive already replayed as
``responses`` (no real-time streaming over HTTP, as in the reference's transport table).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2 as httpx  # httpx's maintained successor: no O(n) scan of the pool per request
import orjson

import subagents.telemetry as telemetry
from subagents._version import __version__
from subagents.actions.executors.base import (
    ActionResult,
    DomainDigest,
    OnChunk,
    connect_backoff,
)
from subagents.actions.executors.remote import auth_headers, ssl_context
from subagents.config.models import ActionEndpointConfig
from subagents.errors import (
    ActionRejectedError,
    ActionServerError,
    UnknownActionError,
)
from subagents.retry import retrying

logger = logging.getLogger("subagents.actions.executor")

# Only failures before the server saw the request are retried: the action never ran.
_RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout)
_JSON = {"content-type": "application/json"}


def webhook_url(url: str) -> str:
    """``url`` with ``/webhook`` appended when it has no path (``http://host:5055``)."""
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path="/webhook"))
    return url


class HTTPExecutor:
    """Runs actions on an HTTP(S) action server."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        verify: bool | str | ssl.SSLContext = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Call ``url`` (``/webhook`` added when it has no path).

        ``verify``: True (system roots), a CA bundle path, or an SSL context (one with a
        client certificate, say). ``headers`` are sent with every request (they win over
        the ``Authorization`` made from ``token``).
        """
        self.url = webhook_url(url)
        self.timeout = timeout
        self.retries = max(0, retries)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._headers.update(headers or {})
        self._verify = verify
        self._client: httpx.AsyncClient | None = None
        self._digest = DomainDigest()
        self._server_digest: str | None = None  # the domain digest the server has stored

    @classmethod
    def from_config(
        cls, cfg: ActionEndpointConfig, project_root: str | Path | None = None
    ) -> HTTPExecutor:
        """Build from ``action_endpoint``: url, token or basic_auth, headers, timeout,
        retries, and for https cafile and the client certificate (read now)."""
        assert cfg.url is not None
        verify: bool | ssl.SSLContext = True
        if urlsplit(cfg.url).scheme.lower() == "https" and (cfg.cafile or cfg.ssl_client_cert):
            verify = ssl_context(cfg, project_root)
        return cls(
            cfg.url,
            timeout=cfg.timeout,
            retries=cfg.retries,
            verify=verify,
            headers=auth_headers(cfg),
        )

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            verify: bool | str | ssl.SSLContext = self._verify
            if isinstance(verify, str):  # a CA bundle path (verify=<str> is deprecated)
                verify = ssl.create_default_context(cafile=verify)
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                headers=self._headers,
                verify=verify,
            )
        return self._client

    async def run(
        self,
        action_name: str,
        tracker_state: dict[str, Any],
        domain: dict[str, Any],
        on_chunk: OnChunk | None = None,
        cancel_event: asyncio.Event | None = None,
    ) -> ActionResult:
        """Run ``action_name`` on the server; ``on_chunk`` is never called over HTTP."""
        digest = self._digest.of(domain)
        send_domain = digest != self._server_digest
        started = time.perf_counter()
        response = await self._post(
            _payload(action_name, tracker_state, domain, digest, send_domain)
        )
        if response.status_code == 449:
            # Server restarted or another replica: it lost the domain; send it again.
            logger.info("actions.http.domain_requested", extra={"action": action_name})
            response = await self._post(_payload(action_name, tracker_state, domain, digest, True))
            send_domain = True
        body = _check(response, action_name, self.url)
        if send_domain:
            self._server_digest = digest
        logger.debug(
            "actions.http.done",
            extra={"action": action_name, "ms": round((time.perf_counter() - started) * 1000, 2)},
        )
        return _result(body, action_name)

    async def _post(self, payload: dict[str, Any]) -> httpx.Response:
        name = payload["next_action"]
        body = _dumps(payload)
        try:
            return await self._post_with_retries(body)
        except _RETRYABLE as exc:
            raise ActionServerError(
                name,
                f"cannot connect to action server {self.url} after {self.retries + 1} "
                f"attempts ({type(exc).__name__}); is it running? (action_endpoint.url)",
            ) from exc
        except httpx.TimeoutException as exc:
            raise ActionServerError(
                name, f"action server {self.url} did not answer within {self.timeout}s"
            ) from exc
        except httpx.HTTPError as exc:
            raise ActionServerError(
                name, f"request to {self.url} failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def _post_with_retries(self, body: bytes) -> httpx.Response:
        headers = telemetry.inject(_JSON)  # traceparent of the action's span, when tracing
        return await retrying(
            lambda: self._http().post(self.url, content=body, headers=headers),
            retries=self.retries,
            retry_on=lambda exc: isinstance(exc, _RETRYABLE),
            wait=connect_backoff,
        )

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _payload(
    action_name: str,
    tracker_state: dict[str, Any],
    domain: dict[str, Any],
    digest: str,
    send_domain: bool,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "next_action": action_name,
        "sender_id": tracker_state.get("sender_id") or tracker_state.get("conversation_id"),
        "tracker": tracker_state,
        "domain_digest": digest,
        "version": __version__,
    }
    if send_domain:
        payload["domain"] = domain
    return payload


def _dumps(payload: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        # What orjson refuses (integers over 64 bits): the stdlib's encoding.
        return json.dumps(payload, default=str).encode()


def _check(response: httpx.Response, action_name: str, url: str) -> Any:
    status = response.status_code
    if status == 200:
        try:
            return response.json()
        except ValueError as exc:
            raise ActionServerError(action_name, f"{url} answered invalid JSON") from exc
    message = _error_text(response)
    if status == 404:
        raise UnknownActionError(action_name, f"the action server does not know it ({message})")
    if status == 400:
        raise ActionRejectedError(action_name, message)
    if status in (401, 403):
        raise ActionServerError(
            action_name, f"{url} refused the token (HTTP {status}); check action_endpoint.token"
        )
    if status == 449:
        raise ActionServerError(action_name, f"{url} keeps asking for the domain (HTTP 449)")
    raise ActionServerError(action_name, f"action server answered HTTP {status}: {message}")


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    return str(body)[:300]


def _result(body: Any, action_name: str) -> ActionResult:
    if body is None:
        return ActionResult()
    if not isinstance(body, dict):
        raise ActionServerError(action_name, "response is not a JSON object with events")
    events, responses = body.get("events") or [], body.get("responses") or []
    if not isinstance(events, list) or not isinstance(responses, list):
        raise ActionServerError(action_name, "response 'events'/'responses' must be lists")
    return ActionResult(events=events, responses=responses)
