"""The project's agents as an MCP server (``subagents mcp serve``), so that Claude Desktop,
Cursor or another framework can call them as tools.

Each general-purpose agent is one tool named after the agent, described by its
description, with two parameters: ``task`` (what to do, or the answer to the agent's
question) and ``conversation_id`` (optional: continue an earlier call).

When the agent needs more from the caller (``input_required``):

* if the client declared the elicitation capability and the connection can carry a
  server request, the question is asked through ``elicitation/create`` and the answer
  resumes the agent, in the same tool call (up to ``MAX_ELICITATIONS`` rounds);
* otherwise (or when the user declines) the result says what is needed and how to
  answer: call the tool again with the ``conversation_id`` it gives.

A ``fatal_error`` is a tool error (``isError: true``) with the agent's error.
Transports: stdio, and streamable HTTP on 127.0.0.1 by default.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, Field

from subagents.agents.schemas import AgentStatus
from subagents.channels.agent_sessions import AgentSessions, ServedAgent

logger = logging.getLogger("subagents.channels.mcp_server")

MAX_ELICITATIONS = 10
"""Questions one tool call may ask through elicitation before it answers with a result."""

TASK_HELP = "What the agent should do, or your answer to the question it asked."
CONVERSATION_HELP = (
    "Leave empty to start. To answer a question the agent asked, pass the conversation_id"
    " its result gave."
)


class Answer(BaseModel):
    """The form an elicitation asks the user to fill in."""

    answer: str = Field(description="Your answer")


def build_mcp_server(sessions: AgentSessions, *, name: str = "subagents") -> MCPServer:
    """An MCP server with one tool per agent of ``sessions``."""
    from subagents._version import __version__

    server = MCPServer(name, version=__version__)
    for agent in sessions.agents.values():
        server.add_tool(
            _tool(sessions, agent),
            name=agent.name,
            description=agent.description,
            structured_output=False,
        )
    return server


def _tool(sessions: AgentSessions, agent: ServedAgent) -> Any:
    async def call_agent(
        task: Annotated[str, Field(description=TASK_HELP)],
        ctx: Context,
        conversation_id: Annotated[str | None, Field(description=CONVERSATION_HELP)] = None,
    ) -> Any:
        return await run_agent(sessions, agent.name, task, conversation_id, ctx)

    call_agent.__name__ = agent.name
    return call_agent


async def run_agent(
    sessions: AgentSessions,
    name: str,
    task: str,
    conversation_id: str | None,
    ctx: Context | None,
) -> Any:
    """One tool call (or one round of it): run the agent, asking for input while it needs
    some; the answer text, or an ``InputRequiredResult`` (2026-07-28 clients)."""
    from mcp.server.mcpserver.exceptions import ToolError

    resumed = _answer_round(sessions, name, ctx)
    if resumed is not None:
        session, answer = resumed
        if answer is None:  # the user declined: say what the agent waits for
            return needs_input(name, session, sessions.last_question(name, session))
        output = await sessions.send(name, session, answer)
    else:
        session = conversation_id or uuid.uuid4().hex
        output = await sessions.send(name, session, task)
    rounds = 0
    while output.status == AgentStatus.INPUT_REQUIRED and rounds < MAX_ELICITATIONS:
        question = output.response_message or "The agent needs more input."
        channel = _elicitation_channel(ctx)
        if channel == "result":  # 2026-07-28: the client asks, then retries the call
            return _input_required(session, question)
        answer = await _elicit(ctx, question) if channel == "request" else None
        if answer is None:
            break
        rounds += 1
        output = await sessions.send(name, session, answer)
    if output.status == AgentStatus.COMPLETED:
        return output.response_message or "Done."
    if output.status == AgentStatus.INPUT_REQUIRED:
        return needs_input(name, session, output.response_message)
    sessions.forget(name, session)
    raise ToolError(f"agent '{name}' {output.status.value}: {output.error_message or ''}".strip())


def needs_input(name: str, session: str, question: str | None) -> str:
    """The result of a call that stops on the agent's question."""
    question = question or "The agent needs more input."
    return (
        f"{question}\n\n"
        f"[The {name} agent is waiting for an answer. Call {name} again with"
        f' conversation_id "{session}" and the answer as task.]'
    )


def _elicitation_channel(ctx: Context | None) -> str | None:
    """How to ask the client's user: a mid-call ``request`` (up to 2025-11-25), an
    ``InputRequiredResult`` (``result``, 2026-07-28), or not at all (``None``)."""
    if ctx is None:
        return None
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    try:
        session = ctx.request_context.session
        capabilities = session.client_capabilities
    except Exception:  # no request context: called outside a client request
        return None
    if capabilities is None or capabilities.elicitation is None:
        return None
    if session.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return "result"
    return "request" if session.can_send_request else None


def _input_required(session: str, question: str) -> Any:
    from mcp.server.elicitation import render_elicitation_schema
    from mcp_types import ElicitRequest, ElicitRequestFormParams, InputRequiredResult

    params = ElicitRequestFormParams(
        message=question, requested_schema=render_elicitation_schema(Answer)
    )
    return InputRequiredResult(
        input_requests={_ANSWER_KEY: ElicitRequest(params=params)},
        request_state=f"{_STATE_PREFIX}{session}",
    )


def _answer_round(
    sessions: AgentSessions, name: str, ctx: Context | None
) -> tuple[str, str | None] | None:
    """On the retry of an ``InputRequiredResult``: ``(session, answer or None)``."""
    state = ctx.request_state if ctx is not None else None
    if not state or not state.startswith(_STATE_PREFIX):
        return None
    session = state.removeprefix(_STATE_PREFIX)
    if not sessions.waiting(name, session):
        return None  # forgotten (or forged): start afresh with the task
    responses = (ctx.input_responses if ctx is not None else None) or {}
    result = responses.get(_ANSWER_KEY)
    content = getattr(result, "content", None)
    if getattr(result, "action", None) != "accept" or not isinstance(content, dict):
        return session, None
    answer = content.get("answer")
    return session, answer if isinstance(answer, str) and answer else None


_ANSWER_KEY = "answer"
_STATE_PREFIX = "subagents-conversation:"


async def _elicit(ctx: Context | None, question: str) -> str | None:
    """Ask the client's user mid-call; ``None`` when the user would not answer."""
    if ctx is None:
        return None
    try:
        result = await ctx.elicit(message=question, schema=Answer)
    except Exception:  # a client that fails the request: answer with a result instead
        logger.warning("serve_mcp.elicitation_failed", exc_info=True)
        return None
    if result.action != "accept":
        return None
    data = getattr(result, "data", None)
    return data.answer if isinstance(data, Answer) else None
