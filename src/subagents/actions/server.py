"""``subagents actions``: serve an actions module as an HTTP or gRPC action server.

The wire protocol is the open source Rasa SDK's, so Rasa-style callers work with it and
subagents works with Rasa SDK servers. See :mod:`subagents.actions.http_app` and
:mod:`subagents.actions.grpc_service` for the endpoints and status codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from subagents.actions.core import ActionServerCore
from subagents.actions.registry import ActionRegistry
from subagents.errors import ConfigError, SubagentsError

logger = logging.getLogger("subagents.actions.server")

DEFAULT_PORT = 5055
_START_TIMEOUT = 30.0


@dataclass
class RunningServer:
    """A started action server: where it listens and how to stop it."""

    url: str
    port: int
    stop_event: asyncio.Event

    def stop(self) -> None:
        """Ask the server to shut down."""
        self.stop_event.set()


def resolve_actions_module(project_root: Path, actions_module: str | None) -> str:
    """The module to serve: the argument, else endpoints.yml's, else ``actions``."""
    if actions_module:
        return actions_module
    endpoints = project_root / "endpoints.yml"
    if endpoints.is_file():
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        try:
            data = YAML(typ="safe").load(endpoints.read_text(encoding="utf-8")) or {}
        except (YAMLError, OSError, UnicodeDecodeError) as exc:
            mark = getattr(exc, "problem_mark", None)
            what = " ".join(str(getattr(exc, k, None) or "") for k in ("context", "problem"))
            raise ConfigError(
                f"invalid YAML: {what.strip() or exc}",
                file="endpoints.yml",
                line=mark.line + 1 if mark is not None else None,
            ) from exc
        endpoint = data.get("action_endpoint") if isinstance(data, dict) else None
        module = endpoint.get("actions_module") if isinstance(endpoint, dict) else None
        if isinstance(module, str) and module:
            return module
    return "actions"


def load_registry(
    project_root: Path | str, actions_module: str | None = None
) -> tuple[str, ActionRegistry]:
    """Resolve the actions module of ``project_root`` and import its actions."""
    root = Path(project_root).absolute()
    module = resolve_actions_module(root, actions_module)
    try:
        return module, ActionRegistry.from_module(module, root)
    except ConfigError as exc:
        if actions_module and exc.problem.file == "endpoints.yml":
            # The module came from --actions, not from endpoints.yml: say so.
            raise ConfigError(exc.problem.message, file="--actions", field="--actions") from exc
        raise


@contextlib.asynccontextmanager
async def running_server(
    registry: ActionRegistry,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    grpc: bool = False,
    token: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> AsyncIterator[RunningServer]:
    """Run an action server for ``registry`` while the block runs (``port=0``: free port)."""
    if bool(tls_cert) != bool(tls_key):
        raise ConfigError(
            "TLS needs both --tls-cert and --tls-key (PEM files)", field="--tls-cert/--tls-key"
        )
    core = ActionServerCore(registry, token=token)
    stop = asyncio.Event()
    if grpc:
        from subagents.actions.grpc_service import start_grpc_server

        server, bound = await start_grpc_server(core, host, port, tls_cert, tls_key)
        scheme = "grpcs" if tls_cert else "grpc"
        try:
            yield RunningServer(f"{scheme}://{host}:{bound}", bound, stop)
        finally:
            await server.stop(grace=1.0)
            logger.info("actions.server.stopped", extra={"host": host, "port": bound})
        return
    async with _uvicorn(core, host, port, tls_cert, tls_key) as bound:
        scheme = "https" if tls_cert else "http"
        yield RunningServer(f"{scheme}://{host}:{bound}", bound, stop)


@contextlib.asynccontextmanager
async def _uvicorn(
    core: ActionServerCore, host: str, port: int, tls_cert: str | None, tls_key: str | None
) -> AsyncIterator[int]:
    import uvicorn

    from subagents.actions.http_app import create_app

    config = uvicorn.Config(
        create_app(core),
        host=host,
        port=port,
        http=_http_protocol(),
        access_log=False,  # query strings may carry the token
        log_level="warning",
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        lifespan="off",
    )
    from subagents.serving import uvicorn_server

    server = uvicorn_server(config)  # signals are handled by serve() (a clean stop)
    task = asyncio.create_task(_serve_without_exit(server))
    deadline = time.monotonic() + _START_TIMEOUT
    while not server.started:
        if task.done():
            task.result()  # re-raise why it could not start, if it raised
            raise SubagentsError(
                f"action server could not listen on {host}:{port}: the address is in use "
                "or not allowed (pick another with --port, or stop what is using it)"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"action server did not start within {_START_TIMEOUT}s")
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    logger.info("actions.server.http_started", extra={"host": host, "port": bound})
    try:
        yield bound
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)
        logger.info("actions.server.stopped", extra={"host": host, "port": bound})


def _http_protocol() -> str:
    """httptools (C parser, a dependency) when importable: ~2x less CPU per call than h11."""
    return "httptools" if importlib.util.find_spec("httptools") is not None else "h11"


async def _serve_without_exit(server: Any) -> None:
    # uvicorn calls sys.exit() when it cannot bind; in a task that would escape the loop.
    with contextlib.suppress(SystemExit):
        await server.serve()


async def serve_async(
    project_root: Path | str,
    actions_module: str | None = None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    grpc: bool = False,
    token: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    *,
    ready: Any = None,
) -> None:
    """Serve the project's actions until cancelled (or ``ready``'s server is stopped).

    ``ready``, if given, is called with the :class:`RunningServer` once listening.
    """
    module, registry = load_registry(project_root, actions_module)
    async with running_server(
        registry,
        host=host,
        port=port,
        grpc=grpc,
        token=token,
        tls_cert=tls_cert,
        tls_key=tls_key,
    ) as running:
        print(
            f"subagents action server for '{module}' ({len(registry.names())} actions) "
            f"listening on {running.url}",
            flush=True,
        )
        if ready is not None:
            ready(running)
        await running.stop_event.wait()


def serve(
    project_root: Path | str,
    actions_module: str | None = None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    grpc: bool = False,
    token: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> None:
    """Blocking :func:`serve_async`; SIGINT (Ctrl-C) and SIGTERM stop it cleanly.

    The HTTP server runs on uvloop when it is installed (a dependency except on Windows):
    ~25% less CPU per webhook call. The gRPC server keeps asyncio's own loop, the one
    grpc.aio supports.
    """
    from subagents.actions.redaction import install_log_redaction

    # Its own token and key-like values never reach the log (tracebacks included).
    install_log_redaction([token] if token else [])
    main = _serve_until_signal(
        project_root, actions_module, host, port, grpc, token, tls_cert, tls_key
    )
    with contextlib.suppress(KeyboardInterrupt):
        if not grpc and importlib.util.find_spec("uvloop") is not None:
            import uvloop

            uvloop.run(main)
        else:
            asyncio.run(main)


async def _serve_until_signal(*args: Any) -> None:
    """:func:`serve_async` until SIGINT / SIGTERM, then a stop line (exit code 0)."""
    from subagents.serving import stop_on_signals

    running: list[RunningServer] = []
    task = asyncio.create_task(serve_async(*args, ready=running.append))

    def stop(_: str) -> None:
        if running:
            running[0].stop()  # graceful: in-flight calls finish
        else:
            task.cancel()  # still starting

    with stop_on_signals(stop) as received, contextlib.suppress(asyncio.CancelledError):
        await task
    if received:
        print(f"subagents action server stopped ({received[0]})", flush=True)
