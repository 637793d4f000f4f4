"""Loading a project: endpoints.yml, domain.yml, flows.yml and sub_agents/*/config.yml.

:func:`load_project` reads every file, interpolates ``${VAR}``, validates it against the
models in :mod:`subagents.config.models`, runs the cross-file checks of
:mod:`subagents.config.checks` and raises :class:`~subagents.errors.ConfigErrors` listing
every error at once. Missing files are allowed: the project is then empty in that respect.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import subagents.config.checks as checks
import subagents.config.flow_checks as flow_checks
import subagents.config.layout as layout
from subagents.config.flow_graph import FlowGraph, compile_flows
from subagents.config.models import AgentConfig, DomainConfig, EndpointsConfig, FlowsConfig
from subagents.config.salvage import DomainGaps, salvage_domain
from subagents.config.secrets import (
    AGENT_SECRET_PATHS,
    ENDPOINTS_SECRET_PATHS,
    register_log_secrets,
)
from subagents.config.source import PathT, Problems, SourceFile, read_yaml, validate_model
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
    files: list[str] = field(default_factory=list)
    """The project files that were read, relative to the root (agents' config.yml aside)."""
    flow_files: dict[str, str] = field(default_factory=dict)
    """Flow id → the file that defines it, relative to the root (for line numbers)."""

    def summary(self) -> str:
        """What the project holds: ``3 agents, 6 flows, 2 MCP servers, 4 actions``."""
        actions = layout.custom_actions(self.domain, self.flows)
        return ", ".join(
            (
                layout.plural(len(self.agents), "agent"),
                layout.plural(len(self.flows.flows), "flow"),
                layout.plural(len(self.endpoints.mcp_servers), "MCP server"),
                layout.plural(len(actions), "action"),
            )
        )

    def files_read(self) -> str:
        """The files read, folders shortened: ``endpoints.yml, domain/ (3 files), ...``."""
        groups: dict[str, int] = {}
        for name in self.files:
            top = name.split("/", 1)[0] + "/" if "/" in name else name
            groups[top] = groups.get(top, 0) + 1
        parts = [
            f"{name} ({layout.plural(count, 'file')})" if name.endswith("/") else name
            for name, count in groups.items()
        ]
        if self.agents:
            parts.append(f"{SUB_AGENTS_DIR}/ ({layout.plural(len(self.agents), 'agent')})")
        return ", ".join(parts) or "nothing (no project files)"


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
    logger.info(
        "config.loaded %s: %s",
        project.root,
        project.summary(),
        extra={"event": "config.loaded", "files": project.files_read()},
    )
    return project


def api_key_warnings(project: Project, env: Mapping[str, str] | None = None) -> list[ConfigProblem]:
    """A warning per model group whose API key is empty (see checks.empty_api_keys).

    Not part of loading: offline runs (``--scripted``) need no key.
    """
    uses_default = bool(project.agents or project.flows.flows)
    found = checks.empty_api_keys(
        project.endpoints, os.environ if env is None else env, uses_default_model=uses_default
    )
    if not found:
        return []
    src = SourceFile(project.root / "endpoints.yml", "endpoints.yml")
    if src.path.is_file():
        fresh = read_yaml(src.path, src.rel, Problems(), env={})  # for the line numbers
        src.lines = fresh.lines if fresh is not None else {}
    problems = Problems()
    for path, message in found:
        problems.warning(src, path, message)
    return problems.items


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
        self.files: list[str] = []
        """Every project file read (relative names)."""

    def run(self) -> Project:
        endpoints = self._load("endpoints.yml", EndpointsConfig, ENDPOINTS_SECRET_PATHS)
        domain_parts, domain, gaps = self._load_domains()
        ctx = checks.Context(
            root=self.root,
            problems=self.problems,
            endpoints=endpoints[1] if endpoints else None,
            domain=domain,
            domain_gaps=gaps,
        )
        if endpoints:
            checks.check_endpoints(endpoints[0], endpoints[1], self.problems)
        for src, part in domain_parts:
            checks.check_domain(src, part, self.problems)
        agents = self._load_agents(ctx)
        flow_parts, flows = self._load_flows()
        graph = compile_flows(flows)
        configs = {name: agent.config for name, agent in agents.items()}
        for flows_src, flows_part in flow_parts:
            # This file's flows (compiled with every file's ids, for link:) and problems.
            mine = set(flows_part.flows)
            part_graph = FlowGraph(
                flows={k: v for k, v in graph.flows.items() if k in mine},
                problems=[p for p in graph.problems if p.flow_id in mine],
            )
            flow_checks.check_flows(flows_src, flows, part_graph, ctx, configs)
        self._note_ignored_files()
        # Only worth saying about a project that is otherwise valid (not a consequence).
        if not flows.flows and not self.problems.errors:
            self.problems.add(
                "warning",
                layout.FLOWS_FILE,
                None,
                None,
                "no flows found: every message will get utter_fallback; add flows to"
                " flows.yml (or to data/flows.yml; see docs/conversations.md)",
            )
        return Project(
            root=self.root,
            endpoints=endpoints[1] if endpoints else EndpointsConfig(),
            agents=agents,
            domain=domain or DomainConfig(),
            flows=flows,
            flow_graph=graph,
            secrets=self.secrets,
            files=self.files,
            flow_files=_flow_files(flow_parts),
        )

    def _load_domains(
        self,
    ) -> tuple[list[tuple[SourceFile, DomainConfig]], DomainConfig | None, DomainGaps]:
        """domain.yml and domain/*.yml, merged; the parts (for their checks), the merged
        domain (None: nothing readable) and what could not be read."""
        names = [layout.DOMAIN_FILE] + self._folder_files(layout.DOMAIN_DIR)
        parts: list[tuple[SourceFile, DomainConfig]] = []
        strays = [p for p in layout.yaml_files(self.root / layout.DOMAIN_DIR) if p.suffix != ".yml"]
        # A domain file that is not read (*.yaml): flows are not checked against the rest.
        gaps = DomainGaps.everything() if strays else DomainGaps()
        broken = bool(strays)
        for name in names:
            part, part_gaps = self._load_domain(name)
            if part is None:
                broken |= part_gaps.all_slots
                gaps = _merge_gaps(gaps, part_gaps)
                continue
            parts.append(part)
            gaps = _merge_gaps(gaps, part_gaps)
        if not parts:
            return [], None, gaps
        if len(parts) == 1 and not broken:
            return parts, parts[0][1], gaps
        return parts, self._merge_domains(parts), gaps

    def _merge_domains(self, parts: list[tuple[SourceFile, DomainConfig]]) -> DomainConfig:
        """One domain from several files; a slot or response declared twice is an error."""
        merged = DomainConfig()
        where: dict[tuple[str, str], str] = {}
        for src, part in parts:
            for section in ("slots", "responses"):
                target = getattr(merged, section)
                for name, value in getattr(part, section).items():
                    first = where.setdefault((section, name), src.rel)
                    if first != src.rel:
                        what = section[:-1]
                        self.problems.error(
                            src,
                            (section, name),
                            f"{what} '{name}' is also declared in {first}; declare it once",
                        )
                        continue
                    target[name] = value
            merged.actions += [a for a in part.actions if a not in merged.actions]
        return merged

    def _load_domain(self, name: str) -> tuple[tuple[SourceFile, DomainConfig] | None, DomainGaps]:
        """One domain file; when it has errors, its valid entries and what could not be read."""
        self.last_source = None
        domain = self._load(name, DomainConfig, ())
        if domain is not None:
            return domain, DomainGaps()
        src = self.last_source
        if src is not None:
            config, gaps = salvage_domain(src.data)
            return (src, config), gaps
        path = self.root / name
        exists = path.is_file() or path.with_suffix(".yaml").is_file()
        # An unreadable domain: flows cannot be checked against it, so they are not.
        return None, (DomainGaps.everything() if exists else DomainGaps())

    def _load_flows(self) -> tuple[list[tuple[SourceFile, FlowsConfig]], FlowsConfig]:
        """flows.yml and the files under data/ that have flows:, merged."""
        names = [layout.FLOWS_FILE]
        for name in self._folder_files(layout.DATA_DIR):
            keys = layout.top_level_keys(self.root / name)
            if keys is not None and "flows" in keys:
                names.append(name)
            else:
                self.problems.add("warning", name, None, None, layout.ignored_data_file(keys))
        parts: list[tuple[SourceFile, FlowsConfig]] = []
        merged = FlowsConfig()
        first: dict[str, str] = {}
        for name in names:
            loaded = self._load(name, FlowsConfig, ())
            if loaded is None:
                continue
            src, part = loaded
            parts.append(loaded)
            for flow_id, flow in part.flows.items():
                if first.setdefault(flow_id, name) != name:
                    self.problems.error(
                        src,
                        ("flows", flow_id),
                        f"flow '{flow_id}' is also defined in {first[flow_id]}; rename one",
                    )
                    continue
                merged.flows[flow_id] = flow
        if len(parts) == 1:
            return parts, parts[0][1]
        return parts, merged

    def _folder_files(self, folder: str) -> list[str]:
        """The ``*.yml`` files under ``folder``; a ``*.yaml`` one is an error (not read)."""
        names = []
        for path in layout.yaml_files(self.root / folder):
            name = layout.relative(self.root, path)
            if path.suffix == ".yaml":
                self.problems.add(
                    "error", name, None, None, f"rename {path.name} to {path.stem}.yml (not read)"
                )
            else:
                names.append(name)
        return names

    def _note_ignored_files(self) -> None:
        for name, why in layout.IGNORED_FILES.items():
            if (self.root / name).is_file():
                self.problems.add("warning", name, None, None, why)

    def _load(
        self, name: str, model: type, secret_paths: Sequence[PathT]
    ) -> tuple[SourceFile, Any] | None:
        path = self.root / name
        if not path.is_file():
            alt = path.with_suffix(".yaml")
            if alt.is_file():
                self.problems.add(
                    "error", alt.name, None, None, f"rename {alt.name} to {name} (not read)"
                )
            return None
        self.files.append(name)
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


def _merge_gaps(a: DomainGaps, b: DomainGaps) -> DomainGaps:
    return DomainGaps(
        slots=a.slots | b.slots,
        responses=a.responses | b.responses,
        all_slots=a.all_slots or b.all_slots,
        all_responses=a.all_responses or b.all_responses,
        all_actions=a.all_actions or b.all_actions,
    )


def _flow_files(parts: list[tuple[SourceFile, FlowsConfig]]) -> dict[str, str]:
    """Flow id → the file defining it (the first one, when defined twice)."""
    files: dict[str, str] = {}
    for src, part in parts:
        for flow_id in part.flows:
            files.setdefault(flow_id, src.rel)
    return files
