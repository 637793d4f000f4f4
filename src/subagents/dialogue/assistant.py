"""``Assistant``: one user message in, bot messages out.

    assistant = await Assistant.load("path/to/project")
    messages = await assistant.handle_message("user-1", "hi")
    await assistant.aclose()

Each message locks its conversation (messages to one conversation run in order; different
conversations run concurrently), loads the conversation's state from the tracker store,
advances the dialogue stack (:mod:`subagents.dialogue.engine`) and saves the state plus
the turn's events in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import subagents.telemetry as telemetry
from subagents.config.secrets import redact, redact_data, secret_values
from subagents.dialogue import events as ev
from subagents.dialogue.domain import Domain
from subagents.dialogue.engine import DialogueEngine
from subagents.dialogue.flows import Flow
from subagents.dialogue.locks import ConversationLocks, LockStore
from subagents.dialogue.preflight import prepare_called_agents
from subagents.dialogue.router import FlowRouter
from subagents.dialogue.state import ConversationState
from subagents.dialogue.turn import Turn
from subagents.errors import ConversationBusy, StoreUnavailable
from subagents.llm.base import LLMClient, current_conversation
from subagents.stores.base import TrackerStore
from subagents.stores.broker import EventBroker

if TYPE_CHECKING:
    from subagents.actions.executors.base import ActionExecutor
    from subagents.agents.loader import MCPToolsets, ToolsetWrapper
    from subagents.config.loader import Project
    from subagents.dialogue.engine import AgentProvider
    from subagents.llm.factory import LLMFactory

logger = logging.getLogger("subagents.dialogue.assistant")

TURN_TIMEOUT = 60.0
"""Default whole-turn budget (seconds), model retries and tool calls included."""
RECOVERY_TIMEOUT = 10.0
"""Seconds ``pattern_internal_error`` may take after a turn ran out of time."""
PROGRESS_INTERVAL = 10.0
"""Seconds between ``still_working`` progress events of a long turn."""

Callback = Callable[[dict[str, Any]], Awaitable[None]]
TurnObserver = Callable[[str, str, list[dict[str, Any]]], Awaitable[None]]
"""Called after each saved turn with the conversation id, the user's text and the turn's
events as stored (secrets redacted)."""


@dataclass
class AssistantHooks:
    """Seams to watch or stand in for the outside world of an assistant (recording and
    replaying conversations, conversation tests); every field is optional.

    ``llm`` wraps the factory that builds each model group's client; ``mcp`` stands in
    for the MCP manager (the caller closes it); ``toolset`` wraps each MCP server's
    toolset; ``executor`` wraps the custom-action executor; ``on_turn`` observes turns.
    """

    llm: Callable[[LLMFactory], LLMFactory] | None = None
    mcp: MCPToolsets | None = None
    toolset: ToolsetWrapper | None = None
    executor: Callable[[ActionExecutor], ActionExecutor] | None = None
    on_turn: TurnObserver | None = None


ProgressObserver = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Receives ``(conversation_id, progress event)`` for every turn (see ``Assistant.observe``)."""


class Assistant:
    """A loaded project, ready to handle messages of many conversations.

    Build it with :meth:`load`; the constructor is for tests that assemble the parts.
    """

    def __init__(
        self,
        *,
        domain: Domain,
        flows: dict[str, Flow],
        store: TrackerStore,
        agents: AgentProvider | None = None,
        executor: ActionExecutor | None = None,
        router_llm: LLMClient | None = None,
        project: Project | None = None,
        closers: list[Callable[[], Awaitable[None]]] | None = None,
        lock_store: LockStore | None = None,
        event_broker: EventBroker | None = None,
    ) -> None:
        self.project = project
        self.domain = domain
        self.flows = flows
        self.store = store
        self.agents = agents
        self.executor = executor
        self.router = FlowRouter(flows, router_llm)
        self.engine = DialogueEngine(
            domain=domain,
            flows=flows,
            router=self.router,
            agents=agents,
            executor=executor,
            store=store,
            # MCP tool steps use the servers' connections the agents registry holds.
            mcp_toolsets=agents.mcp_toolset if agents is not None else None,
            secrets=getattr(project, "secrets", None) or (),
        )
        self._locks: LockStore = lock_store or ConversationLocks()
        self.broker = event_broker
        self._turns: dict[str, Turn] = {}  # the turn in flight, per conversation
        self._closers = closers or []
        self._closed = False
        self._secrets = secret_values(getattr(project, "secrets", None) or ())
        self.turn_timeout: float | None = TURN_TIMEOUT
        """Whole-turn budget in seconds (None: unbounded); past it the user is answered."""
        self.progress_interval: float = PROGRESS_INTERVAL
        self.on_turn: TurnObserver | None = None
        """Awaited after each saved turn (see :class:`AssistantHooks`)."""
        self._observers: list[ProgressObserver] = []

    # ------------------------------------------------------------------ loading

    @classmethod
    async def load(
        cls,
        project_root: str | Path,
        *,
        llm_url: str | None = None,
        llm_factory: LLMFactory | None = None,
        tracker_store: TrackerStore | None = None,
        seed: int | None = None,
        hooks: AssistantHooks | None = None,
    ) -> Assistant:
        """Load the project in ``project_root`` and connect everything it needs.

        Reads the config once, connects MCP servers eagerly (through the agents
        registry), creates the action executor and opens the tracker store.
        ``llm_url`` points every model group at an OpenAI-compatible base url (the
        offline scripted model over HTTP); ``llm_factory`` builds every model group's
        client instead (e.g. the in-process scripted model). ``seed`` makes the choice
        among response variations reproducible. ``hooks`` (:class:`AssistantHooks`) wrap
        the model clients, MCP toolsets and action executor. Every agent a flow calls is built and
        its tools listed here, so a tool-name clash is a load error naming the flow step. Raises
        :class:`~subagents.errors.ConfigErrors` for a bad project and
        :class:`~subagents.errors.MCPServerUnavailable` for an unreachable MCP server.
        """
        from subagents.actions.executors import create_executor
        from subagents.stores import create_tracker_store

        root, project = _read_project(project_root, llm_url, offline=llm_factory is not None)
        hooks = hooks or AssistantHooks()
        if hooks.llm is not None:
            from subagents.llm import create_llm_client

            llm_factory = hooks.llm(llm_factory or create_llm_client)
        domain = Domain(project.domain, seed=seed)
        flows = project.flow_graph.flows  # compiled (and checked) once, by load_project
        closers: list[Callable[[], Awaitable[None]]] = []
        try:
            _start_telemetry(project, closers)
            router_llm = _router_llm(project.endpoints, llm_factory) if flows else None
            if router_llm is not None:
                closers.append(router_llm.aclose)
            agents = await _open_agents(root, project, closers, llm_factory, hooks)
            if agents is not None:
                await prepare_called_agents(agents, project.flow_graph, root)
            executor = create_executor(project.endpoints.action_endpoint, root)
            closers.append(executor.aclose)
            if hooks.executor is not None:
                executor = hooks.executor(executor)
            store = tracker_store or create_tracker_store(project.endpoints.tracker_store, root)
            closers.append(store.aclose)
            lock_store, broker = await _open_stores(store, project.endpoints, closers)
        except BaseException:
            await _close_all(closers)
            raise
        logger.info(
            "assistant.loaded",
            extra={"project": str(root), "flows": len(flows), "agents": len(project.agents)},
        )
        assistant = cls(
            domain=domain,
            flows=flows,
            store=store,
            agents=agents,
            executor=executor,
            router_llm=router_llm,
            project=project,
            closers=closers,
            lock_store=lock_store,
            event_broker=broker,
        )
        assistant.on_turn = hooks.on_turn
        return assistant

    # ------------------------------------------------------------------ messages

    async def handle_message(
        self,
        conversation_id: str,
        text: str,
        metadata: dict[str, Any] | None = None,
        on_message: Callback | None = None,
        on_progress: Callback | None = None,
    ) -> list[dict[str, Any]]:
        """Handle one user message; return the bot messages of this turn.

        Messages have Rasa's REST shape (``{"recipient_id", "text", "buttons", ...}``).
        ``on_message`` is awaited for every message as it is produced; streamed text
        (agent text deltas, streaming actions) arrives as pieces marked ``"chunk": True``
        and the whole streamed message is then NOT sent again through ``on_message``
        (it is in the returned list). ``on_progress`` receives ``{"event":
        "tool_started" | "tool_finished", "name", "kind": "agent" | "action"}`` around
        every agent run and custom action, and ``{"event": "tool_started" |
        "tool_finished", "name", "agent", "kind": "tool"}`` (plus ``is_error`` when
        finished) around every tool call an agent makes; never arguments or results.
        """
        if self._closed:
            raise RuntimeError("assistant is closed")
        started = time.perf_counter()
        channel = (metadata or {}).get("channel")
        with telemetry.span("turn", _turn_attributes(conversation_id, channel)) as span:
            try:
                turn = await self._run_turn(
                    conversation_id, text, metadata, on_message, on_progress
                )
            except (ConversationBusy, StoreUnavailable) as exc:
                span.error(type(exc).__name__)
                _turn_metrics(channel, started, type(exc).__name__)
                return await self._refuse(conversation_id, exc, on_message)
            if span.recording:
                _describe_turn(span, turn)
        _turn_metrics(channel, started, None)
        if logger.isEnabledFor(logging.INFO):  # the one INFO record per turn, built if shown
            logger.info(
                "assistant.turn",
                extra={
                    "conversation_id": conversation_id,
                    "events": len(turn.events),
                    "messages": len(turn.messages),
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
        return turn.messages

    def observe(self, observer: ProgressObserver) -> Callable[[], None]:
        """Hand every turn's progress events to ``observer(conversation_id, event)``.

        Besides what ``on_progress`` gets, the observer sees ``{"event": "turn_started"}``
        once the conversation is locked and ``{"event": "turn_finished", "events": n}``
        once the turn is saved (the inspector's live view). Returns the function that
        stops observing. With no observer a turn pays nothing for this.
        """
        self._observers.append(observer)

        def stop() -> None:
            if observer in self._observers:
                self._observers.remove(observer)

        return stop

    def _observed(self, conversation_id: str, on_progress: Callback | None) -> Callback | None:
        """``on_progress`` that also feeds the observers (``on_progress`` itself: none)."""
        if not self._observers:
            return on_progress
        observers = tuple(self._observers)

        async def fan_out(event: dict[str, Any]) -> None:
            if on_progress is not None:
                await on_progress(event)
            for observer in observers:
                await observer(conversation_id, event)

        return fan_out

    async def _tell_observers(self, conversation_id: str, event: dict[str, Any]) -> None:
        """``event`` to every observer only (not to the caller's ``on_progress``)."""
        for observer in tuple(self._observers):
            try:
                await observer(conversation_id, event)
            except Exception:  # a broken observer must not break the conversation
                logger.exception("assistant.observer_failed")

    async def _run_turn(
        self,
        conversation_id: str,
        text: str,
        metadata: dict[str, Any] | None,
        on_message: Callback | None,
        on_progress: Callback | None,
    ) -> Turn:
        """Lock, load, advance, save and publish one turn."""
        on_progress = self._observed(conversation_id, on_progress)
        async with self._locks.hold(conversation_id) as lease:
            state = await self._load_state(conversation_id)
            turn = Turn(
                conversation_id,
                state,
                self.domain,
                metadata=dict(metadata or {}),
                on_message=on_message,
                on_progress=on_progress,
            )
            if self._observers:
                await self._tell_observers(conversation_id, {"event": "turn_started"})
            self._turns[conversation_id] = turn
            # Model clients may tell conversations apart (the scripted model does).
            token = current_conversation.set(conversation_id)
            try:
                await self._advance(turn, text)
            except Exception as exc:  # never let a bug surface as a server error mid-turn
                logger.exception(
                    "assistant.turn.crashed", extra={"conversation_id": conversation_id}
                )
                turn.log(ev.event("turn_failed", error=type(exc).__name__))
                await turn.utter("utter_internal_error")
            except asyncio.CancelledError:
                # Shutdown or a caller that gave up: keep what the user said.
                turn.record_partial()
                turn.log(ev.event("turn_failed", error="cancelled"))
                await asyncio.shield(self._save(conversation_id, state, turn))
                raise
            finally:
                current_conversation.reset(token)
                self._turns.pop(conversation_id, None)
            turn.record_partial()
            lease.check()  # another replica may own the conversation now: do not save
            events = await self._save(conversation_id, state, turn)
            if self.broker is not None:  # under the lock: commit order across replicas
                await self.broker.publish(conversation_id, events)
            if self.on_turn is not None:
                await self._report_turn(conversation_id, text, events)
            if self._observers:
                finished = {"event": "turn_finished", "events": len(events)}
                await self._tell_observers(conversation_id, finished)
        return turn

    async def _report_turn(
        self, conversation_id: str, text: str, events: list[dict[str, Any]]
    ) -> None:
        """Tell ``on_turn``; its failure (a recorder's full disk) never fails the turn."""
        assert self.on_turn is not None
        try:
            await self.on_turn(conversation_id, text, events)
        except Exception:
            logger.exception("assistant.on_turn.failed", extra={"conversation_id": conversation_id})

    async def _refuse(
        self, conversation_id: str, exc: Exception, on_message: Callback | None
    ) -> list[dict[str, Any]]:
        """The reply to a turn that could not run or be saved: nothing of it is kept."""
        busy = isinstance(exc, ConversationBusy)
        logger.warning(
            "assistant.turn.busy" if busy else "assistant.turn.store_failed",
            extra={"conversation_id": conversation_id, "error": str(exc)},
        )
        state = ConversationState(sender_id=conversation_id, slots=self.domain.initial_slots())
        turn = Turn(conversation_id, state, self.domain, on_message=on_message)
        await turn.utter("utter_busy" if busy else "utter_internal_error")
        return turn.messages

    async def _advance(self, turn: Turn, text: str) -> None:
        """Run the engine within the turn budget, reporting ``still_working`` meanwhile.

        Past ``turn_timeout`` seconds the turn is cancelled wherever it is (a model that
        never answers, a hung tool), the current flow is cancelled and the user is
        answered with ``utter_internal_error``.
        """
        ticker = None
        if turn.on_progress is not None and self.progress_interval > 0:
            ticker = asyncio.create_task(_still_working(turn, self.progress_interval))
        budget = asyncio.timeout(self.turn_timeout)
        try:
            async with budget:
                await self.engine.handle(turn, text)
        except TimeoutError:
            if not budget.expired():
                raise
            logger.error(
                "assistant.turn.timeout",
                extra={"conversation_id": turn.conversation_id, "seconds": self.turn_timeout},
            )
            turn.log(ev.event("turn_failed", error="timeout", seconds=self.turn_timeout))
            await self.engine.fail(turn, f"the turn took longer than {self.turn_timeout:g} s")
            # pattern_internal_error (and the interrupted flow's question) run now, briefly.
            async with asyncio.timeout(RECOVERY_TIMEOUT):
                await self.engine.advance(turn)
        finally:
            if ticker is not None:
                ticker.cancel()

    async def _save(
        self, conversation_id: str, state: ConversationState, turn: Turn
    ) -> list[dict[str, Any]]:
        """Save the turn; if its events cannot be stored, store the user's message at least.

        A value the store cannot serialise (from a custom action, say) must not lose the
        whole turn: the events are saved again as JSON-safe copies. Returns the events
        as stored.
        """
        saved_state, events = self._redacted(state, turn.events)
        started = time.perf_counter()
        try:
            await self.store.save(conversation_id, saved_state, events)
            _store_metric(self.store, "save", started)
        except (TypeError, ValueError) as exc:
            logger.error(
                "assistant.turn.save_failed",
                extra={"conversation_id": conversation_id, "error": str(exc)[:200]},
            )
            safe_state, events = _json_safe(saved_state), _json_safe(events)
            await self.store.save(conversation_id, safe_state, events)
        return events

    def barge_in(self, conversation_id: str) -> bool:
        """The user started talking: stop the streaming custom action of this conversation.

        Sets the action's ``cancel_event``: no further chunk is delivered, the part already
        delivered is recorded as a ``bot`` event with ``metadata: {"barged_in": true}``,
        and the action's events are still applied. Returns False when no streaming action
        (``on_message`` given) is in flight for ``conversation_id``, or it was already cut.
        Call it from the event loop that runs :meth:`handle_message`.
        """
        turn = self._turns.get(conversation_id)
        if turn is None or not turn.barge_in():
            return False
        logger.info("assistant.barge_in", extra={"conversation_id": conversation_id})
        return True

    def _redacted(
        self, state: ConversationState, events: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The state and events to store, with configuration secrets replaced by ``***``.

        Tool results are redacted where they are produced; this catches the rest (error
        texts of LLM providers, action servers) before the tracker or the store see it.
        """
        data = state.to_json()
        if not self._secrets:
            return data, events
        return redact_data(data, self._secrets), redact_data(events, self._secrets)

    async def _load_state(self, conversation_id: str) -> ConversationState:
        started = time.perf_counter()
        data = await self.store.load(conversation_id)
        _store_metric(self.store, "load", started)
        if data is None:
            return ConversationState(sender_id=conversation_id, slots=self.domain.initial_slots())
        return ConversationState.from_json(data)

    async def get_tracker(self, conversation_id: str) -> dict[str, Any]:
        """The conversation as ``{"sender_id", "slots", "latest_message", "events", ...}``.

        An unknown conversation gives the initial slots and no events.
        """
        async with self._locks.hold(conversation_id):
            state = await self._load_state(conversation_id)
            events = await self.store.events(conversation_id)
        return {
            "sender_id": conversation_id,
            "slots": state.slots,
            "latest_message": state.latest_message,
            "latest_event_time": state.latest_event_time,
            "latest_action_name": state.latest_action_name,
            "followup_action": state.followup_action,
            "paused": state.paused,
            "latest_input_channel": state.latest_input_channel,
            "active_flow": state.stack[-1].flow_id if state.stack else None,
            "stack": state.stack_json(),
            "events": events,
        }

    async def conversations(self, limit: int = 100) -> list[dict[str, Any]]:
        """The saved conversations, newest first: ``{"sender_id", "latest_event_time",
        "latest_message", "active_flow"}`` each (``latest_message``: its text,
        cut to 200 characters).

        Reads every saved state (the store lists ids only), without taking the
        conversations' locks: a snapshot for the inspector, meant for development stores.
        """
        summaries = []
        for conversation_id in await self.store.list():
            data = await self.store.load(conversation_id)
            if data is None:
                continue
            state = ConversationState.from_json(data)
            text = state.latest_message.get("text") if state.latest_message else None
            summaries.append(
                {
                    "sender_id": conversation_id,
                    "latest_event_time": state.latest_event_time,
                    "latest_message": text[:200] if isinstance(text, str) else None,
                    "active_flow": state.stack[-1].flow_id if state.stack else None,
                }
            )
        summaries.sort(key=lambda s: s["latest_event_time"] or 0, reverse=True)
        return summaries[:limit]

    async def ping_stores(self) -> None:
        """Raise :class:`~subagents.errors.StoreUnavailable` naming the tracker store, lock
        store or event broker that cannot be reached (for readiness checks)."""
        from subagents.stores import ping_store

        await ping_store(self.store)
        await ping_store(self._locks)
        if self.broker is not None:
            await ping_store(self.broker)

    async def aclose(self) -> None:
        """Close MCP connections, the executor, the router's client and the store."""
        if self._closed:
            return
        self._closed = True
        await _close_all(self._closers)


def _read_project(
    project_root: str | Path, llm_url: str | None, *, offline: bool = False
) -> tuple[Path, Any]:
    """Read and check the project files (startup only: blocking file I/O is fine here).

    ``offline``: the models are not called (e.g. the in-process scripted model), so no
    API key is needed."""
    from subagents.config.loader import api_key_warnings, load_project

    root = Path(project_root).resolve()
    project = load_project(root)
    if llm_url is None and not offline:
        for problem in api_key_warnings(project):
            logger.warning(
                "llm.api_key_missing %s", problem, extra={"event": "llm.api_key_missing"}
            )
    elif llm_url is not None:
        from subagents.llm.factory import point_endpoints_at

        project.endpoints = point_endpoints_at(project.endpoints, llm_url)
    return root, project


def _start_telemetry(project: Any, closers: list[Callable[[], Awaitable[None]]]) -> None:
    """Install tracing/metrics when endpoints.yml or ``OTEL_*`` variables ask for them.

    Nothing configured: telemetry stays as it is (off, or what an embedding application
    installed). The OpenTelemetry packages are imported only here, only when needed.
    """
    import os

    from subagents.config.observability import INSTALL_HINT, telemetry_settings
    from subagents.errors import ConfigError

    endpoints = project.endpoints
    settings = telemetry_settings(endpoints.tracing, endpoints.metrics, os.environ)
    if not settings.enabled:
        return
    secrets = secret_values(project.secrets or ())
    try:
        installed = telemetry.configure(settings, redact=lambda text: redact(text, secrets))
    except ImportError as exc:
        raise ConfigError(
            f"tracing or metrics are switched on (endpoints.yml or OTEL_* variables) but"
            f" OpenTelemetry is not installed ({exc.name}); install it with: {INSTALL_HINT}",
            file="endpoints.yml",
            field="tracing",
        ) from None

    async def stop() -> None:
        telemetry.release(installed)
        # The last export may wait on the collector: not on the event loop.
        await asyncio.to_thread(installed.shutdown)

    closers.append(stop)


def _turn_attributes(conversation_id: str, channel: Any) -> dict[str, Any]:
    return {
        "gen_ai.conversation.id": conversation_id,
        "subagents.sender": conversation_id,
        "subagents.channel": channel if isinstance(channel, str) else None,
    }


def _describe_turn(span: telemetry.Span, turn: Turn) -> None:
    """Flows started and resumed in the turn (only computed when the span records)."""
    started = [e.get("flow_id") for e in turn.events if e.get("event") == "flow_started"]
    resumed = [e.get("flow_id") for e in turn.events if e.get("event") == "flow_resumed"]
    span.set("subagents.flows.started", [str(f) for f in started])
    span.set("subagents.flows.resumed", [str(f) for f in resumed])
    span.set("subagents.messages", len(turn.messages))
    failed = next((e for e in turn.events if e.get("event") == "turn_failed"), None)
    if failed is not None:
        span.error(str(failed.get("error") or "turn_failed"))


def _turn_metrics(channel: Any, started: float, error: str | None) -> None:
    attributes = {"channel": channel if isinstance(channel, str) else "", "error.type": error}
    telemetry.count(telemetry.TURNS, 1, attributes)
    telemetry.observe(telemetry.TURN_DURATION, time.perf_counter() - started, attributes)


def _store_metric(store: TrackerStore, operation: str, started: float) -> None:
    attributes = {"store": type(store).__name__, "operation": operation}
    telemetry.observe(telemetry.STORE_DURATION, time.perf_counter() - started, attributes)


def _router_llm(endpoints: Any, llm_factory: LLMFactory | None) -> LLMClient:
    """The router's client: model group ``router`` if defined, else the first group."""
    from subagents.config.models import AgentLLMConfig
    from subagents.llm import create_llm_client, resolve_llm_config

    groups = [g.id for g in endpoints.model_groups]
    llm_cfg = None
    if groups:
        llm_cfg = AgentLLMConfig(model_group="router" if "router" in groups else groups[0])
    return (llm_factory or create_llm_client)(resolve_llm_config(endpoints, llm_cfg))


async def _open_agents(
    root: Path,
    project: Any,
    closers: list[Callable[[], Awaitable[None]]],
    llm_factory: LLMFactory | None,
    hooks: AssistantHooks,
) -> Any:
    """Open the agents registry (connects the MCP servers the agents and the flows' MCP
    tool steps use, eagerly)."""
    from subagents.config.flow_graph import tool_servers

    if not project.agents and not tool_servers(project.flow_graph):
        return None
    from subagents.agents.loader import load_agents

    # The loaded project carries endpoints already pointed at llm_url.
    registry = await load_agents(
        project, llm_factory=llm_factory, mcp=hooks.mcp, wrap_toolset=hooks.toolset
    )
    closers.append(registry.aclose)
    return registry


async def _open_stores(
    store: TrackerStore, endpoints: Any, closers: list[Callable[[], Awaitable[None]]]
) -> tuple[LockStore, EventBroker | None]:
    """Connect the tracker store (schema checked), the lock store and the event broker."""
    from subagents.stores import create_event_broker, create_lock_store, open_store, ping_store

    await open_store(store)
    lock_store = create_lock_store(endpoints.lock_store)
    closers.append(lock_store.aclose)
    await ping_store(lock_store)
    broker = create_event_broker(endpoints.event_broker)
    if broker is not None:
        closers.append(broker.aclose)
        await open_store(broker)
    return lock_store, broker


async def _still_working(turn: Turn, interval: float) -> None:
    """Report ``{"event": "still_working", "elapsed": seconds}`` every ``interval``."""
    started = time.monotonic()
    while True:
        await asyncio.sleep(interval)
        elapsed = round(time.monotonic() - started)
        await turn.report({"event": "still_working", "name": "turn", "elapsed": elapsed})


def _json_safe(value: Any) -> Any:
    """``value`` round-tripped through JSON: odd objects as strings, bad text replaced."""
    import json

    text = json.dumps(value, ensure_ascii=False, default=str)
    return json.loads(text.encode("utf-8", "replace").decode("utf-8"))


async def _close_all(closers: list[Callable[[], Awaitable[None]]]) -> None:
    for close in reversed(closers):
        try:
            await close()
        except Exception:
            logger.exception("assistant.close.failed")
