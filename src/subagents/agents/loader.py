"""Loading the project's sub agents: ``load_agents(project_root)`` → :class:`AgentRegistry`.

::

    async with load_agents("path/to/project") as agents:      # MCP servers connected here
        agent = agents.get("weather")                          # MCPOpenAgent
        booking = agents.get("booking", exit_if=["slots.date is not null"])  # MCPTaskAgent
        output = await agent.run(AgentInput(id="c1", user_message="Weather in Paris?"))

``registry = await load_agents(root)`` works too (then ``await registry.aclose()``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Generator, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from subagents.agents.base import ReActAgent
from subagents.agents.classes import (
    AgentModuleError,
    check_agent_classes,
    load_agent_class,
    relative_to_root,
)
from subagents.agents.open_agent import MCPOpenAgent
from subagents.agents.task_agent import MCPTaskAgent
from subagents.config.flow_graph import tool_servers
from subagents.errors import ConfigError, ConfigErrors, MCPServerUnavailable
from subagents.llm.base import LLMClient
from subagents.tools.base import FilteredToolset, Toolset
from subagents.tools.redacting import RedactingToolset

if TYPE_CHECKING:
    from subagents.agents.a2a import A2AAgent
    from subagents.config.loader import LoadedAgent, Project
    from subagents.config.models import MCPServerConfig
    from subagents.llm.factory import LLMFactory

logger = logging.getLogger("subagents.agents.loader")

ToolsetWrapper = Callable[[str, Toolset], Toolset]
"""Wraps the toolset of one MCP server (given the server's name), e.g. to record calls."""


class MCPToolsets(Protocol):
    """What the registry needs of an MCP manager (:class:`~subagents.mcp.MCPManager`, or
    a stand-in such as a recorded cassette's tools when replaying a test)."""

    async def start(self, names: Iterable[str] | None = None) -> None:
        """Connect the named servers and list their tools."""

    def toolset(self, name: str) -> Toolset:
        """The toolset of server ``name``."""

    def states(self) -> dict[str, str]:
        """Each server's connection state."""

    async def aclose(self) -> None:
        """Close the connections."""


class AgentRegistry:
    """The project's agents, their LLM clients and MCP connections.

    Open agents are built and their tools listed at start (duplicate tool names are load
    errors); task agents are built on first :meth:`get` for a given ``exit_if`` and cached
    (the assistant builds and prepares those of every flow step at load, through
    :meth:`prepare_call`).
    """

    def __init__(
        self,
        project: Project,
        *,
        mcp: MCPToolsets | None = None,
        llm_factory: LLMFactory | None = None,
        wrap_toolset: ToolsetWrapper | None = None,
    ) -> None:
        self.project = project
        self._llm_factory = llm_factory
        self._wrap_toolset = wrap_toolset
        self._mcp: MCPToolsets | None = mcp
        self._owns_mcp = mcp is None
        self._llms: dict[str, LLMClient] = {}
        self._classes: dict[str, type[ReActAgent] | None] = {}
        self._open: dict[str, ReActAgent] = {}
        self._task: dict[tuple[str, tuple[str, ...]], ReActAgent] = {}
        self._remote: dict[str, A2AAgent] = {}
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def names(self) -> list[str]:
        """Names of the project's agents."""
        return list(self.project.agents)

    def __contains__(self, name: object) -> bool:
        return name in self.project.agents

    async def start(self) -> AgentRegistry:
        """Connect the MCP servers the agents use and build every agent (once)."""
        if self._started:
            return self
        try:
            # The user's agent classes, checked as `validate` does (file and line).
            problems = [p for p in check_agent_classes(self.project) if p.severity == "error"]
            if problems:
                raise ConfigErrors(problems)
            await self._connect_mcp()
            for name, loaded in self.project.agents.items():
                try:
                    if loaded.config.agent.protocol == "A2A":
                        self._remote[name] = await self._start_remote(loaded)
                        continue
                    cls = self._classes[name] = self._agent_class(loaded)
                    if cls is not None and issubclass(cls, MCPTaskAgent):
                        continue  # built per exit_if by get()
                    agent = self._build(loaded, None)
                    await agent.prepare()
                    self._open[name] = agent
                except ConfigError as exc:
                    problems.extend(getattr(exc, "problems", None) or [exc.problem])
            if problems:
                raise ConfigErrors(problems)
            await self._warn_unknown_filter_names()
        except BaseException:
            await self.aclose()
            raise
        self._started = True
        logger.info("agents.loaded", extra={"agents": len(self.project.agents)})
        return self

    def mcp_states(self) -> dict[str, str]:
        """Each MCP server's connection state (readiness reports)."""
        return self._mcp.states() if self._mcp is not None else {}

    async def aclose(self) -> None:
        """Close LLM clients and, when this registry opened them, the MCP connections."""
        for client in self._llms.values():
            try:
                await client.aclose()
            except Exception:  # closing must go on for the others
                logger.warning("agents.llm.close_failed")
        self._llms.clear()
        for remote in self._remote.values():
            try:
                await remote.aclose()
            except Exception:  # closing must go on for the others
                logger.warning("agents.a2a.close_failed")
        self._remote.clear()
        if self._owns_mcp and self._mcp is not None:
            await self._mcp.aclose()
            self._mcp = None

    def __await__(self) -> Generator[Any, None, AgentRegistry]:
        return self.start().__await__()

    async def __aenter__(self) -> AgentRegistry:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ agents

    def get(self, name: str, exit_if: Sequence[str] | None = None) -> Any:
        """The agent ``name``: MCPOpenAgent without ``exit_if``, else an MCPTaskAgent;
        an :class:`~subagents.agents.a2a.A2AAgent` for ``protocol: A2A``."""
        loaded = self.project.agents.get(name)
        if loaded is None:
            known = ", ".join(sorted(self.project.agents)) or "none"
            raise ConfigError(f"unknown agent '{name}' (known agents: {known})", field="call")
        if loaded.config.agent.protocol == "A2A":
            return self._get_remote(loaded, exit_if)
        if not exit_if:
            agent = self._open.get(name)
            if agent is None:
                agent = self._open[name] = self._build(loaded, None)
            return agent
        key = (name, tuple(exit_if))
        task = self._task.get(key)
        if task is None:
            task = self._task[key] = self._build(loaded, list(exit_if))
        return task

    async def prepare_call(self, name: str, exit_if: Sequence[str] | None = None) -> Any:
        """:meth:`get` the agent and prepare it (list tools, build the payload) now.

        Used at load for every flow ``call:`` step, so a clash between a ``set_slot_*``
        built-in and an MCP tool is a load error. Raises :class:`ConfigError`.
        """
        agent = self.get(name, exit_if)
        await agent.prepare()
        return agent

    def _get_remote(self, loaded: LoadedAgent, exit_if: Sequence[str] | None) -> A2AAgent:
        file = relative_to_root(loaded.file, self.project.root)
        if exit_if:
            raise ConfigError(
                f"{file}: agent '{loaded.name}' is an A2A agent and decides itself when it is"
                " done; exit_if works only with ReAct sub agents: remove it from the call",
                file=file,
                field="exit_if",
            )
        agent = self._remote.get(loaded.name)
        if agent is None:
            agent = self._remote[loaded.name] = self._build_remote(loaded)
        return agent

    async def _start_remote(self, loaded: LoadedAgent) -> A2AAgent:
        agent = self._build_remote(loaded)
        try:
            await agent.prepare()
        except BaseException:
            await agent.aclose()
            raise
        return agent

    def _build_remote(self, loaded: LoadedAgent) -> A2AAgent:
        """The A2A agent of ``loaded`` (a2a-sdk is imported here, only when one exists)."""
        from subagents.agents.a2a import A2AAgent

        cfg = loaded.config.configuration
        file = relative_to_root(loaded.file, self.project.root)
        cls: type[A2AAgent] = A2AAgent
        if cfg.module:
            custom: Any = self._agent_class(loaded)
            if custom is None or not issubclass(custom, A2AAgent):
                raise ConfigError(
                    f"{file}: configuration.module: '{cfg.module}' is not an A2AAgent subclass",
                    file=file,
                    field="configuration.module",
                )
            cls = custom
        return cls(
            loaded.name,
            loaded.config.agent.description,
            agent_card=cfg.agent_card or "",
            project_root=self.project.root,
            agent_dir=loaded.dir,
            auth=cfg.auth,
            timeout=cfg.timeout,
            max_retries=cfg.max_retries,
            polling=cfg.polling,
            streaming=cfg.streaming,
            config=loaded.config,
            config_file=file,
        )

    def _build(self, loaded: LoadedAgent, exit_if: list[str] | None) -> ReActAgent:
        agent = self._instantiate(loaded, exit_if)
        agent.sampling_clients = functools.partial(self._sampling_llm, loaded)
        return agent

    def _instantiate(self, loaded: LoadedAgent, exit_if: list[str] | None) -> ReActAgent:
        if loaded.name not in self._classes:
            self._classes[loaded.name] = self._agent_class(loaded)
        cls = self._classes[loaded.name]
        file = relative_to_root(loaded.file, self.project.root)
        cfg = loaded.config.configuration
        kwargs: dict[str, Any] = {
            "llm": self._llm_for(loaded),
            "toolsets": self._toolsets_for(loaded),
            "prompt_template": loaded.prompt_template_text,
            "prompt_template_source": cfg.prompt_template or "prompt_template",
            "max_iterations": cfg.max_iterations,
            "timeout": cfg.timeout,
            "config": loaded.config,
            "config_file": file,
        }
        description = loaded.config.agent.description
        if exit_if is None:
            if cls is not None and not issubclass(cls, MCPOpenAgent):
                raise ConfigError(
                    f"{file}: agent '{loaded.name}' uses the task agent class "
                    f"'{cfg.module}' but is called without exit_if; add exit_if to the call "
                    "step or subclass MCPOpenAgent",
                    file=file,
                    field="configuration.module",
                )
            return (cls or MCPOpenAgent)(loaded.name, description, **kwargs)
        if cls is not None and not issubclass(cls, MCPTaskAgent):
            raise ConfigError(
                f"{file}: agent '{loaded.name}' is called with exit_if but its class "
                f"'{cfg.module}' is not an MCPTaskAgent; subclass MCPTaskAgent or remove exit_if",
                file=file,
                field="configuration.module",
            )
        task_cls = cls or MCPTaskAgent
        return task_cls(
            loaded.name, description, exit_if=exit_if, slots=self.project.domain.slots, **kwargs
        )

    def _agent_class(self, loaded: LoadedAgent) -> type[ReActAgent] | None:
        module = loaded.config.configuration.module
        if not module:
            return None
        file = relative_to_root(loaded.file, self.project.root)
        try:
            return load_agent_class(self.project.root, module)
        except AgentModuleError as exc:
            raise ConfigError(
                f"{file}: configuration.module: {exc}", file=file, field="configuration.module"
            ) from None

    # ------------------------------------------------------------------ LLM and MCP

    def _llm_for(self, loaded: LoadedAgent) -> LLMClient:
        from subagents.llm import create_llm_client, resolve_llm_config

        models = resolve_llm_config(self.project.endpoints, loaded.config.configuration.llm)
        key = "|".join(m.model_dump_json() for m in models)
        client = self._llms.get(key)
        if client is None:
            create = self._llm_factory or create_llm_client
            client = self._llms[key] = create(models)
        return client

    def _sampling_llm(self, loaded: LoadedAgent, group: str | None, max_tokens: int) -> LLMClient:
        """A client for MCP sampling: the model group ``group`` (or the agent's own
        models) with ``max_tokens`` set; cached and closed like the agents' clients."""
        from subagents.config.models import AgentLLMConfig
        from subagents.llm import create_llm_client, resolve_llm_config

        llm = AgentLLMConfig(model_group=group) if group else loaded.config.configuration.llm
        models = resolve_llm_config(self.project.endpoints, llm)
        models = [m.model_copy(update={"max_tokens": max_tokens}) for m in models]
        key = "|".join(m.model_dump_json() for m in models)
        client = self._llms.get(key)
        if client is None:
            create = self._llm_factory or create_llm_client
            client = self._llms[key] = create(models)
        return client

    def _toolsets_for(self, loaded: LoadedAgent) -> list[Toolset]:
        refs = loaded.config.connections.mcp_servers
        if not refs:
            return []
        if self._mcp is None:
            raise ConfigError(
                f"agent '{loaded.name}' uses MCP servers but no MCP manager is running",
                field="connections.mcp_servers",
            )
        toolsets: list[Toolset] = [
            FilteredToolset(
                self._server_toolset(ref.name),
                include=ref.include_tools,
                exclude=ref.exclude_tools,
            )
            for ref in refs
        ]
        if self.project.secrets:
            # A server may echo a secret it was given (env, header): never pass it on.
            toolsets = [RedactingToolset(t, self.project.secrets) for t in toolsets]
        return toolsets

    def _server_toolset(self, name: str) -> Toolset:
        assert self._mcp is not None  # checked by the caller
        toolset = self._mcp.toolset(name)
        return self._wrap_toolset(name, toolset) if self._wrap_toolset else toolset

    async def _warn_unknown_filter_names(self) -> None:
        """Warn about ``include_tools`` / ``exclude_tools`` names a server does not offer."""
        if self._mcp is None:
            return
        for loaded in self.project.agents.values():
            file = relative_to_root(loaded.file, self.project.root)
            for ref in loaded.config.connections.mcp_servers:
                named = {"include_tools": ref.include_tools, "exclude_tools": ref.exclude_tools}
                if not any(named.values()):
                    continue
                offered = {t.name for t in await self._mcp.toolset(ref.name).list_tools()}
                for key, names in named.items():
                    for tool in names or []:
                        if tool not in offered:
                            logger.warning(
                                "%s: %s: server '%s' offers no tool '%s' (it offers: %s)",
                                file,
                                key,
                                ref.name,
                                tool,
                                ", ".join(sorted(offered)) or "nothing",
                                extra={"event": "agents.unknown_tool_name"},
                            )

    def mcp_toolset(self, server: str) -> Toolset:
        """The shared connection to MCP server ``server`` (flow tool steps call through it).

        Raises :class:`~subagents.errors.MCPServerUnavailable` when no such server is
        configured or connected.
        """
        if self._mcp is None:
            raise MCPServerUnavailable(server, "is not connected (no MCP server is in use)")
        return self._server_toolset(server)

    async def _connect_mcp(self) -> None:
        # The servers of the agents and of the flows' MCP tool steps, connected together.
        needed = sorted(
            {
                ref.name
                for a in self.project.agents.values()
                for ref in a.config.connections.mcp_servers
            }
            | tool_servers(self.project.flow_graph)
        )
        if not needed:
            return
        if self._mcp is None:
            from subagents.mcp import MCPManager

            self._mcp = MCPManager(
                _with_agent_retries(self.project),
                project_root=self.project.root,
                token_store_config=self.project.endpoints.mcp_token_store,
            )
        await self._mcp.start(needed)


def _with_agent_retries(project: Project) -> list[MCPServerConfig]:
    """Apply the agents' ``configuration.max_retries`` to the servers they connect to.

    A connection is shared by every agent, so it gets the largest value any of its agents
    sets explicitly; ``max_retries`` written on the server in endpoints.yml wins over both.
    """
    wanted: dict[str, int] = {}
    for agent in project.agents.values():
        conf = agent.config.configuration
        if "max_retries" not in conf.model_fields_set:
            continue
        for ref in agent.config.connections.mcp_servers:
            wanted[ref.name] = max(wanted.get(ref.name, 0), conf.max_retries)
    servers = []
    for server in project.endpoints.mcp_servers:
        if server.name in wanted and "max_retries" not in server.model_fields_set:
            server = server.model_copy(update={"max_retries": wanted[server.name]})
        servers.append(server)
    return servers


def load_agents(
    project_root: str | Path | Project,
    *,
    mcp: MCPToolsets | None = None,
    llm_factory: LLMFactory | None = None,
    wrap_toolset: ToolsetWrapper | None = None,
) -> AgentRegistry:
    """The project's agents as a registry; ``async with`` (or ``await``) starts it.

    ``project_root`` is a project directory or an already loaded
    :class:`~subagents.config.loader.Project` (e.g. with endpoints pointed at the scripted
    model). Pass ``mcp`` to share an :class:`~subagents.mcp.MCPManager`; the registry then
    starts the servers its agents need but does not close the manager. ``llm_factory``
    builds each model group's client instead of ``create_llm_client`` (e.g. the in-process
    scripted model). ``wrap_toolset(server_name, toolset)`` wraps each MCP server's
    toolset an agent gets (below the include/exclude filter), e.g. to record or stub calls.
    """
    if isinstance(project_root, str | Path):
        from subagents.config.loader import load_project

        project = load_project(project_root)
    else:
        project = project_root
    return AgentRegistry(project, mcp=mcp, llm_factory=llm_factory, wrap_toolset=wrap_toolset)
