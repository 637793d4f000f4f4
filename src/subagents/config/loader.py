"""Loading a project: endpoints.yml, domain.yml, flows.yml and sub_agents/*/config.yml.

:func:`load_project` reads every file, interpolates ``${VAR}``, validates it against the
models in :mod:`subagents.config.models`, runs the cross-file checks of
:mod:`subagents.config.checks` and raises :class:`~subagents.errors.ConfigErrors` listing
every error at once. Missing files are allowed: the project is then empty in that respect.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subagents.config import checks, flow_checks
from subagents.config.flow_graph import FlowGraph, compile_flows
from subagents.config.models import AgentConfig, DomainConfig, EndpointsConfig, FlowsConfig
from subagents.config.salvage import DomainGaps, salvage_domain
from subagents.config.secrets import (
    AGENT_SECRET_PATHS,
    ENDPOINTS_SECRET_PATHS,
    register_log_secrets,
)
from subagents.config.source import Problems, SourceFile, read_yaml, validate_model
from subagents.errors import ConfigErrors, ConfigProblem

logger = logging.getLogger("subagents.config")

SUB_AGENTS_DIR = "sub_agents"
AGENT_CONFIG_FILE = "config.yml"


@dataclass
class LoadedAgent:
    """One ``sub_agents/<folder>/config.yml``, validated."""

    name: str
    config: AgentConfig
    dir: Path
    file: Path
    prompt_template_text: str | None = None
    """The text of ``configuration.prompt_template`` (None: use the default prompt)."""


@dataclass
class Project:
    """A loaded, checked project. Build it with :func:`load_project`."""

    root: Path
    endpoints: EndpointsConfig = field(default_factory=EndpointsConfig)
    agents: dict[str, LoadedAgent] = field(default_factory=dict)
    domain: DomainConfig = field(default_factory=DomainConfig)
    flows: FlowsConfig = field(default_factory=FlowsConfig)
    flow_graph: FlowGraph = field(default_factory=FlowGraph)
    """The flows compiled into their step graph (what the dialogue engine runs)."""
    secrets: set[str] = field(default_factory=set)
    """Every value substituted from ``${VAR}`` into a secret field, for log redaction."""
    warnings: list[ConfigProblem] = field(default_factory=list)
    """Warnings found while loading (errors raise instead)."""


def load_project(root: str | Path, *, env: Mapping[str, str] | None = None) -> Project:
    """Load and check the project in ``root``; raise ConfigErrors listing every error.

    ``env`` replaces ``os.environ`` for ``${VAR}`` interpolation (tests, embedding).
    """
    project, problems = collect_project(root, env=env)
    errors = [p for p in problems if p.severity == "error"]
    if errors or project is None:
        raise ConfigErrors(errors)
    # From here on no log record of this process shows these values.
    register_log_secrets(project.secrets)
    for warning in project.warnings:
        logger.warning("config.warning %s", warning, extra={"event": "config.warning"})
    logger.debug(
        "config.loaded %s: %d agents, %d flows, %d MCP servers",
        project.root,
        len(project.agents),
        len(project.flows.flows),
        len(project.endpoints.mcp_servers),
        extra={"event": "config.loaded"},
    )
    return project


def collect_project(
    root: str | Path, *, env: Mapping[str, str] | None = None
) -> tuple[Project | None, list[ConfigProblem]]:
    """Load what can be loaded and return it with every problem found, sorted by file/line.

    The project is ``None`` when a file is too broken to be represented.
    """
    root_path = Path(root).resolve()
    problems = Problems()
    if not root_path.is_dir():
        problems.add("error", str(root), None, None, "project directory does not exist")
        return None, problems.items
    loader = _Loader(root_path, problems, dict(os.environ if env is None else env))
    project = loader.run()
    ordered = sorted(problems.items, key=lambda p: (p.file, p.line or 0))
    if project is not None:
        project.warnings = [p for p in ordered if p.severity != "error"]
    return project, ordered


class _Loader:
    def __init__(self, root: Path, problems: Problems, env: dict[str, str]) -> None:
        self.root = root
        self.problems = problems
        self.env = env
        self.secrets: set[str] = set()
        self.broken = False
        self.last_source: SourceFile | None = None
        """The file last read by :meth:`_load` (set even when it fails validation)."""

    def run(self) -> Project:
        endpoints = self._load("endpoints.yml", EndpointsConfig, ENDPOINTS_SECRET_PATHS)
        domain, gaps = self._load_domain()
        ctx = checks.Context(
            root=self.root,
            problems=self.problems,
            endpoints=endpoints[1] if endpoints else None,
            domain=domain[1] if domain else None,
            domain_gaps=gaps,
        )
        if endpoints:
            checks.check_endpoints(endpoints[0], endpoints[1], self.problems)
        if domain:
            checks.check_domain(domain[0], domain[1], self.problems)
        agents = self._load_agents(ctx)
        flows = self._load("flows.yml", FlowsConfig, ())
        graph = compile_flows(flows[1]) if flows else FlowGraph()
        if flows:
            configs = {name: agent.config for name, agent in agents.items()}
            flow_checks.check_flows(flows[0], flows[1], graph, ctx, configs)
        return Project(
            root=self.root,
            endpoints=endpoints[1] if endpoints else EndpointsConfig(),
            agents=agents,
            domain=domain[1] if domain else DomainConfig(),
            flows=flows[1] if flows else FlowsConfig(),
            flow_graph=graph,
            secrets=self.secrets,
        )

    def _load_domain(self) -> tuple[tuple[SourceFile, DomainConfig] | None, DomainGaps]:
        """domain.yml; when it has errors, its valid entries and what could not be read."""
        self.last_source = None
        domain = self._load("domain.yml", DomainConfig, ())
        if domain is not None:
            return domain, DomainGaps()
        src = self.last_source
        if src is not None:
            config, gaps = salvage_domain(src.data)
            return (src, config), gaps
        exists = any((self.root / n).is_file() for n in ("domain.yml", "domain.yaml"))
        # An unreadable domain: flows cannot be checked against it, so they are not.
        return None, (DomainGaps.everything() if exists else DomainGaps())

    def _load(self, name: str, model: type, secret_paths: tuple) -> tuple[SourceFile, Any] | None:
        path = self.root / name
        if not path.is_file():
            alt = path.with_suffix(".yaml")
            if alt.is_file():
                self.problems.add(
                    "error", alt.name, None, None, f"rename {alt.name} to {name} (not read)"
                )
            return None
        src = read_yaml(
            path,
            name,
            self.problems,
            env=self.env,
            secret_paths=secret_paths,
            secrets=self.secrets,
        )
        if src is None:
            return None
        self.last_source = src
        parsed = validate_model(model, src, self.problems, secret_paths=secret_paths)
        return (src, parsed) if parsed is not None else None

    def _load_agents(self, ctx: checks.Context) -> dict[str, LoadedAgent]:
        agents: dict[str, LoadedAgent] = {}
        first_file: dict[str, str] = {}
        base = self.root / SUB_AGENTS_DIR
        if not base.is_dir():
            return agents
        for folder in sorted(p for p in base.iterdir() if p.is_dir()):
            if folder.name.startswith((".", "_")):
                continue
            loaded = self._load_agent(folder, ctx, first_file)
            if loaded is not None:
                agents[loaded.name] = loaded
        return agents

    def _load_agent(
        self, folder: Path, ctx: checks.Context, first_file: dict[str, str]
    ) -> LoadedAgent | None:
        rel_dir = f"{SUB_AGENTS_DIR}/{folder.name}"
        file = folder / AGENT_CONFIG_FILE
        if not file.is_file():
            self.problems.add(
                "error",
                f"{rel_dir}/",
                None,
                None,
                f"folder has no {AGENT_CONFIG_FILE}; every folder in {SUB_AGENTS_DIR}/ is an"
                f" agent: add {rel_dir}/{AGENT_CONFIG_FILE} (or move the folder elsewhere)",
            )
            return None
        rel = f"{rel_dir}/{AGENT_CONFIG_FILE}"
        src = read_yaml(
            file,
            rel,
            self.problems,
            env=self.env,
            secret_paths=AGENT_SECRET_PATHS,
            secrets=self.secrets,
        )
        if src is None:
            ctx.broken_agents.add(folder.name)
            return None
        config = validate_model(AgentConfig, src, self.problems, secret_paths=AGENT_SECRET_PATHS)
        if config is None:
            # Flows calling this agent are not flagged as well: its config is the problem.
            ctx.broken_agents.add(folder.name)
            raw = src.data.get("agent") if isinstance(src.data, dict) else None
            if isinstance(raw, dict) and isinstance(raw.get("name"), str):
                ctx.broken_agents.add(raw["name"])
            return None
        name = config.agent.name
        if name in first_file:
            self.problems.error(
                src,
                ("agent", "name"),
                f"duplicate agent name '{name}' (also used by {first_file[name]});"
                " agent names must be unique: rename one",
            )
            return None
        first_file[name] = rel
        template = checks.check_agent(src, config, folder, ctx)
        return LoadedAgent(name, config, folder, file, template)
