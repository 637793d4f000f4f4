"""``subagents validate``: every problem of a project, statically or with live MCP servers.

:func:`validate_project` returns errors and warnings sorted by file and line; the CLI
prints ``str(problem)`` per line and exits 1 if any is an error. With ``connect=True`` the
MCP servers are started and the tool names the agents use are checked against what the
servers really offer. It lives in the agents layer because it starts MCP servers: the
config package only reads and checks files (:func:`~subagents.config.collect_project`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Mapping
from pathlib import Path

from subagents.agents.classes import check_agent_classes
from subagents.config.loader import (
    AGENT_CONFIG_FILE,
    SUB_AGENTS_DIR,
    LoadedAgent,
    Project,
    collect_project,
)
from subagents.config.secrets import redact, secret_values
from subagents.config.source import Problems, SourceFile, read_yaml
from subagents.errors import ConfigProblem
from subagents.tools.base import ToolSpec

logger = logging.getLogger("subagents.agents.validate")


def validate_project(
    root: str | Path, connect: bool = False, *, env: Mapping[str, str] | None = None
) -> list[ConfigProblem]:
    """All problems of the project in ``root`` (errors and warnings, by file and line).

    With ``connect=True`` and no static errors, the MCP servers are started to check that
    ``include_tools`` / ``exclude_tools`` name real tools (warning), that no agent is
    offered two tools with the same name (error), and that every flow MCP tool step calls
    a tool its server offers with parameters of that tool (errors).
    """
    project, problems = collect_project(root, env=env)
    if project is not None:  # the user's agent classes (config only reads files)
        problems = sorted(
            problems + check_agent_classes(project), key=lambda p: (p.file, p.line or 0)
        )
    if not connect or project is None or any(p.severity == "error" for p in problems):
        return problems
    live = _run(validate_connections(project))
    return sorted(problems + live, key=lambda p: (p.file, p.line or 0))


def _run(coro: object) -> list[ConfigProblem]:
    """Run a coroutine to completion, also from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()  # type: ignore[arg-type]


async def validate_connections(project: Project) -> list[ConfigProblem]:
    """Start the project's MCP servers and check the agents' tool names against them."""
    from subagents.errors import SubagentsError
    from subagents.mcp import MCPManager

    problems = Problems()
    endpoints_src = SourceFile(project.root / "endpoints.yml", "endpoints.yml")
    _reread(endpoints_src, project)
    servers = project.endpoints.mcp_servers
    tools: dict[str, list[str]] = {}
    specs: dict[str, list[ToolSpec]] = {}
    async with MCPManager(
        servers,
        project_root=project.root,
        token_store_config=project.endpoints.mcp_token_store,
    ) as manager:

        async def list_specs(name: str) -> list[ToolSpec]:
            await manager.start([name])
            return await manager.toolset(name).list_tools()

        results = await asyncio.gather(
            *(list_specs(s.name) for s in servers), return_exceptions=True
        )
    for i, (server, result) in enumerate(zip(servers, results, strict=True)):
        if isinstance(result, SubagentsError | OSError):
            # One problem per output line: fold the server's stderr tail into it.
            text = " | ".join(line for line in str(result).splitlines() if line.strip())
            text = redact(text, secret_values(project.secrets))  # a token in the stderr tail
            problems.error(endpoints_src, ("mcp_servers", i, "name"), text)
        elif isinstance(result, BaseException):
            raise result
        else:
            specs[server.name] = result
            tools[server.name] = [spec.name for spec in result]
    for agent in project.agents.values():
        _check_agent_tools(project, agent, tools, problems)
    _check_tool_steps(project, specs, problems)
    return problems.items


def _check_tool_steps(
    project: Project, specs: Mapping[str, list[ToolSpec]], problems: Problems
) -> None:
    """Every flow MCP tool step names a tool its server offers, and only its parameters."""
    src = SourceFile(project.root / "flows.yml", "flows.yml")
    _reread(src, project)
    for flow in project.flow_graph.flows.values():
        for step in flow.steps.values():
            tool = step.tool
            offered = specs.get(tool.server) if tool is not None else None
            if tool is None or offered is None:
                continue  # not a tool step, or its server failed (reported above)
            spec = next((t for t in offered if t.name == tool.tool), None)
            if spec is None:
                names = ", ".join(sorted(t.name for t in offered)) or "nothing"
                problems.error(
                    src,
                    (*step.path, "call"),
                    f"MCP server '{tool.server}' offers no tool '{tool.tool}' (it offers: {names})",
                )
                continue
            params = dict(spec.input_schema.get("properties") or {})
            for j, (param, _slot) in enumerate(tool.inputs):
                if param not in params:
                    problems.error(
                        src,
                        (*step.path, "mapping", "input", j, "param"),
                        f"tool '{tool.tool}' of MCP server '{tool.server}' has no parameter"
                        f" '{param}' (its parameters: {', '.join(params) or 'none'})",
                    )


def _reread(src: SourceFile, project: Project) -> None:
    """Fill ``src`` with line numbers (the static pass already reported its problems)."""
    if src.path.is_file():
        fresh = read_yaml(src.path, src.rel, Problems(), env={}, secrets=None)
        if fresh is not None:
            src.lines = fresh.lines
            src.data = fresh.data


def _check_agent_tools(
    project: Project,
    agent: LoadedAgent,
    tools: Mapping[str, list[str]],
    problems: Problems,
) -> None:
    src = SourceFile(agent.file, f"{SUB_AGENTS_DIR}/{agent.dir.name}/{AGENT_CONFIG_FILE}")
    _reread(src, project)
    offered: dict[str, str] = {}
    for i, ref in enumerate(agent.config.connections.mcp_servers):
        names = tools.get(ref.name)
        if names is None:
            continue
        for key in ("include_tools", "exclude_tools"):
            for j, tool in enumerate(getattr(ref, key) or []):
                if tool not in names:
                    problems.warning(
                        src,
                        ("connections", "mcp_servers", i, key, j),
                        f"server '{ref.name}' offers no tool '{tool}' (it offers:"
                        f" {', '.join(sorted(names)) or 'nothing'})",
                    )
        for tool in _visible(names, ref.include_tools, ref.exclude_tools):
            if tool in offered:
                problems.error(
                    src,
                    ("connections", "mcp_servers", i, "name"),
                    f"tool '{tool}' is offered by both '{offered[tool]}' and '{ref.name}';"
                    f" exclude it from one of them (exclude_tools: [{tool}])",
                )
            offered.setdefault(tool, ref.name)


def _visible(names: list[str], include: list[str] | None, exclude: list[str] | None) -> list[str]:
    if include is not None:
        return [n for n in names if n in include]
    return [n for n in names if n not in (exclude or [])]
