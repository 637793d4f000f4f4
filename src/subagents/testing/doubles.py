"""Stand-ins for the outside world during a conversation test, one set per conversation.

The assistant is loaded once for a whole test run; each case talks in its own
conversation. What stands in for the model, the MCP tools and the custom actions of a
turn is looked up by the conversation the turn runs in
(:data:`~subagents.llm.base.current_conversation`), so cases run concurrently without
seeing each other's stubs. They plug into the assistant through its seams
(:class:`~subagents.dialogue.assistant.AssistantHooks`): a model-client wrapper, an MCP
toolset wrapper (a :class:`~subagents.tools.base.ForwardingToolset`, never an ``if`` in
the ReAct loop) and an action-executor wrapper. Anything a turn does not stub goes to the
real thing, unless the run is offline (``subagents test --replay``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from subagents.actions.executors.base import ActionExecutor, ActionResult, OnChunk
from subagents.config.models import ModelConfig
from subagents.errors import LLMUnavailableError, MCPServerUnavailable, ToolExecutionError
from subagents.llm.base import (
    LLMClient,
    LLMResponse,
    TextCallback,
    ToolPayload,
    current_conversation,
)
from subagents.llm.factory import LLMFactory
from subagents.llm.scripted import ScriptedLLM, ScriptPlayer
from subagents.testing.cases import ActionStub, ToolStub, UserTurn
from subagents.tools.base import ForwardingToolset, ToolContext, ToolOutcome, Toolset, ToolSpec


class Replay(Protocol):
    """Answers a conversation's model requests and tool calls from a recorded cassette."""

    async def complete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: ToolPayload | None,
        *,
        on_text: TextCallback | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> LLMResponse:
        """The recorded reply to this request (or a mismatch report, as a failure)."""

    async def call_tool(self, server: str, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        """The recorded result of this tool call."""


@dataclass
class ToolCallRecord:
    """One MCP tool call a conversation made (stubbed, replayed or real)."""

    server: str
    name: str
    arguments: dict[str, Any]
    answered_by: str  # "stub", "cassette" or "server"


@dataclass
class CaseDoubles:
    """What answers one conversation's model requests, tool calls and actions now."""

    offline: bool = False
    """Nothing may reach a model or an MCP server (``--replay``)."""
    replay: Replay | None = None
    player: ScriptPlayer | None = None
    scripted: list[ScriptedLLM] = field(default_factory=list)
    tools: list[ToolStub] = field(default_factory=list)
    actions: dict[str, ActionStub] = field(default_factory=dict)
    used_tools: set[int] = field(default_factory=set)
    used_actions: set[str] = field(default_factory=set)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    turn_call_start: int = 0
    """Index in :attr:`tool_calls` of the current turn's first call."""
    problems: list[str] = field(default_factory=list)
    """What went wrong in the doubles this turn (a missing reply, a replay mismatch)."""
    warnings: list[str] = field(default_factory=list)

    def start_turn(self, turn: UserTurn) -> None:
        """Install ``turn``'s stubs (the previous turn's are dropped)."""
        self.player = ScriptPlayer(turn.llm) if turn.llm is not None else None
        self.scripted = []
        self.tools = list(turn.tools)
        self.actions = dict(turn.actions)
        self.used_tools = set()
        self.used_actions = set()
        self.turn_call_start = len(self.tool_calls)
        self.problems.clear()  # cleared in place: a cassette replay holds these lists
        self.warnings.clear()

    def unused_stubs(self) -> list[str]:
        """Stubs of the turn nothing asked for (reported as warnings)."""
        out = [
            f"{stub.where}: tool stub for '{stub.name}' was never called"
            for i, stub in enumerate(self.tools)
            if i not in self.used_tools
        ]
        out += [
            f"action stub for '{name}' was never run"
            for name in self.actions
            if name not in self.used_actions
        ]
        return out


class ConversationDoubles:
    """The :class:`CaseDoubles` of every conversation under test, by conversation id."""

    def __init__(self) -> None:
        self._cases: dict[str, CaseDoubles] = {}
        self.server_tools: dict[str, list[str]] = {}
        """Tool names each MCP server offered (for the coverage table)."""

    def bind(self, conversation_id: str, doubles: CaseDoubles) -> None:
        """Answer ``conversation_id``'s requests with ``doubles``."""
        self._cases[conversation_id] = doubles

    def unbind(self, conversation_id: str) -> None:
        """Forget ``conversation_id``."""
        self._cases.pop(conversation_id, None)

    def current(self) -> CaseDoubles | None:
        """The doubles of the conversation whose turn is running, if it is under test."""
        conversation = current_conversation.get()
        return None if conversation is None else self._cases.get(conversation)

    # ------------------------------------------------------------------ hooks

    def llm(self, real: LLMFactory) -> LLMFactory:
        """Wrap the model factory: each group's client asks the doubles first."""

        def create(models: Sequence[ModelConfig]) -> LLMClient:
            return DoubledLLM(self, models, real)

        return create

    def toolset(self, server: str, inner: Toolset) -> Toolset:
        """Wrap one MCP server's toolset."""
        return DoubledToolset(self, server, inner)

    def executor(self, inner: ActionExecutor) -> ActionExecutor:
        """Wrap the action executor."""
        return DoubledExecutor(self, inner)


class DoubledLLM:
    """A model client that answers from the turn's ``llm:`` stub, else the cassette, else
    the real model (created on first use, so a fully stubbed run needs no key)."""

    def __init__(
        self, doubles: ConversationDoubles, models: Sequence[ModelConfig], real: LLMFactory
    ) -> None:
        self._doubles = doubles
        self._models = list(models)
        self._make_real = real
        self._real: LLMClient | None = None
        self.model = self._models[0].model if self._models else "default"

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: ToolPayload | None = None,
        *,
        on_text: TextCallback | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> LLMResponse:
        """Answer one request (see the class docstring)."""
        case = self._doubles.current()
        if case is not None and case.player is not None:
            scripted = ScriptedLLM(player=case.player, model=self.model)
            try:
                return await scripted.complete(
                    messages, tools, on_text=on_text, tool_choice=tool_choice
                )
            except LLMUnavailableError as exc:
                case.problems.append(_exhausted(case.player, str(exc)))
                raise
        if case is not None and case.replay is not None:
            return await case.replay.complete(
                self.model, messages, tools, on_text=on_text, tool_choice=tool_choice
            )
        if case is not None and case.offline:
            problem = (
                "the model was asked something no `llm:` stub or cassette answers "
                "(offline run: --replay)"
            )
            case.problems.append(problem)
            raise LLMUnavailableError(problem)
        if self._real is None:
            self._real = self._make_real(self._models)
        return await self._real.complete(messages, tools, on_text=on_text, tool_choice=tool_choice)

    async def aclose(self) -> None:
        """Close the real client, if one was made."""
        if self._real is not None:
            await self._real.aclose()


def _exhausted(player: ScriptPlayer, problem: str) -> str:
    offered = player.tools_offered() if player.requests else []
    return (
        f"the model was asked for reply #{len(player.requests)} of this turn but its `llm:` "
        f"stub has only {len(player.requests) - 1} (tools offered: {offered}); add the "
        f"missing reply ({problem})"
    )


class DoubledToolset(ForwardingToolset):
    """One MCP server's toolset: stubbed results first, then the cassette, then the server.

    ``inner`` is ``None`` when no server runs (offline replay): the tools are then the
    cassette's.
    """

    def __init__(self, doubles: ConversationDoubles, server: str, inner: Toolset) -> None:
        super().__init__(inner)
        self._doubles = doubles
        self.server = server

    async def list_tools(self) -> list[ToolSpec]:
        tools = await self.inner.list_tools()
        self._doubles.server_tools[self.server] = [t.name for t in tools]
        return tools

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: ToolContext | None = None
    ) -> ToolOutcome:
        case = self._doubles.current()
        if case is None:
            return await self.inner.call_tool(name, arguments, context)
        for index, stub in enumerate(case.tools):
            if stub.matches(self.server, name, arguments):
                case.used_tools.add(index)
                case.tool_calls.append(ToolCallRecord(self.server, name, arguments, "stub"))
                return stub_outcome(stub.result, stub.is_error)
        if case.replay is not None:
            case.tool_calls.append(ToolCallRecord(self.server, name, arguments, "cassette"))
            return await case.replay.call_tool(self.server, name, arguments)
        if case.offline:
            problem = (
                f"tool '{name}' of MCP server '{self.server}' was called with "
                f"{json.dumps(arguments, ensure_ascii=False)} but no `tools:` stub or cassette "
                "answers it (offline run: --replay)"
            )
            case.problems.append(problem)
            raise ToolExecutionError(name, problem)
        case.tool_calls.append(ToolCallRecord(self.server, name, arguments, "server"))
        return await self.inner.call_tool(name, arguments, context)


def stub_outcome(result: Any, is_error: bool) -> ToolOutcome:
    """A stubbed result as the model sees it: text as is, anything else as JSON."""
    if isinstance(result, str):
        return ToolOutcome(text=result, is_error=is_error)
    text = json.dumps(result, ensure_ascii=False)
    return ToolOutcome(text=text, is_error=is_error, structured=result)


class DoubledExecutor:
    """The action executor: a stubbed action returns its events without running."""

    def __init__(self, doubles: ConversationDoubles, inner: ActionExecutor) -> None:
        self._doubles = doubles
        self.inner = inner

    async def run(
        self,
        action_name: str,
        tracker_state: dict[str, Any],
        domain: dict[str, Any],
        on_chunk: OnChunk | None = None,
        cancel_event: asyncio.Event | None = None,
    ) -> ActionResult:
        """Run ``action_name``, or answer with its stub."""
        case = self._doubles.current()
        stub = case.actions.get(action_name) if case is not None else None
        if case is not None and stub is not None:
            case.used_actions.add(action_name)
            return ActionResult(
                events=[dict(e) for e in stub.events],
                responses=[dict(r) for r in stub.responses],
            )
        return await self.inner.run(action_name, tracker_state, domain, on_chunk, cancel_event)

    async def aclose(self) -> None:
        """Close the real executor."""
        await self.inner.aclose()


class OfflineMCP:
    """Stands in for the MCP manager when nothing may be started (``--replay``): each
    server's tools are those recorded in the cassettes."""

    def __init__(self, tools: Callable[[str], list[ToolSpec] | None]) -> None:
        self._tools = tools

    async def start(self, names: Any = None) -> None:
        """Check every needed server was recorded."""
        for name in names or ():
            if self._tools(name) is None:
                raise MCPServerUnavailable(
                    name,
                    "is not in any cassette of this run; record a conversation that uses it "
                    "(subagents run --record DIR), or run without --replay to start it",
                )

    def toolset(self, name: str) -> Toolset:
        """The recorded tools of server ``name``."""
        return _RecordedTools(name, self._tools(name) or [])

    def states(self) -> dict[str, str]:
        """Nothing is connected."""
        return {}

    async def aclose(self) -> None:
        """Nothing to close."""


class _RecordedTools(Toolset):
    def __init__(self, server: str, tools: list[ToolSpec]) -> None:
        self.server = server
        self._specs = tools

    async def list_tools(self) -> list[ToolSpec]:
        return list(self._specs)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: ToolContext | None = None
    ) -> ToolOutcome:
        # Reached only when neither a stub nor a cassette answered (DoubledToolset says so).
        raise ToolExecutionError(name, f"MCP server '{self.server}' is not running (--replay)")
