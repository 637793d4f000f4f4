"""Which configuration fields hold secrets, and redaction of their values in text.

Values substituted from ``${VAR}`` into these fields are collected into
``Project.secrets`` so that logs, trackers and stores can redact them.
"""

from __future__ import annotations

from collections.abc import Iterable

from subagents.config.source import PathT

ENDPOINTS_SECRET_PATHS: tuple[PathT, ...] = (
    ("model_groups", "*", "models", "*", "api_key"),
    ("model_groups", "*", "models", "*", "extra_headers", "*"),
    ("mcp_servers", "*", "token"),
    ("mcp_servers", "*", "api_key"),
    ("mcp_servers", "*", "oauth", "client_secret"),
    ("mcp_servers", "*", "headers", "*"),
    ("mcp_servers", "*", "env", "*"),
    ("action_endpoint", "token"),
    ("tracker_store", "url"),
)
"""Secret fields of endpoints.yml (``"*"`` = any key or index)."""

AGENT_SECRET_PATHS: tuple[PathT, ...] = (("configuration", "llm", "api_key"),)
"""Secret fields of sub_agents/*/config.yml."""

MUST_USE_VARIABLE: tuple[PathT, ...] = (
    ("mcp_servers", "*", "token"),
    ("mcp_servers", "*", "api_key"),
    ("mcp_servers", "*", "oauth", "client_secret"),
    ("action_endpoint", "token"),
)
"""Fields where a literal value is an error (``use ${VAR}``)."""

REDACTED = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of a secret in ``text`` with ``***`` (longest first)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
