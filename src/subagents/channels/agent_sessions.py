"""The project's agents for outside callers (the A2A and MCP servers of our agents).

Each agent is served as a general-purpose agent (no ``exit_if``): a caller sends a task,
the agent answers, asks for more (``input_required``) or fails. What the agent needs to
resume is kept per session (an A2A task, an MCP conversation) in memory, bounded.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from subagents.agents.schemas import AgentInput, AgentOutput, AgentStatus
from subagents.config.secrets import redact, secret_values
from subagents.errors import ConfigError

logger = logging.getLogger("subagents.channels.agent_sessions")

MAX_SESSIONS = 4096
"""Sessions waiting for input that are remembered; the oldest are forgotten first."""

TextCallback = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class ServedAgent:
    """An agent offered to outside callers."""

    name: str
    description: str


class AgentSessions:
    """Runs the registry's agents for sessions of outside callers.

    ``registry`` is a started :class:`~subagents.agents.loader.AgentRegistry` (anything
    with ``names`` and ``get(name)``).
    """

    def __init__(self, registry: Any, *, only: list[str] | None = None) -> None:
        self.registry = registry
        self.agents: dict[str, ServedAgent] = {}
        for name in registry.names:
            if only is not None and name not in only:
                continue
            try:
                agent = registry.get(name)
            except ConfigError as exc:
                # A task agent class needs exit_if: there is no flow step to give it one.
                logger.warning(
                    "serve.agent_skipped %s: %s",
                    name,
                    exc.problem.message,
                    extra={"event": "serve.agent_skipped"},
                )
                continue
            description = getattr(agent, "description", "") or f"The {name} agent."
            self.agents[name] = ServedAgent(name, description.strip())
        unknown = sorted(set(only or ()) - set(self.agents))
        if unknown:
            raise ConfigError(
                f"cannot serve agent(s) {', '.join(unknown)}: not general-purpose agents of"
                f" this project (served: {', '.join(self.agents) or 'none'})",
                field="agent",
            )
        self._states: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._questions: dict[tuple[str, str], str | None] = {}
        project = getattr(registry, "project", None)
        self._secrets = secret_values(getattr(project, "secrets", None) or ())

    def waiting(self, agent: str, session: str) -> bool:
        """Whether ``session`` of ``agent`` waits for the caller's answer."""
        return (agent, session) in self._states

    def last_question(self, agent: str, session: str) -> str | None:
        """The question ``session`` of ``agent`` waits on (None if it does not wait)."""
        return self._questions.get((agent, session))

    def forget(self, agent: str, session: str) -> None:
        """Drop what ``session`` of ``agent`` waited with."""
        self._states.pop((agent, session), None)
        self._questions.pop((agent, session), None)

    async def send(
        self,
        agent: str,
        session: str,
        text: str,
        *,
        conversation_id: str | None = None,
        on_text: TextCallback | None = None,
    ) -> AgentOutput:
        """Run ``agent`` on ``text`` for ``session`` (resuming it when it waits)."""
        key = (agent, session)
        state = self._states.pop(key, None)
        self._questions.pop(key, None)
        runner = self.registry.get(agent)
        agent_input = AgentInput(
            id=conversation_id or session,
            user_message=text,
            metadata={"state": state, "channel": "serve"},
        )
        try:
            output: AgentOutput = await runner.run(agent_input, on_text=on_text)
        except Exception as exc:  # an agent must never take the server down
            logger.exception("serve.agent_crashed", extra={"agent": agent})
            return AgentOutput(
                id=agent_input.id, status=AgentStatus.FATAL_ERROR, error_message=repr(exc)
            )
        if output.status == AgentStatus.INPUT_REQUIRED:
            self._states[key] = output.metadata.get("state")
            self._questions[key] = output.response_message
            while len(self._states) > MAX_SESSIONS:
                old, _ = self._states.popitem(last=False)
                self._questions.pop(old, None)
        if self._secrets:
            # What leaves the server must not carry a secret a tool or error echoed.
            if output.response_message:
                output.response_message = redact(output.response_message, self._secrets)
            if output.error_message:
                output.error_message = redact(output.error_message, self._secrets)
        return output


def package_version() -> str:
    """subagents' version (read from the installed metadata: this layer does not import the
    package facade)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("subagents")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0"
