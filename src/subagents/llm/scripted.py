"""The scripted model in-process: an :class:`~subagents.llm.base.LLMClient` that plays a
scenario (see :mod:`subagents.llm.scenario`) without a port or a network.

:class:`ScriptPlayer` chooses the step that answers each request and records what it
served; :class:`ScriptedLLM` turns the step into an :class:`~subagents.llm.base.LLMResponse`.
The HTTP ``ScriptedModelServer`` of :mod:`subagents.testing` uses the same player, and
``subagents run/shell --scripted`` use :class:`ScriptedLLM` through :func:`scripted_clients`.

Each conversation (see :data:`~subagents.llm.base.current_conversation`) plays the scenario
from its start: the scripts keep one position per conversation. Requests outside any
conversation share one position, kept on the scripts themselves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from subagents.config.models import ModelConfig
from subagents.errors import LLMUnavailableError
from subagents.llm.base import (
    LLMClient,
    LLMResponse,
    TextCallback,
    ToolCall,
    ToolPayload,
    current_conversation,
)
from subagents.llm.instrument import llm_call
from subagents.llm.scenario import Script, Step, load_scenario, parse_scenario, tool_names

logger = logging.getLogger("subagents.llm.scripted")

_WORD = re.compile(r"\s*\S+\s*")

ScenarioSource = Sequence[Any] | Mapping[str, Any] | str | Path
Exhausted = Literal["raise", "reply"]


def split_text(text: str) -> list[str]:
    """Split text into stream deltas, a word (with its spacing) per delta."""
    pieces = _WORD.findall(text)
    if "".join(pieces) != text:  # leading/only whitespace: keep it exact
        return [text] if text else []
    return pieces


def read_scenario(scenario: ScenarioSource | list[Script]) -> list[Script]:
    """Scripts from a path (YAML/JSON), a list of steps or a mapping of named scripts."""
    if isinstance(scenario, str | Path):
        return load_scenario(scenario)
    if isinstance(scenario, list) and scenario and all(isinstance(s, Script) for s in scenario):
        return scenario
    return parse_scenario(scenario)


class ScriptPlayer:
    """Chooses the scripted step for each request and records it.

    ``requests``, ``answered`` (``(script name, step index)`` or ``None`` per request) and
    ``conversations`` are parallel lists; ``on_request(index)`` is called once a request's
    step is chosen. ``scripts[i].served`` is the furthest any conversation got.
    """

    def __init__(self, scenario: ScenarioSource | list[Script]) -> None:
        self.scripts: list[Script] = read_scenario(scenario)
        self.requests: list[dict[str, Any]] = []
        self.answered: list[tuple[str, int] | None] = []
        self.conversations: list[str | None] = []
        self.on_request: Callable[[int], None] | None = None
        self.replies = 0
        """Requests answered by a step (the rest found none left)."""
        self._own: dict[str, list[Script]] = {}
        self.told: set[str | None] = set()
        """Conversations already warned that the scenario ran out (one log line each,
        whichever model group's client found it out)."""

    def choose(
        self, request: dict[str, Any], conversation: str | None = None
    ) -> tuple[Step | None, str]:
        """Record ``request``; return its step, or ``None`` and why none is left."""
        self.requests.append(request)
        self.conversations.append(conversation)
        step, problem = self._next_step(request, self._scripts_of(conversation))
        if step is not None:
            self.replies += 1
        if self.on_request is not None:
            try:
                self.on_request(len(self.requests) - 1)
            except Exception:  # a checker's bug must not break the reply
                logger.exception("scripted_model.on_request_failed")
        return step, problem

    def _scripts_of(self, conversation: str | None) -> list[Script]:
        if conversation is None:
            return self.scripts
        own = self._own.get(conversation)
        if own is None:  # a copy at position 0 sharing the steps (add_steps reaches it)
            own = self._own[conversation] = [dataclasses.replace(s, served=0) for s in self.scripts]
        return own

    def _next_step(self, request: dict[str, Any], scripts: list[Script]) -> tuple[Step | None, str]:
        for base, script in zip(self.scripts, scripts, strict=True):
            if script.when is None or script.when.matches(request):
                step = script.next_step()
                if step is not None:
                    base.served = max(base.served, script.served)
                    self.answered.append((script.name, (script.served - 1) % len(script.steps)))
                    return step, ""
                self.answered.append(None)
                where = "" if len(scripts) == 1 else f" (script '{script.name}')"
                return None, f"scripted scenario exhausted after {script.served} replies{where}"
        self.answered.append(None)
        names = [s.name for s in scripts]
        offered = tool_names(request)
        return None, (
            f"no scripted script matches this request (tools offered: {offered}; "
            f"scripts: {names}); scripted scenario exhausted after {self.replies} replies"
        )

    def answered_step(self, index: int) -> Step | None:
        """The scripted step that answered request ``index`` (``None``: none was left)."""
        answered = self.answered[index]
        return None if answered is None else self.script(answered[0]).steps[answered[1]]

    def remaining(self) -> int:
        """How many scripted replies no conversation has reached yet."""
        return sum(script.remaining for script in self.scripts)

    def tools_offered(self, index: int = -1) -> list[str]:
        """Names of the tools offered in request ``index`` (default: the latest)."""
        if not self.requests:
            raise AssertionError("the scripted model has received no request")
        return tool_names(self.requests[index])

    def add_steps(self, steps: Sequence[Any], script: str | None = None) -> None:
        """Append steps to a script (the only/first one by default)."""
        self.script(script).steps.extend(parse_scenario(list(steps))[0].steps)

    def script(self, name: str | None) -> Script:
        """The script called ``name`` (the first one for ``None``)."""
        if name is None:
            return self.scripts[0]
        for script in self.scripts:
            if script.name == name:
                return script
        raise KeyError(f"no script named {name!r}; scripts: {[s.name for s in self.scripts]}")


class ScriptedLLM:
    """An :class:`~subagents.llm.base.LLMClient` that plays a scenario in-process.

    Use it to unit-test an agent without a port: ``ScriptedLLM(["Hello!"])`` answers the
    first request with "Hello!". Text is streamed word by word (or by the step's
    ``chunks``) when ``on_text`` is given; an ``error`` or ``disconnect`` step raises
    :class:`~subagents.errors.LLMUnavailableError` (no retries in-process). When no step
    is left, ``exhausted="raise"`` (the default, for tests) raises
    :class:`~subagents.errors.LLMUnavailableError`; ``exhausted="reply"`` (``--scripted``
    runs) answers with a text saying so, logged once per conversation. Several clients
    (one per model group) may share one ``player``.
    """

    def __init__(
        self,
        scenario: ScenarioSource | list[Script] | None = None,
        *,
        player: ScriptPlayer | None = None,
        model: str = "scripted",
        exhausted: Exhausted = "raise",
        source: str | None = None,
    ) -> None:
        if player is None:
            player = ScriptPlayer(scenario if scenario is not None else [])
        self.player = player
        self.model = model
        self.exhausted = exhausted
        self.source = source

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: ToolPayload | None = None,
        *,
        on_text: TextCallback | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> LLMResponse:
        """Answer with the conversation's next scripted step."""
        async with llm_call("scripted", self.model, messages, stream=on_text is not None) as call:
            call.response = await self._answer(messages, tools, on_text, tool_choice)
            return call.response

    async def _answer(
        self,
        messages: list[dict[str, Any]],
        tools: ToolPayload | None,
        on_text: TextCallback | None,
        tool_choice: str | dict[str, Any] | None,
    ) -> LLMResponse:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),  # the caller appends to its list later
            "tools": tools.tools if tools is not None else [],
            "stream": on_text is not None,
        }
        if tool_choice is not None:
            request["tool_choice"] = tool_choice
        conversation = current_conversation.get()
        step, problem = self.player.choose(request, conversation)
        if step is None:
            return self._out_of_replies(conversation, problem)
        if step.delay:
            await asyncio.sleep(step.delay)
        if step.error is not None:
            raise LLMUnavailableError(f"scripted error reply: HTTP {step.error.status}")
        if step.disconnect:
            raise LLMUnavailableError("scripted disconnect: the model dropped the connection")
        if step.text is not None and on_text is not None:
            for piece in step.chunks if step.chunks is not None else split_text(step.text):
                await on_text(piece)
                if step.chunk_delay:
                    await asyncio.sleep(step.chunk_delay)
        reply_no = self.player.replies
        calls = [
            ToolCall.parse(call.id or f"call_{reply_no}_{i}", call.name, call.arguments)
            for i, call in enumerate(step.tool_calls)
        ]
        finish = step.finish_reason or ("tool_calls" if calls else "stop")
        usage = dict(step.usage) if step.usage is not None else None
        return LLMResponse(
            text=step.text, tool_calls=calls, finish_reason=finish, usage=usage, model=self.model
        )

    def _out_of_replies(self, conversation: str | None, problem: str) -> LLMResponse:
        if self.exhausted == "raise":
            raise LLMUnavailableError(problem)
        where = f" in {self.source}" if self.source else ""
        if conversation not in self.player.told:
            self.player.told.add(conversation)
            logger.warning(
                "scripted.exhausted",
                extra={"conversation_id": conversation, "problem": problem},
            )
        return LLMResponse(
            text=(
                f"(scripted mode) The scenario{where} has no more model replies for this "
                "conversation. Each conversation plays the scenario from its start: "
                "start a new conversation, or add replies to the scenario."
            ),
            finish_reason="stop",
        )

    async def aclose(self) -> None:
        """Nothing to close."""


def scripted_clients(
    player: ScriptPlayer, *, exhausted: Exhausted = "reply", source: str | None = None
) -> Callable[[Sequence[ModelConfig]], LLMClient]:
    """An LLM factory (see ``Assistant.load(llm_factory=...)``): every model group gets a
    :class:`ScriptedLLM` on ``player``, with the group's first model name (for ``when:
    {model: ...}``)."""

    def create(models: Sequence[ModelConfig]) -> LLMClient:
        model = models[0].model if models else "scripted"
        return ScriptedLLM(player=player, model=model, exhausted=exhausted, source=source)

    return create
