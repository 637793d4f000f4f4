"""Cross-field and cross-file checks of endpoints.yml, domain.yml and agent configs.

Each check adds :class:`~subagents.errors.ConfigProblem` s (file, line, field, what to do)
to a :class:`~subagents.config.source.Problems`; none raises.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subagents.config.a2a_checks import check_a2a_agent, check_react_only
from subagents.config.models import (
    ActionEndpointConfig,
    AgentConfig,
    DomainConfig,
    EndpointsConfig,
    MCPServerConfig,
    SlotConfig,
)
from subagents.config.observability import check_observability
from subagents.config.salvage import DomainGaps
from subagents.config.secrets import MUST_USE_VARIABLE
from subagents.config.slots import SLOT_TYPES
from subagents.config.source import PathT, Problems, SourceFile, path_matches

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_AUTH_HEADER_RE = re.compile(r"authorization|token|key|secret|password", re.IGNORECASE)


@dataclass
class Context:
    """What the cross-file checks need to know about the other files."""

    root: Path
    problems: Problems
    endpoints: EndpointsConfig | None = None
    domain: DomainConfig | None = None
    broken_agents: set[str] = field(default_factory=set)
    """Names of agents whose config.yml has errors (flows calling them are not flagged)."""
    domain_gaps: DomainGaps = field(default_factory=DomainGaps)
    """Parts of domain.yml that had errors (flows using them are not flagged)."""


def suggest(name: str, known: Iterable[str], what: str) -> str:
    """``; did you mean 'x'?`` or the list of what is defined."""
    names = sorted(set(known))
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    if names:
        return f"; known {what}: {', '.join(names)}"
    return f"; there are no {what}"


# --------------------------------------------------------------------------- endpoints.yml


def check_endpoints(src: SourceFile, cfg: EndpointsConfig, problems: Problems) -> None:
    """Duplicates, transport requirements, literal secrets, action endpoint, tracker store."""
    _duplicates(
        src, problems, [g.id for g in cfg.model_groups], "model_groups", "id", "model group id"
    )
    for gi, group in enumerate(cfg.model_groups):
        for mi, model in enumerate(group.models):
            path: PathT = ("model_groups", gi, "models", mi, "api_key")
            if model.api_key and path not in src.interpolated:
                problems.warning(
                    src,
                    path,
                    "literal API key in the file; prefer ${VAR} (for example ${OPENAI_API_KEY})"
                    " so that it stays out of version control and logs",
                )
    _duplicates(
        src, problems, [s.name for s in cfg.mcp_servers], "mcp_servers", "name", "MCP server name"
    )
    for i, server in enumerate(cfg.mcp_servers):
        _check_mcp_server(src, i, server, problems)
    groups = {group.id for group in cfg.model_groups}
    for i, server in enumerate(cfg.mcp_servers):
        wanted = server.sampling.model_group
        if wanted is not None and wanted not in groups:
            problems.error(
                src,
                ("mcp_servers", i, "sampling", "model_group"),
                f"no model group '{wanted}' (model_groups: {', '.join(sorted(groups)) or 'none'});"
                " name one of them, or leave model_group out to use the calling agent's model",
            )
    check_literal_secrets(src, problems)
    _check_action_endpoint(src, cfg, problems)
    _check_tracker_store(src, cfg, problems)
    check_observability(src, cfg.tracing, cfg.metrics, problems)
    _check_mcp_token_store(src, cfg, problems)


def _duplicates(
    src: SourceFile, problems: Problems, names: list[str], key: str, attr: str, what: str
) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            problems.error(
                src,
                (key, i, attr),
                f"duplicate {what} '{name}' (first at line {src.line((key, seen[name], attr))});"
                " rename one",
            )
        else:
            seen[name] = i


def _check_mcp_server(src: SourceFile, i: int, s: MCPServerConfig, problems: Problems) -> None:
    base: PathT = ("mcp_servers", i)
    if not _NAME_RE.match(s.name):
        problems.error(src, (*base, "name"), "use letters, digits, '_', '-' and '.' only")
    if s.type == "stdio":
        if not s.command:
            problems.error(
                src,
                (*base, "command"),
                f"MCP server '{s.name}' has type stdio but no command; add command:"
                " (for example command: python, args: [server.py])",
            )
        for extra in ("url", "token", "api_key", "oauth"):
            if getattr(s, extra):
                problems.warning(src, (*base, extra), f"ignored: '{s.name}' is a stdio server")
    else:
        if not s.url:
            problems.error(
                src,
                (*base, "url"),
                f"MCP server '{s.name}' has type {s.type} but no url; add url:"
                " (for example url: http://localhost:8080/mcp)",
            )
        elif not s.url.startswith(("http://", "https://")):
            problems.error(
                src, (*base, "url"), f"url must start with http:// or https:// (got {s.url!r})"
            )
        if s.command:
            problems.warning(src, (*base, "command"), f"ignored: '{s.name}' is a {s.type} server")
    if s.oauth is not None and s.oauth.effective_grant == "client_credentials":
        if not s.oauth.client_id:
            problems.error(
                src, (*base, "oauth", "client_id"), "client credentials need a client_id"
            )
        if not (s.oauth.client_secret or s.oauth.private_key):
            problems.error(
                src,
                (*base, "oauth", "client_secret"),
                "client credentials need client_secret: ${VAR} or private_key: ${VAR}",
            )
    auth = [a for a in ("token", "api_key", "oauth") if getattr(s, a)]
    if len(auth) > 1:
        problems.error(src, (*base, auth[1]), f"use only one of {', '.join(auth)}")
    for header in s.headers:
        path = (*base, "headers", header)
        if _AUTH_HEADER_RE.search(header) and path not in src.interpolated:
            problems.warning(src, path, "literal credential in a header; use ${VAR}")


def check_literal_secrets(src: SourceFile, problems: Problems) -> None:
    """Secret fields written literally (not ``${VAR}``) are errors."""
    for path, value in _leaves(src.data, ()):
        if (
            isinstance(value, str)
            and value
            and path_matches(path, MUST_USE_VARIABLE)
            and path not in src.interpolated
        ):
            problems.error(
                src,
                path,
                "secrets must not be written in the file; use ${VAR} (for example"
                f" ${{{str(path[-1]).upper()}}}) and set the environment variable",
            )


def _leaves(data: Any, path: PathT) -> Iterable[tuple[PathT, Any]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _leaves(v, (*path, i))
    else:
        yield path, data


def _check_action_endpoint(src: SourceFile, cfg: EndpointsConfig, problems: Problems) -> None:
    ae = cfg.action_endpoint
    if ae is None:
        return
    if not ae.actions_module and not ae.url:
        problems.error(
            src,
            ("action_endpoint",),
            "set actions_module (in-process actions, e.g. actions_module: actions) or url"
            " (an action server, http://host:5055/webhook or grpc://host:5055)",
        )
    if ae.actions_module and ae.url:
        problems.warning(
            src,
            ("action_endpoint", "url"),
            "ignored: actions_module is set and takes priority over url",
        )
    if ae.url and not ae.url.startswith(("http://", "https://", "grpc://", "grpcs://")):
        problems.error(
            src,
            ("action_endpoint", "url"),
            f"url must start with http://, https://, grpc:// or grpcs:// (got {ae.url!r})",
        )
    _check_action_tls(src, ae, problems)


def _check_action_tls(src: SourceFile, ae: ActionEndpointConfig, problems: Problems) -> None:
    """A client certificate needs its key (and the reverse); remote auth needs a url."""
    pair = {"ssl_client_cert": ae.ssl_client_cert, "ssl_client_key": ae.ssl_client_key}
    for key, value in pair.items():
        other = "ssl_client_key" if key == "ssl_client_cert" else "ssl_client_cert"
        if value and not pair[other]:
            problems.error(
                src,
                ("action_endpoint", key),
                f"{key} needs {other} too (the client certificate and its private key, PEM files)",
            )
    remote = ("basic_auth", "headers", "ssl_client_cert", "ssl_client_key", "token")
    if ae.actions_module and not ae.url:
        for key in remote:
            if getattr(ae, key):
                problems.warning(
                    src,
                    ("action_endpoint", key),
                    f"ignored: {key} is for an action server (url), and actions_module runs"
                    " the actions in-process",
                )
    for header in ae.headers:
        path = ("action_endpoint", "headers", header)
        if _AUTH_HEADER_RE.search(header) and path not in src.interpolated:
            problems.warning(src, path, "literal credential in a header; use ${VAR}")
    if ae.basic_auth and ae.token:
        problems.error(
            src,
            ("action_endpoint", "basic_auth"),
            "basic_auth and token both set the Authorization header; keep one of them",
        )


def _check_tracker_store(src: SourceFile, cfg: EndpointsConfig, problems: Problems) -> None:
    ts = cfg.tracker_store
    if ts.type == "sql" and (ts.dialect or "postgresql").lower() not in (
        "postgresql",
        "postgres",
    ):
        problems.error(
            src,
            ("tracker_store", "dialect"),
            f"dialect '{ts.dialect}' is not supported; use 'postgresql' (or type: sqlite "
            "for an embedded database)",
        )
    if ts.type in ("sqlite", "memory") and ts.url:
        problems.warning(
            src,
            ("tracker_store", "url"),
            f"url is ignored by the {ts.type} store; did you mean type: sql or type: redis?",
        )


def _check_mcp_token_store(src: SourceFile, cfg: EndpointsConfig, problems: Problems) -> None:
    ts = cfg.mcp_token_store
    key = "mcp_token_store"
    if ts.type in ("sql", "postgresql") and (ts.dialect or "postgresql").lower() not in (
        "postgresql",
        "postgres",
    ):
        problems.error(
            src,
            (key, "dialect"),
            f"dialect '{ts.dialect}' is not supported; use 'postgresql' (or type: sqlite "
            "for a database file)",
        )
    if ts.type in ("file", "sqlite") and ts.url:
        problems.warning(
            src,
            (key, "url"),
            f"url is ignored by the {ts.type} token store; did you mean type: sql or type: redis?",
        )
    if ts.type in ("redis", "sql", "postgresql") and ts.path:
        problems.warning(
            src,
            (key, "path"),
            f"path is ignored by the {ts.type} token store (it uses url); did you mean "
            "type: file or type: sqlite?",
        )
    if ts.type != "redis" and ts.key_prefix is not None:
        problems.warning(src, (key, "key_prefix"), "key_prefix only applies to type: redis")


# --------------------------------------------------------------------------- domain.yml


#: Rasa domain keys that are accepted (a Rasa domain loads as is) but not used, and what
#: subagents does instead. One warning per key present; drop an entry once it is used.
IGNORED_DOMAIN_KEYS: dict[PathT, str] = {
    ("intents",): (
        "ignored: there is no NLU here; an LLM routes each message to a flow by the flows'"
        " descriptions (a /flow_id message starts a flow directly)"
    ),
    ("entities",): (
        "ignored: there is no entity extraction; slots are filled by collect steps,"
        " set_slots, agents' set_slot_* tools and custom actions"
    ),
}
SLOT_MAPPING_TYPES = ("from_llm", "from_text", "controlled", "custom")
"""Slot mapping types that apply (``custom`` is ``controlled``); others are warned about."""


def check_ignored_keys(
    src: SourceFile, problems: Problems, table: Mapping[PathT, str] = IGNORED_DOMAIN_KEYS
) -> None:
    """A warning for each key of ``table`` that ``src`` sets (``"*"``: any one key)."""
    for pattern, why in table.items():
        for path in _matching(src.data, pattern, ()):
            problems.warning(src, path, why)


def _matching(data: Any, pattern: PathT, path: PathT) -> Iterable[PathT]:
    """The paths in ``data`` matching ``pattern`` whose value is set (not empty)."""
    if not pattern:
        if data not in (None, [], {}, ""):
            yield path
        return
    if not isinstance(data, dict):
        return
    head, rest = pattern[0], pattern[1:]
    keys = list(data) if head == "*" else [head] if head in data else []
    for key in keys:
        yield from _matching(data[key], rest, (*path, key))


SESSION_KEYS = ("session_expiration_time", "carry_over_slots_to_new_session")


def check_session_config(src: SourceFile, config: dict[str, Any], problems: Problems) -> None:
    """``session_config``: minutes >= 0 and a boolean; other keys are warned about."""
    for key in config:
        if key not in SESSION_KEYS:
            problems.warning(
                src,
                ("session_config", key),
                f"ignored: unknown key{suggest(str(key), SESSION_KEYS, 'keys')}",
            )
    minutes = config.get("session_expiration_time")
    if minutes is not None and (
        isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes < 0
    ):
        problems.error(
            src,
            ("session_config", "session_expiration_time"),
            f"must be a number of minutes >= 0 (0: sessions never expire), got {minutes!r}",
        )
    carry = config.get("carry_over_slots_to_new_session")
    if carry is not None and not isinstance(carry, bool):
        problems.error(
            src,
            ("session_config", "carry_over_slots_to_new_session"),
            f"must be true or false, got {carry!r}",
        )


def check_domain(src: SourceFile, domain: DomainConfig, problems: Problems) -> None:
    """Slot definitions: categorical values, initial values of the right type; Rasa keys
    that are accepted but ignored; ``session_config``."""
    check_ignored_keys(src, problems)
    check_session_config(src, domain.session_config, problems)
    for name, slot in domain.slots.items():
        path: PathT = ("slots", name)
        has_values = SLOT_TYPES[slot.type].has_values
        if has_values and not slot.values:
            problems.error(
                src,
                (*path, "values"),
                f"categorical slot '{name}' has no values; add values: [a, b, ...]"
                " or use type: text",
            )
        if slot.values and not has_values:
            problems.warning(src, (*path, "values"), f"ignored: slot '{name}' is {slot.type}")
        if slot.initial_value is not None:
            problem = slot_value_problem(name, slot, slot.initial_value)
            if problem:
                problems.error(src, (*path, "initial_value"), problem)
        for i, mapping in enumerate(slot.mappings or []):
            kind = mapping.get("type") if isinstance(mapping, dict) else None
            if kind not in SLOT_MAPPING_TYPES:
                problems.warning(
                    src,
                    (*path, "mappings", i),
                    f"ignored: mapping type {kind!r} does not apply here (no NLU); use"
                    " from_llm (the router fills the slot), from_text (a collect takes the"
                    " message as it is) or controlled (only actions and buttons set it)",
                )


def slot_value_problem(name: str, slot: SlotConfig, value: Any) -> str | None:
    """Why ``value`` cannot be stored in ``slot`` (None when it can)."""
    return slot.slot(name).value_problem(value)


# --------------------------------------------------------------------------- sub agents


def check_agent(src: SourceFile, cfg: AgentConfig, folder: Path, ctx: Context) -> str | None:
    """Check one agent config; return the prompt template's text (None: default prompt)."""
    name = cfg.agent.name
    if not _NAME_RE.match(name):
        ctx.problems.error(
            src,
            ("agent", "name"),
            "use letters, digits, '_', '-' and '.' only (flows call it by name)",
        )
    if cfg.agent.protocol == "A2A":
        check_a2a_agent(src, cfg, folder, ctx)
        check_literal_secrets(src, ctx.problems)  # configuration.auth secrets
        return None
    a2a_keys = {"agent_card", "auth", "polling", "streaming"}
    if a2a_keys & cfg.configuration.model_fields_set:
        check_react_only(src, cfg, ctx)
    _check_agent_llm(src, cfg, ctx)
    _check_agent_servers(src, cfg, ctx)
    for key in ("timeout", "max_retries", "max_iterations"):
        value = getattr(cfg.configuration, key)
        if value is not None and value <= 0 and not (key == "max_retries" and value == 0):
            ctx.problems.error(src, ("configuration", key), "must be greater than 0")
    if cfg.configuration.prompt_template:
        custom = bool(cfg.configuration.module)
        return _read_template(src, cfg.configuration.prompt_template, folder, ctx, custom)
    return None


def _check_agent_llm(src: SourceFile, cfg: AgentConfig, ctx: Context) -> None:
    llm = cfg.configuration.llm
    if llm is None:
        return
    base: PathT = ("configuration", "llm")
    group_key = next(
        (
            k
            for k in ("model_group", "model-group")
            if isinstance(src.data.get("configuration", {}).get("llm"), dict)
            and k in src.data["configuration"]["llm"]
        ),
        "model_group",
    )
    if llm.model_group and (llm.provider or llm.model):
        ctx.problems.error(
            src, (*base, group_key), "use either model_group or an inline provider/model, not both"
        )
    elif llm.model_group:
        groups = [g.id for g in ctx.endpoints.model_groups] if ctx.endpoints else None
        if groups is not None and llm.model_group not in groups:
            ctx.problems.error(
                src,
                (*base, group_key),
                f"unknown model group '{llm.model_group}'"
                + suggest(llm.model_group, groups, "model groups in endpoints.yml")
                + " (add it under model_groups: in endpoints.yml)",
            )
    elif not llm.model:
        ctx.problems.error(src, base, "set model_group (a group of endpoints.yml) or model")
    if llm.api_key and (*base, "api_key") not in src.interpolated:
        ctx.problems.warning(src, (*base, "api_key"), "literal API key in the file; prefer ${VAR}")


def _check_agent_servers(src: SourceFile, cfg: AgentConfig, ctx: Context) -> None:
    refs = cfg.connections.mcp_servers
    if not refs and not cfg.configuration.module:
        ctx.problems.warning(
            src,
            ("connections",),
            "the agent has no MCP servers (connections.mcp_servers); it can only use its"
            " built-in tools",
        )
    known = {s.name for s in ctx.endpoints.mcp_servers} if ctx.endpoints else None
    seen: set[str] = set()
    for i, ref in enumerate(refs):
        path: PathT = ("connections", "mcp_servers", i)
        if ref.name in seen:
            ctx.problems.error(src, (*path, "name"), f"MCP server '{ref.name}' is listed twice")
        seen.add(ref.name)
        if known is not None and ref.name not in known:
            ctx.problems.error(
                src,
                (*path, "name"),
                f"unknown MCP server '{ref.name}'"
                + suggest(ref.name, known, "MCP servers in endpoints.yml")
                + " (add it under mcp_servers: in endpoints.yml)",
            )
        if ref.include_tools is not None and ref.exclude_tools is not None:
            ctx.problems.error(
                src,
                (*path, "exclude_tools"),
                f"include_tools and exclude_tools are mutually exclusive on server"
                f" '{ref.name}'; keep one of them",
            )


def _read_template(
    src: SourceFile, ref: str, folder: Path, ctx: Context, custom_class: bool
) -> str | None:
    path: PathT = ("configuration", "prompt_template")
    candidates = [ctx.root / ref, folder / ref]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        ctx.problems.error(
            src,
            path,
            f"prompt template '{ref}' not found (looked in the project directory and in"
            f" {folder.relative_to(ctx.root).as_posix()}/); fix the path",
        )
        return None
    try:
        text = found.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        ctx.problems.error(src, path, f"cannot read prompt template '{ref}': {exc}")
        return None
    problem = template_problem(text)
    if problem:
        ctx.problems.error(src, path, f"prompt template '{ref}' {problem}")
        return None
    unknown = unknown_template_variables(text)
    if unknown and custom_class:
        # The class's template_variables() may add them: only the run can tell.
        extra = " (fine if template_variables() of configuration.module adds it)"
        ctx.problems.warning(src, path, f"prompt template '{ref}' {unknown}{extra}")
    elif unknown:
        ctx.problems.error(src, path, f"prompt template '{ref}' {unknown}")
        return None
    return text


#: The variables a prompt template can use (see subagents.agents.prompt, which renders them
#: with Jinja's strict undefined: any other name would fail every run).
PROMPT_VARIABLES = (
    "agent_name",
    "conversation_history",
    "current_date",
    "current_datetime",
    "current_time",
    "description",
    "slot_names",
    "slots",
    "user_message",
)


def template_problem(text: str) -> str | None:
    """The Jinja2 syntax error of a template (naming its line), or None."""
    import jinja2

    try:
        # Compiling (not only parsing) also catches unknown filters and tests.
        jinja2.Environment(autoescape=False).from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        return f"has a Jinja syntax error at line {exc.lineno}: {exc.message}"
    return None


def unknown_template_variables(text: str) -> str | None:
    """What is wrong with the variables a (syntactically valid) template uses, or None."""
    import jinja2
    from jinja2 import meta

    parsed = jinja2.Environment(autoescape=False).parse(text)
    unknown = sorted(meta.find_undeclared_variables(parsed) - set(PROMPT_VARIABLES))
    if not unknown:
        return None
    names = ("variable " if len(unknown) == 1 else "variables ") + ", ".join(
        f"'{name}'" for name in unknown
    )
    line = _first_line_using(text, unknown[0])
    at = f" (line {line})" if line else ""
    hint = suggest(unknown[0], PROMPT_VARIABLES, "variables")
    hint = hint if hint.startswith("; did you mean") else ""
    return f"uses unknown {names}{at}{hint}; the variables are: {', '.join(PROMPT_VARIABLES)}"


def _first_line_using(text: str, name: str) -> int | None:
    pattern = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)")
    for number, line in enumerate(text.splitlines(), start=1):
        if ("{{" in line or "{%" in line) and pattern.search(line):
            return number
    return None


# --------------------------------------------------------------------------- API keys

#: Where each provider's client reads its key when ``api_key`` is not set (litellm's
#: names). Providers not listed (ollama, hosted_vllm, bedrock...) are not checked.
API_KEY_VARIABLES = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "cohere": "COHERE_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
}


def empty_api_keys(
    endpoints: EndpointsConfig, env: Mapping[str, str], *, uses_default_model: bool
) -> list[tuple[PathT, str]]:
    """``(path in endpoints.yml, message)`` for each model whose API key is empty.

    ``uses_default_model``: something uses the built-in default (OpenAI gpt-4o with
    ``OPENAI_API_KEY``) because endpoints.yml has no model groups.
    """
    found: list[tuple[PathT, str]] = []
    for i, group in enumerate(endpoints.model_groups):
        for j, model in enumerate(group.models):
            variable = API_KEY_VARIABLES.get(model.provider)
            if model.api_key or variable is None or env.get(variable):
                continue
            if model.api_base and model.api_key is None:
                continue  # a self-hosted OpenAI-compatible server may need no key
            written = " and api_key is empty" if model.api_key == "" else ""
            found.append(
                (
                    ("model_groups", i, "models", j),
                    f"model group '{group.id}': no API key for {model.provider}/{model.model}"
                    f" ({variable} is not set{written}); every request would be rejected:"
                    f" export {variable}=..., or run offline with --scripted FILE",
                )
            )
    if uses_default_model and not endpoints.model_groups and not env.get("OPENAI_API_KEY"):
        found.append(
            (
                (),
                "the default model openai/gpt-4o (no model_groups in endpoints.yml) has no"
                " API key (OPENAI_API_KEY is not set): export OPENAI_API_KEY=..., add a"
                " model group, or run offline with --scripted FILE",
            )
        )
    return found
