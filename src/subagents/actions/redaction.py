"""What the action server writes to its log and sends back when an action fails.

An action's exception can carry anything (a connection string with a password, a key the
action read from its environment). The caller gets an *error id* instead of the exception
text; the action server's log has the traceback under that id, with the server's own token
and values that look like keys (``sk-...``, ``ghp_...``, ``AKIA...``, JWTs,
``password=...``) replaced by ``***``.
"""

from __future__ import annotations

import logging
import re
import traceback
import uuid
from collections.abc import Iterable

logger = logging.getLogger("subagents.actions.server")

REDACTED = "***"

_KEY_LIKE = re.compile(
    r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{16,}"  # OpenAI, Anthropic, Stripe style
    r"|\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}"  # GitHub
    r"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key id
    r"|\bxox[abposr]-[A-Za-z0-9\-]{10,}"  # Slack
    r"|\bAIza[0-9A-Za-z_\-]{35}"  # Google
    r"|\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"  # JWT
)
_ASSIGNED = re.compile(
    r"(?i)\b((?:api[_-]?key|token|secret|password|passwd|pwd|authorization|bearer)"
    r"[\"']?\s*[:=]\s*[\"']?|bearer\s+)([^\s\"'&,;]{6,})"
)
_URL_PASSWORD = re.compile(r"(\w+://[^\s:/@]+:)([^\s@/]+)(@)")


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with ``secrets`` and key-like values replaced by ``***``."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _KEY_LIKE.sub(REDACTED, text)
    text = _ASSIGNED.sub(lambda m: m.group(1) + REDACTED, text)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)


class RedactingFilter(logging.Filter):
    """A handler filter that redacts messages, string fields and tracebacks."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, self.secrets)
        for key, value in list(record.__dict__.items()):
            if isinstance(value, str) and key not in ("msg", "exc_text", "name", "pathname"):
                cleaned = redact_text(value, self.secrets)
                if cleaned != value:
                    setattr(record, key, cleaned)
        return True


def install_log_redaction(secrets: Iterable[str] = ()) -> RedactingFilter:
    """Redact every record the root logger's handlers write (the action server's logs)."""
    redactor = RedactingFilter(secrets)
    handlers: list[logging.Handler] = list(logging.getLogger().handlers)
    if not handlers and logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        handler.addFilter(redactor)
    return redactor


def internal_error(name: str, exc: BaseException) -> str:
    """Log ``exc`` under a new error id; the message for the caller (no exception text)."""
    error_id = uuid.uuid4().hex[:12]
    logger.error(
        "actions.server.action_failed",
        extra={"action": name, "error_id": error_id},
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return f"action '{name}' failed (error id {error_id}; the action server's log has the details)"
