"""The ``subagents`` command: run, shell, validate, actions, init.

Importing this module stays light (typer and rich only): uvicorn, the dialogue engine,
litellm and grpc are imported inside the command that needs them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from subagents.channels.script import ConversationScript

app = typer.Typer(
    name="subagents",
    help="Conversational assistants whose flows hand work to ReAct sub agents and actions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

ProjectOpt = Annotated[
    Path,
    typer.Option("--project", "-p", help="Project directory.", file_okay=False),
]
ScriptedOpt = Annotated[
    Path | None,
    typer.Option(
        "--scripted",
        help="Offline mode: serve every model from this scripted scenario (YAML).",
        dir_okay=False,
    ),
]


def _setup_logging(level: str) -> None:
    if level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise _fail(f"--log-level {level!r} is not one of debug, info, warning, error")
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", markup=True)
    return typer.Exit(code)


def _check_project(project: Path) -> Path:
    root = project.expanduser().resolve()
    if not root.is_dir():
        raise _fail(f"project directory {project} does not exist (use --project DIR)")
    return root


def _startup_error(exc: BaseException) -> typer.Exit:
    """Turn a load failure (bad config, MCP server down, bad scenario) into a clear exit."""
    from subagents.errors import ConfigErrors, SubagentsError

    if isinstance(exc, ConfigErrors):
        for line in str(exc).splitlines():
            err.print(line, markup=False)
        return _fail("the project has configuration errors (run `subagents validate`)")
    if isinstance(exc, SubagentsError):
        from subagents.config.secrets import redact_registered

        # e.g. an MCP server's stderr tail, which may show a token it was given
        return _fail(redact_registered(str(exc)))
    raise exc


# --------------------------------------------------------------------------- run


@app.command()
def run(
    project: ProjectOpt = Path("."),
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 5005,
    scripted: ScriptedOpt = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Serve the project: REST channel, health and tracker endpoints."""
    root = _check_project(project)
    _setup_logging(log_level)
    try:
        asyncio.run(_serve(root, host, port, scripted, log_level))
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        raise _startup_error(exc) from None


async def _serve(root: Path, host: str, port: int, scripted: Path | None, level: str) -> None:
    import uvicorn

    from subagents.server import create_app, open_assistant

    async with open_assistant(root, scenario=scripted) as (assistant, _):
        config = uvicorn.Config(
            create_app(assistant), host=host, port=port, log_level=level.lower(), lifespan="on"
        )
        server = uvicorn.Server(config)
        # uvicorn re-raises the signal that stopped it once it is done; a no-op handler
        # keeps that from killing us (SIGTERM) before the assistant below is closed.
        previous = {s: signal.signal(s, _noop_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            await server.serve()
        except SystemExit:
            pass  # uvicorn exits when it cannot bind; reported just below
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if not server.started:
            raise _fail(
                f"could not serve on {host}:{port}: the address is in use or not allowed "
                "(pick another with --port, or stop what is using it)"
            )
    logging.getLogger("subagents.cli").info("server.closed")


def _noop_signal(signum: int, frame: Any) -> None:
    return None


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
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "warning",
) -> None:
    """Chat in the terminal (streamed). With --scripted, plays the scenario's user turns."""
    root = _check_project(project)
    _setup_logging(log_level)
    script = _read_script(scripted) if scripted else None
    sender = sender or f"shell-{uuid.uuid4().hex[:8]}"
    try:
        code = asyncio.run(_shell(root, script, sender, interactive))
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:
        raise _startup_error(exc) from None
    raise typer.Exit(code)


def _read_script(path: Path) -> ConversationScript:
    from subagents.channels.script import ScriptError, load_conversation_script

    try:
        return load_conversation_script(path)
    except ScriptError as exc:
        raise _fail(str(exc)) from None


async def _shell(
    root: Path, script: ConversationScript | None, sender: str, interactive: bool
) -> int:
    from subagents.channels.shell import chat, script_lines, stdin_lines
    from subagents.server import open_assistant

    scenario = script.path if script else None
    async with open_assistant(root, scenario=scenario) as (assistant, model):
        if script and script.user_turns and not interactive:
            turns = len(script.user_turns)
            out.print(f"[dim]Playing {script.path} ({turns} user turns) as {sender}[/]")
            await chat(assistant, script_lines(script.user_turns), console=out, sender=sender)
        else:
            tty = sys.stdin.isatty()
            out.print(
                f"[dim]Conversation {sender}. Type a message; /restart starts over, "
                "/exit or Ctrl-D quits.[/]"
            )
            lines = stdin_lines()
            await chat(assistant, lines, console=out, sender=sender, echo=not tty, prompt=tty)
        return _scenario_report(script, model)


def _scenario_report(script: ConversationScript | None, model: Any) -> int:
    """After a scripted run: 1 if the scenario ran out of model replies, else 0."""
    if script is None or model is None:
        return 0
    missing = len(model.requests) - model.replies
    if missing > 0:
        err.print(
            f"[red]error:[/] {script.path}: the scenario ran out of model replies "
            f"({missing} request(s) unanswered); add the missing replies"
        )
        return 1
    unused = model.remaining()
    if unused:
        err.print(f"[yellow]note:[/] {unused} scripted model replies were not used")
    return 0


# --------------------------------------------------------------------------- validate


@app.command()
def validate(
    project: ProjectOpt = Path("."),
    connect: Annotated[
        bool, typer.Option(help="Also start the MCP servers and check tool names.")
    ] = False,
) -> None:
    """Check every project file; exit 1 on any error (warnings do not fail)."""
    from subagents.config.validate import validate_project

    root = _check_project(project)
    _setup_logging("error")  # problems are printed below; keep log noise out of them
    problems = validate_project(root, connect=connect)
    errors = [p for p in problems if p.severity != "warning"]
    for problem in problems:
        out.print(str(problem), markup=False)
    warnings = len(problems) - len(errors)
    if errors:
        err.print(f"[red]{len(errors)} error(s)[/], {warnings} warning(s) in {root}")
        raise typer.Exit(1)
    err.print(f"[green]ok:[/] {root} is valid ({warnings} warning(s))")


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
    token: Annotated[str | None, typer.Option(help="Require this auth token.")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Serve the project's custom actions as an action server (HTTP or gRPC)."""
    root = _check_project(project)
    _setup_logging(log_level)
    if (tls_cert is None) != (tls_key is None):
        raise _fail("--tls-cert and --tls-key go together; give both or neither")
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
    except Exception as exc:
        raise _startup_error(exc) from None


# --------------------------------------------------------------------------- init


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")],
) -> None:
    """Write a new, working project into DIRECTORY (which must be empty or missing)."""
    from subagents.scaffold import ScaffoldError, write_project

    try:
        written = write_project(directory)
    except ScaffoldError as exc:
        raise _fail(str(exc)) from None
    out.print(f"Created {len(written)} files in {directory}.")
    out.print("Next steps:")
    out.print(f"  cd {directory}")
    out.print("  subagents validate")
    out.print("  subagents shell --scripted scenarios/demo.yml   # offline, no API key")
    out.print("  subagents run                                  # serves on 127.0.0.1:5005")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
