"""JSON-schema helpers for tools: what is sent to the model, and argument validation.

* :func:`schema_for_model` turns a schema *as published* into one every provider accepts:
  ``$schema``/``$id`` dropped, ``$ref`` resolved inline (recursive ones kept together with
  their ``$defs``), never a dangling ``$ref``, always ``type: object`` at the top.
* :func:`compile_validator` builds a jsonschema validator once per tool; the loop calls
  :func:`validation_error` before every call.
* :func:`coerce_to_schema` converts a slot value to a parameter's schema type (flow tool
  steps fill parameters from slots, whose types are not the tool's).
* :class:`ToolNameMapper` maps tool names outside ``^[a-zA-Z0-9_-]{1,64}$`` to safe names,
  reversibly, so the server is still called with its own name.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from collections.abc import Mapping
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.protocols import Validator

logger = logging.getLogger("subagents.tools.schema")

SAFE_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_UNSAFE_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_DROP_KEYS = ("$schema", "$id")
_DEFS_KEYS = ("$defs", "definitions")


# --------------------------------------------------------------------------- schema for the model


def schema_for_model(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a copy of ``schema`` that providers accept (see module docstring)."""
    if not isinstance(schema, Mapping) or not schema:
        return {"type": "object", "properties": {}}
    root = copy.deepcopy(dict(schema))
    defs: dict[str, Any] = {}
    for key in _DEFS_KEYS:
        found = root.pop(key, None)
        if isinstance(found, Mapping):
            defs.update(found)
    recursive: set[str] = set()
    resolved = _resolve(root, defs, (), recursive)
    assert isinstance(resolved, dict)
    if recursive:
        # Recursive definitions cannot be inlined: keep them (and what they use) in $defs.
        kept: dict[str, Any] = {}
        pending = list(recursive)
        while pending:
            name = pending.pop()
            if name in kept:
                continue
            kept[name] = _resolve(copy.deepcopy(defs[name]), defs, (name,), set(), keep=True)
            pending.extend(r for r in _refs_in(kept[name]) if r not in kept)
        resolved["$defs"] = kept
    if resolved.get("type") != "object":
        resolved["type"] = "object"
    resolved.setdefault("properties", {})
    return resolved


def _resolve(
    node: Any,
    defs: Mapping[str, Any],
    stack: tuple[str, ...],
    recursive: set[str],
    *,
    keep: bool = False,
) -> Any:
    """Inline local ``$ref``s; a ref already on ``stack`` is recursive and stays a ref."""
    if isinstance(node, list):
        return [_resolve(item, defs, stack, recursive, keep=keep) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = defs.get(_normalise_ref(ref)) if _normalise_ref(ref) else None
        if target is None:
            # External or dangling reference: the model gets "anything" rather than a
            # schema the provider rejects; validation still uses the published schema.
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return _resolve(rest, defs, stack, recursive, keep=keep)
        norm = _normalise_ref(ref)
        if norm in stack or keep:
            recursive.add(norm)
            return {"$ref": "#/$defs/" + norm}
        inlined = _resolve(copy.deepcopy(target), defs, (*stack, norm), recursive)
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        if siblings and isinstance(inlined, dict):
            inlined = {**inlined, **_resolve(siblings, defs, stack, recursive)}
        return inlined
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS:
            continue
        out[key] = _resolve(value, defs, stack, recursive, keep=keep)
    return out


def _normalise_ref(ref: str) -> str:
    """``#/$defs/X`` and ``#/definitions/X`` → ``X``; anything else is not resolvable."""
    for key in _DEFS_KEYS:
        prefix = f"#/{key}/"
        if ref.startswith(prefix) and "/" not in ref[len(prefix) :]:
            return ref[len(prefix) :]
    return ""


def _refs_in(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and _normalise_ref(ref):
            found.append(_normalise_ref(ref))
        for value in node.values():
            found.extend(_refs_in(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_refs_in(item))
    return found


# --------------------------------------------------------------------------- validation


def compile_validator(schema: Mapping[str, Any] | None, tool_name: str = "") -> Validator:
    """A validator for ``schema`` as published (``$ref`` resolved by jsonschema).

    A schema that is itself invalid is logged and replaced by "any JSON object", so one
    broken tool never makes an agent unusable.
    """
    published: Mapping[str, Any] = schema if isinstance(schema, Mapping) and schema else {}
    cls = jsonschema.validators.validator_for(published, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(published)
    except SchemaError as exc:
        logger.warning("tool.schema.invalid", extra={"tool": tool_name, "error": exc.message[:200]})
        cls = jsonschema.Draft202012Validator
        published = {"type": "object"}
    return cls(published)


def coerce_to_schema(value: Any, schema: Mapping[str, Any] | None) -> Any:
    """``value`` converted to the JSON type ``schema`` asks for, when that is lossless.

    A value of an accepted type is returned as is; ``"42"`` → 42 for an integer, 3.0 → 3,
    ``"true"`` → True for a boolean, 12.5 → ``"12.5"`` for a string, a scalar → ``[x]``
    for an array. Anything else is returned unchanged for the validator to refuse.
    """
    types = _schema_types(schema)
    if (
        not types
        or _json_type(value) in types
        or (isinstance(value, int) and not isinstance(value, bool) and "number" in types)
    ):
        return value
    for kind in types:
        converted = _convert(value, kind)
        if converted is not _NO:
            return converted
    return value


_NO: Any = object()
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


def _schema_types(schema: Mapping[str, Any] | None) -> list[str]:
    """The JSON types a schema allows (``type``, or the branches of ``anyOf``/``oneOf``)."""
    if not isinstance(schema, Mapping):
        return []
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    found: list[str] = []
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key) or []:
            found.extend(_schema_types(branch))
    return found


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return "object" if isinstance(value, Mapping) else type(value).__name__


def _convert(value: Any, kind: str) -> Any:
    """``value`` as JSON type ``kind``, or ``_NO``."""
    text = value.strip() if isinstance(value, str) else None
    if kind == "integer":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if text is not None and re.fullmatch(r"[+-]?\d+", text):
            return int(text)
    elif kind == "number" and text is not None:
        try:
            return float(text)
        except ValueError:
            return _NO
    elif kind == "boolean" and text is not None and text.lower() in _TRUE | _FALSE:
        return text.lower() in _TRUE
    elif kind == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    elif kind == "string" and isinstance(value, bool):
        return "true" if value else "false"
    elif kind == "array" and _json_type(value) not in ("array", "null"):
        return [value]
    return _NO


def validation_error(validator: Validator, arguments: Any) -> str | None:
    """``None`` when ``arguments`` are valid, else a short description of every problem."""
    errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    return "; ".join(_describe(e) for e in errors[:5])


def _describe(error: ValidationError) -> str:
    path = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    where = f"at '{path.lstrip('.')}'" if path else "at the top level"
    message = error.message if len(error.message) <= 300 else error.message[:300] + "..."
    return f"{message} ({where})"


# --------------------------------------------------------------------------- names


class ToolNameMapper:
    """Reversible mapping between tool names and names every provider accepts."""

    def __init__(self) -> None:
        self._to_safe: dict[str, str] = {}
        self._to_own: dict[str, str] = {}

    def add(self, own: str) -> str:
        """Register ``own`` and return the name to send to the model."""
        if own in self._to_safe:
            return self._to_safe[own]
        safe = own if SAFE_NAME.match(own) else _safe_candidate(own)
        if safe in self._to_own and self._to_own[safe] != own:
            safe = _safe_candidate(own, force_hash=True)
        self._to_safe[own] = safe
        self._to_own[safe] = own
        return safe

    def own(self, safe: str) -> str | None:
        """The tool's own name for a name the model used (``None`` if unknown)."""
        return self._to_own.get(safe)

    def safe(self, own: str) -> str:
        return self._to_safe[own]


def _safe_candidate(name: str, *, force_hash: bool = False) -> str:
    cleaned = _UNSAFE_CHARS.sub("_", name) or "tool"
    if len(cleaned) <= 64 and not force_hash:
        return cleaned
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{cleaned[:55]}_{digest}"
