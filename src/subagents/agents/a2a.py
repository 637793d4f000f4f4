"""``A2AAgent``: a remote agent reached over the A2A protocol, called from a flow like a
ReAct sub agent (``agent.protocol: A2A`` in its ``config.yml``).

One run sends the user's message as an A2A message and follows the remote task:

* ``input-required`` (or ``auth-required``, or a plain message instead of a task) ends the
  run ``input_required``; the next user message resumes the same task and context;
* ``completed`` ends it ``completed`` with the text of the final status message and of the
  artifacts produced during the run (data and file parts go to ``structured_results``);
* ``failed`` / ``rejected`` end it ``fatal_error``, ``canceled`` ``cancelled``;
* a task still running when the stream ends (or when the agent does not stream) is
  polled with ``tasks/get`` (``configuration.polling``).

Text reaches ``on_text`` as it arrives: status messages while the task works, and
artifact chunks. The ``a2a-sdk`` package is imported only when an A2A agent is built
(``pip install 'subagents[a2a]'``).

State between runs is ``{"agent", "context_id", "task_id"}``, exported as
``AgentOutput.metadata["state"]`` exactly as the ReAct agents export their transcript.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import subagents.telemetry as telemetry
from subagents.agents.base import agent_attributes, agent_done
from subagents.agents.schemas import AgentInput, AgentOutput, AgentStatus
from subagents.config.models import A2AAuthConfig, A2APollingConfig, AgentConfig
from subagents.errors import ConfigError

if TYPE_CHECKING:
    import httpx
    from a2a.client import Client
    from a2a.types import AgentCard, Artifact, Message, StreamResponse, Task

logger = logging.getLogger("subagents.agents.a2a")

PART_SEPARATOR = "\n\n"
CHUNK_METADATA_KEY = "subagents_chunk"
"""Message metadata flag (``true``): this working-status text continues the previous one."""
_MAX_REMEMBERED = 2048
_INSTALL_HINT = "install it with: pip install 'subagents[a2a]'"

TextCallback = Callable[[str], Awaitable[None]]


def import_a2a_client() -> Any:
    """The ``a2a.client`` module, or a ConfigError that says how to install it."""
    try:
        import a2a.client
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ConfigError(
            f"protocol: A2A needs the a2a-sdk package ({exc}); {_INSTALL_HINT}",
            field="agent.protocol",
        ) from None
    return a2a.client


@dataclass
class _Reply:
    """What the user sees of one run, built as events arrive (see module docstring)."""

    on_text: TextCallback | None
    parts: list[str] = field(default_factory=list)
    open_key: str | None = None
    """The streaming part the next chunk continues (an artifact id, or "status")."""
    results: list[dict[str, Any]] = field(default_factory=list)

    async def _emit(self, text: str) -> None:
        if self.on_text is not None and text:
            await self.on_text(text)

    async def add_part(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        self.open_key = None
        await self._emit((PART_SEPARATOR if self.parts else "") + text)
        self.parts.append(text)

    async def add_chunk(self, key: str, text: str) -> None:
        if not text:
            return
        if self.open_key == key and self.parts:
            self.parts[-1] += text
            await self._emit(text)
            return
        await self._emit((PART_SEPARATOR if self.parts else "") + text)
        self.parts.append(text)
        self.open_key = key

    async def add_final(self, text: str) -> None:
        """A final message: skipped when it repeats what was just streamed."""
        if self.parts and self.parts[-1].strip() == text.strip():
            self.open_key = None
            return
        await self.add_part(text)

    @property
    def text(self) -> str | None:
        joined = PART_SEPARATOR.join(p.strip() for p in self.parts if p.strip())
        return joined or None


@dataclass
class _Outcome:
    status: AgentStatus
    error: str | None = None
    context_id: str | None = None
    task_id: str | None = None
    artifacts: list[str] = field(default_factory=list)
    """Ids of the task's artifacts the user has seen (not shown again on resume)."""


class A2AAgent:
    """A remote A2A agent (``agent.protocol: A2A``).

    Subclass it and point ``configuration.module`` at the subclass to change what is sent
    (:meth:`process_input`) or what comes back (:meth:`process_output`).
    """

    def __init__(
        self,
        name: str,
        description: str = "",
        *,
        agent_card: str,
        project_root: str | Path = ".",
        agent_dir: str | Path | None = None,
        auth: A2AAuthConfig | None = None,
        timeout: float | None = None,
        max_retries: int = 3,
        polling: A2APollingConfig | None = None,
        streaming: bool | None = None,
        config: AgentConfig | None = None,
        config_file: str = "",
    ) -> None:
        self.name = name
        self.description = description
        self.agent_card_ref = agent_card
        self.project_root = Path(project_root)
        self.agent_dir = Path(agent_dir) if agent_dir is not None else self.project_root
        self.auth = auth
        self.timeout = timeout
        self.max_retries = max(1, max_retries)
        self.polling = polling or A2APollingConfig()
        self.streaming = True if streaming is None else streaming
        self.config = config
        self.config_file = config_file or f"sub_agents/{name}/config.yml"
        self.card: AgentCard | None = None
        self._client: Client | None = None
        self._http: httpx.AsyncClient | None = None
        self._ready_lock = asyncio.Lock()
        self._states: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # ------------------------------------------------------------------ customisation hooks

    async def process_input(self, input: AgentInput) -> AgentInput:
        """Called before every run; return the (possibly changed) input."""
        return input

    async def process_output(self, output: AgentOutput) -> AgentOutput:
        """Called after every run; return the (possibly changed) output."""
        return output

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The endpoint the client talks to (empty before :meth:`prepare`)."""
        if self.card is None or not self.card.supported_interfaces:
            return ""
        return str(self.card.supported_interfaces[0].url)

    async def prepare(self) -> None:
        """Load the agent card (fetching it with retries when it is a URL) and build the
        client. Raises ConfigError naming the config file when the card cannot be had."""
        if self._client is not None:
            return
        async with self._ready_lock:
            if self._client is not None:
                return
            client_mod = import_a2a_client()
            http = self._http_client()
            try:
                card = await self._load_card(http)
                # Without streaming, send returns at once and the task is polled: a long
                # task then holds no HTTP request open.
                streams = self.streaming and card.capabilities.streaming
                config = client_mod.ClientConfig(
                    streaming=streams,
                    polling=not streams,
                    httpx_client=http,
                    supported_protocol_bindings=["JSONRPC", "HTTP+JSON"],
                )
                try:
                    client = client_mod.ClientFactory(config).create(card)
                except ValueError as exc:
                    raise self._error(
                        f"agent card '{self.agent_card_ref}': {exc} (this client speaks"
                        " JSONRPC and HTTP+JSON)"
                    ) from None
            except BaseException:
                await http.aclose()
                raise
            self.card, self._client, self._http = card, client, http
            logger.info("a2a.agent.ready", extra={"agent": self.name, "url": self.url})

    async def aclose(self) -> None:
        """Close the HTTP client."""
        client, http = self._client, self._http
        self._client = self._http = None
        if client is not None:
            await client.close()
        if http is not None:
            await http.aclose()

    def forget(self, conversation_id: str) -> None:
        """Drop the in-memory state of one conversation."""
        self._states.pop(conversation_id, None)

    def _error(self, message: str) -> ConfigError:
        return ConfigError(
            f"{self.config_file}: configuration.agent_card: {message}",
            file=self.config_file,
            field="configuration.agent_card",
        )

    def _http_client(self) -> httpx.AsyncClient:
        import httpx

        headers = auth_headers(self.auth)
        hooks = {"request": [_trace_header]} if telemetry.tracing() else {}
        auth = _oauth_auth(self.auth) if self.auth and self.auth.oauth else None
        # No read timeout of our own on streams: the run's deadline bounds them.
        timeout = httpx.Timeout(30.0, read=self.timeout)
        return httpx.AsyncClient(headers=headers, auth=auth, timeout=timeout, event_hooks=hooks)

    async def _load_card(self, http: httpx.AsyncClient) -> AgentCard:
        from a2a.client.card_resolver import parse_agent_card

        from subagents.config.a2a_checks import agent_card_path, is_url

        ref = self.agent_card_ref
        if is_url(ref):
            data = await self._fetch_card(http, ref)
        else:
            path = agent_card_path(ref, self.project_root, self.agent_dir)
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise self._error(f"cannot read agent card file {path}: {exc}") from None
        try:
            return parse_agent_card(data)
        except Exception as exc:  # ParseError and friends: the card is not a valid card
            raise self._error(f"'{ref}' is not a valid agent card: {exc}") from None

    async def _fetch_card(self, http: httpx.AsyncClient, ref: str) -> Any:
        import httpx

        url = ref if ref.endswith(".json") else ref.rstrip("/") + "/.well-known/agent-card.json"
        problem = ""
        for attempt in range(1, self.max_retries + 1):
            try:
                response = await http.get(url)
                if response.status_code == 200:
                    return response.json()
                problem = f"HTTP {response.status_code}"
                if response.status_code < 500:
                    break  # 404, 401...: trying again will not help
            except (httpx.HTTPError, ValueError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if attempt < self.max_retries:
                await asyncio.sleep(min(0.5 * 2 ** (attempt - 1), 5.0))
        raise self._error(
            f"cannot fetch the agent card from {url} ({problem}) after {attempt} attempt(s);"
            " is the remote agent running and the URL right?"
        )

    # ------------------------------------------------------------------ running

    async def run(
        self,
        input: AgentInput,
        on_text: TextCallback | None = None,
        on_event: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ) -> AgentOutput:
        """Send the user's message to the remote agent and follow its task (see module)."""
        with telemetry.span("agent.run", agent_attributes(self.name, input.id)) as span:
            output = await self._run(input, on_text)
            agent_done(span, self.name, output)
            return output

    async def _run(self, input: AgentInput, on_text: TextCallback | None) -> AgentOutput:
        started = time.perf_counter()
        try:
            input = await self.process_input(input)
            await self.prepare()
        except ConfigError as exc:
            return await self._finish(input, _Outcome(AgentStatus.FATAL_ERROR, str(exc)), None)
        except Exception as exc:  # a bug in process_input must not crash the conversation
            logger.exception("a2a.agent.error", extra={"agent": self.name})
            outcome = _Outcome(AgentStatus.FATAL_ERROR, f"internal error: {exc!r}")
            return await self._finish(input, outcome, None)
        state = self._state_of(input)
        reply = _Reply(on_text)
        outcome = await self._exchange(input, state, reply)
        output = await self._finish(input, outcome, reply)
        logger.info(
            "a2a.agent.run.complete",
            extra={
                "agent": self.name,
                "conversation_id": input.id,
                "status": output.status.value,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return output

    def _state_of(self, input: AgentInput) -> dict[str, Any]:
        if "state" in input.metadata:
            state = input.metadata["state"]
            if isinstance(state, Mapping) and state.get("agent") == self.name:
                return dict(state)
            return {}
        return dict(self._states.get(input.id, {}))

    async def _exchange(self, input: AgentInput, state: dict[str, Any], reply: _Reply) -> _Outcome:
        tracker = _TaskTracker(
            context_id=state.get("context_id"),
            task_id=state.get("task_id"),
            seen_artifacts=set(state.get("artifacts") or ()),
        )
        try:
            async with asyncio.timeout(self.timeout) as deadline:
                return await self._send_and_follow(input, tracker, reply)
        except TimeoutError:
            await self._cancel_remote(tracker.task_id)
            if deadline.expired():
                error = f"timed out after {self.timeout:g} seconds (configuration.timeout)"
            else:
                error = "timed out"
            return tracker.outcome(AgentStatus.FATAL_ERROR, error)
        except asyncio.CancelledError:
            await self._cancel_remote(tracker.task_id)
            raise
        except Exception as exc:
            logger.warning(
                "a2a.agent.request_failed",
                extra={"agent": self.name, "url": self.url, "error": repr(exc)},
            )
            return tracker.outcome(
                AgentStatus.FATAL_ERROR, f"A2A request to {self.url} failed: {_describe(exc)}"
            )

    async def _send_and_follow(
        self, input: AgentInput, tracker: _TaskTracker, reply: _Reply
    ) -> _Outcome:
        from a2a.types import SendMessageRequest

        assert self._client is not None
        request = SendMessageRequest(message=self._message(input, tracker))
        received = 0
        async for event in _iterate(self._client.send_message(request)):
            received += 1
            done = await tracker.on_event(event, reply)
            if done is not None:
                return done
        if received == 0:
            return tracker.outcome(
                AgentStatus.RECOVERABLE_ERROR, "the remote agent sent nothing back"
            )
        if not tracker.task_id:
            return tracker.outcome(AgentStatus.FATAL_ERROR, "no task id to poll")
        return await self._poll(tracker, reply)

    async def _poll(self, tracker: _TaskTracker, reply: _Reply) -> _Outcome:
        from a2a.types import GetTaskRequest

        assert self._client is not None
        polling = self.polling
        delay = polling.initial_delay
        try:
            async with asyncio.timeout(polling.max_wait):
                while True:
                    await asyncio.sleep(delay)
                    task = await self._client.get_task(GetTaskRequest(id=tracker.task_id))
                    done = await tracker.on_task(task, reply)
                    if done is not None:
                        return done
                    delay = min(delay * 2, polling.max_delay)
        except TimeoutError:
            await self._cancel_remote(tracker.task_id)
            return tracker.outcome(
                AgentStatus.FATAL_ERROR,
                f"polling timed out after {polling.max_wait:g} seconds"
                " (configuration.polling.max_wait)",
            )

    async def _cancel_remote(self, task_id: str | None) -> None:
        """Best effort: tell the remote agent we gave up on its task."""
        if not task_id or self._client is None:
            return
        from a2a.types import CancelTaskRequest

        try:
            async with asyncio.timeout(2.0):
                await self._client.cancel_task(CancelTaskRequest(id=task_id))
        except (Exception, TimeoutError):
            logger.debug("a2a.agent.cancel_failed", extra={"agent": self.name}, exc_info=True)

    def _message(self, input: AgentInput, tracker: _TaskTracker) -> Message:
        """The A2A message of this run: the user's text (the conversation so far on the
        first message of a context, as Rasa sends it) and the slots that have values."""
        from a2a.types import Message, Part, Role
        from google.protobuf.struct_pb2 import Struct

        text = input.user_message
        if not tracker.context_id and input.conversation_history:
            text = input.conversation_history
        parts = [Part(text=text or "")]
        slots = [{"name": s.name, "value": s.value} for s in input.slots if s.value is not None]
        if slots:
            data = Struct()
            data.update(_jsonable({"slots": slots}))
            part = Part(media_type="application/json")
            part.data.struct_value.CopyFrom(data)
            parts.append(part)
        message = Message(
            message_id=str(uuid.uuid4()),
            role=Role.ROLE_USER,
            parts=parts,
            context_id=tracker.context_id or "",
            task_id=tracker.task_id or "",
        )
        metadata = {k: v for k, v in input.metadata.items() if k != "state"}
        if metadata:
            message.metadata.update(_jsonable(metadata))
        return message

    async def _finish(
        self, input: AgentInput, outcome: _Outcome, reply: _Reply | None
    ) -> AgentOutput:
        metadata: dict[str, Any] = {"agent": self.name, "state": None}
        if outcome.status == AgentStatus.INPUT_REQUIRED:
            state = {
                "agent": self.name,
                "context_id": outcome.context_id,
                "task_id": outcome.task_id,
                "artifacts": outcome.artifacts,
            }
            metadata["state"] = state
            self._states[input.id] = state
            self._states.move_to_end(input.id)
            while len(self._states) > _MAX_REMEMBERED:
                self._states.popitem(last=False)
        else:
            self._states.pop(input.id, None)
        if outcome.context_id:
            metadata["context_id"] = outcome.context_id
        if outcome.task_id:
            metadata["task_id"] = outcome.task_id
        if outcome.error:
            logger.warning(
                "a2a.agent.run.failed",
                extra={"agent": self.name, "conversation_id": input.id, "error": outcome.error},
            )
        output = AgentOutput(
            id=input.id,
            status=outcome.status,
            response_message=reply.text if reply is not None else None,
            structured_results=reply.results if reply is not None else [],
            error_message=outcome.error,
            metadata=metadata,
        )
        try:
            return await self.process_output(output)
        except Exception as exc:  # user code must not crash the conversation
            logger.exception("a2a.agent.process_output.error", extra={"agent": self.name})
            return AgentOutput(
                id=input.id,
                status=AgentStatus.FATAL_ERROR,
                error_message=f"process_output failed: {type(exc).__name__}: {exc}",
                metadata={"agent": self.name, "state": None},
            )


# ---------------------------------------------------------------------- following a task

_ENDS = {
    "TASK_STATE_COMPLETED": AgentStatus.COMPLETED,
    "TASK_STATE_INPUT_REQUIRED": AgentStatus.INPUT_REQUIRED,
    "TASK_STATE_AUTH_REQUIRED": AgentStatus.INPUT_REQUIRED,
    "TASK_STATE_FAILED": AgentStatus.FATAL_ERROR,
    "TASK_STATE_REJECTED": AgentStatus.FATAL_ERROR,
    "TASK_STATE_CANCELED": AgentStatus.CANCELLED,
}


@dataclass
class _TaskTracker:
    """Follows one remote task through stream events or polled snapshots."""

    context_id: str | None = None
    task_id: str | None = None
    seen_artifacts: set[str] = field(default_factory=set)
    last_status_message: str = ""
    """Id of the status message last shown (polled snapshots repeat it)."""

    def outcome(self, status: AgentStatus, error: str | None = None) -> _Outcome:
        seen = sorted(self.seen_artifacts)
        return _Outcome(status, error, self.context_id, self.task_id, seen)

    async def on_event(self, event: StreamResponse, reply: _Reply) -> _Outcome | None:
        kind = event.WhichOneof("payload")
        if kind == "message":
            message = event.message
            self.context_id = message.context_id or self.context_id
            self.task_id = message.task_id or None
            await reply.add_final(parts_text(message.parts, reply))
            return self.outcome(AgentStatus.INPUT_REQUIRED)
        if kind == "task":
            return await self.on_task(event.task, reply)
        if kind == "artifact_update":
            update = event.artifact_update
            await self._on_artifact(update.artifact, reply, append=update.append)
            if update.last_chunk:
                reply.open_key = None
            return None
        if kind == "status_update":
            update = event.status_update
            self.task_id = update.task_id or self.task_id
            self.context_id = update.context_id or self.context_id
            return await self._on_status(update.status, reply)
        return None

    async def on_task(self, task: Task, reply: _Reply) -> _Outcome | None:
        """A whole task (the first stream event, a blocking answer or a polled snapshot)."""
        self.task_id = task.id or self.task_id
        self.context_id = task.context_id or self.context_id
        for artifact in task.artifacts:
            if artifact.artifact_id not in self.seen_artifacts:
                await self._on_artifact(artifact, reply, append=False)
                reply.open_key = None
        return await self._on_status(task.status, reply)

    async def _on_artifact(self, artifact: Artifact, reply: _Reply, *, append: bool) -> None:
        key = f"artifact:{artifact.artifact_id}"
        self.seen_artifacts.add(artifact.artifact_id)
        text = parts_text(artifact.parts, reply, source=artifact.name or artifact.artifact_id)
        if append and reply.open_key == key:
            await reply.add_chunk(key, text)
        else:
            # A new artifact is a part of its own, unless it repeats what was streamed.
            await reply.add_final(text)
            reply.open_key = key

    async def _on_status(self, status: Any, reply: _Reply) -> _Outcome | None:
        from a2a.types import TaskState

        state = TaskState.Name(status.state)
        end = _ENDS.get(state)
        text = ""
        if status.HasField("message"):
            message_id = status.message.message_id
            if not message_id or message_id != self.last_status_message:
                text = parts_text(status.message.parts, reply)
            self.last_status_message = message_id
        if end is None:
            if text:
                if _is_chunk(status.message):
                    await reply.add_chunk("status", text)
                else:
                    await reply.add_part(text)
            return None
        if end in (AgentStatus.FATAL_ERROR, AgentStatus.CANCELLED):
            word = state.removeprefix("TASK_STATE_").lower()
            return self.outcome(end, f"the remote task {word}" + (f": {text}" if text else ""))
        if text:
            await reply.add_final(text)
        return self.outcome(end)


def _is_chunk(message: Message) -> bool:
    try:
        return bool(message.metadata[CHUNK_METADATA_KEY])
    except (KeyError, ValueError):
        return False


def parts_text(parts: Any, reply: _Reply | None = None, source: str = "") -> str:
    """The text of A2A parts; data parts go to ``reply.results``, files are named."""
    from google.protobuf.json_format import MessageToDict

    lines: list[str] = []
    for part in parts:
        kind = part.WhichOneof("content")
        if kind == "text":
            lines.append(part.text)
        elif kind == "url":
            lines.append(f"File: {part.url}")
            if reply is not None:
                reply.results.append(
                    {"name": source or "file", "type": "file", "result": {"uri": part.url}}
                )
        elif kind == "raw":
            lines.append(f"File: {part.filename or 'unnamed'} ({len(part.raw)} bytes)")
        elif kind == "data" and reply is not None:
            value = MessageToDict(part)["data"]
            reply.results.append({"name": source or "data", "type": "data", "result": value})
    return "\n".join(line for line in lines if line)


async def _iterate(stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """Iterate ``stream`` and close it however the loop ends."""
    try:
        async for item in stream:
            yield item
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:299] + "…"


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (metadata may hold anything)."""
    result: Any = json.loads(json.dumps(value, default=str))
    return result


async def _trace_header(request: httpx.Request) -> None:
    """The current span's ``traceparent`` on each request to the remote agent."""
    request.headers.update(telemetry.inject({}))


def auth_headers(auth: A2AAuthConfig | None) -> dict[str, str]:
    """The headers every request carries: ``headers``, ``token``, ``api_key``."""
    if auth is None:
        return {}
    headers = dict(auth.headers)
    if auth.token:
        headers["Authorization"] = f"Bearer {auth.token}"
    if auth.api_key:
        value = auth.header_format.replace("{api_key}", "{key}").format(key=auth.api_key)
        headers[auth.header_name] = value
    return headers


def _oauth_auth(auth: A2AAuthConfig) -> httpx.Auth:
    """The MCP client-credentials token cache as an ``httpx`` auth flow (a2a-sdk's client
    is built on httpx, the MCP client on httpx2)."""
    import httpx

    from subagents.mcp.auth import ClientCredentialsAuth

    assert auth.oauth is not None
    tokens = ClientCredentialsAuth(auth.oauth)

    class _Bridge(httpx.Auth):
        async def async_auth_flow(
            self, request: httpx.Request
        ) -> AsyncGenerator[httpx.Request, httpx.Response]:
            token = await tokens.current_token()
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request
            if response.status_code == 401:
                token = await tokens.current_token(stale=token)
                request.headers["Authorization"] = f"Bearer {token}"
                yield request

    return _Bridge()
