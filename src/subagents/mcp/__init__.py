"""MCP connections: one long-lived session per configured server (stdio, SSE, streamable
HTTP), tool lists cached and refreshed on ``tools/list_changed``, reconnects, and the
conversion of tool results into text for the model."""

from __future__ import annotations

from mcp.shared.auth import AuthorizationCodeResult

from subagents.tools.base import MAX_RESULT_CHARS

from .auth import Authorizer
from .connection import MCPServerConnection
from .manager import MCPManager
from .results import result_to_outcome
from .tokens import FileTokenStore, MemoryTokenStore, TokenStore

__all__ = [
    "MAX_RESULT_CHARS",
    "AuthorizationCodeResult",
    "Authorizer",
    "FileTokenStore",
    "MCPManager",
    "MCPServerConnection",
    "MemoryTokenStore",
    "TokenStore",
    "result_to_outcome",
]
