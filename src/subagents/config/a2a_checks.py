"""Checks of ``protocol: A2A`` agent configs (``sub_agents/<name>/config.yml``).

An A2A agent runs elsewhere: settings of a ReAct sub agent (model, prompt, MCP servers,
iteration limit) mean nothing for it and are errors, as are the A2A settings on a
``protocol: RASA`` agent. The agent card must be a URL or a readable JSON file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from subagents.config.models import AgentConfig
from subagents.config.source import SourceFile

# ``ctx`` is subagents.config.checks.Context (root, problems); not imported: checks
# imports this module.
Context = Any

REACT_ONLY = ("llm", "prompt_template", "max_iterations")
A2A_ONLY = ("agent_card", "auth", "polling", "streaming")


def is_url(value: str) -> bool:
    """Whether an ``agent_card`` value is an http(s) URL rather than a file path."""
    return value.startswith(("http://", "https://"))


def agent_card_path(value: str, root: Path, folder: Path) -> Path:
    """The file an ``agent_card`` path names: relative to the project, else to the agent's
    folder (absolute paths as they are)."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    in_root = root / path
    return in_root if in_root.exists() or not (folder / path).exists() else folder / path


def check_a2a_agent(src: SourceFile, cfg: AgentConfig, folder: Path, ctx: Context) -> None:
    """The checks of one ``protocol: A2A`` agent."""
    conf = cfg.configuration
    set_keys = conf.model_fields_set
    for key in REACT_ONLY:
        if key in set_keys:
            ctx.problems.error(
                src,
                ("configuration", key),
                f"not used by A2A agents (the remote agent has its own); remove {key}",
            )
    if cfg.connections.mcp_servers:
        ctx.problems.error(
            src,
            ("connections", "mcp_servers"),
            "an A2A agent uses the remote agent's own tools; remove connections",
        )
    if not conf.agent_card:
        ctx.problems.error(
            src,
            ("agent", "protocol"),
            "an A2A agent needs configuration.agent_card: the URL of the remote agent's"
            " card (for example http://host:port/.well-known/agent-card.json) or a JSON file",
        )
    elif not is_url(conf.agent_card):
        _check_card_file(src, conf.agent_card, folder, ctx)
    _check_auth(src, cfg, ctx)
    polling = conf.polling
    if polling is not None:
        for key in ("initial_delay", "max_delay", "max_wait"):
            if getattr(polling, key) <= 0:
                ctx.problems.error(src, ("configuration", "polling", key), "must be greater than 0")


def check_react_only(src: SourceFile, cfg: AgentConfig, ctx: Context) -> None:
    """A ReAct (``protocol: RASA``) agent must not carry A2A settings."""
    for key in A2A_ONLY:
        if key in cfg.configuration.model_fields_set:
            ctx.problems.error(
                src,
                ("configuration", key),
                f"only used by A2A agents; set agent.protocol: A2A or remove {key}",
            )


def _check_card_file(src: SourceFile, value: str, folder: Path, ctx: Context) -> None:
    path = agent_card_path(value, ctx.root, folder)
    where = ("configuration", "agent_card")
    if not path.is_file():
        ctx.problems.error(
            src,
            where,
            f"agent card file '{value}' not found (looked in the project and in"
            f" {folder.name}/); give a path relative to the project or an http(s) URL",
        )
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        ctx.problems.error(src, where, f"agent card '{value}' is not valid JSON: {exc}")
        return
    if not isinstance(data, dict) or not (data.get("url") or data.get("supportedInterfaces")):
        ctx.problems.error(
            src,
            where,
            f"agent card '{value}' names no endpoint: it needs 'supportedInterfaces'"
            " (A2A 1.0) or 'url' (A2A 0.3)",
        )


def is_a2a_agent_class(cls: type) -> bool:
    """Whether ``cls`` subclasses subagents.A2AAgent (by name: config sits below agents)."""
    return any(
        c.__name__ == "A2AAgent" and c.__module__ == "subagents.agents.a2a" for c in cls.__mro__
    )


def _check_auth(src: SourceFile, cfg: AgentConfig, ctx: Context) -> None:
    auth = cfg.configuration.auth
    if auth is None:
        return
    chosen = [a for a in ("token", "api_key", "oauth") if getattr(auth, a)]
    if len(chosen) > 1:
        ctx.problems.error(
            src, ("configuration", "auth", chosen[1]), f"use only one of {', '.join(chosen)}"
        )
    if "{key}" not in auth.header_format and "{api_key}" not in auth.header_format:
        ctx.problems.error(
            src,
            ("configuration", "auth", "header_format"),
            "must contain {key} where the API key goes (for example 'Bearer {key}')",
        )
