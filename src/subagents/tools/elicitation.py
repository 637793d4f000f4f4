"""A tool's question (elicitation) as text for the user, and the user's reply as an answer.

:func:`describe_question` writes the question: the tool's message, then each field of its
schema in plain words (``- guests: How many people (a whole number from 1 to 12;
default 2)``), then how to reply. :func:`parse_answer` reads the user's next message:

* ``cancel`` / ``decline`` (also ``/cancel``, ``/decline``) are those actions;
* a JSON object, ``name: value`` pairs (one per line, or separated by ``,`` / ``;``), or,
  when the form has one field, the whole message as its value;
* ``ok`` / ``yes`` / ``accept`` / ``defaults`` accept the defaults when nothing required
  is left without one (a one-field form takes such a word as its value only when it fits);
* values are converted to the field's type (``yes`` → ``true``, ``4`` → ``4``, an enum
  value by its name or title, any case), the schema's ``default`` fills every field left
  out (SEP-1034), and the result is validated against the schema.

A reply that does not fit returns the problem as a string, so the question can be asked
again with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from subagents.tools.interaction import Answer, Question
from subagents.tools.schema import compile_validator, validation_error

CANCEL_WORDS = frozenset({"cancel", "/cancel", "stop", "abort"})
DECLINE_WORDS = frozenset({"decline", "/decline", "no thanks", "refuse"})
ACCEPT_WORDS = frozenset({"ok", "okay", "yes", "accept", "defaults", "use the defaults", "done"})
_BOOL_WORDS = {
    "yes": True,
    "y": True,
    "true": True,
    "on": True,
    "1": True,
    "no": False,
    "n": False,
    "false": False,
    "off": False,
    "0": False,
}
_PAIR_SPLIT = re.compile(r"\n|;|,\s*(?=[\w .-]{1,40}\s*[:=])")
_PAIR = re.compile(r"^\s*([\w .-]{1,40}?)\s*[:=]\s*(.*?)\s*$", re.DOTALL)
_FORMATS = {
    "date": "a date, YYYY-MM-DD",
    "date-time": "a date and time, YYYY-MM-DDTHH:MM",
    "email": "an email address",
    "uri": "a web address",
}


# --------------------------------------------------------------------------- the question


def fields(schema: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The form's fields (``properties``), in schema order."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    return {str(k): v for k, v in properties.items() if isinstance(v, Mapping)}


def describe_question(question: Question) -> str:
    """The question as text for the user (see the module docstring)."""
    if question.mode == "url":
        return (
            f'{question.message}\nOpen {question.url} to continue. Say "done" when you have '
            'finished there, or "decline" or "cancel".'
        )
    form = fields(question.schema)
    required = set(question.schema.get("required") or ())
    lines = [question.message]
    lines += [f"- {_describe_field(name, spec, name in required)}" for name, spec in form.items()]
    lines.append(_how_to_reply(form, required))
    return "\n".join(lines)


def _describe_field(name: str, spec: Mapping[str, Any], required: bool) -> str:
    label = str(spec.get("description") or spec.get("title") or name)
    details = [_kind(spec)]
    if required and "default" not in spec:
        details.append("required")
    if "default" in spec:
        details.append(f"default {_show(spec['default'])}")
    head = name if label == name else f"{name}: {label}"
    return f"{head} ({'; '.join(details)})"


def _kind(spec: Mapping[str, Any]) -> str:
    options = _options(spec)
    if options:
        return "one of: " + ", ".join(title for _value, title in options)
    kind = spec.get("type")
    if kind == "array":
        items = spec.get("items")
        choices = _options(items) if isinstance(items, Mapping) else []
        listed = ", ".join(title for _value, title in choices)
        return f"one or more of: {listed}" if listed else "a list, separated by commas"
    if kind == "boolean":
        return "yes or no"
    if kind in ("integer", "number"):
        word = "a whole number" if kind == "integer" else "a number"
        low, high = spec.get("minimum"), spec.get("maximum")
        if low is not None and high is not None:
            return f"{word} from {_show(low)} to {_show(high)}"
        if low is not None:
            return f"{word}, at least {_show(low)}"
        return f"{word}, at most {_show(high)}" if high is not None else word
    return _FORMATS.get(str(spec.get("format")), "text")


def _options(spec: Mapping[str, Any]) -> list[tuple[Any, str]]:
    """``(value, title)`` of an enum field (``enum`` + ``enumNames``, or ``oneOf`` consts)."""
    if isinstance(spec.get("enum"), list):
        names = spec.get("enumNames")
        values = list(spec["enum"])
        titles = names if isinstance(names, list) and len(names) == len(values) else values
        return [(v, str(t)) for v, t in zip(values, titles, strict=True)]
    for key in ("oneOf", "anyOf"):
        choices = spec.get(key)
        if isinstance(choices, list) and all(
            isinstance(c, Mapping) and "const" in c for c in choices
        ):
            return [(c["const"], str(c.get("title") or c["const"])) for c in choices]
    return []


def _how_to_reply(form: Mapping[str, Mapping[str, Any]], required: set[str]) -> str:
    refuse = 'Say "decline" to refuse or "cancel" to stop.'
    if not form:
        return f'Say "ok" to go on. {refuse}'
    if len(form) == 1:
        reply = "Reply with the value."
    else:
        names = list(form)[:2]
        reply = "Reply like " + ", ".join(f"{n}: …" for n in names) + "."
    if all(name not in required or "default" in spec for name, spec in form.items()):
        reply += ' Fields left out keep their default; "ok" accepts them all.'
    return f"{reply} {refuse}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --------------------------------------------------------------------------- the answer


def parse_answer(question: Question, text: str) -> Answer | str:
    """The user's reply as an :class:`Answer`, or what is wrong with it (a string)."""
    said = text.strip()
    word = said.lower().rstrip(".!")
    if word in CANCEL_WORDS:
        return Answer("cancel")
    if word in DECLINE_WORDS:
        return Answer("decline")
    if question.mode == "url":
        return Answer("accept")
    form = fields(question.schema)
    required = {str(n) for n in question.schema.get("required") or ()}
    content = _read_values(form, required, said, word)
    if isinstance(content, str):
        return content
    return _complete(question.schema, form, content)


def _read_values(
    form: Mapping[str, Mapping[str, Any]], required: set[str], said: str, word: str
) -> dict[str, Any] | str:
    """The values the user gave, by field name (converted), or the problem."""
    if said.startswith("{"):
        try:
            given = json.loads(said)
        except json.JSONDecodeError as exc:
            return f"that is not valid JSON ({exc.msg})"
        if not isinstance(given, dict):
            return "give the answer as a JSON object"
        return _convert_all(form, {str(k): v for k, v in given.items()})
    pairs = _pairs(said)
    if pairs:
        named = _match_names(form, pairs)
        return named if isinstance(named, str) else _convert_all(form, named)
    if len(form) == 1:
        name, spec = next(iter(form.items()))
        value = _convert(spec, said)
        if not isinstance(value, _Bad):
            return {name: value}
        if word in ACCEPT_WORDS:
            return {}
        return f"{name}: {value.problem}"
    if word in ACCEPT_WORDS or not form:
        return {}
    needed = [n for n in form if n in required and "default" not in form[n]]
    if len(needed) == 1:  # the one value without a default: the whole reply is it
        value = _convert(form[needed[0]], said)
        return f"{needed[0]}: {value.problem}" if isinstance(value, _Bad) else {needed[0]: value}
    names = ", ".join(form)
    return f"tell me each value as name: value (the fields are {names})"


def _pairs(said: str) -> list[tuple[str, str]]:
    parts = [p for p in _PAIR_SPLIT.split(said) if p.strip()]
    pairs = [_PAIR.match(part) for part in parts]
    if not pairs or not all(pairs):
        return []
    return [(m.group(1), m.group(2)) for m in pairs if m is not None]


def _match_names(
    form: Mapping[str, Mapping[str, Any]], pairs: list[tuple[str, str]]
) -> dict[str, Any] | str:
    """Pair keys matched to field names (or titles / descriptions), any case."""
    lookup: dict[str, str] = {}
    for name, spec in form.items():
        for key in (name, spec.get("title"), spec.get("description")):
            if isinstance(key, str):
                lookup.setdefault(_norm(key), name)
    named: dict[str, Any] = {}
    for key, value in pairs:
        found = lookup.get(_norm(key))
        if found is None:
            return f"there is no field '{key}' (the fields are {', '.join(form)})"
        named[found] = value
    return named


def _norm(key: str) -> str:
    return re.sub(r"[\s_-]+", " ", key.strip().lower())


def _convert_all(
    form: Mapping[str, Mapping[str, Any]], given: dict[str, Any]
) -> dict[str, Any] | str:
    content: dict[str, Any] = {}
    for name, raw in given.items():
        spec = form.get(name)
        value = _convert(spec, raw) if spec is not None else raw
        if isinstance(value, _Bad):
            return f"{name}: {value.problem}"
        content[name] = value
    return content


class _Bad:
    """A value that does not fit its field."""

    def __init__(self, problem: str) -> None:
        self.problem = problem


def _convert(spec: Mapping[str, Any], raw: Any) -> Any:
    """``raw`` (text from the user, or a JSON value) as the field's type, or :class:`_Bad`."""
    if not isinstance(raw, str):
        return raw  # JSON answers are typed already; the schema check judges them
    text = raw.strip().strip("\"'")
    options = _options(spec)
    if options:
        return _choose(options, text)
    kind = spec.get("type")
    if kind == "array":
        items = spec.get("items")
        choices = _options(items) if isinstance(items, Mapping) else []
        parts = [p.strip() for p in re.split(r",|\band\b", text) if p.strip()]
        picked = [_choose(choices, p) if choices else p for p in parts]
        bad = [p for p in picked if isinstance(p, _Bad)]
        return bad[0] if bad else picked
    if kind == "boolean":
        found = _BOOL_WORDS.get(text.lower())
        return found if found is not None else _Bad(f"'{text}' is not yes or no")
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            return _Bad(f"'{text}' is not a whole number")
    if kind == "number":
        try:
            return float(text) if not re.fullmatch(r"-?\d+", text) else int(text)
        except ValueError:
            return _Bad(f"'{text}' is not a number")
    return text


def _choose(options: list[tuple[Any, str]], text: str) -> Any:
    wanted = text.lower()
    for value, title in options:
        if wanted in (str(value).lower(), title.lower()):
            return value
    return _Bad(f"'{text}' is not one of: {', '.join(title for _v, title in options)}")


def _complete(
    schema: Mapping[str, Any], form: Mapping[str, Mapping[str, Any]], content: dict[str, Any]
) -> Answer | str:
    """Fill defaults (SEP-1034) for fields left out, then check the whole answer."""
    for name, spec in form.items():
        if name not in content and "default" in spec:
            content[name] = spec["default"]
    problem = validation_error(compile_validator(schema, "elicitation"), content)
    if problem is not None:
        missing = [n for n in schema.get("required") or () if n not in content]
        if missing:
            return "missing: " + ", ".join(str(n) for n in missing)
        return problem
    return Answer("accept", content)
