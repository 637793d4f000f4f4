"""The project's agents as A2A agents (``subagents a2a``, ``subagents run --a2a``).

Every general-purpose agent of ``sub_agents/`` gets a generated agent card and the A2A
endpoints of a2a-sdk's server classes::

    GET  /a2a                                          {"agents": [{name, description, card}]}
    GET  /a2a/<agent>/.well-known/agent-card.json      the agent card
    POST /a2a/<agent>/jsonrpc                          JSON-RPC binding (1.0 and 0.3)
         /a2a/<agent>/rest/...                         HTTP+JSON binding

One A2A task is one run of the agent: ``completed`` carries the answer as the artifact
``response``; ``input_required`` carries the question as the status message, and the next
message to the same task resumes the agent where it stopped; ``fatal_error`` is
``failed`` with the error. While the agent streams its answer each piece goes out as a
``working`` status message flagged ``subagents_chunk: true`` (pieces of one text, to join
without separators).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from subagents.agents.a2a import CHUNK_METADATA_KEY, import_a2a_client
from subagents.agents.schemas import AgentOutput, AgentStatus
from subagents.channels.agent_sessions import AgentSessions, ServedAgent

if TYPE_CHECKING:
    from a2a.server.agent_execution import RequestContext
    from a2a.server.events import EventQueue
    from a2a.types import AgentCard

logger = logging.getLogger("subagents.channels.a2a")

PREFIX = "/a2a"


def agent_card(agent: ServedAgent, base_url: str) -> AgentCard:
    """The generated card of ``agent`` served under ``base_url`` (scheme, host, port)."""
    from a2a.types import (
        AgentCapabilities,
        AgentCard,
        AgentInterface,
        AgentSkill,
    )

    from subagents._version import __version__

    root = f"{base_url.rstrip('/')}{PREFIX}/{agent.name}"
    interfaces = [
        AgentInterface(protocol_binding=binding, protocol_version=version, url=url)
        for version in ("1.0", "0.3")
        for binding, url in (("JSONRPC", f"{root}/jsonrpc"), ("HTTP+JSON", f"{root}/rest"))
    ]
    return AgentCard(
        name=agent.name,
        description=agent.description,
        version=__version__,
        supported_interfaces=interfaces,
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[
            AgentSkill(
                id=agent.name,
                name=agent.name,
                description=agent.description,
                tags=["subagents"],
            )
        ],
    )


def a2a_routes(sessions: AgentSessions, base_url: str) -> list[BaseRoute]:
    """The Starlette routes serving every agent of ``sessions`` over A2A."""
    import_a2a_client()  # a clear "install subagents[a2a]" error before anything else
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import (
        create_agent_card_routes,
        create_jsonrpc_routes,
        create_rest_routes,
    )
    from a2a.server.tasks import InMemoryTaskStore

    routes: list[BaseRoute] = []
    index: list[dict[str, str]] = []
    for agent in sessions.agents.values():
        card = agent_card(agent, base_url)
        handler = DefaultRequestHandler(
            agent_executor=_executor(sessions, agent.name),
            task_store=InMemoryTaskStore(),
            agent_card=card,
        )
        root = f"{PREFIX}/{agent.name}"
        card_path = f"{root}/.well-known/agent-card.json"
        routes += create_agent_card_routes(card, card_url=card_path)
        routes += create_jsonrpc_routes(handler, f"{root}/jsonrpc", enable_v0_3_compat=True)
        routes += create_rest_routes(handler, path_prefix=f"{root}/rest")
        index.append(
            {
                "name": agent.name,
                "description": agent.description,
                "card": f"{base_url.rstrip('/')}{card_path}",
            }
        )

    async def list_agents(request: Request) -> Response:
        return JSONResponse({"agents": index})

    routes.append(Route(PREFIX, list_agents, methods=["GET"]))
    return routes


def _executor(sessions: AgentSessions, name: str) -> Any:
    from a2a.server.agent_execution import AgentExecutor

    class SubagentExecutor(AgentExecutor):
        """Runs agent ``name`` for one A2A request."""

        async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
            await _execute(sessions, name, context, event_queue)

        async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
            from a2a.server.tasks import TaskUpdater

            sessions.forget(name, context.task_id or "")
            updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
            await updater.cancel()

    return SubagentExecutor()


async def _execute(
    sessions: AgentSessions, name: str, context: RequestContext, event_queue: EventQueue
) -> None:
    from a2a.server.tasks import TaskUpdater
    from a2a.types import Part, Task, TaskState, TaskStatus

    task_id, context_id = context.task_id or "", context.context_id or ""
    if context.current_task is None:
        assert context.message is not None
        await event_queue.enqueue_event(
            Task(
                id=task_id,
                context_id=context_id,
                status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED),
                history=[context.message],
            )
        )
    updater = TaskUpdater(event_queue, task_id, context_id)
    await updater.start_work()

    async def on_text(delta: str) -> None:
        message = updater.new_agent_message([Part(text=delta)], metadata={CHUNK_METADATA_KEY: True})
        await updater.update_status(TaskState.TASK_STATE_WORKING, message=message)

    try:
        output = await sessions.send(
            name, task_id, context.get_user_input(), conversation_id=context_id, on_text=on_text
        )
    except asyncio.CancelledError:
        sessions.forget(name, task_id)
        raise
    await _publish(updater, output)


async def _publish(updater: Any, output: AgentOutput) -> None:
    """The agent's outcome as the task's new state."""
    from a2a.types import Part

    text = output.response_message or ""
    if output.status == AgentStatus.COMPLETED:
        if text:
            await updater.add_artifact([Part(text=text)], name="response", last_chunk=True)
        await updater.complete()
    elif output.status == AgentStatus.INPUT_REQUIRED:
        await updater.requires_input(updater.new_agent_message([Part(text=text)]))
    elif output.status == AgentStatus.CANCELLED:
        await updater.cancel()
    else:
        error = output.error_message or output.status.value
        await updater.failed(updater.new_agent_message([Part(text=error)]))
