"""subagents.llm: the one seam between the framework and model providers.

``create_llm_client`` picks the fast OpenAI-compatible HTTP path or litellm per model;
``resolve_llm_config`` turns an agent's ``configuration.llm`` into model entries.
"""

from __future__ import annotations

from subagents.llm.base import LLMClient, LLMResponse, TextCallback, ToolCall, ToolPayload
from subagents.llm.factory import (
    FallbackClient,
    LLMFactory,
    create_llm_client,
    default_model_config,
    point_endpoints_at,
    resolve_llm_config,
    uses_fast_path,
)
from subagents.llm.retry import RetryPolicy

__all__ = [
    "FallbackClient",
    "LLMClient",
    "LLMFactory",
    "LLMResponse",
    "RetryPolicy",
    "TextCallback",
    "ToolCall",
    "ToolPayload",
    "create_llm_client",
    "default_model_config",
    "point_endpoints_at",
    "resolve_llm_config",
    "uses_fast_path",
]
