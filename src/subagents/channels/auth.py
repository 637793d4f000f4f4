"""Authentication of the conversation API, as Rasa's server does it.

With a token (``--auth-token``) or a JWT secret (``--jwt-secret``) set, a request to a
protected route must carry ``?token=<token>`` or ``Authorization: Bearer <token or JWT>``:

* the token, or a JWT whose payload has ``user.role == "admin"`` (Rasa's shape
  ``{"user": {"username": ..., "role": ...}}``), may read and write every conversation;
* any other JWT must name one conversation (``user.username``, ``user`` as a string, or
  ``sender``) and may read and write only that one.

Tokens are compared in constant time; an unreadable token (non-ASCII, bad signature,
expired) is a 401, never a 500. ``pyjwt`` is imported only when a JWT secret is set.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse

from subagents.errors import SubagentsError

logger = logging.getLogger("subagents.channels.auth")

JWT_METHODS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512")


@dataclass(frozen=True)
class AuthSettings:
    """Who may use the conversation API (nothing set: everyone)."""

    token: str | None = None
    jwt_secret: str | None = None
    """The HS* secret, or the public key (PEM) for RS*/ES* methods."""
    jwt_method: str = "HS256"
    protect_webhook: bool = False
    """Also require auth on the REST webhook; a JWT user may then post only as itself."""

    @property
    def enabled(self) -> bool:
        return bool(self.token or self.jwt_secret)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: an admin, or the owner of one conversation."""

    admin: bool
    conversation: str | None = None

    def may_access(self, conversation_id: str | None) -> bool:
        """True when this caller may read and write ``conversation_id`` (None: all)."""
        if self.admin:
            return True
        return conversation_id is not None and conversation_id == self.conversation


class AuthError(SubagentsError):
    """401 (no or bad credentials) or 403 (valid, but not for this conversation)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse({"error": self.message}, status_code=self.status, headers=headers)


class Authenticator:
    """Checks a request's credentials against :class:`AuthSettings`."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._token = settings.token.encode("utf-8") if settings.token else None

    def authenticate(self, request: HTTPConnection) -> Principal:
        """The caller, or :class:`AuthError` 401."""
        credential = _credential(request)
        if credential is None:
            raise AuthError(
                401, "authentication required: add ?token=<token> or 'Authorization: Bearer ...'"
            )
        raw = credential.encode("utf-8", "backslashreplace")
        if self._token is not None and hmac.compare_digest(raw, self._token):
            return Principal(admin=True)
        if self.settings.jwt_secret:
            return self._jwt_principal(credential)
        raise AuthError(401, "invalid token")

    def _jwt_principal(self, credential: str) -> Principal:
        import jwt

        try:
            payload = jwt.decode(
                credential,
                self.settings.jwt_secret or "",
                algorithms=[self.settings.jwt_method],
                options={"require": []},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(401, f"invalid token ({type(exc).__name__})") from None
        except (ValueError, TypeError):  # e.g. a key that does not fit the method
            raise AuthError(401, "invalid token") from None
        return _principal_from(payload)

    def check(self, request: HTTPConnection, conversation_id: str | None) -> Principal:
        """Authenticate and authorize access to ``conversation_id`` (None: all of them)."""
        principal = self.authenticate(request)
        if not principal.may_access(conversation_id):
            what = f"conversation {conversation_id!r}" if conversation_id else "all conversations"
            raise AuthError(403, f"this token may not access {what}")
        return principal


def _credential(request: HTTPConnection) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("bearer", "token") and value.strip():
            return value.strip()
    token = request.query_params.get("token")
    return token or None


def _principal_from(payload: Any) -> Principal:
    if not isinstance(payload, dict):
        raise AuthError(401, "invalid token (payload is not an object)")
    user = payload.get("user")
    role = user.get("role") if isinstance(user, dict) else None
    role = role or payload.get("role")
    if role == "admin":
        return Principal(admin=True)
    name: Any = None
    if isinstance(user, dict):
        name = user.get("username") or user.get("sender")
    elif isinstance(user, str):
        name = user
    name = name or payload.get("sender")
    if not isinstance(name, str) or not name:
        raise AuthError(
            403,
            "the token names no conversation (payload user.username or sender) and no admin role",
        )
    return Principal(admin=False, conversation=name)


def load_key(value: str | None) -> str | None:
    """A JWT secret or key given inline, or ``@path`` / a PEM file path read from disk."""
    if value is None:
        return None
    from pathlib import Path

    path = Path(value[1:] if value.startswith("@") else value)
    if (value.startswith("@") or value.endswith(".pem")) and path.is_file():
        return path.read_text(encoding="utf-8").strip()
    return value
