"""The ``subagents`` command: run, shell, agent, validate, actions, init.

Importing this module stays light (typer and rich only): uvicorn, the dialogue engine,
litellm and grpc are imported inside the command that needs them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import json
import logging
import re
import socket
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.core
from rich.console import Console
from rich.markup import escape

from subagents.errors import SubagentsError

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from subagents.channels.auth import AuthSettings
    from subagents.channels.script import ConversationScript
    from subagents.config.models import ServerAuthConfig
    from subagents.llm.scripted import ScriptPlayer
    from subagents.server import ServerSettings

app = typer.Typer(
    name="subagents",
    help="Conversational assistants whose flows hand work to ReAct sub agents and actions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: flags show as flags (rich help shows "--grpc <bool>").
    rich_markup_mode=None,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

ProjectOpt = Annotated[
    Path,
    typer.Option("--project", "-p", help="Project directory.", file_okay=False),
]
PublicUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--public-url",
        help="Base URL the A2A agent cards name (default: http://HOST:PORT).",
    ),
]
ScriptedOpt = Annotated[
    Path | None,
    typer.Option(
        "--scripted",
        help="Offline mode: serve every model from this scripted scenario (YAML).",
        dir_okay=False,
    ),
]


RecordOpt = Annotated[
    Path | None,
    typer.Option(
        "--record",
        help="Write each conversation's model, MCP and action traffic (and a test) here.",
        file_okay=False,
    ),
]


class LogLevel(enum.StrEnum):
    """The --log-level choices."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def _log_level_option() -> Any:
    return typer.Option(help="How much to log.", case_sensitive=False)


def _version(value: bool) -> None:
    if value:
        from subagents._version import __version__

        out.print(f"subagents {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Show the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Conversational assistants whose flows hand work to ReAct sub agents and actions."""


# Attributes every LogRecord has (plus those formatters and uvicorn add): the rest of a
# record's attributes are the ``extra={...}`` fields of our structured events.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
_MAX_VALUE = 240
_PLAIN = re.compile(r"[^\s\"'=\x00-\x1f\x7f-\x9f]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with control characters shown as ``\\xNN`` (tabs kept).

    A logged value (a sender id, a path, a message) must not forge log lines with a
    newline or recolour a terminal with an escape sequence.
    """
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


class EventFormatter(logging.Formatter):
    """``time LEVEL logger event key=value ...``: a record's ``extra`` fields on its line.

    Values are shown compactly: plain words as they are, other strings quoted (newlines
    escaped, so an event stays one line), containers as compact JSON, long values cut.
    Secrets are already redacted: :meth:`logging.Formatter.format` calls ``getMessage()``
    (where the redacting record factory cleans the fields) before ``formatMessage``.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging API
        line = escape_controls(super().formatMessage(record))
        fields = extra_fields(record)
        return f"{line} {fields}" if fields else line

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging API
        return escape_controls(super().formatException(ei), keep_newlines=True)


def extra_fields(record: logging.LogRecord) -> str:
    """The record's ``extra`` fields as ``key=value`` pairs (empty string if none)."""
    pairs = []
    for key, value in record.__dict__.items():
        if key in _RECORD_ATTRS or key.startswith("_"):
            continue
        if key == "event" and str(record.msg).startswith(str(value)):
            continue  # some events repeat their name as a field
        pairs.append(f"{key}={_compact(value)}")
    return " ".join(pairs)


def _compact(value: Any) -> str:
    if isinstance(value, str):
        text = value if _PLAIN.fullmatch(value) else json.dumps(value, ensure_ascii=False)
    elif value is None or isinstance(value, bool | int | float):
        text = str(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        except (TypeError, ValueError):
            text = repr(value)
    text = escape_controls(text)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _setup_logging(level: str | LogLevel) -> None:
    level = level.value if isinstance(level, LogLevel) else level
    if level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise _fail(f"--log-level {level!r} is not one of debug, info, warning, error")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EventFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    if level.upper() != "DEBUG":
        # One "HTTP Request: POST ..." line per model call and MCP request is noise at INFO;
        # our own llm.* / mcp.* events say what matters.
        for name in ("httpx", "httpx2", "httpcore", "httpcore2"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", markup=True)
    return typer.Exit(code)


def _check_project(project: Path) -> Path:
    root = project.expanduser().resolve()
    if not root.is_dir():
        raise _fail(f"project directory {project} does not exist (use --project DIR)")
    return root


def _startup_error(exc: SubagentsError) -> typer.Exit:
    """Turn a load failure (bad config, MCP server down, bad scenario) into a clear exit."""
    from subagents.config.secrets import redact_registered
    from subagents.errors import ConfigErrors

    if isinstance(exc, ConfigErrors):
        for line in str(exc).splitlines():
            err.print(line, markup=False)
        return _fail("the project has configuration errors (run `subagents validate`)")
    # e.g. an MCP server's stderr tail, which may show a token it was given
    return _fail(redact_registered(str(exc)))


# --------------------------------------------------------------------------- run

# run's serving options, declared once so that `run` itself reads as what it does.
HostOpt = Annotated[str, typer.Option(help="Interface to bind.")]
PortOpt = Annotated[int, typer.Option(help="Port to serve on.")]
WorkersOpt = Annotated[
    int,
    typer.Option(min=1, help="Processes serving the port (more than 1 needs lock_store: redis)."),
]
A2aOpt = Annotated[
    bool, typer.Option("--a2a", help="Also serve the project's agents over A2A (/a2a).")
]
AuthTokenOpt = Annotated[
    str | None,
    typer.Option(
        envvar="SUBAGENTS_AUTH_TOKEN",
        help="Require this token (?token= or Bearer) on the conversation API.",
    ),
]
JwtSecretOpt = Annotated[
    str | None,
    typer.Option(
        envvar="SUBAGENTS_JWT_SECRET",
        help="Accept JWTs signed with this secret (or public key / @file for RS*/ES*).",
    ),
]
JwtPrivateKeyOpt = Annotated[
    str | None,
    typer.Option(help="Accepted for Rasa compatibility; only verification is done here."),
]
ProtectWebhookOpt = Annotated[
    bool, typer.Option(help="Also require auth on the REST webhook (a JWT posts as itself).")
]
MaxConnectionsOpt = Annotated[
    int | None, typer.Option(help="Open connections (default: from the file limit).")
]
TurnTimeoutOpt = Annotated[float, typer.Option(help="Whole-turn budget in seconds (0: unbounded).")]
InspectOpt = Annotated[
    bool,
    typer.Option("--inspect", help="Also serve the browser inspector at /inspector (one worker)."),
]


@dataclasses.dataclass(frozen=True)
class _RunPlan:
    """What `run` serves and how: everything a worker or the serving loop needs."""

    root: Path
    host: str
    port: int
    log_level: LogLevel
    settings: ServerSettings
    turn_timeout: float
    scripted: Path | None
    a2a_url: str | None
    reuse_port: bool
    record: Path | None = None


@app.command()
def run(
    project: ProjectOpt = Path("."),
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 5005,
    scripted: ScriptedOpt = None,
    record: RecordOpt = None,
    log_level: Annotated[LogLevel, _log_level_option()] = LogLevel.info,
    workers: WorkersOpt = 1,
    reuse_port: Annotated[bool, typer.Option(hidden=True)] = False,
    a2a: A2aOpt = False,
    public_url: PublicUrlOpt = None,
    auth_token: AuthTokenOpt = None,
    jwt_secret: JwtSecretOpt = None,
    jwt_method: Annotated[str, typer.Option(help="JWT algorithm.")] = "HS256",
    jwt_private_key: JwtPrivateKeyOpt = None,
    protect_webhook: ProtectWebhookOpt = False,
    max_message_chars: Annotated[int, typer.Option(help="Longest user message.")] = 16 * 1024,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body.")] = 1024 * 1024,
    max_inflight_turns: Annotated[int, typer.Option(help="Turns at once (then 503).")] = 256,
    max_connections: MaxConnectionsOpt = None,
    header_timeout: Annotated[float, typer.Option(help="Seconds to send headers.")] = 10.0,
    body_timeout: Annotated[float, typer.Option(help="Seconds to send the body.")] = 10.0,
    keep_alive_timeout: Annotated[int, typer.Option(help="Idle keep-alive seconds.")] = 5,
    turn_timeout: TurnTimeoutOpt = 60.0,
    inspect: InspectOpt = False,
) -> None:
    """Serve the project: REST channel, health, readiness and tracker endpoints."""
    from subagents.channels.limits import RequestLimits
    from subagents.server import ServerSettings

    root = _check_project(project)
    _setup_logging(log_level)
    _check_positive(
        max_message_chars=max_message_chars,
        max_body_bytes=max_body_bytes,
        max_inflight_turns=max_inflight_turns,
    )
    auth = _auth_settings(root, auth_token, jwt_secret, jwt_method, protect_webhook)
    limits = RequestLimits(
        max_body_bytes=max_body_bytes,
        max_message_chars=max_message_chars,
        max_inflight_turns=max_inflight_turns,
        body_timeout=body_timeout,
    )
    settings = ServerSettings(
        auth=auth,
        limits=limits,
        header_timeout=header_timeout,
        keep_alive_timeout=keep_alive_timeout,
        max_connections=max_connections,
        inspector=inspect,
    )
    if inspect:
        _check_inspector(host, auth, workers)
    a2a_url = (public_url or f"http://{host}:{port}") if a2a else None
    plan = _RunPlan(
        root, host, port, log_level, settings, turn_timeout, scripted, a2a_url, reuse_port, record
    )
    if not reuse_port:  # a worker: its supervisor warned already
        _warn_exposed(host, auth)
    if workers > 1:
        raise typer.Exit(_supervise_workers(plan, workers))
    _serve_on_port(plan)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise _fail(f"--{name.replace('_', '-')} must be at least 1 (got {value})")


def _auth_settings(
    root: Path,
    auth_token: str | None,
    jwt_secret: str | None,
    jwt_method: str,
    protect_webhook: bool,
) -> AuthSettings:
    """Flags and their env vars win over endpoints.yml `auth:`; secrets are registered for
    redaction before anything logs."""
    from subagents.channels.auth import JWT_METHODS, AuthSettings, load_key

    if jwt_method not in JWT_METHODS:
        raise _fail(f"--jwt-method {jwt_method!r} is not one of {', '.join(JWT_METHODS)}")
    configured = _configured_auth(root)
    jwt_method = jwt_method if jwt_method != "HS256" else configured.jwt_method
    if jwt_method not in JWT_METHODS:
        raise _fail(f"jwt_method {jwt_method!r} is not one of {', '.join(JWT_METHODS)}")
    auth = AuthSettings(
        token=auth_token or configured.token or None,
        jwt_secret=load_key(jwt_secret or configured.jwt_secret),
        jwt_method=jwt_method,
        protect_webhook=protect_webhook or configured.protect_webhook,
    )
    _register_auth_secrets(auth)
    return auth


def _supervise_workers(plan: _RunPlan, workers: int) -> int:
    """Run `workers` copies of this command on one port; returns the exit code."""
    from subagents.workers import check_workers_config, supervise

    problem = check_workers_config(plan.root, workers)
    if problem:
        raise _fail(problem)
    child = ["run", "--project", str(plan.root), "--host", plan.host, "--port", str(plan.port)]
    child += ["--log-level", plan.log_level.value, "--reuse-port"]
    child += _worker_args(plan.settings, plan.turn_timeout)
    if plan.scripted:
        child += ["--scripted", str(plan.scripted)]
    if plan.record:
        child += ["--record", str(plan.record.resolve())]
    if plan.a2a_url:
        child += ["--a2a", "--public-url", plan.a2a_url]
    return supervise(child, workers, plan.host, plan.port)


def _serve_on_port(plan: _RunPlan) -> None:
    """Bind, then serve until stopped; load failures exit clearly, bugs keep tracebacks."""
    script = _read_script(plan.scripted) if plan.scripted else None
    if script is not None:
        err.print(f"[dim]{escape(scripted_mode_note(script))}[/]")
    budget = plan.turn_timeout if plan.turn_timeout > 0 else None
    # Bound before anything starts (MCP servers, the store): a busy port fails at once.
    sock = _bind(plan.host, plan.port, reuse_port=plan.reuse_port)
    level = plan.log_level.value
    if plan.settings.inspector:
        url = inspector_url(sock, plan.host, plan.settings.auth)
        out.print(f"Inspector: {url}", markup=False)
    try:
        asyncio.run(
            _serve(plan.root, sock, script, level, plan.settings, budget, plan.a2a_url, plan.record)
        )
    except KeyboardInterrupt:
        pass
    except SubagentsError as exc:  # anything else is a bug: its traceback is wanted
        raise _startup_error(exc) from None
    finally:
        sock.close()


@app.command(name="inspect")
def inspect_command(
    project: ProjectOpt = Path("."),
    host: Annotated[
        str, typer.Option(help="Interface to bind (not loopback: needs --auth-token).")
    ] = "127.0.0.1",
    port: PortOpt = 5005,
    scripted: ScriptedOpt = None,
    log_level: Annotated[LogLevel, _log_level_option()] = LogLevel.warning,
    auth_token: AuthTokenOpt = None,
    turn_timeout: TurnTimeoutOpt = 60.0,
) -> None:
    """Serve the project with the browser inspector; print its URL (opens nothing)."""
    run(
        project=project,
        host=host,
        port=port,
        scripted=scripted,
        log_level=log_level,
        auth_token=auth_token,
        turn_timeout=turn_timeout,
        inspect=True,
    )


def _check_inspector(host: str, auth: Any, workers: int) -> None:
    """The inspector shows every conversation: only on loopback unless a token guards it."""
    if workers > 1:
        raise _fail(
            "--inspect watches the turns of one process; drop --workers (or use --workers 1)"
        )
    if not is_loopback(host) and not auth.enabled:
        raise _fail(
            f"the inspector shows every conversation: serving it on {host} needs "
            "--auth-token (or --jwt-secret, SUBAGENTS_AUTH_TOKEN, endpoints.yml auth:); "
            "or serve it on 127.0.0.1"
        )


def inspector_url(sock: socket.socket, host: str, auth: Any) -> str:
    """The URL to open (the token is not printed: add ``?token=`` when auth is on)."""
    port = sock.getsockname()[1]
    shown = host if host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    if ":" in shown:
        shown = f"[{shown}]"
    url = f"http://{shown}:{port}/inspector"
    return url + "?token=<your token>" if auth.enabled else url


def _bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening socket on ``host:port``, or a clear error naming the address.

    ``reuse_port``: a socket shared with the other ``--workers`` (SO_REUSEPORT; the kernel
    balances connections).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise _fail(f"could not serve on {host}:{port}: {exc} (check --host)") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise _fail(
            f"could not serve on {host}:{port}: the address is in use or not allowed"
            f" ({exc.strerror or exc}); pick another with --port, or stop what is using it"
        ) from None
    return sock


def _worker_args(settings: ServerSettings, turn_timeout: float) -> list[str]:
    """The serving options for worker processes; secrets go through the environment.

    Workers inherit the environment, where ``ps`` does not show values: the token and
    JWT secret are put there rather than on their command lines.
    """
    import os

    auth, limits = settings.auth, settings.limits
    if auth.token:
        os.environ["SUBAGENTS_AUTH_TOKEN"] = auth.token
    if auth.jwt_secret:
        os.environ["SUBAGENTS_JWT_SECRET"] = auth.jwt_secret
    args = ["--jwt-method", auth.jwt_method, "--turn-timeout", str(turn_timeout)]
    args += ["--max-message-chars", str(limits.max_message_chars)]
    args += ["--max-body-bytes", str(limits.max_body_bytes)]
    args += ["--max-inflight-turns", str(limits.max_inflight_turns)]
    args += ["--body-timeout", str(limits.body_timeout)]
    args += ["--header-timeout", str(settings.header_timeout)]
    args += ["--keep-alive-timeout", str(settings.keep_alive_timeout)]
    if settings.max_connections:
        args += ["--max-connections", str(settings.max_connections)]
    if auth.protect_webhook:
        args.append("--protect-webhook")
    return args


def _configured_auth(root: Path) -> ServerAuthConfig:
    """The ``auth:`` entry of the project's endpoints.yml (errors exit clearly)."""
    from subagents.config.loader import load_project

    try:
        return load_project(root).endpoints.auth
    except SubagentsError as exc:
        raise _startup_error(exc) from None


def _register_auth_secrets(auth: AuthSettings) -> None:
    from subagents.config.secrets import register_log_secrets

    register_log_secrets([s for s in (auth.token, auth.jwt_secret) if s])


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _warn_exposed(host: str, auth: AuthSettings) -> None:
    if auth.enabled or is_loopback(host):
        return
    err.print(
        f"[yellow]warning:[/] serving on {escape(host)} without authentication: anyone who "
        "can reach it can read every conversation; set --auth-token or --jwt-secret "
        "(or SUBAGENTS_AUTH_TOKEN)"
    )


def _recorder(directory: Path | None, command: str) -> Any:
    """A :class:`~subagents.testing.cassette.Recorder` writing into ``directory``, or None."""
    if directory is None:
        return None
    from subagents.testing.cassette import Recorder

    err.print(
        f"[dim]Recording every conversation into {escape(str(directory))} "
        "(cassettes/ and one test file per conversation)[/]"
    )
    return Recorder(directory.resolve(), command=command)


def scripted_mode_note(script: ConversationScript) -> str:
    """What ``run --scripted`` does, said once at start."""
    return (
        f"Scripted mode: no model is called; model replies come from {script.path}. "
        "Each conversation (sender) plays the scenario from its start (scripts with "
        "'when:' answer the requests they match); the file's user turns are not used "
        "by `run`. When a conversation's replies run out, the bot says so."
    )


async def _serve(
    root: Path,
    sock: socket.socket,
    script: ConversationScript | None,
    level: str,
    settings: ServerSettings,
    turn_timeout: float | None,
    a2a_url: str | None = None,
    record: Path | None = None,
) -> None:
    from subagents.server import create_app, inspector_hooks, open_assistant
    from subagents.server_http import install_resource_log

    install_resource_log(asyncio.get_running_loop())
    scenario = script.path if script else None
    recorder = _recorder(record, "subagents run --record")
    hooks = recorder.hooks() if recorder else None
    prompts = None
    if settings.inspector:
        hooks, prompts = inspector_hooks(hooks)
    async with open_assistant(root, scenario=scenario, hooks=hooks) as (assistant, model):
        if recorder is not None:
            recorder.add_secrets(list(getattr(assistant.project, "secrets", None) or ()))
        assistant.turn_timeout = turn_timeout
        if script and model:
            watch_scripted_replies(script, model, lambda p: _print_warnings([p]))
        app = create_app(assistant, a2a_url=a2a_url, settings=settings, prompts=prompts)
        if a2a_url:
            out.print(f"[dim]A2A agents: {a2a_url}/a2a[/]", markup=True)
        received = await _uvicorn(app, sock, level, settings)
        unused = _unused_message(script, model) if script and model else None
        if unused:
            _print_warnings([unused])
    logging.getLogger("subagents.cli").info(
        "server.closed", extra={"signal": received[0] if received else None}
    )


async def _uvicorn(
    app: ASGIApp, sock: socket.socket, level: str, settings: ServerSettings | None = None
) -> list[str]:
    """Serve ``app`` on the bound ``sock`` until SIGINT/SIGTERM; the signals received.

    ``log_config=None``: uvicorn's lines (access log included) go through our handler, in
    the same format as ours.
    """
    import uvicorn

    from subagents.server import close_live_streams
    from subagents.server_http import guard_options
    from subagents.serving import stop_on_signals, uvicorn_server

    guards = guard_options(settings) if settings is not None else {}
    config = uvicorn.Config(app, log_level=level.lower(), lifespan="on", log_config=None, **guards)
    server = uvicorn_server(config, on_shutdown=lambda: close_live_streams(app))

    def stop(_: str) -> None:
        server.should_exit = True

    with stop_on_signals(stop) as received:
        await server.serve(sockets=[sock])
    return received


# --------------------------------------------------------------------------- a2a, mcp serve


@app.command(name="a2a")
def a2a_command(
    project: ProjectOpt = Path("."),
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 5005,
    public_url: PublicUrlOpt = None,
    scripted: ScriptedOpt = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Serve each of the project's agents as an A2A agent (cards under /a2a)."""
    root = _check_project(project)
    _setup_logging(log_level)
    script = _read_script(scripted) if scripted else None
    url = public_url or f"http://{host}:{port}"
    try:
        asyncio.run(_serve_a2a(root, host, port, url, script, log_level))
    except KeyboardInterrupt:
        pass
    except SubagentsError as exc:  # anything else is a bug: its traceback is wanted
        raise _startup_error(exc) from None


async def _serve_a2a(
    root: Path, host: str, port: int, url: str, script: ConversationScript | None, level: str
) -> None:
    from subagents.server import create_a2a_app, open_agents

    sock = _bind(host, port)  # before the MCP servers start: a busy port fails at once
    async with open_agents(root, scenario=script.path if script else None) as registry:
        app = create_a2a_app(registry, url)
        out.print(f"[dim]A2A agents: {url}/a2a[/]", markup=True)
        await _uvicorn(app, sock, level)


def mcp_serve(
    project: ProjectOpt = Path("."),
    transport: Annotated[
        str, typer.Option(help="stdio (for Claude Desktop, Cursor...) or http (streamable).")
    ] = "stdio",
    host: Annotated[str, typer.Option(help="Interface to bind (http).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on (http).")] = 8000,
    path: Annotated[str, typer.Option(help="URL path of the MCP endpoint (http).")] = "/mcp",
    scripted: ScriptedOpt = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "warning",
) -> None:
    """Serve the project's agents as an MCP server: one tool per agent (stdio or http)."""
    if transport not in ("stdio", "http"):
        raise _fail(f"--transport {transport!r} is not one of stdio, http")
    root = _check_project(project)
    _setup_logging(log_level)  # logs go to stderr: stdout carries the stdio protocol
    script = _read_script(scripted) if scripted else None
    try:
        asyncio.run(_serve_mcp(root, transport, host, port, path, script, log_level))
    except KeyboardInterrupt:
        pass
    except SubagentsError as exc:  # anything else is a bug: its traceback is wanted
        raise _startup_error(exc) from None


async def _serve_mcp(
    root: Path,
    transport: str,
    host: str,
    port: int,
    path: str,
    script: ConversationScript | None,
    level: str,
) -> None:
    from subagents.channels.agent_sessions import AgentSessions
    from subagents.channels.mcp_server import build_mcp_server
    from subagents.server import open_agents

    async with open_agents(root, scenario=script.path if script else None) as registry:
        server = build_mcp_server(AgentSessions(registry))
        if transport == "stdio":
            await server.run_stdio_async()
            return
        sock = _bind(host, port)
        err.print(f"[dim]MCP server: http://{host}:{port}{path}[/]", markup=True)
        await _uvicorn(server.streamable_http_app(streamable_http_path=path), sock, level)


# --------------------------------------------------------------------------- shell


@app.command()
def shell(
    project: ProjectOpt = Path("."),
    scripted: ScriptedOpt = None,
    sender: Annotated[
        str | None,
        typer.Option(help="Conversation id (default: a new one; give one to continue it)."),
    ] = None,
    interactive: Annotated[
        bool,
        typer.Option(help="Read the keyboard even when the scenario has user turns."),
    ] = False,
    record: RecordOpt = None,
    log_level: Annotated[LogLevel, _log_level_option()] = LogLevel.warning,
) -> None:
    """Chat in the terminal (streamed). With --scripted, plays the scenario's user turns."""
    root = _check_project(project)
    _setup_logging(log_level)
    script = _read_script(scripted) if scripted else None
    sender = sender or f"shell-{uuid.uuid4().hex[:8]}"
    try:
        code = asyncio.run(_shell(root, script, sender, interactive, record))
    except KeyboardInterrupt:
        code = 130
    except SubagentsError as exc:  # anything else is a bug: its traceback is wanted
        raise _startup_error(exc) from None
    raise typer.Exit(code)


def _read_script(path: Path) -> ConversationScript:
    from subagents.channels.script import ScriptError, load_conversation_script

    try:
        return load_conversation_script(path)
    except ScriptError as exc:
        raise _fail(str(exc)) from None


async def _shell(
    root: Path,
    script: ConversationScript | None,
    sender: str,
    interactive: bool,
    record: Path | None = None,
) -> int:
    from subagents.channels.shell import chat, script_lines, stdin_lines
    from subagents.server import open_assistant

    scenario = script.path if script else None
    recorder = _recorder(record, "subagents shell --record")
    hooks = recorder.hooks() if recorder else None
    async with open_assistant(root, scenario=scenario, hooks=hooks) as (assistant, model):
        if recorder is not None:
            recorder.add_secrets(list(getattr(assistant.project, "secrets", None) or ()))
        # Problems of scripted replies are shown after the turn they happened in, so they
        # do not land in the middle of a streamed bot line.
        problems: list[str] = []
        after_turn = None
        if script and model:
            watch_scripted_replies(script, model, problems.append)
            after_turn = lambda: _print_warnings(problems)  # noqa: E731
        project = getattr(assistant, "project", None)
        if project is not None:
            out.print(f"[dim]Loaded {escape(project.summary())} from {escape(str(root))}[/]")
        if script and script.user_turns and not interactive:
            turns = _plural(len(script.user_turns), "user turn")
            out.print(f"[dim]Playing {script.path} ({turns}) as {sender}[/]")
            lines = script_lines(script.user_turns)
            await chat(assistant, lines, console=out, sender=sender, after_turn=after_turn)
        else:
            tty = sys.stdin.isatty()
            out.print(
                f"[dim]Conversation {sender}. Type a message; /restart starts over, "
                "/exit or Ctrl-D quits.[/]"
            )
            lines = stdin_lines()
            await chat(
                assistant,
                lines,
                console=out,
                sender=sender,
                echo=not tty,
                prompt=tty,
                after_turn=after_turn,
            )
        return _scenario_report(script, model)


def watch_scripted_replies(
    script: ConversationScript, model: ScriptPlayer, report: Callable[[str], None]
) -> None:
    """Report each scripted reply that does not fit its request (see script_review)."""
    from subagents.channels.script_review import watch_replies

    watch_replies(script, model, report)


def _print_warnings(problems: list[str]) -> None:
    for problem in problems:
        err.print(f"[yellow]warning:[/] {escape(problem)}")
    problems.clear()


def _scenario_report(script: ConversationScript | None, model: ScriptPlayer | None) -> int:
    """After a scripted shell run: 1 if replies were missing or left unused, else 0."""
    if script is None or model is None:
        return 0
    missing = len(model.requests) - model.replies
    if missing > 0:
        err.print(
            f"[red]error:[/] {script.path}: the scenario ran out of model replies "
            f"({missing} request(s) unanswered); add the missing replies"
        )
        return 1
    message = _unused_message(script, model)
    if message:
        err.print(f"[red]error:[/] {escape(message)}")
        return 1
    return 0


def _unused_message(script: ConversationScript, model: ScriptPlayer) -> str | None:
    from subagents.channels.script_review import unused_replies

    count, first = unused_replies(script, model)
    if not count:
        return None
    replies, them = ("reply was", "it") if count == 1 else ("replies were", "them")
    return (
        f"{script.path}: {count} scripted model {replies} never used (first unused: "
        f"{first}): the conversation ended before the model was asked for {them}, or it "
        f"took another path; remove {them}, or add the user turns that lead to {them}"
    )


# --------------------------------------------------------------------------- agent


@app.command()
def agent(
    messages: Annotated[list[str], typer.Argument(help="User messages, one run each.")],
    agent: Annotated[str, typer.Option(help="Agent name (agent.name in its config.yml).")],
    project: ProjectOpt = Path("."),
    scenario: Annotated[
        Path | None,
        typer.Option(
            "--scenario", "--scripted", help="Scripted model scenario (YAML): offline run."
        ),
    ] = None,
    exit_if: Annotated[
        list[str] | None, typer.Option("--exit-if", help="Exit condition (repeatable).")
    ] = None,
    slot: Annotated[
        list[str] | None, typer.Option(help="Preset slot: name=value (repeatable).")
    ] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Print text as it streams.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print each output as JSON.")] = False,
) -> None:
    """Run one sub agent: each message is one run (it keeps its transcript between them)."""
    from subagents.agent_command import AgentRun, run_agent

    run = AgentRun(
        messages=messages,
        agent=agent,
        project=str(project),
        scenario=str(scenario) if scenario else None,
        exit_if=list(exit_if or []),
        slot=list(slot or []),
        stream=stream,
        json=as_json,
    )
    raise typer.Exit(run_agent(run))


# --------------------------------------------------------------------------- validate


@app.command("test")
def test_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Test files or directories (default: the project's tests/)."),
    ] = None,
    project: ProjectOpt = Path("."),
    keyword: Annotated[
        str | None,
        typer.Option("-k", help="Only cases whose file::name matches (and, or, not)."),
    ] = None,
    junit_xml: Annotated[
        Path | None, typer.Option("--junit-xml", help="Also write a JUnit XML report here.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Cases run at once.")] = 4,
    replay: Annotated[
        bool,
        typer.Option(help="Offline: no model and no MCP server; stubs and cassettes answer."),
    ] = False,
    lenient: Annotated[
        bool,
        typer.Option(help="Replay cassettes by position; differences are warnings."),
    ] = False,
    log_level: Annotated[LogLevel, _log_level_option()] = LogLevel.error,
) -> None:
    """Run conversation tests (YAML `test_cases:`); exit 1 on failures, 2 on bad files."""
    from subagents.testing.command import TestOptions, run_test_command

    root = _check_project(project)
    _setup_logging(log_level)
    options = TestOptions(
        root=root,
        paths=[p if p.is_absolute() else Path.cwd() / p for p in paths or []],
        keyword=keyword,
        junit_xml=junit_xml,
        workers=workers,
        replay=replay,
        lenient=lenient,
    )
    raise typer.Exit(run_test_command(options, out, err))


@app.command()
def validate(
    project: ProjectOpt = Path("."),
    connect: Annotated[
        bool, typer.Option(help="Also start the MCP servers and check tool names.")
    ] = False,
) -> None:
    """Check every project file; exit 1 on any error (warnings do not fail)."""
    from subagents.agents.validate import validate_project
    from subagents.config.loader import api_key_warnings, collect_project

    root = _check_project(project)
    _setup_logging("error")  # problems are printed below; keep log noise out of them
    problems = validate_project(root, connect=connect)
    if connect and not any(p.severity == "error" for p in problems):
        problems += _check_stores(root)
    loaded, _ = collect_project(root)  # what was found, for the summary below
    if loaded is not None:
        problems = sorted(problems + api_key_warnings(loaded), key=lambda p: (p.file, p.line or 0))
    errors = [p for p in problems if p.severity != "warning"]
    for problem in problems:
        out.print(str(problem), markup=False)
    warnings = len(problems) - len(errors)
    if errors:
        err.print(f"[red]{len(errors)} error(s)[/], {warnings} warning(s) in {root}")
        raise typer.Exit(1)
    assert loaded is not None  # no errors: the project loaded
    out.print(f"read: {loaded.files_read()}", markup=False)
    out.print(
        f"[green]ok:[/] {escape(str(root))} is valid: {loaded.summary()} ({warnings} warning(s))"
    )


def _check_stores(root: Path) -> list[Any]:
    """``--connect``: reach the tracker store, lock store, broker and MCP token store."""
    from subagents.config.loader import load_project
    from subagents.config.secrets import redact, secret_values
    from subagents.errors import ConfigProblem
    from subagents.mcp.token_stores import check_token_store
    from subagents.stores.check import check_endpoint_stores

    project = load_project(root)
    found = asyncio.run(check_endpoint_stores(project.endpoints, root))
    found += asyncio.run(check_token_store(project.endpoints.mcp_token_store, root))
    secrets = secret_values(project.secrets)
    return [
        ConfigProblem(
            "endpoints.yml",
            None,
            redact(f"{'.'.join(path)}: {message}", secrets),
            ".".join(path),
            severity,
        )
        for path, severity, message in found
    ]


# --------------------------------------------------------------------------- copy-store


@app.command("copy-store")
def copy_store(
    to: Annotated[
        Path,
        typer.Option(
            "--to", help="An endpoints.yml whose tracker_store receives the conversations."
        ),
    ],
    project: ProjectOpt = Path("."),
    source: Annotated[
        Path | None,
        typer.Option("--from", help="The endpoints.yml to copy from (default: the project's)."),
    ] = None,
) -> None:
    """Copy every conversation from one tracker store to another (e.g. SQLite to PostgreSQL).

    Conversations the target already has are left alone, so the copy can be run again.
    """
    root = _check_project(project)
    _setup_logging("warning")
    source_cfg = _tracker_store_of(source or root / "endpoints.yml", root)
    target_cfg = _tracker_store_of(to, root)
    try:
        report = asyncio.run(_copy(source_cfg, target_cfg, root))
    except SubagentsError as exc:  # anything else is a bug: its traceback is wanted
        raise _startup_error(exc) from None
    out.print(
        f"Copied {_plural(report.copied, 'conversation')} ({_plural(report.events, 'event')})"
        f"; {len(report.skipped)} already in the target were left as they are."
    )


def _tracker_store_of(path: Path, root: Path) -> Any:
    """The ``tracker_store`` of one endpoints file (``${VAR}`` resolved, errors named)."""
    import os

    from subagents.config.models import EndpointsConfig
    from subagents.config.secrets import ENDPOINTS_SECRET_PATHS, register_log_secrets
    from subagents.config.source import Problems, read_yaml, validate_model

    if not path.is_file():
        raise _fail(f"{path} does not exist (give an endpoints.yml with a tracker_store)")
    problems = Problems()
    secrets: set[str] = set()
    src = read_yaml(
        path,
        str(path),
        problems,
        env=os.environ,
        secret_paths=ENDPOINTS_SECRET_PATHS,
        secrets=secrets,
    )
    cfg = validate_model(EndpointsConfig, src, problems) if src is not None else None
    register_log_secrets(secrets)
    if cfg is None or problems.errors:
        for problem in problems.items:
            err.print(str(problem), markup=False)
        raise _fail(f"{path} has errors")
    return cfg.tracker_store


async def _copy(source_cfg: Any, target_cfg: Any, root: Path) -> Any:
    from subagents.stores import create_tracker_store, describe, open_store
    from subagents.stores.copy import copy_conversations

    source = create_tracker_store(source_cfg, root)
    target = create_tracker_store(target_cfg, root)
    try:
        await open_store(source)
        await open_store(target)
        out.print(f"Copying from {describe(source)} to {describe(target)} ...")
        return await copy_conversations(source, target)
    finally:
        await source.aclose()
        await target.aclose()


# --------------------------------------------------------------------------- actions


@app.command()
def actions(
    project: ProjectOpt = Path("."),
    actions_module: Annotated[
        str | None,
        typer.Option("--actions", help="Actions package (default: endpoints.yml)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 5055,
    grpc: Annotated[bool, typer.Option("--grpc", help="Serve gRPC instead of HTTP.")] = False,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="SUBAGENTS_ACTIONS_TOKEN",
            help="Require this auth token (better: SUBAGENTS_ACTIONS_TOKEN or --token-file, "
            "which `ps` does not show).",
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(help="Read the auth token from this file.", dir_okay=False),
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    log_level: Annotated[LogLevel, _log_level_option()] = LogLevel.info,
) -> None:
    """Serve the project's custom actions as an action server (HTTP or gRPC)."""
    root = _check_project(project)
    _setup_logging(log_level)
    if (tls_cert is None) != (tls_key is None):
        raise _fail("--tls-cert and --tls-key go together; give both or neither")
    token = _action_token(token, token_file)
    if token is None and not is_loopback(host):
        err.print(
            f"[yellow]warning:[/] serving actions on {escape(host)} without a token: anyone "
            "who can reach it can run them; set SUBAGENTS_ACTIONS_TOKEN or --token-file"
        )
    from subagents.actions.server import serve

    try:
        serve(
            root,
            actions_module,
            host=host,
            port=port,
            grpc=grpc,
            token=token,
            tls_cert=str(tls_cert) if tls_cert else None,
            tls_key=str(tls_key) if tls_key else None,
        )
    except KeyboardInterrupt:
        pass
    except SubagentsError as exc:  # anything else is a bug: its traceback is wanted
        raise _startup_error(exc) from None


def _action_token(token: str | None, token_file: Path | None) -> str | None:
    """The action server's token: --token / SUBAGENTS_ACTIONS_TOKEN, or --token-file."""
    if token_file is None:
        return token or None
    if token:
        raise _fail("give the token once: --token (or SUBAGENTS_ACTIONS_TOKEN) or --token-file")
    try:
        value = token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise _fail(f"--token-file {token_file}: cannot read it ({exc.strerror})") from None
    if not value:
        raise _fail(f"--token-file {token_file} is empty; write the token into it")
    return value


# --------------------------------------------------------------------------- init


class _InitCommand(typer.core.TyperCommand):
    """``Usage: subagents init [OPTIONS] DIRECTORY`` (typer writes ``{directory}``)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [self.options_metavar or "[OPTIONS]", "DIRECTORY"]


@app.command(cls=_InitCommand)
def init(
    directory: Annotated[
        Path, typer.Argument(help="Where to create the project.", metavar="DIRECTORY")
    ],
) -> None:
    """Write a new, working project into DIRECTORY (which must be empty or missing)."""
    from subagents.scaffold import ScaffoldError, write_project

    try:
        written = write_project(directory)
    except ScaffoldError as exc:
        raise _fail(str(exc)) from None
    out.print(f"Created {len(written)} files in {directory}.", markup=False)
    out.print("Next steps:")
    for line in _next_steps(directory):
        out.print(f"  {line}", markup=False)


def _next_steps(directory: Path) -> list[str]:
    """What to type after init, each with what it needs (in this environment)."""
    return [
        f"cd {directory}",
        "subagents validate                               # check every file",
        "subagents shell --scripted scenarios/demo.yml    # offline: a scripted model, no key",
        "pip install pytest pytest-asyncio                # once, for the project's tests",
        "pytest                                           # tests/, offline too",
        "export OPENAI_API_KEY=sk-...                     # or edit endpoints.yml's model",
        "subagents shell                                  # chat with the real model",
        "subagents run                                    # REST on http://127.0.0.1:5005",
    ]


# --------------------------------------------------------------------------- mcp

mcp_app = typer.Typer(
    help="MCP: serve the project's agents as an MCP server (serve); OAuth logins for MCP"
    " servers (login, logout, status).",
    no_args_is_help=True,
)
app.add_typer(mcp_app, name="mcp")
mcp_app.command("serve")(mcp_serve)


@functools.wraps(mcp_serve)
def _serve_mcp_moved(*args: Any, **kwargs: Any) -> None:
    # The old name keeps working for configs that spell it (Claude Desktop's "args"); it
    # says where the command went, on stderr: stdout carries the stdio protocol.
    err.print(
        "`subagents serve-mcp` is deprecated: it moved to `subagents mcp serve` (same"
        " options); update the command in your MCP client's configuration.",
        markup=False,
    )
    mcp_serve(*args, **kwargs)


app.command(name="serve-mcp", hidden=True)(_serve_mcp_moved)


def _mcp_project(project: Path) -> tuple[Path, list[Any], Any]:
    """The project's MCP server configs and its token store (errors exit clearly)."""
    from subagents.config.loader import load_project
    from subagents.mcp.token_stores import create_token_store

    root = _check_project(project)
    try:
        loaded = load_project(root)
    except SubagentsError as exc:
        raise _startup_error(exc) from None
    store = create_token_store(loaded.endpoints.mcp_token_store, root)
    return root, list(loaded.endpoints.mcp_servers), store


@mcp_app.command("login")
def mcp_login(
    server: Annotated[str, typer.Argument(help="The server's name in endpoints.yml.")],
    project: ProjectOpt = Path("."),
    browser: Annotated[bool, typer.Option(help="Open the authorization page.")] = True,
) -> None:
    """Authorize SERVER (OAuth): show the page, receive the redirect, store the tokens."""
    from subagents.errors import SubagentsError
    from subagents.mcp import login as mcp_login_mod

    root, servers, store = _mcp_project(project)
    _setup_logging("error")
    try:
        cfg = mcp_login_mod.pick_server(servers, server)
        assert cfg.oauth is not None

        def show(url: str) -> None:
            out.print(f"Open this page to authorize '{server}':\n{url}", markup=False)
            out.print(f"Waiting for the redirect on {approver.redirect_uri} ...", markup=False)

        approver = mcp_login_mod.LoopbackAuthorizer(
            server, cfg.oauth.callback_port, show=show, open_browser=browser
        )
        result = asyncio.run(mcp_login_mod.login(cfg, store, approver, project_root=root))
    except SubagentsError as exc:
        raise _startup_error(exc) from None
    if not result.authorized:
        out.print(f"'{server}' did not ask for authorization; nothing stored.")
        return
    out.print(f"Logged in to '{server}' ({result.tools} tools); tokens in {store.where}")


@mcp_app.command("logout")
def mcp_logout(
    server: Annotated[str, typer.Argument(help="The server's name in endpoints.yml.")],
    project: ProjectOpt = Path("."),
) -> None:
    """Forget SERVER's stored tokens and client registration."""
    from subagents.errors import SubagentsError
    from subagents.mcp import login as mcp_login_mod

    _root, servers, store = _mcp_project(project)
    try:
        cfg = mcp_login_mod.pick_server(servers, server)
        forgotten = asyncio.run(mcp_login_mod.logout(cfg, store))
    except SubagentsError as exc:  # an unknown server, or the token store is unreachable
        raise _startup_error(exc) from None
    if forgotten:
        out.print(f"Logged out of '{server}'.")
    else:
        out.print(f"'{server}' had no stored login.")


@mcp_app.command("status")
def mcp_status(project: ProjectOpt = Path(".")) -> None:
    """Which MCP servers use OAuth, which are authorized, and when tokens expire."""
    from subagents.errors import SubagentsError
    from subagents.mcp import login as mcp_login_mod

    _root, servers, store = _mcp_project(project)
    try:
        states = asyncio.run(mcp_login_mod.status(servers, store))
    except SubagentsError as exc:  # the token store is unreachable
        raise _startup_error(exc) from None
    if not states:
        out.print("No MCP server in endpoints.yml uses OAuth.")
    for state in states:
        out.print(state.describe(), markup=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
