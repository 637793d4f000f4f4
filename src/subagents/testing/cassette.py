"""Cassettes: a conversation's real traffic recorded, then replayed as a test.

``subagents run --record DIR`` / ``subagents shell --record DIR`` load the assistant with
a :class:`Recorder` in its seams (:class:`~subagents.dialogue.assistant.AssistantHooks`).
Per conversation it writes ``DIR/cassettes/<conversation>.yml``: every model request and
response (streamed replies reassembled), every MCP tool call and result and every custom
action call and result, in order, with the tools each MCP server offered, secrets
redacted; and ``DIR/test_<conversation>.yml``, a test case of the conversation (user
turns, bot replies, slots set) that replays the cassette, ready to review and commit.

A case with ``cassette:`` is answered by :class:`CassetteReplay`: each model request is
compared with the next recorded one (messages, tools, tool choice; today's date is masked
so a cassette replays on any day) and answered with the recorded reply; each MCP call is
answered with the recorded result of the same call. ``strict`` (default): the first
difference fails the case with a report of it. ``lenient``: requests are answered by
position and differences are warnings.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subagents.actions.executors.base import ActionExecutor, ActionResult, OnChunk
from subagents.config.models import ModelConfig
from subagents.config.secrets import redact_data, secret_values
from subagents.errors import ConfigError, LLMUnavailableError, ToolExecutionError, ToolSignal
from subagents.llm.base import (
    LLMClient,
    LLMResponse,
    TextCallback,
    ToolCall,
    ToolPayload,
    current_conversation,
)
from subagents.llm.factory import LLMFactory
from subagents.tools.base import ForwardingToolset, ToolContext, ToolKind, ToolOutcome, ToolSpec

CASSETTE_VERSION = 1
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


# --------------------------------------------------------------------------- files


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 4096
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    return yaml


def dump_yaml(data: Any, path: Path, header: str = "") -> None:
    """Write ``data`` as YAML (atomically: a reader never sees half a file)."""
    import io

    buffer = io.StringIO()
    _yaml().dump(data, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(header + buffer.getvalue(), encoding="utf-8")
    tmp.replace(path)


@dataclass
class Cassette:
    """A recorded conversation: the tools of each MCP server and the interactions."""

    path: Path
    conversation: str = ""
    recorded_at: str = ""
    servers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    interactions: list[dict[str, Any]] = field(default_factory=list)

    def tool_specs(self, server: str) -> list[ToolSpec] | None:
        """The tools ``server`` offered when recorded (``None``: not recorded)."""
        tools = self.servers.get(server)
        if tools is None:
            return None
        return [
            ToolSpec(
                name=t["name"],
                description=t.get("description") or "",
                input_schema=t.get("input_schema") or {"type": "object"},
                annotations=t.get("annotations"),
                source=server,
                kind=ToolKind.MCP,
            )
            for t in tools
        ]


def load_cassette(path: Path) -> Cassette:
    """Read a cassette; raise :class:`ConfigError` naming the file for a bad one."""
    from ruamel.yaml.error import YAMLError

    try:
        data = _yaml().load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read the cassette ({exc.strerror}); record it with "
            "`subagents run --record DIR` or fix the case's `cassette:` path",
            file=str(path),
        ) from None
    except YAMLError as exc:
        raise ConfigError(f"the cassette is not valid YAML ({exc})", file=str(path)) from None
    if not isinstance(data, Mapping) or not isinstance(data.get("interactions"), list):
        raise ConfigError(
            "not a cassette: expected `interactions:` (written by `--record`)", file=str(path)
        )
    return Cassette(
        path=path,
        conversation=str(data.get("conversation") or ""),
        recorded_at=str(data.get("recorded_at") or ""),
        servers=dict(data.get("servers") or {}),
        interactions=list(data["interactions"]),
    )


# --------------------------------------------------------------------------- recording


def _secrets_from_env() -> set[str]:
    """Values of environment variables whose names say they are secrets (API keys...)."""
    return {v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 8}


@dataclass
class _Recording:
    conversation: str
    interactions: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)


class Recorder:
    """Records every conversation's traffic into ``directory`` (see the module docstring).

    Use its methods as :class:`~subagents.dialogue.assistant.AssistantHooks` (see
    :meth:`hooks`); set :attr:`secrets` once the project is loaded.
    """

    def __init__(self, directory: Path, *, command: str = "subagents run --record") -> None:
        self.directory = Path(directory)
        self.command = command
        self.secrets: tuple[str, ...] = secret_values(_secrets_from_env())
        self.servers: dict[str, list[dict[str, Any]]] = {}
        self._recordings: dict[str, _Recording] = {}
        self.started = _dt.datetime.now().astimezone().isoformat(timespec="seconds")

    def hooks(self) -> Any:
        """The :class:`~subagents.dialogue.assistant.AssistantHooks` that record."""
        from subagents.dialogue.assistant import AssistantHooks

        return AssistantHooks(
            llm=self.llm, toolset=self.toolset, executor=self.executor, on_turn=self.on_turn
        )

    def add_secrets(self, values: Sequence[str]) -> None:
        """Redact these values too (the project's configuration secrets)."""
        self.secrets = secret_values({*self.secrets, *values})

    def record(self, item: dict[str, Any]) -> None:
        """Add one interaction to the current conversation's cassette."""
        conversation = current_conversation.get()
        if conversation is None:
            return  # not inside a turn (tools listed at start): nothing to attach it to
        recording = self._recordings.get(conversation)
        if recording is None:
            recording = self._recordings[conversation] = _Recording(conversation)
        recording.pending.append(redact_data(item, self.secrets))

    # ------------------------------------------------------------------ hooks

    def llm(self, real: LLMFactory) -> LLMFactory:
        """Wrap the model factory so every client records its requests."""

        def create(models: Sequence[ModelConfig]) -> LLMClient:
            model = models[0].model if models else "default"
            return RecordingLLM(real(models), self, model)

        return create

    def toolset(self, server: str, inner: Any) -> Any:
        """Wrap one MCP server's toolset."""
        return RecordingToolset(self, server, inner)

    def executor(self, inner: ActionExecutor) -> ActionExecutor:
        """Wrap the action executor."""
        return RecordingExecutor(self, inner)

    async def on_turn(self, conversation: str, text: str, events: list[dict[str, Any]]) -> None:
        """A turn ended: file its interactions under the user's message and write files."""
        recording = self._recordings.get(conversation)
        if recording is None:
            recording = self._recordings[conversation] = _Recording(conversation)
        recording.interactions.append({"user": redact_data(text, self.secrets)})
        recording.interactions.extend(recording.pending)
        recording.pending = []
        recording.steps.extend(skeleton_steps(text, redact_data(events, self.secrets)))
        self._write(recording)

    def _write(self, recording: _Recording) -> None:
        name = _UNSAFE.sub("_", recording.conversation) or "conversation"
        cassette_path = self.directory / "cassettes" / f"{name}.yml"
        cassette = {
            "version": CASSETTE_VERSION,
            "conversation": recording.conversation,
            "recorded_at": self.started,
            "servers": self.servers,
            "interactions": recording.interactions,
        }
        note = (
            f"# Recorded by `{self.command}`: the conversation's model requests and replies,\n"
            "# MCP calls and action calls, in order (secrets redacted). Replayed by\n"
            f"# test_{name}.yml (`subagents test --replay`).\n"
        )
        dump_yaml(cassette, cassette_path, note)
        case = {
            "test_case": recording.conversation,
            "cassette": f"cassettes/{name}.yml",
            "steps": recording.steps,
        }
        header = (
            f"# A test case recorded by `{self.command}`: review the steps (keep\n"
            "# what must hold, drop what may change), then commit it with its cassette.\n"
        )
        dump_yaml({"test_cases": [case]}, self.directory / f"test_{name}.yml", header)


def skeleton_steps(text: str, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The test steps of one recorded turn: the user's text, flows started, bot replies
    and slots set, as the turn's events show them."""
    steps: list[dict[str, Any]] = [{"user": text}]
    for event in events:
        kind = event.get("event")
        if kind == "flow_started":
            steps.append({"flow_started": event.get("flow_id")})
        elif (
            kind == "bot" and event.get("text") and not (event.get("metadata") or {}).get("partial")
        ):
            steps.append({"bot": event["text"]})
        elif kind == "slot":
            steps.append({"slot_was_set": {str(event.get("name")): event.get("value")}})
    return steps


class RecordingLLM:
    """A model client that records each request and its (reassembled) response."""

    def __init__(self, inner: LLMClient, recorder: Recorder, model: str) -> None:
        self.inner = inner
        self.recorder = recorder
        self.model = model

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: ToolPayload | None = None,
        *,
        on_text: TextCallback | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> LLMResponse:
        """Call the real model; record the request and the whole response."""
        request = request_body(messages, tools, tool_choice)
        item: dict[str, Any] = {"model": self.model, "stream": on_text is not None}
        try:
            response = await self.inner.complete(
                messages, tools, on_text=on_text, tool_choice=tool_choice
            )
        except LLMUnavailableError as exc:
            self.recorder.record({"llm": {**item, "request": request, "error": str(exc)}})
            raise
        self.recorder.record({"llm": {**item, "request": request, "response": _reply(response)}})
        return response

    async def aclose(self) -> None:
        """Close the real client."""
        await self.inner.aclose()


def request_body(
    messages: Sequence[Mapping[str, Any]],
    tools: ToolPayload | None,
    tool_choice: str | dict[str, Any] | None,
) -> dict[str, Any]:
    """The parts of a model request a replay compares (a JSON-safe copy)."""
    body: dict[str, Any] = {"messages": json.loads(json.dumps(list(messages), default=str))}
    body["tools"] = json.loads(json.dumps(tools.tools, default=str)) if tools is not None else []
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    return body


def _reply(response: LLMResponse) -> dict[str, Any]:
    reply: dict[str, Any] = {"text": response.text}
    if response.tool_calls:
        reply["tool_calls"] = [
            {"id": c.id, "name": c.name, "arguments": c.raw_arguments} for c in response.tool_calls
        ]
    reply["finish_reason"] = response.finish_reason
    if response.usage:
        reply["usage"] = response.usage
    return reply


class RecordingToolset(ForwardingToolset):
    """One MCP server's toolset, recording its tool list and every call and result."""

    def __init__(self, recorder: Recorder, server: str, inner: Any) -> None:
        super().__init__(inner)
        self.recorder = recorder
        self.server = server

    async def list_tools(self) -> list[ToolSpec]:
        tools = await self.inner.list_tools()
        self.recorder.servers[self.server] = redact_data(
            [_spec_data(t) for t in tools], self.recorder.secrets
        )
        return tools

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: ToolContext | None = None
    ) -> ToolOutcome:
        item: dict[str, Any] = {"server": self.server, "tool": name, "arguments": arguments}
        try:
            outcome = await self.inner.call_tool(name, arguments, context)
        except ToolSignal as exc:
            error = {"type": type(exc).__name__, "message": exc.message}
            self.recorder.record({"mcp": {**item, "error": error}})
            raise
        result: dict[str, Any] = {"text": outcome.text, "is_error": outcome.is_error}
        if outcome.structured is not None:
            result["structured"] = json.loads(json.dumps(outcome.structured, default=str))
        self.recorder.record({"mcp": {**item, "result": result}})
        return outcome


def _spec_data(spec: ToolSpec) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "input_schema": json.loads(json.dumps(dict(spec.input_schema), default=str)),
    }
    if spec.annotations:
        data["annotations"] = json.loads(json.dumps(dict(spec.annotations), default=str))
    return data


class RecordingExecutor:
    """The action executor, recording each action's name and what it returned."""

    def __init__(self, recorder: Recorder, inner: ActionExecutor) -> None:
        self.recorder = recorder
        self.inner = inner

    async def run(
        self,
        action_name: str,
        tracker_state: dict[str, Any],
        domain: dict[str, Any],
        on_chunk: OnChunk | None = None,
        cancel_event: Any = None,
    ) -> ActionResult:
        """Run the action; record its events, responses and streamed chunks."""
        try:
            result = await self.inner.run(
                action_name, tracker_state, domain, on_chunk, cancel_event
            )
        except Exception as exc:
            self.recorder.record({"action": {"name": action_name, "error": str(exc)}})
            raise
        self.recorder.record(
            {
                "action": {
                    "name": action_name,
                    "events": result.events,
                    "responses": result.responses,
                    "streamed": result.streamed,
                }
            }
        )
        return result

    async def aclose(self) -> None:
        """Close the real executor."""
        await self.inner.aclose()


# --------------------------------------------------------------------------- replay


class CassetteReplay:
    """Answers one conversation's model requests and MCP calls from a cassette.

    Problems (a request that differs, a call that was not recorded) go to ``problems``
    (strict: the case fails) or ``warnings`` (lenient), lists the caller owns.
    """

    def __init__(
        self,
        cassette: Cassette,
        *,
        mode: str = "strict",
        problems: list[str] | None = None,
        warnings: list[str] | None = None,
    ) -> None:
        self.cassette = cassette
        self.mode = mode
        self.problems = problems if problems is not None else []
        self.warnings = warnings if warnings is not None else []
        self._llm = [i["llm"] for i in cassette.interactions if isinstance(i.get("llm"), Mapping)]
        self._mcp = [i["mcp"] for i in cassette.interactions if isinstance(i.get("mcp"), Mapping)]
        self._llm_next = 0
        self._mcp_used: set[int] = set()
        self._today = _dt.date.today().isoformat()
        self._recorded_day = cassette.recorded_at[:10]

    def report(self, problem: str) -> None:
        """File a difference: a failure when strict, a warning when lenient."""
        (self.problems if self.mode == "strict" else self.warnings).append(problem)

    async def complete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: ToolPayload | None,
        *,
        on_text: TextCallback | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> LLMResponse:
        """The recorded reply to the next model request (see the class docstring)."""
        index = self._llm_next
        if index >= len(self._llm):
            problem = (
                f"model request #{index + 1} of this conversation is not in the cassette "
                f"{self.cassette.path.name} ({len(self._llm)} recorded): the assistant now "
                "asks the model more than when it was recorded; record it again"
            )
            self.problems.append(problem)
            raise LLMUnavailableError(problem)
        recorded = self._llm[index]
        self._llm_next += 1
        actual = request_body(messages, tools, tool_choice)
        difference = first_difference(
            self._mask(recorded.get("request") or {}, self._recorded_day),
            self._mask(actual, self._today),
        )
        if difference:
            self.report(
                f"model request #{index + 1} differs from the cassette "
                f"{self.cassette.path.name} ({self.mode}): {difference}"
            )
            if self.mode == "strict":
                raise LLMUnavailableError("the model request differs from the cassette")
        if "error" in recorded:
            raise LLMUnavailableError(f"recorded model error: {recorded['error']}")
        return await _recorded_reply(recorded.get("response") or {}, index, on_text)

    def _mask(self, data: Any, day: str) -> Any:
        """``data`` with the current date and ISO date-times masked (prompts show them)."""
        if isinstance(data, str):
            text = _ISO_DATETIME.sub("<datetime>", data)
            return text.replace(day, "<today>") if day else text
        if isinstance(data, list):
            return [self._mask(x, day) for x in data]
        if isinstance(data, Mapping):
            return {k: self._mask(v, day) for k, v in data.items()}
        return data

    async def call_tool(self, server: str, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        """The recorded result of this call (same server, tool and arguments)."""
        index = self._find_call(server, name, arguments)
        if index is None:
            recorded = [
                f"{c.get('server')}.{c.get('tool')}({json.dumps(c.get('arguments'))})"
                for i, c in enumerate(self._mcp)
                if i not in self._mcp_used
            ]
            problem = (
                f"MCP call {server}.{name}({json.dumps(arguments, ensure_ascii=False)}) is not "
                f"in the cassette {self.cassette.path.name}; calls recorded and not replayed "
                f"yet: {', '.join(recorded) or 'none'}"
            )
            self.problems.append(problem)
            raise ToolExecutionError(name, problem)
        self._mcp_used.add(index)
        call = self._mcp[index]
        if call.get("arguments") != arguments or call.get("tool") != name:
            self.report(f"MCP call {server}.{name} replayed by position: {_args_diff(call)}")
        if "error" in call:
            raise ToolExecutionError(name, str((call.get("error") or {}).get("message", "")))
        result = call.get("result") or {}
        return ToolOutcome(
            text=str(result.get("text", "")),
            is_error=bool(result.get("is_error", False)),
            structured=result.get("structured"),
        )

    def _find_call(self, server: str, name: str, arguments: dict[str, Any]) -> int | None:
        free = [i for i in range(len(self._mcp)) if i not in self._mcp_used]
        for i in free:
            call = self._mcp[i]
            if (call.get("server"), call.get("tool"), call.get("arguments")) == (
                server,
                name,
                arguments,
            ):
                return i
        if self.mode == "strict":
            return None
        same_tool = [i for i in free if self._mcp[i].get("tool") == name]
        candidates = same_tool or free
        return candidates[0] if candidates else None


_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")


def _args_diff(call: Mapping[str, Any]) -> str:
    return f"recorded {call.get('tool')}({json.dumps(call.get('arguments'), ensure_ascii=False)})"


async def _recorded_reply(
    response: Mapping[str, Any], index: int, on_text: TextCallback | None
) -> LLMResponse:
    text = response.get("text")
    if text and on_text is not None:
        await on_text(str(text))
    calls = [
        ToolCall.parse(str(c.get("id") or f"call_{index}_{i}"), str(c["name"]), c.get("arguments"))
        for i, c in enumerate(response.get("tool_calls") or [])
    ]
    return LLMResponse(
        text=None if text is None else str(text),
        tool_calls=calls,
        finish_reason=response.get("finish_reason"),
        usage=response.get("usage"),
    )


# --------------------------------------------------------------------------- differences


def first_difference(recorded: Mapping[str, Any], actual: Mapping[str, Any]) -> str:
    """A short report of the first difference between two request bodies ("" if none)."""
    old_msgs, new_msgs = recorded.get("messages") or [], actual.get("messages") or []
    for index, (old, new) in enumerate(zip(old_msgs, new_msgs, strict=False)):
        if old != new:
            return _message_diff(index, old, new)
    if len(old_msgs) != len(new_msgs):
        longer = new_msgs if len(new_msgs) > len(old_msgs) else old_msgs
        extra = longer[min(len(old_msgs), len(new_msgs))]
        return (
            f"the request has {len(new_msgs)} messages, the recording {len(old_msgs)} "
            f"(first extra: {_short(extra)})"
        )
    tools = _tools_diff(recorded.get("tools") or [], actual.get("tools") or [])
    if tools:
        return tools
    if recorded.get("tool_choice") != actual.get("tool_choice"):
        return (
            f"tool_choice: recorded {json.dumps(recorded.get('tool_choice'))}, "
            f"now {json.dumps(actual.get('tool_choice'))}"
        )
    return ""


def _message_diff(index: int, old: Any, new: Any) -> str:
    role = new.get("role") if isinstance(new, Mapping) else "?"
    old_text, new_text = _as_lines(old), _as_lines(new)
    diff = [
        line
        for line in difflib.unified_diff(old_text, new_text, "recorded", "now", n=1, lineterm="")
        if not line.startswith(("---", "+++"))
    ]
    shown = "\n    ".join(diff[:14]) + ("\n    ..." if len(diff) > 14 else "")
    return f"messages[{index}] ({role}) differs:\n    {shown}"


def _as_lines(message: Any) -> list[str]:
    if isinstance(message, Mapping) and set(message) <= {"role", "content"}:
        content = message.get("content")
        if isinstance(content, str):
            return content.splitlines()
    return json.dumps(message, indent=1, ensure_ascii=False, sort_keys=True).splitlines()


def _tools_diff(old: Sequence[Any], new: Sequence[Any]) -> str:
    def by_name(tools: Sequence[Any]) -> dict[str, Any]:
        return {str((t.get("function") or {}).get("name")): t for t in tools}

    old_map, new_map = by_name(old), by_name(new)
    added = sorted(set(new_map) - set(old_map))
    removed = sorted(set(old_map) - set(new_map))
    if added or removed:
        return f"the tools offered changed: added {added}, removed {removed}"
    for name, tool in new_map.items():
        if tool != old_map[name]:
            diff = _message_diff(0, old_map[name], tool).split(":", 1)[1]
            return f"the tool '{name}' changed (its description or schema):{diff}"
    if list(old_map) != list(new_map):
        return f"the tools are offered in another order: {list(new_map)}"
    return ""


def _short(message: Any) -> str:
    text = json.dumps(message, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."
