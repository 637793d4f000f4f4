"""Reading one YAML file: plain data, line numbers, interpolation, secrets, model errors.

Every project file goes through :func:`read_yaml`: ruamel's round-trip loader gives line
numbers, which are kept in a map from the path of every key / list item to its line, so
that any later problem (a pydantic error, a cross-file check) can name ``file:line``.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import AliasChoices, BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from subagents.config.interpolate import InterpolationError, interpolate
from subagents.errors import ConfigProblem

PathT = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


def format_path(path: Sequence[str | int]) -> str:
    """``("flows", "x", "steps", 2, "call")`` → ``flows.x.steps[2].call``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class Problems:
    """Collects :class:`ConfigProblem` s; the message always starts with the field."""

    def __init__(self) -> None:
        self.items: list[ConfigProblem] = []

    def add(
        self,
        severity: str,
        file: str,
        line: int | None,
        field_path: Sequence[str | int] | str | None,
        message: str,
    ) -> None:
        name = field_path if isinstance(field_path, str) else format_path(field_path or ())
        text = f"{name}: {message}" if name else message
        self.items.append(ConfigProblem(file, line, text, name or None, severity))

    def error(self, src: SourceFile, path: PathT, message: str) -> None:
        """An error at ``path`` of ``src`` (line looked up from the path)."""
        self.add("error", src.rel, src.line(path), path, message)

    def warning(self, src: SourceFile, path: PathT, message: str) -> None:
        """A warning at ``path`` of ``src``."""
        self.add("warning", src.rel, src.line(path), path, message)

    @property
    def errors(self) -> list[ConfigProblem]:
        return [p for p in self.items if p.severity == "error"]

    @property
    def warnings(self) -> list[ConfigProblem]:
        return [p for p in self.items if p.severity != "error"]


@dataclass
class SourceFile:
    """One YAML file: its plain data and where every key / item is."""

    path: Path
    rel: str
    data: Any = None
    lines: dict[PathT, int] = field(default_factory=dict)
    interpolated: set[PathT] = field(default_factory=set)
    """Paths whose value contained a ``${...}`` reference."""

    def line(self, path: Sequence[str | int]) -> int | None:
        """The 1-based line of ``path`` or of its closest existing parent."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


SecretMatcher = Callable[[PathT], bool]


def path_matches(path: PathT, patterns: Sequence[PathT]) -> bool:
    """Whether ``path`` matches one of ``patterns`` (``"*"`` matches any one component)."""
    for pattern in patterns:
        if len(pattern) == len(path) and all(
            p == "*" or p == c for p, c in zip(pattern, path, strict=True)
        ):
            return True
    return False


def read_yaml(
    path: Path,
    rel: str,
    problems: Problems,
    *,
    env: Mapping[str, str],
    secret_paths: Sequence[PathT] = (),
    secrets: set[str] | None = None,
) -> SourceFile | None:
    """Read, line-map and interpolate one YAML file; ``None`` if it cannot be read.

    Values substituted into paths matching ``secret_paths`` are added to ``secrets``.
    """
    src = SourceFile(path, rel)
    try:
        raw = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except MarkedYAMLError as exc:
        line, what = describe_yaml_error(exc)
        problems.add("error", rel, line, None, f"invalid YAML: {what}")
        return None
    except (YAMLError, OSError, UnicodeDecodeError) as exc:
        problems.add("error", rel, None, None, f"cannot read the file: {exc}")
        return None
    src.lines[()] = 1
    walker = _Walker(src, problems, env, secret_paths, secrets)
    src.data = walker.convert(raw, ())
    if src.data is None:
        src.data = {}
    return src


_INDENT_HINT = (
    "check the indentation: use spaces, not tabs; one `key: value` per line, nested keys"
    " indented further than their parent (quote values that contain ': ' or ' #')"
)


def describe_yaml_error(exc: Exception) -> tuple[int | None, str]:
    """The 1-based line of a YAML parse error and its text followed by a fix hint."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    parts = (getattr(exc, "context", None), getattr(exc, "problem", None))
    what = " ".join(str(p) for p in parts if p) or str(exc).splitlines()[0]
    opened = getattr(exc, "context_mark", None)
    hint = _yaml_hint(what, _marked_line(mark), line, opened.line + 1 if opened else None)
    return line, f"{what}; {hint}"


def _marked_line(mark: Any) -> str:
    """The text of the line a ruamel mark points at ('' when the buffer is not kept)."""
    buffer = getattr(mark, "buffer", None)
    if not isinstance(buffer, str):
        return ""
    lines = buffer.splitlines()
    return lines[mark.line] if 0 <= mark.line < len(lines) else ""


def _yaml_hint(what: str, text: str, line: int | None, opened: int | None) -> str:
    if "'\\t'" in what or "\t" in text:
        where = f"line {line}" if line else "the file"
        return f"{where} contains a tab character; YAML needs spaces: replace the tab with spaces"
    if "flow sequence" in what or "flow mapping" in what:
        where = f" opened on line {opened}" if opened else ""
        return f"the '[' or '{{'{where} is not closed: close it (or quote the value)"
    if "duplicate key" in what:
        return "a key may appear once per mapping: remove or rename one of them"
    if "quoted scalar" in what:
        where = f" opened on line {opened}" if opened else ""
        return f"the quote{where} is not closed: close it"
    return _INDENT_HINT


class _Walker:
    """Converts ruamel nodes to plain data, recording lines and interpolating strings."""

    def __init__(
        self,
        src: SourceFile,
        problems: Problems,
        env: Mapping[str, str],
        secret_paths: Sequence[PathT],
        secrets: set[str] | None,
    ) -> None:
        self.src = src
        self.problems = problems
        self.env = env
        self.secret_paths = secret_paths
        self.secrets = secrets

    def convert(self, node: Any, path: PathT) -> Any:
        if isinstance(node, CommentedMap):
            out: dict[Any, Any] = {}
            for key, value in node.items():
                child = (*path, key if isinstance(key, str | int) else str(key))
                pos = node.lc.data.get(key)
                if pos is not None:
                    self.src.lines[child] = pos[0] + 1
                out[key] = self.convert(value, child)
            return out
        if isinstance(node, CommentedSeq):
            items: list[Any] = []
            for i, value in enumerate(node):
                pos = node.lc.data.get(i)
                if pos is not None:
                    self.src.lines[(*path, i)] = pos[0] + 1
                items.append(self.convert(value, (*path, i)))
            return items
        return self.scalar(node, path)

    def scalar(self, node: Any, path: PathT) -> Any:
        if isinstance(node, TaggedScalar):
            node = node.value
        if isinstance(node, bool) or node is None:
            return node
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        if isinstance(node, _dt.date):
            return node.isoformat()
        if isinstance(node, str):
            return self.string(str(node), path)
        return node

    def string(self, text: str, path: PathT) -> str:
        try:
            result = interpolate(text, self.env)
        except InterpolationError as exc:
            self.problems.error(self.src, path, str(exc))
            self.src.interpolated.add(path)  # it is a reference, not a literal secret
            return text
        if result.used:
            self.src.interpolated.add(path)
            if self.secrets is not None and path_matches(path, self.secret_paths):
                self.secrets.update(v for v in result.substituted if v)
        return result.value


# --------------------------------------------------------------------------- model errors

_TYPE_WORDS = {
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def validate_model(
    model: type[M],
    src: SourceFile,
    problems: Problems,
    *,
    data: Any = None,
    base: PathT = (),
    secret_paths: Sequence[PathT] = (),
) -> M | None:
    """Validate ``data`` (default: the whole file) against ``model``; map errors to lines."""
    payload = src.data if data is None else data
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        report_validation_error(exc, model, src, problems, payload, base, secret_paths)
        return None


def report_validation_error(
    exc: ValidationError,
    model: type[BaseModel],
    src: SourceFile,
    problems: Problems,
    data: Any,
    base: PathT,
    secret_paths: Sequence[PathT],
) -> None:
    """Turn each pydantic error into a problem naming field and line, merging unions."""
    by_path: dict[PathT, list[dict[str, Any]]] = {}
    for err in exc.errors():
        path = _resolve_loc(data, tuple(err["loc"]), err["type"])
        by_path.setdefault(path, []).append(dict(err))
    deep = set(by_path)
    for path, errs in sorted(by_path.items(), key=lambda kv: src.line((*base, *kv[0])) or 0):
        # A union where the value took another branch and failed deeper: the shallow
        # "should be a string" of the other branch is noise.
        if all(e["type"] in _TYPE_WORDS for e in errs) and any(
            len(d) > len(path) and d[: len(path)] == path for d in deep
        ):
            continue
        full = (*base, *path)
        secret = path_matches(full, secret_paths)
        problems.error(src, full, _message(model, data, path, errs, secret))


def _resolve_loc(data: Any, loc: PathT, err_type: str) -> PathT:
    """Drop pydantic's union tags (``'str'``, ``'list[FlowStep]'``) from a location."""
    out: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_list or (isinstance(current, dict) and part in current):
            current = current[part]
            out.append(part)
        elif i == len(loc) - 1 and err_type == "missing":
            out.append(part)
    return tuple(out)


def _message(
    model: type[BaseModel], data: Any, path: PathT, errs: list[dict[str, Any]], secret: bool
) -> str:
    first = errs[0]
    if first["type"] == "missing":
        return f"required field '{path[-1]}' is missing; add it" if path else "required field"
    if first["type"] == "extra_forbidden":
        return _unknown_key(model, data, path)
    if first["type"] == "too_short":
        need = first.get("ctx", {}).get("min_length", 1)
        return f"needs at least {need} item{'s' if need != 1 else ''}"
    expected = [_TYPE_WORDS[e["type"]] for e in errs if e["type"] in _TYPE_WORDS]
    if expected and len(expected) == len(errs):
        text = "should be " + " or ".join(dict.fromkeys(expected))
    else:
        text = "; ".join(dict.fromkeys(_clean(e["msg"]) for e in errs))
    if not path:
        text = f"the top level {text} (of keys such as {', '.join(model_keys(model)[:3])})"
    value = first.get("input")
    if not secret and isinstance(value, str | int | float | bool) and value is not None:
        text += f" (got {value!r})"
    if all(e["type"] in _MAPPING_ERRORS for e in errs) and path:
        text += _indent_hint(model, data, path, value)
    elif first["type"] == "literal_error" and isinstance(value, str) and not secret:
        choices = re.findall(r"'([^']*)'", str(first.get("ctx", {}).get("expected", "")))
        close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
        text += f"; did you mean '{close[0]}'?" if close else ""
    return text


_MAPPING_ERRORS = {"dict_type", "model_type", "model_attributes_type"}
_CONTAINER_NOUNS = {"slots": "slot name", "flows": "flow id", "responses": "response name"}


def _indent_hint(model: type[BaseModel], data: Any, path: PathT, value: Any) -> str:
    """Why a mapping was expected: a setting indented too little, or nothing under a name."""
    key = str(path[-1])
    noun = _CONTAINER_NOUNS.get(str(path[-2]), "name") if len(path) > 1 else "name"
    if value is None:
        return f"; nothing is indented under '{key}': indent its settings under it"
    if not isinstance(value, dict | list) and key in allowed_keys(model, data, path):
        return f"; is `{key}` indented under its {noun}?"
    return ""


def _clean(msg: str) -> str:
    msg = msg.replace("Input should be", "should be").replace("Value error, ", "")
    return msg[0].lower() + msg[1:] if msg else msg


def _unknown_key(model: type[BaseModel], data: Any, path: PathT) -> str:
    key = str(path[-1])
    allowed = allowed_keys(model, data, path[:-1])
    text = f"unknown key '{key}'"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"{text}; did you mean '{close[0]}'?"
    if allowed:
        return f"{text}; valid keys: {', '.join(allowed)}"
    return text


def allowed_keys(model: type[BaseModel], data: Any, path: PathT) -> list[str]:
    """The keys a mapping at ``path`` of data validated by ``model`` may have."""
    candidates: list[Any] = [model]
    current = data
    for part in path:
        nxt: list[Any] = []
        for tp in candidates:
            nxt.extend(_step(tp, part, current))
        candidates = nxt
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        else:
            current = None
    keys: list[str] = []
    for tp in _flatten(candidates):
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            keys.extend(k for k in model_keys(tp) if k not in keys)
    return keys


def model_keys(model: type[BaseModel]) -> list[str]:
    """The YAML keys of a model (aliases, both spellings of AliasChoices)."""
    keys: list[str] = []
    for name, info in model.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            keys.extend(str(c) for c in alias.choices)
        else:
            keys.append(info.alias or name)
    return keys


def _flatten(candidates: list[Any]) -> list[Any]:
    out: list[Any] = []
    for tp in candidates:
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            out.extend(_flatten(list(typing.get_args(tp))))
        else:
            out.append(tp)
    return out


def _step(tp: Any, part: str | int, data: Any) -> list[Any]:
    out: list[Any] = []
    for t in _flatten([tp]):
        origin = typing.get_origin(t)
        if isinstance(t, type) and issubclass(t, BaseModel) and isinstance(part, str):
            for name, info in t.model_fields.items():
                alias = info.validation_alias
                names = {name, info.alias} | (
                    {str(c) for c in alias.choices} if isinstance(alias, AliasChoices) else set()
                )
                if part in names:
                    out.append(info.annotation)
        elif origin is list and isinstance(part, int) and isinstance(data, list):
            out.append(typing.get_args(t)[0])
        elif origin is dict and isinstance(data, dict):
            out.append(typing.get_args(t)[1])
    return out
