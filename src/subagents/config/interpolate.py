"""``${VAR}`` / ``${VAR:-default}`` interpolation of string values.

Rules (documented in docs/configuration.md):

* ``${VAR}`` is replaced by the environment variable ``VAR``; an unset variable is an error.
* ``${VAR:-default}`` uses ``default`` when ``VAR`` is unset or empty (as in the shell).
* ``$${`` writes a literal ``${``; a ``$`` not followed by ``{`` is kept as is.
* Substitution works anywhere inside a string (``"Bearer ${TOKEN}"``); the result is always
  a string, which pydantic converts for numeric fields (``timeout: ${TIMEOUT:-30}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from subagents.errors import SubagentsError

_REF_RE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_BODY_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


class InterpolationError(SubagentsError, ValueError):
    """A ``${...}`` reference that is malformed or names an unset variable."""


@dataclass
class Interpolated:
    """The result of interpolating one string."""

    value: str
    used: bool = False
    """Whether any ``${...}`` reference was substituted."""
    substituted: list[str] = field(default_factory=list)
    """The substituted texts (variable values or defaults), for secret redaction."""


def interpolate(text: str, env: Mapping[str, str]) -> Interpolated:
    """Substitute every ``${...}`` in ``text`` from ``env``.

    Raises :class:`InterpolationError` naming the variable for an unset ``${VAR}`` or a
    malformed reference.
    """
    if "$" not in text:
        return Interpolated(text)
    result = Interpolated("")
    parts: list[str] = []
    pos = 0
    for m in _REF_RE.finditer(text):
        parts.append(text[pos : m.start()])
        pos = m.end()
        token = m.group()
        if token == "$${":
            parts.append("${")
            continue
        if m.group(1) is None:
            raise InterpolationError(f"unclosed '${{' in {text!r}; write ${{VAR}}")
        value = _resolve(m.group(1), env)
        result.used = True
        result.substituted.append(value)
        parts.append(value)
    parts.append(text[pos:])
    result.value = "".join(parts)
    return result


def _resolve(body: str, env: Mapping[str, str]) -> str:
    m = _BODY_RE.fullmatch(body.strip())
    if m is None:
        raise InterpolationError(
            f"malformed reference '${{{body}}}'; write ${{VAR}} or ${{VAR:-default}}"
        )
    name, default = m.group(1), m.group(2)
    if default is not None and "${" in default:
        raise InterpolationError(f"nested reference in '${{{body}}}' is not supported")
    value = env.get(name)
    if default is not None:
        return value if value else default
    if value is None:
        raise InterpolationError(
            f"environment variable {name} is not set; export it or write ${{{name}:-default}}"
        )
    return value
