"""Scenarios for the scripted model: what it answers, step by step.

The format is shared by the in-process :class:`~subagents.llm.scripted.ScriptedLLM` and the
HTTP ``ScriptedModelServer`` of :mod:`subagents.testing` (which re-exports these names).

A scenario is either a list of steps (one script that answers every request) or a mapping
of named scripts, each with an optional ``when`` matcher; a request is answered by the
first script whose ``when`` matches it, and each script keeps its own position. This lets
one server play the flow router and several agents in one offline run::

    scenario:
      router:
        when: {tool_offered: start_flow}
        steps:
          - tool_calls: [{name: start_flow, arguments: {flow: weather}}]
      weather:
        when: {tool_offered: get_forecast}
        steps:
          - tool_calls: [{name: get_forecast, arguments: {city: Berlin}}]
          - text: "Sunny in Berlin."

Every step is one reply: ``text`` (optionally with ``chunks`` to control how it is
streamed), ``tool_calls``, both, an ``error`` (``status``, ``retry_after``, ``body``), or
``disconnect: true`` (drop the connection without answering; together with ``text`` or
``tool_calls`` a streamed reply is cut off halfway instead). Any step may add ``delay``
(seconds before answering) and ``chunk_delay`` (seconds between streamed chunks). A plain
string is short for ``{text: ...}``. A script with ``loop: true`` starts over when used up;
otherwise a used-up script answers HTTP 500 "scripted scenario exhausted after N replies".
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from subagents.errors import ConfigError

_STEP_KEYS = {
    "text",
    "chunks",
    "tool_calls",
    "error",
    "delay",
    "chunk_delay",
    "disconnect",
    "finish_reason",
    "usage",
}
_WHEN_KEYS = {"tool_offered", "system_contains", "user_contains", "model"}
_SCRIPT_KEYS = {"when", "steps", "loop"}
FILE_KEYS = ("scenario", "user")
"""Top-level keys of a scenario file: the replies and (for ``shell --scripted``) user turns."""


@dataclass(frozen=True)
class ScriptedToolCall:
    """One tool call to answer with; ``arguments`` is the raw JSON string sent."""

    name: str
    arguments: str
    id: str | None = None


@dataclass(frozen=True)
class ScriptedError:
    """An HTTP error reply (``status``, optional ``Retry-After`` header and body)."""

    status: int
    retry_after: str | None = None
    body: Any = None


@dataclass(frozen=True)
class Step:
    """One scripted reply."""

    text: str | None = None
    chunks: tuple[str, ...] | None = None
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    error: ScriptedError | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    disconnect: bool = False
    finish_reason: str | None = None
    usage: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class When:
    """Which requests a script answers; every given condition must hold."""

    tool_offered: tuple[str, ...] = ()
    system_contains: str | None = None
    user_contains: str | None = None
    model: str | None = None

    def matches(self, request: Mapping[str, Any]) -> bool:
        """True when ``request`` (a chat completion body) satisfies every condition."""
        if self.model is not None and request.get("model") != self.model:
            return False
        if self.tool_offered:
            offered = set(tool_names(request))
            if not all(name in offered for name in self.tool_offered):
                return False
        messages = request.get("messages") or []
        if self.system_contains is not None:
            systems = [_content_text(m) for m in messages if m.get("role") == "system"]
            if not any(self.system_contains in s for s in systems):
                return False
        if self.user_contains is not None:
            users = [_content_text(m) for m in messages if m.get("role") == "user"]
            if not users or self.user_contains not in users[-1]:
                return False
        return True


@dataclass
class Script:
    """A named list of steps with its own position."""

    name: str
    steps: list[Step]
    when: When | None = None
    loop: bool = False
    served: int = field(default=0)

    def next_step(self) -> Step | None:
        """The next reply, or ``None`` when the script is used up."""
        if self.served >= len(self.steps) and (not self.loop or not self.steps):
            return None
        step = self.steps[self.served % len(self.steps)]
        self.served += 1
        return step

    @property
    def remaining(self) -> int:
        """Steps not served yet (0 for a looping script that went round once)."""
        return max(0, len(self.steps) - self.served)


def tool_names(request: Mapping[str, Any]) -> list[str]:
    """Names of the tools offered in a chat completion request body."""
    names: list[str] = []
    for tool in request.get("tools") or []:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            names.append(function["name"])
    return names


def _content_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return ""


# --------------------------------------------------------------------------- parsing


def parse_scenario(data: Any, *, source: str = "<scenario>") -> list[Script]:
    """Validate a scenario (list of steps, or mapping of named scripts) into scripts.

    Raises :class:`~subagents.errors.ConfigError` naming ``source`` and the bad field.
    """
    if isinstance(data, Mapping) and "scenario" in data and len(data) == 1:
        data = data["scenario"]
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        return [Script("default", _parse_steps(data, source, "scenario"))]
    if isinstance(data, Mapping):
        if not data:
            raise _bad("scenario has no scripts", file=source, field="scenario")
        return [_parse_script(str(name), value, source) for name, value in data.items()]
    raise _bad(
        "scenario must be a list of steps or a mapping of named scripts "
        f"(got {type(data).__name__})",
        file=source,
        field="scenario",
    )


def _parse_script(name: str, value: Any, source: str) -> Script:
    where = f"scenario.{name}"
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return Script(name, _parse_steps(value, source, where))
    if not isinstance(value, Mapping):
        raise _bad(
            "a script must be a list of steps or a mapping with 'steps' (and 'when', 'loop')",
            file=source,
            field=where,
        )
    _reject_unknown(value, _SCRIPT_KEYS, source, where)
    if "steps" not in value:
        raise _bad("script has no 'steps'", file=source, field=f"{where}.steps")
    when = _parse_when(value["when"], source, f"{where}.when") if "when" in value else None
    loop = value.get("loop", False)
    if not isinstance(loop, bool):
        raise _bad("'loop' must be true or false", file=source, field=f"{where}.loop")
    steps = _parse_steps(value["steps"], source, f"{where}.steps")
    return Script(name, steps, when=when, loop=loop)


def _parse_when(value: Any, source: str, where: str) -> When:
    if not isinstance(value, Mapping) or not value:
        raise _bad(
            f"'when' must be a mapping with any of {sorted(_WHEN_KEYS)}", file=source, field=where
        )
    _reject_unknown(value, _WHEN_KEYS, source, where)
    offered = value.get("tool_offered", ())
    if isinstance(offered, str):
        offered = (offered,)
    if not all(isinstance(n, str) for n in offered):
        raise _bad(
            "'tool_offered' must be a tool name or a list of names",
            file=source,
            field=f"{where}.tool_offered",
        )
    for key in ("system_contains", "user_contains", "model"):
        if key in value and not isinstance(value[key], str):
            raise _bad(f"'{key}' must be a string", file=source, field=f"{where}.{key}")
    return When(
        tool_offered=tuple(offered),
        system_contains=value.get("system_contains"),
        user_contains=value.get("user_contains"),
        model=value.get("model"),
    )


def _parse_steps(value: Any, source: str, where: str) -> list[Step]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise _bad("steps must be a list", file=source, field=where)
    return [_parse_step(item, source, f"{where}[{i}]") for i, item in enumerate(value)]


def _parse_step(value: Any, source: str, where: str) -> Step:
    if isinstance(value, str):
        return Step(text=value)
    if not isinstance(value, Mapping):
        raise _bad("a step must be a mapping (or a plain text reply)", file=source, field=where)
    _reject_unknown(value, _STEP_KEYS, source, where)
    text = value.get("text")
    if text is not None and not isinstance(text, str):
        raise _bad("'text' must be a string", file=source, field=f"{where}.text")
    chunks = _parse_chunks(value.get("chunks"), text, source, f"{where}.chunks")
    if chunks is not None and text is None:
        text = "".join(chunks)
    calls = _parse_tool_calls(value.get("tool_calls"), source, f"{where}.tool_calls")
    error = _parse_error(value["error"], source, f"{where}.error") if "error" in value else None
    disconnect = value.get("disconnect", False)
    if not isinstance(disconnect, bool):
        raise _bad("'disconnect' must be true or false", file=source, field=f"{where}.disconnect")
    if text is None and not calls and error is None and not disconnect:
        raise _bad(
            "step has no reply: give 'text', 'tool_calls', 'error' or 'disconnect'",
            file=source,
            field=where,
        )
    if not isinstance(value.get("finish_reason", ""), str):
        raise _bad("'finish_reason' must be a string", file=source, field=f"{where}.finish_reason")
    if not isinstance(value.get("usage", {}), Mapping):
        raise _bad("'usage' must be a mapping", file=source, field=f"{where}.usage")
    if error is not None and (text is not None or calls):
        raise _bad(
            "an 'error' step cannot also have 'text' or 'tool_calls'", file=source, field=where
        )
    return Step(
        text=text,
        chunks=chunks,
        tool_calls=calls,
        error=error,
        delay=_seconds(value.get("delay", 0), source, f"{where}.delay"),
        chunk_delay=_seconds(value.get("chunk_delay", 0), source, f"{where}.chunk_delay"),
        disconnect=disconnect,
        finish_reason=value.get("finish_reason"),
        usage=value.get("usage"),
    )


def _parse_chunks(value: Any, text: str | None, source: str, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)  # a string is a sequence too, but never meant as chunks
        or not all(isinstance(c, str) for c in value)
    ):
        raise _bad("'chunks' must be a list of strings", file=source, field=where)
    chunks = tuple(value)
    if text is not None and "".join(chunks) != text:
        raise _bad(
            "'chunks' joined must equal 'text' (or leave 'text' out)", file=source, field=where
        )
    return chunks


def _parse_tool_calls(value: Any, source: str, where: str) -> tuple[ScriptedToolCall, ...]:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise _bad("'tool_calls' must be a list", file=source, field=where)
    calls = []
    for i, call in enumerate(value):
        here = f"{where}[{i}]"
        if not isinstance(call, Mapping) or not isinstance(call.get("name"), str):
            raise _bad(
                "a tool call needs 'name' (and 'arguments': a mapping or a raw string)",
                file=source,
                field=here,
            )
        _reject_unknown(call, {"name", "arguments", "id"}, source, here)
        args = call.get("arguments", {})
        if not isinstance(args, str):
            try:
                args = json.dumps(args, ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                raise _bad(
                    f"arguments are not JSON-serialisable ({exc})",
                    file=source,
                    field=f"{here}.arguments",
                ) from exc
        call_id = call.get("id")
        calls.append(ScriptedToolCall(call["name"], args, str(call_id) if call_id else None))
    return tuple(calls)


def _parse_error(value: Any, source: str, where: str) -> ScriptedError:
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"status": value}
    if not isinstance(value, Mapping):
        raise _bad(
            "'error' must be a mapping with 'status' (and 'retry_after', 'body')",
            file=source,
            field=where,
        )
    _reject_unknown(value, {"status", "retry_after", "body"}, source, where)
    status = value.get("status", 500)
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise _bad(
            "'status' must be an HTTP error code (400-599)", file=source, field=f"{where}.status"
        )
    retry_after = value.get("retry_after")
    return ScriptedError(
        status=status,
        retry_after=None if retry_after is None else str(retry_after),
        body=value.get("body"),
    )


def _seconds(value: Any, source: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _bad("must be a number of seconds >= 0", file=source, field=where)
    return float(value)


def _bad(
    message: str, *, file: str, field: str | None = None, at: str | None = None
) -> ConfigError:
    """A ConfigError whose text names the field (``scenario[2].tool_calls[0]: ...``).

    When ``file`` is a YAML file, the line of ``at`` (default: ``field``) is looked up in
    it, so the error reads ``file:line: field: message``.
    """
    line = _line_of(file, at or field)
    return ConfigError(
        f"{field}: {message}" if field else message, file=file, line=line, field=field
    )


_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _line_of(source: str, field: str | None) -> int | None:
    """The 1-based line of ``field`` (``scenario.router.when``) in the file ``source``.

    Looked up only when an error is raised (the file is read again, with line marks), so
    parsing stays cheap. ``None`` when ``source`` is not a readable YAML file.
    """
    if not field or source.startswith("<"):
        return None
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import YAMLError

    try:
        path = Path(source)
        if not path.is_file():
            return None
        node: Any = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):  # no line number then, same error
        return None
    parts: list[str | int] = [
        int(m.group(1)) if m.group(1) is not None else m.group(2) for m in _PART.finditer(field)
    ]
    if isinstance(node, CommentedSeq) and parts[:1] == ["scenario"]:
        parts = parts[1:]  # a file that is a bare list of steps
    line: int | None = None
    for part in parts:
        if isinstance(node, CommentedMap):
            key = next((k for k in node if k == part or str(k) == str(part)), None)
            if key is None:
                break
            line = node.lc.key(key)[0] + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def parse_step(value: Any, *, source: str, where: str) -> Step:
    """Validate one step (``where`` names it in errors, e.g. ``scenario[3]``)."""
    return _parse_step(value, source, where)


def _reject_unknown(value: Mapping[str, Any], allowed: set[str], source: str, where: str) -> None:
    unknown = sorted((k for k in value if k not in allowed), key=str)
    if unknown:
        raise _bad(
            unknown_keys_message(unknown, allowed),
            file=source,
            field=where,
            at=f"{where}.{unknown[0]}",
        )


def unknown_keys_message(unknown: Sequence[Any], allowed: set[str] | Sequence[str]) -> str:
    """``unknown key(s) ['x']; did you mean 'y'?`` (or the allowed keys when nothing is close)."""
    names = sorted(allowed)
    text = f"unknown key(s) {[str(k) for k in unknown]}"
    close = [difflib.get_close_matches(str(k), names, n=1, cutoff=0.6) for k in unknown]
    if all(close):
        guesses = " and ".join(f"'{c[0]}'" for c in close)
        return f"{text}; did you mean {guesses}?"
    return f"{text}; allowed: {names}"


def load_scenario(path: str | Path) -> list[Script]:
    """Read a scenario from a YAML (or JSON) file: ``scenario: [...]`` or the keyed form."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    file = Path(path)
    try:
        data = YAML(typ="safe").load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _bad(f"cannot read scenario file ({exc.strerror})", file=str(file)) from exc
    except YAMLError as exc:
        line, what = yaml_problem(exc)
        raise ConfigError(f"not valid YAML: {what}", file=str(file), line=line) from exc
    check_file_keys(data, source=str(file))
    return parse_scenario(data["scenario"], source=str(file))


def check_file_keys(data: Any, *, source: str) -> None:
    """Raise ConfigError unless ``data`` (a whole scenario file) has ``scenario:``.

    Names any unknown top-level key (``steps:`` for ``scenario:``...) and what is expected.
    """
    expected = (
        "expected a top-level 'scenario:' list of replies (or a mapping of named scripts)"
        " and optionally 'user:' (the user's turns)"
    )
    if not isinstance(data, Mapping):
        raise _bad(f"{expected}; got {type(data).__name__}", file=source, field="scenario")
    unknown = sorted((k for k in data if k not in FILE_KEYS), key=str)
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), FILE_KEYS, n=1, cutoff=0.6)
        guess = f"; did you mean '{close[0]}'?" if close and len(unknown) == 1 else ""
        raise _bad(
            f"unknown top-level key(s) {[str(k) for k in unknown]}{guess}; {expected}",
            file=source,
            at=str(unknown[0]),
        )
    if "scenario" not in data:
        raise _bad(expected, file=source, field="scenario")


def yaml_problem(exc: Exception) -> tuple[int | None, str]:
    """The line (1-based) and a one-line description of a YAML parse error, with a fix hint."""
    from subagents.config.source import describe_yaml_error

    return describe_yaml_error(exc)
