"""The flow router: which flow does a user message start?

* ``/<flow_id>`` starts that flow without the LLM; ``/restart`` restarts the conversation;
  any other ``/<word>`` is unknown (``utter_fallback``).
* Otherwise ONE LLM call with one tool, ``start_flow`` (parameter ``flow``: enum of the
  startable flow ids; their descriptions are in the tool description), seeing the last 10
  user and bot messages. A call with a valid flow starts it; a text reply goes to the user;
  anything else is a fallback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from subagents.dialogue.flows import Flow
from subagents.llm.base import LLMClient, ToolPayload

logger = logging.getLogger("subagents.dialogue.router")

HISTORY_MESSAGES = 10

ROUTER_SYSTEM_PROMPT = (
    "You are the router of a conversational assistant. Decide whether the user's latest "
    "message asks for one of the assistant's flows. If it does, call the `start_flow` tool "
    "with that flow's id. If it does not, do not call the tool: answer the user briefly "
    "and helpfully, saying what you can help with."
)


class RouteKind(StrEnum):
    """What a user message leads to."""

    FLOW = "flow"
    """Start ``flow_id``."""
    RESTART = "restart"
    """``/restart``: reset slots and stack."""
    TEXT = "text"
    """The router answered with ``text`` (no flow)."""
    FALLBACK = "fallback"
    """Nothing fits: ``utter_fallback``."""
    ERROR = "error"
    """The router failed: ``utter_internal_error``."""


@dataclass(frozen=True)
class Route:
    """The router's decision: a flow to start, a command, text to send, or fallback."""

    kind: RouteKind
    flow_id: str | None = None
    text: str | None = None


def parse_command(text: str, flows: Mapping[str, Flow]) -> Route | None:
    """The route for a ``/command`` message, or ``None`` when it is not one."""
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2:
        return None
    name = stripped[1:].split()[0]
    if name == "restart":
        return Route(RouteKind.RESTART)
    if name in flows:
        return Route(RouteKind.FLOW, flow_id=name)
    return Route(RouteKind.FALLBACK)


class FlowRouter:
    """Routes free text to a flow with one LLM call (tools built once per flow set)."""

    def __init__(self, flows: Mapping[str, Flow], llm: LLMClient | None) -> None:
        self.flows = flows
        self.llm = llm
        self._payloads: dict[tuple[str, ...], ToolPayload] = {}

    def payload(self, flow_ids: tuple[str, ...]) -> ToolPayload:
        """The ``start_flow`` tool for these flows (cached: flows change only on reload)."""
        cached = self._payloads.get(flow_ids)
        if cached is None:
            cached = ToolPayload([start_flow_tool([self.flows[f] for f in flow_ids])])
            self._payloads[flow_ids] = cached
        return cached

    async def route(self, recent: list[dict[str, Any]], slots: Mapping[str, Any]) -> Route:
        """Ask the LLM which flow the conversation's latest message starts."""
        flow_ids = tuple(f.id for f in self.flows.values() if f.startable(slots))
        if not flow_ids or self.llm is None:
            return Route(RouteKind.FALLBACK)
        messages: list[dict[str, Any]] = [{"role": "system", "content": ROUTER_SYSTEM_PROMPT}]
        for msg in recent[-HISTORY_MESSAGES:]:
            role = "user" if msg["role"] == "user" else "assistant"
            messages.append({"role": role, "content": msg["text"]})
        response = await self.llm.complete(messages, self.payload(flow_ids))
        for call in response.tool_calls:
            if call.name != "start_flow" or not call.arguments:
                continue
            flow_id = call.arguments.get("flow")
            if isinstance(flow_id, str) and flow_id in flow_ids:
                # DEBUG: per turn; assistant.turn is the INFO record of a turn.
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("router.flow", extra={"flow_id": flow_id})
                return Route(RouteKind.FLOW, flow_id=flow_id)
            logger.info("router.invalid_flow")
        if response.text and response.text.strip() and not response.tool_calls:
            return Route(RouteKind.TEXT, text=response.text.strip())
        return Route(RouteKind.FALLBACK)


def start_flow_tool(flows: list[Flow]) -> dict[str, Any]:
    """The ``start_flow`` tool in the OpenAI function format."""
    lines = [
        "Start one of the assistant's flows when the user's message asks for it.",
        "Available flows:",
    ]
    for flow in flows:
        description = flow.description.strip() or flow.name
        lines.append(f"- {flow.id}: {' '.join(description.split())}")
    return {
        "type": "function",
        "function": {
            "name": "start_flow",
            "description": "\n".join(lines),
            "parameters": {
                "type": "object",
                "properties": {
                    "flow": {
                        "type": "string",
                        "enum": [f.id for f in flows],
                        "description": "The id of the flow to start.",
                    }
                },
                "required": ["flow"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }


def describe(route: Route) -> str:
    """Short text for logs."""
    return json.dumps({"kind": route.kind.value, "flow_id": route.flow_id})
