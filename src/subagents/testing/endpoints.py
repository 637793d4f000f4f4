"""Point a project's model configuration at the scripted model server.

The functions live in :mod:`subagents.llm.factory` (the runtime's ``llm_url`` uses them).
"""

from __future__ import annotations

from subagents.llm.factory import point_endpoints_at, scripted_model_config

__all__ = ["point_endpoints_at", "scripted_model_config"]
