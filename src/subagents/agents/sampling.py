"""Sampling: an MCP tool asks the assistant's model to write something during a call.

Allowed per server in endpoints.yml (``sampling: {allow: true, model_group, max_tokens,
max_requests}``; declined by default, see :mod:`subagents.mcp.connection`). The answer
comes from the named model group, else from the calling agent's own models, with
``max_tokens`` set on the request; one agent run answers at most ``max_requests``.
Each answer is a ``tool_sampling`` event (tracker and progress stream) and an INFO record
``agent.sampling`` — never the prompt or the text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from subagents.agents.loop import Run, notify
from subagents.llm.base import LLMClient
from subagents.tools.interaction import SampleHook, SamplingRequest, SamplingResult

logger = logging.getLogger("subagents.agents")

SamplingClients = Callable[[str | None, int], LLMClient]
"""``(model group or None for the agent's own models, max_tokens)`` → an LLM client."""

_STOP_REASONS = {"stop": "endTurn", "length": "maxTokens"}


def sampling_hook(run: Run, own: LLMClient, clients: SamplingClients | None) -> SampleHook:
    """The run's answerer of sampling requests (counted per run, see the module doc).

    Without ``clients`` (an agent built by hand, not by the loader) the agent's own
    client answers, without the token cap.
    """
    answered = 0

    async def sample(request: SamplingRequest) -> SamplingResult | None:
        nonlocal answered
        if answered >= request.max_requests:
            logger.info(
                "agent.sampling.refused",
                extra={"agent": run.agent, "tool": request.tool, "limit": request.max_requests},
            )
            return None
        answered += 1
        client = clients(request.model_group, request.max_tokens) if clients else own
        response = await client.complete(request.messages)
        model = response.model or request.model_group or "subagents"
        event = {
            "event": "tool_sampling",
            "name": request.tool,
            "agent": run.agent,
            "server": request.source,
            "model_group": request.model_group,
            "model": model,
            "max_tokens": request.max_tokens,
            "usage": response.usage,
        }
        run.events.append(event)
        await notify(run, event)
        logger.info(
            "agent.sampling",
            extra={"agent": run.agent, "tool": request.tool, "server": request.source},
        )
        stop = _STOP_REASONS.get(response.finish_reason or "")
        return SamplingResult(text=response.text or "", model=model, stop_reason=stop)

    return sample
