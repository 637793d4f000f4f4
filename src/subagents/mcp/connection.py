"""One long-lived connection to one MCP server, usable as a :class:`Toolset`.

Ownership: the SDK's context managers (transport, session) are entered and exited by ONE
owner task per connection, so anyio cancel scopes never cross tasks. Callers do not hop
through a queue: the SDK's dispatcher correlates requests through memory streams and
accepts ``send_request`` from any task of the same event loop, so a caller awaits
``Client.call_tool`` directly (the cheapest possible path) while the owner only waits
for the signal to close.

Failure model:

* a dead transport (stdio child exited, broken pipe, HTTP session gone, connection
  refused) is noticed before a call when possible, and the connection is re-opened on the
  next use, up to ``max_retries`` attempts with exponential backoff, else
  :class:`MCPServerUnavailable`;
* a call whose transport died while it was in flight is repeated once on a new connection
  only when the tool is annotated ``readOnlyHint`` or ``idempotentHint`` (or the server
  provably never received it); otherwise :class:`MCPTransportError` (the call may have run);
* a per-call timeout raises :class:`ToolTimeoutError`; the SDK cancels the request on the
  server and the session stays usable;
* a request that carried our session id and was answered 400 or 404 means the server
  forgot the session (it restarted): the connection is re-opened once and the call
  repeated (TypeScript-SDK servers answer 400, Python ones 404);
* a refused connection never ran anything: the call is repeated after reconnecting;
* HTTP 401/403 and missing OAuth logins raise :class:`MCPAuthError` at once (no retries),
  naming the status and what to do.

The ``server/discover`` probe costs pre-2026 servers a round trip on every connect, so the
negotiated era is remembered per server: reconnects go straight to ``initialize`` (or
adopt the remembered discover result).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client import InputRequiredRoundsExceededError
from mcp.client.session import ClientRequestContext, IncomingMessage
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

import subagents.telemetry as telemetry
from subagents.config.models import MCPServerConfig
from subagents.errors import (
    MCPAuthError,
    MCPServerUnavailable,
    MCPTransportError,
    SubagentsError,
    ToolExecutionError,
    ToolTimeoutError,
)
from subagents.tools.base import ToolContext, ToolOutcome, Toolset, ToolSpec
from subagents.tools.interaction import Answer, Question, SamplingRequest, ToolProgress

from ._sdk import WatchedTransport, as_transport
from .auth import AuthMonitor, Authorizer, ClientCredentialsAuth, GuardedAuth, build_oauth
from .calls import CURRENT_CALL, ActiveCall, CallClock, route
from .results import result_to_outcome
from .tokens import MemoryTokenStore, TokenStore
from .transports import (
    StderrLog,
    http_transport,
    make_http_client,
    sse_transport,
    stdio_transport,
)

logger = logging.getLogger("subagents.mcp")


CLIENT_INFO = types.Implementation(name="subagents", version="0.1.0")
_LIST_PAGE_CAP = 100
_MODES = {"auto": "auto", "2025-11-25": "legacy", "2026-07-28": "2026-07-28"}
"""``protocol_version`` in endpoints.yml → the SDK's connect mode (``legacy``: the 2025
``initialize`` handshake, which offers 2025-11-25)."""
_MAX_QUESTIONS_PER_CALL = 10
"""Questions one call may ask; more are declined (a server asking in a loop)."""
_CLOSE_TIMEOUT = 10.0
_SESSION_GONE = frozenset({"Session terminated", "Session not found"})
"""Errors for a request rejected because the HTTP session is unknown (never run)."""
_HTTP_ERROR = "Server returned an error response"
"""The SDK's stand-in for an HTTP error status without a JSON-RPC body."""


class _Dead(SubagentsError):
    """Internal: the transport died; ``delivered`` says whether the server may have run it."""

    def __init__(self, delivered: bool, detail: str) -> None:
        super().__init__(detail)
        self.delivered = delivered


# Errors that mean a bug in our code or the SDK's, never an unreachable server.
_PROGRAMMING_ERRORS = (TypeError, AttributeError, NameError, AssertionError)


class MCPServerConnection(Toolset):
    """The connection to one configured MCP server, a :class:`Toolset`.

    Tools are listed with the server's own names, cached, and re-listed after a
    ``notifications/tools/list_changed`` or a reconnect.
    """

    backoff_base: float = 0.2
    """Seconds before the second connection attempt; doubled for each further one."""
    backoff_cap: float = 5.0

    def __init__(
        self,
        cfg: MCPServerConfig,
        *,
        project_root: Path | None = None,
        token_store: TokenStore | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        self.name = cfg.name
        self.config = cfg
        self._root = project_root
        self.monitor = AuthMonitor(cfg.name, cfg.url, cfg.oauth) if cfg.url else None
        """What the server's HTTP answers said (401/403, forgotten sessions, refusals)."""
        self._auth: httpx2.Auth | None = None
        if cfg.oauth is not None and self.monitor is not None:
            oauth = build_oauth(cfg, token_store or MemoryTokenStore(), authorizer)
            # Our client-credentials flow raises its own MCPAuthError; the SDK's providers
            # are guarded so that a failed flow becomes the server's 401, explained.
            if oauth is not None and not isinstance(oauth, ClientCredentialsAuth):
                oauth = GuardedAuth(oauth, self.monitor)
            self._auth = oauth
        self._watched: dict[int, WatchedTransport] = {}
        self._in_flight: set[ActiveCall] = set()
        self._asking: set[asyncio.Future[Answer]] = set()
        self._pin = _MODES[cfg.protocol_version]
        self._mode: str = self._pin
        self._prior_discover: types.DiscoverResult | None = None
        self._client: Client | None = None
        self._owners: dict[int, tuple[asyncio.Task[None], asyncio.Event]] = {}
        # Owners whose session is still being opened: aclose must stop them too.
        self._opening: set[tuple[asyncio.Task[None], asyncio.Event]] = set()
        self._lock = asyncio.Lock()
        self._tools: list[ToolSpec] | None = None
        self._hints: dict[str, Mapping[str, Any]] = {}
        self._tools_stale = True
        self._tools_version = 0
        self._stderr_tail = ""
        self._closed = False
        self.connect_count = 0
        """How many times a connection was opened (1 + reconnects)."""
        self._connection_of_last_call = 0  # connect_count when the latest call began

    # ------------------------------------------------------------------ Toolset

    @property
    def tools_version(self) -> int:
        """Bumped whenever the server says its tool list changed (or may have).

        Callers that cache tools compare it to skip re-listing on every step.
        """
        return self._tools_version

    def _mark_stale(self) -> None:
        self._tools_stale = True
        self._tools_version += 1

    async def list_tools(self) -> list[ToolSpec]:
        """The server's tools (cached; re-listed after list_changed or a reconnect)."""
        client = self._client
        if client is None or not self._usable(client):
            client = await self.connect()
        if self._tools is None or self._tools_stale:
            try:
                await self._refresh_tools(client)
            except (MCPError, anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                # The transport died under the listing: listing is read-only, so reconnect
                # (which lists again) and let a second failure surface as unavailable.
                auth_error = self.monitor.error() if self.monitor is not None else None
                if auth_error is not None and auth_error.status is not None:
                    raise auth_error from None
                self._retire(client)
                await self.connect()
        assert self._tools is not None
        return list(self._tools)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: ToolContext | None = None
    ) -> ToolOutcome:
        """Call ``name`` on the server and convert its result for the model."""
        span = telemetry.current()  # execute_tool: the SDK carries its traceparent in _meta
        if span.recording:
            span.set("mcp.method.name", "tools/call")
            span.set("subagents.mcp.server", self.name)
            span.set("subagents.mcp.transport", self.config.type)
            span.set("network.transport", "pipe" if self.config.type == "stdio" else "tcp")
        client = self._client
        if client is None or not self._usable(client):
            client = await self.connect()
        # Told to the inspector: the connection was re-opened since the previous call (a
        # crash noticed by this call, or by a tool listing in between).
        reconnected = 0 < self._connection_of_last_call != self.connect_count
        self._connection_of_last_call = self.connect_count
        try:
            outcome = await self._call_once(client, name, arguments, context)
            return replace(outcome, reconnected=True) if reconnected else outcome
        except _Dead as dead:
            self._retire(client)
            if dead.delivered and not self.is_idempotent(name):
                raise MCPTransportError(
                    self.name,
                    f"the connection broke during the call to '{name}' ({dead}); the call may "
                    "have run, so it was not repeated. The server is reconnected on next use.",
                ) from None
            logger.info("mcp.call_retry", extra={"server": self.name, "tool": name})
        client = await self.connect()
        try:
            outcome = await self._call_once(client, name, arguments, context)
            return replace(outcome, reconnected=True, retried=True)
        except _Dead as dead:
            self._retire(client)
            raise MCPTransportError(
                self.name, f"the connection broke again during the call to '{name}' ({dead})"
            ) from None

    @property
    def may_ask_user(self) -> bool:
        """True when the server may ask the user questions (``elicitation: true``)."""
        return self.config.elicitation

    def is_idempotent(self, name: str) -> bool:
        """True when the tool is annotated ``readOnlyHint`` or ``idempotentHint``."""
        hints = self._hints.get(name) or {}
        return bool(hints.get("readOnlyHint") or hints.get("idempotentHint"))

    # ------------------------------------------------------------------ calls

    async def _call_once(
        self,
        client: Client,
        name: str,
        arguments: dict[str, Any],
        context: ToolContext | None = None,
    ) -> ToolOutcome:
        refused = self.monitor.refused if self.monitor else 0
        clock = CallClock(self.config.timeout)
        on_progress = self._progress_callback(name, clock, context)
        active = (
            ActiveCall(name, clock, context.ask_user, context.sample)
            if context is not None
            else ActiveCall(name, clock)
        )
        self._in_flight.add(active)
        token = CURRENT_CALL.set(active)
        try:
            async with clock:
                result = await client.call_tool(name, arguments, progress_callback=on_progress)
        except TimeoutError:
            if not clock.expired:
                raise  # something inside timed out on its own: not this call's clock
            raise ToolTimeoutError(name, self._timeout_text(name)) from None
        except MCPError as exc:
            raise self._classify(name, exc, refused) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError) as exc:
            raise _Dead(not self._refused_since(refused), f"{type(exc).__name__}: {exc}") from None
        except InputRequiredRoundsExceededError as exc:
            raise ToolExecutionError(name, f"Tool '{name}' failed: {exc}") from None
        except (RuntimeError, ValidationError) as exc:
            if not self._usable(client):
                raise _Dead(False, "the connection was closed") from None
            raise ToolExecutionError(
                name, f"Tool '{name}' on MCP server '{self.name}' returned an invalid result: {exc}"
            ) from None
        finally:
            CURRENT_CALL.reset(token)
            self._in_flight.discard(active)
        return result_to_outcome(result)

    def _timeout_text(self, name: str) -> str:
        silent = " without reporting progress" if self.config.progress_resets_timeout else ""
        return f"Tool '{name}' did not answer within {self.config.timeout:g} seconds{silent}."

    def _progress_callback(
        self, name: str, clock: CallClock, context: ToolContext | None
    ) -> ProgressFnT:
        """The call's progress callback: it always exists, so every call carries a
        progress token; it restarts the clock (if configured) and reports to the run."""
        hook = context.on_progress if context is not None else None
        resets = self.config.progress_resets_timeout

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            if resets:
                clock.restart()
            if hook is not None:
                await hook(ToolProgress(name, self.name, progress, total, message))

        return on_progress

    def _refused_since(self, before: int) -> bool:
        """True when a connection to the server was refused since ``before`` (a count)."""
        return self.monitor is not None and self.monitor.refused > before

    def _classify(self, name: str, exc: MCPError, refused: int = 0) -> Exception:
        code, message = exc.error.code, exc.error.message
        if code == types.REQUEST_TIMEOUT:
            return ToolTimeoutError(name, self._timeout_text(name))
        monitor = self.monitor
        if monitor is not None and monitor.session_rejected is not None:
            # HTTP 400 for our session id (TypeScript-SDK servers, whose JSON-RPC error
            # code -32000 reads like CONNECTION_CLOSED): a restarted server. A message
            # that names the session says it was rejected unrun; otherwise the
            # idempotency rule decides whether the call is repeated.
            status, monitor.session_rejected = monitor.session_rejected, None
            unrun = status == 404 or "session" in message.lower()
            return _Dead(not unrun, f"the server rejected our session (HTTP {status})")
        if code == types.CONNECTION_CLOSED:
            # A refused connection never delivered the request: it did not run.
            return _Dead(not self._refused_since(refused), message)
        if code == types.INVALID_REQUEST and message in _SESSION_GONE:
            # HTTP 404 for our session id: the server restarted or expired the session
            # and rejected the request without running it.
            return _Dead(False, "the server no longer knows this session")
        auth_error = monitor.error() if monitor is not None else None
        if auth_error is not None and (code == types.INTERNAL_ERROR or message == _HTTP_ERROR):
            return auth_error
        return ToolExecutionError(
            name, f"Tool '{name}' on MCP server '{self.name}' failed: {message} (code {code})"
        )

    # ------------------------------------------------------------------ tools

    async def _refresh_tools(self, client: Client) -> None:
        self._tools_stale = False  # a notification during the listing marks it stale again
        tools: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(_LIST_PAGE_CAP):
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        specs = [_to_spec(tool, self.name) for tool in tools]
        self._hints = {spec.name: spec.annotations or {} for spec in specs}
        if self._tools is not None and specs != self._tools:
            self._tools_version += 1  # e.g. a restarted server came back with other tools
        self._tools = specs
        logger.debug("mcp.tools_listed", extra={"server": self.name, "count": len(specs)})

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._mark_stale()
            logger.info("mcp.tools_changed", extra={"server": self.name})
        elif isinstance(message, Exception):
            logger.debug(
                "mcp.transport_message_error", extra={"server": self.name}, exc_info=message
            )

    async def _on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        logger.debug(
            "mcp.server_log",
            extra={"server": self.name, "level": params.level, "data": params.data},
        )

    async def _on_list_roots(self, context: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[])

    async def _on_sample(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.ErrorData:
        """A tool asks for the assistant's model (sampling, ``sampling.allow``): answered
        through the run's ``sample`` hook, tokens capped, the call's clock stopped."""
        cfg = self.config.sampling
        call = route(CURRENT_CALL.get(), self._in_flight)
        if call is None or call.sample is None:
            logger.info("mcp.sampling_refused", extra={"server": self.name, "reason": "no run"})
            return types.ErrorData(code=types.INVALID_REQUEST, message="Sampling not available")
        request = SamplingRequest(
            call.tool,
            self.name,
            _sampling_messages(params),
            max_tokens=min(params.max_tokens, cfg.max_tokens),
            model_group=cfg.model_group,
            max_requests=cfg.max_requests,
            temperature=params.temperature,
        )
        call.clock.pause()
        try:
            result = await call.sample(request)
        except SubagentsError as exc:  # the model is unreachable: the tool gets an error
            logger.warning("mcp.sampling_failed", extra={"server": self.name, "error": str(exc)})
            return types.ErrorData(code=types.INTERNAL_ERROR, message="The model did not answer")
        finally:
            call.clock.resume()
        if result is None:
            message = f"Sampling refused: at most {cfg.max_requests} requests per agent run"
            return types.ErrorData(code=types.INVALID_REQUEST, message=message)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=result.text),
            model=result.model,
            stop_reason=result.stop_reason,
        )

    async def _on_elicit(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        """A tool asks the user: through the run's ``ask_user``, the call's clock stopped
        meanwhile; no answer within ``elicitation_timeout`` declines."""
        call = route(CURRENT_CALL.get(), self._in_flight)
        if call is None or call.ask is None or call.asked >= _MAX_QUESTIONS_PER_CALL:
            logger.info(
                "mcp.elicitation_declined",
                extra={"server": self.name, "reason": "no user to ask" if call else "unrouted"},
            )
            return types.ElicitResult(action="decline")
        call.asked += 1
        question = _question(call.tool, self.name, params)
        call.clock.pause()
        asking = asyncio.ensure_future(call.ask(question))
        self._asking.add(asking)
        try:
            await asyncio.wait({asking}, timeout=self.config.elicitation_timeout)
        finally:
            self._asking.discard(asking)
            call.clock.resume()
        if asking.done() and not asking.cancelled():
            answer = asking.result()
        elif self._closed:  # the connections are closing: nobody will answer
            answer = Answer("cancel")
        else:
            asking.cancel()
            logger.info("mcp.elicitation_timeout", extra={"server": self.name, "tool": call.tool})
            answer = Answer("decline")
        logger.info(
            "mcp.elicitation",
            extra={
                "server": self.name,
                "tool": call.tool,
                "mode": question.mode,
                "action": answer.action,
            },
        )
        content = answer.content if answer.action == "accept" and question.mode == "form" else None
        return types.ElicitResult(action=answer.action, content=content)

    # ------------------------------------------------------------------ connect

    async def connect(self) -> Client:
        """Return a live client, (re)connecting with retries and backoff.

        Raises :class:`MCPServerUnavailable` naming the server (and, for stdio, the tail
        of its stderr) when every attempt failed.
        """
        async with self._lock:
            client = self._client
            if client is not None and self._usable(client):
                return client
            if client is not None:
                self._retire(client)
            if self._closed:
                raise MCPServerUnavailable(self.name, "the MCP connections are closed")
            return await self._connect_with_retries()

    async def _connect_with_retries(self) -> Client:
        attempts = max(1, self.config.max_retries)
        error: BaseException | None = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))
            if self._closed:  # aclose ran during the backoff
                break
            try:
                client = await self._open()
            except _PROGRAMMING_ERRORS:
                raise  # a bug, not a failed connection: retrying cannot help, hiding it would
            except Exception as exc:
                error = exc
                if self._closed:
                    break
                auth_error = self._auth_failure(exc)
                if auth_error is not None:
                    raise auth_error from None  # retrying cannot fix credentials
                if self._mode != "auto":
                    self._forget_era()  # the server may have been replaced by another
                logger.warning(
                    "mcp.connect_failed",
                    extra={"server": self.name, "attempt": attempt + 1, "error": _root_cause(exc)},
                )
                continue
            if self._closed:  # aclose ran while this session was opening
                self._retire(client)
                break
            self._client = client
            self.connect_count += 1
            if self.connect_count > 1:
                telemetry.count(telemetry.MCP_RECONNECTS, 1, {"server": self.name})
            self._remember_era(client)
            logger.info(
                "mcp.connected",
                extra={"server": self.name, "protocol": client.protocol_version},
            )
            return client
        if self._closed:
            raise MCPServerUnavailable(self.name, "the MCP connections are closed")
        raise MCPServerUnavailable(self.name, self._failure_text(error, attempts))

    def _auth_failure(self, exc: BaseException) -> MCPAuthError | None:
        """The auth error behind a failed connect, if the server refused us."""
        if isinstance(exc, MCPAuthError):
            return exc
        nested = exc
        while isinstance(nested, BaseExceptionGroup) and nested.exceptions:
            nested = nested.exceptions[0]
        if isinstance(nested, MCPAuthError):
            return nested
        return self.monitor.error() if self.monitor is not None else None

    def _remember_era(self, client: Client) -> None:
        """Cache what the connect negotiated, so reconnects skip the ``server/discover``
        probe (a wasted round trip to every pre-2026 server)."""
        session = client.session
        if session.discover_result is not None:
            self._mode = client.protocol_version
            self._prior_discover = session.discover_result
        elif session.initialize_result is not None:
            self._mode, self._prior_discover = "legacy", None

    def _forget_era(self) -> None:
        self._mode, self._prior_discover = self._pin, None

    @property
    def protocol_version(self) -> str | None:
        """The protocol version negotiated with the server (``None`` before connecting)."""
        client = self._client
        return client.protocol_version if client is not None else None

    @property
    def server_info(self) -> dict[str, Any] | None:
        """What the server said about itself (``name``, ``version``, ``title``, ...;
        ``None`` before connecting)."""
        client = self._client
        if client is None:
            return None
        info = client.server_info
        return info.model_dump(exclude_none=True) if info is not None else None

    @property
    def negotiated_mode(self) -> str:
        """How the next connect negotiates: ``auto`` (probe), ``legacy`` or a version."""
        return self._mode

    def _usable(self, client: Client) -> bool:
        """False once the session's transport ended (EOF, broken pipe, closed)."""
        watched = self._watched.get(id(client))
        return watched is not None and not watched.ended

    def _failure_text(self, error: BaseException | None, attempts: int) -> str:
        cfg = self.config
        where = cfg.url if cfg.type != "stdio" else " ".join([cfg.command or "", *cfg.args])
        text = (
            f"could not connect ({cfg.type} {where}) after {attempts} attempt(s): "
            f"{_root_cause(error)}"
        )
        if self._stderr_tail:
            text += f"\n--- server stderr (last lines) ---\n{self._stderr_tail}"
        return text

    async def _open(self) -> Client:
        """Start an owner task for a new session and wait until it is ready and listed."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[Client] = loop.create_future()
        stop = asyncio.Event()
        task = loop.create_task(self._own(ready, stop), name=f"mcp-server:{self.name}")
        self._opening.add((task, stop))
        try:
            # The owner cannot put a cancel scope around entering the SDK's context
            # managers (their task groups outlive it), so the deadline is enforced here.
            await asyncio.wait({ready}, timeout=self.config.connect_timeout)
            if not ready.done():
                task.cancel()
                raise TimeoutError(f"no answer within {self.config.connect_timeout:g} seconds")
            if ready.cancelled():  # the owner was cancelled (by aclose), not this caller
                raise ConnectionError("the connection was closed while it was being opened")
            client = ready.result()
            self._owners[id(client)] = (task, stop)
            await self._refresh_tools(client)
        except BaseException:
            stop.set()
            await asyncio.wait({task}, timeout=_CLOSE_TIMEOUT)
            raise
        finally:
            self._opening.discard((task, stop))
        return client

    async def _own(self, ready: asyncio.Future[Client], stop: asyncio.Event) -> None:
        """The owner task: enters the transport and session, waits, exits them."""
        try:
            async with AsyncExitStack() as stack:
                client = await self._enter(stack)
                if not ready.done():
                    ready.set_result(client)
                async with anyio.create_task_group() as tg:
                    if _wants_listen(client):
                        tg.start_soon(self._listen, client)
                    await stop.wait()
                    tg.cancel_scope.cancel()
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            else:
                logger.info(
                    "mcp.connection_lost", extra={"server": self.name, "error": _root_cause(exc)}
                )
        except BaseException:
            if not ready.done():
                ready.cancel()
            raise

    async def _enter(self, stack: AsyncExitStack) -> Client:
        cfg = self.config
        if cfg.type == "stdio":
            log = StderrLog()
            stack.callback(self._keep_stderr, log)  # runs last: after the child exited
            transport = stdio_transport(cfg, log, self._root)
        elif cfg.type == "sse":
            transport = sse_transport(cfg, self._auth, self.monitor)
        else:
            http = await stack.enter_async_context(make_http_client(cfg, self._auth, self.monitor))
            transport = http_transport(cfg, http)
        watched = WatchedTransport(transport)
        client = Client(
            as_transport(watched),
            mode=self._mode,
            prior_discover=self._prior_discover,
            cache=None,
            client_info=CLIENT_INFO,
            message_handler=self._on_message,
            logging_callback=self._on_log,
            list_roots_callback=self._on_list_roots,
            elicitation_callback=self._on_elicit if cfg.elicitation else None,
            sampling_callback=self._on_sample if cfg.sampling.allow else None,
        )
        await stack.enter_async_context(client)
        self._watched[id(client)] = watched
        stack.callback(self._watched.pop, id(client), None)
        return client

    def _keep_stderr(self, log: StderrLog) -> None:
        self._stderr_tail = log.tail()
        log.close()

    async def _listen(self, client: Client) -> None:
        """2026-07-28 servers announce tool-list changes only on a listen stream."""
        while self._usable(client):
            try:
                async with client.listen(tools_list_changed=True) as subscription:
                    async for _event in subscription:
                        self._mark_stale()  # the tee to _on_message does it too
            except Exception as exc:
                logger.debug("mcp.listen_lost", extra={"server": self.name, "error": str(exc)})
            self._mark_stale()  # events may have been missed while not listening
            await anyio.sleep(1.0)

    # ------------------------------------------------------------------ close

    def _retire(self, client: Client) -> None:
        """Forget ``client`` and tell its owner task to close it (in the background)."""
        if self._client is client:
            self._client = None
        owner = self._owners.get(id(client))
        if owner is not None:
            owner[1].set()
        # Forget owners that already finished (their clients are gone).
        self._owners = {k: v for k, v in self._owners.items() if not v[0].done()}

    @property
    def state(self) -> str:
        """``connected``, ``disconnected`` (reconnected on next use) or ``closed``."""
        if self._closed:
            return "closed"
        client = self._client
        return "connected" if client is not None and self._usable(client) else "disconnected"

    def stderr_tail(self) -> str:
        """The last lines a stdio server wrote to stderr before its last connection ended."""
        return self._stderr_tail

    async def aclose(self) -> None:
        """Close the session and end the server process (stdio); idempotent."""
        self._closed = True
        self._client = None
        for asking in list(self._asking):  # questions nobody will answer now: cancel
            asking.cancel()
        owners = [*self._owners.values(), *self._opening]
        self._owners.clear()
        for _task, stop in owners:
            stop.set()
        tasks = {task for task, _stop in owners}
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=_CLOSE_TIMEOUT)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=_CLOSE_TIMEOUT)


def _sampling_messages(params: types.CreateMessageRequestParams) -> list[dict[str, Any]]:
    """The server's sampling messages in the chat format (media described, not pasted)."""
    messages: list[dict[str, Any]] = []
    if params.system_prompt:
        messages.append({"role": "system", "content": params.system_prompt})
    for message in params.messages:
        blocks = message.content if isinstance(message.content, list) else [message.content]
        parts = [
            block.text if isinstance(block, types.TextContent) else f"[{block.type} omitted]"
            for block in blocks
        ]
        messages.append({"role": message.role, "content": "\n".join(parts)})
    return messages


def _question(tool: str, server: str, params: types.ElicitRequestParams) -> Question:
    if isinstance(params, types.ElicitRequestURLParams):
        return Question(tool, server, params.message, mode="url", url=params.url)
    return Question(tool, server, params.message, dict(params.requested_schema))


def _wants_listen(client: Client) -> bool:
    caps = client.server_capabilities.tools
    return (
        client.protocol_version in MODERN_PROTOCOL_VERSIONS
        and caps is not None
        and bool(caps.list_changed)
    )


def _to_spec(tool: types.Tool, server: str) -> ToolSpec:
    annotations = (
        tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else None
    )
    return ToolSpec(
        name=tool.name,
        description=tool.description or tool.title or "",
        input_schema=tool.input_schema,
        strict=False,
        annotations=annotations or None,
        source=server,
    )


def _root_cause(error: BaseException | None) -> str:
    """The innermost meaningful error, unwrapping exception groups and ``from`` chains."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    if error is None:
        return "unknown error"
    if isinstance(error, TimeoutError):
        return f"timed out ({error})" if str(error) else "timed out"
    text = str(error) or type(error).__name__
    if isinstance(error, MCPError) and error.error.code == types.CONNECTION_CLOSED:
        text = "the server closed the connection (did the process exit?)"
    return f"{text}" if isinstance(error, MCPError) else f"{type(error).__name__}: {text}"
