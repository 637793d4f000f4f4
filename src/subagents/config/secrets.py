"""Which configuration fields hold secrets, and redaction of their values in text.

Values substituted from ``${VAR}`` into these fields are collected into
``Project.secrets`` so that logs, trackers and stores can redact them.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable
from typing import Any

from subagents.config.source import PathT

ENDPOINTS_SECRET_PATHS: tuple[PathT, ...] = (
    ("model_groups", "*", "models", "*", "api_key"),
    ("model_groups", "*", "models", "*", "extra_headers", "*"),
    ("mcp_servers", "*", "token"),
    ("mcp_servers", "*", "api_key"),
    ("mcp_servers", "*", "oauth", "client_secret"),
    ("mcp_servers", "*", "oauth", "private_key"),
    ("mcp_servers", "*", "headers", "*"),
    ("mcp_servers", "*", "env", "*"),
    ("action_endpoint", "token"),
    ("action_endpoint", "basic_auth", "password"),
    ("action_endpoint", "headers", "*"),
    ("tracker_store", "url"),
    ("tracker_store", "password"),
    ("lock_store", "url"),
    ("lock_store", "password"),
    ("mcp_token_store", "url"),
    ("mcp_token_store", "password"),
    ("event_broker", "url"),
    ("event_broker", "password"),
    ("auth", "token"),
    ("auth", "jwt_secret"),
    ("tracing", "headers", "*"),
    ("metrics", "*", "headers", "*"),
    ("metrics", "headers", "*"),
)
"""Secret fields of endpoints.yml (``"*"`` = any key or index)."""

AGENT_SECRET_PATHS: tuple[PathT, ...] = (
    ("configuration", "llm", "api_key"),
    ("configuration", "auth", "token"),
    ("configuration", "auth", "api_key"),
    ("configuration", "auth", "oauth", "client_secret"),
    ("configuration", "auth", "headers", "*"),
)
"""Secret fields of sub_agents/*/config.yml."""

MUST_USE_VARIABLE: tuple[PathT, ...] = (
    ("mcp_servers", "*", "token"),
    ("mcp_servers", "*", "api_key"),
    ("mcp_servers", "*", "oauth", "client_secret"),
    ("mcp_servers", "*", "oauth", "private_key"),
    ("action_endpoint", "token"),
    ("action_endpoint", "basic_auth", "password"),
    ("tracker_store", "password"),
    ("lock_store", "password"),
    ("mcp_token_store", "password"),
    ("event_broker", "password"),
    ("auth", "token"),
    ("auth", "jwt_secret"),
    ("configuration", "auth", "token"),
    ("configuration", "auth", "api_key"),
    ("configuration", "auth", "oauth", "client_secret"),
)
"""Fields where a literal value is an error (``use ${VAR}``)."""

REDACTED = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of a secret in ``text`` with ``***`` (longest first)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


MIN_SECRET_LENGTH = 4
"""Shorter substituted values are not redacted (they would mangle ordinary text)."""


def secret_values(secrets: Iterable[str]) -> tuple[str, ...]:
    """The values worth redacting, longest first (so a secret inside another goes last)."""
    kept = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH}
    return tuple(sorted(kept, key=len, reverse=True))


def redact_data(value: Any, secrets: tuple[str, ...]) -> Any:
    """``value`` with every secret in its strings replaced by ``***`` (dicts, lists too).

    ``secrets`` comes from :func:`secret_values`. Unchanged values are returned as they
    are (same objects), so clean data costs only the substring checks.
    """
    if not secrets:
        return value
    if isinstance(value, str):
        return redact(value, secrets) if any(s in value for s in secrets) else value
    if isinstance(value, dict):
        changed = {k: redact_data(v, secrets) for k, v in value.items()}
        same = all(changed[k] is value[k] for k in value)
        return value if same else changed
    if isinstance(value, list | tuple):
        items = [redact_data(v, secrets) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return type(value)(items) if isinstance(value, tuple) else items
    return value


# ----------------------------------------------------------------------- log redaction

_LOG_SECRETS: tuple[str, ...] = ()
# Attributes every record has (msg and args included: the message is handled apart).
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
}


class _RedactingLogRecord(logging.LogRecord):
    """A log record that redacts registered secrets when it is formatted.

    Formatters call ``getMessage()`` before reading the record's attributes, so redacting
    the message, the ``extra`` fields and the traceback text here keeps secrets out of
    every handler's output (plain text or JSON), whoever configured the handlers.
    """

    def getMessage(self) -> str:
        message = super().getMessage()
        secrets = _LOG_SECRETS
        if not secrets:
            return message
        self._redact_fields(secrets)
        if any(s in message for s in secrets):
            # Keep the record consistent for whoever reads msg/args afterwards.
            message = self.msg = redact(message, secrets)
            self.args = ()
        return message

    def _redact_fields(self, secrets: tuple[str, ...]) -> None:
        # Nothing is stored on the record to remember this pass: a JSON formatter dumps
        # every attribute, so the pass simply runs again for each handler.
        fields = self.__dict__
        # Only the ``extra`` keys: a C-level set difference, not a loop over every field.
        for key in fields.keys() - _STANDARD_ATTRS:
            value = fields[key]
            if isinstance(value, str):  # the usual extra: checked inline, no call
                if any(s in value for s in secrets):
                    fields[key] = redact(value, secrets)
            elif isinstance(value, dict | list | tuple):
                fields[key] = redact_data(value, secrets)
        if self.exc_info and not self.exc_text:
            text = "".join(traceback.format_exception(*self.exc_info)).rstrip("\n")
            self.exc_text = redact(text, secrets)
        if self.stack_info:
            self.stack_info = redact(self.stack_info, secrets)


def redact_registered(text: str) -> str:
    """``text`` with the secrets registered by :func:`register_log_secrets` redacted.

    For text shown to the user outside logging (the CLI's startup error, for example).
    """
    return redact(text, _LOG_SECRETS) if _LOG_SECRETS else text


def register_log_secrets(secrets: Iterable[str]) -> None:
    """Redact these values (from ``${VAR}`` in secret fields) in every log record.

    Installs, once per process, a log record factory whose records redact registered
    secrets in their message, ``extra`` fields and traceback when formatted.
    """
    global _LOG_SECRETS
    values = secret_values([*_LOG_SECRETS, *secrets])
    if not values:
        return
    _LOG_SECRETS = values
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_subagents_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if type(record) is logging.LogRecord:
            record.__class__ = _RedactingLogRecord
        return record

    factory._subagents_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
