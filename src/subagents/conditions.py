"""The ``exit_if`` / ``if:`` condition language.

A small pypred-style predicate language over slot values, used by ``exit_if`` on ``call``
steps, ``if:`` branches of ``next`` and the flow guard ``if:``. Conditions are parsed once
(:func:`parse_condition` caches by text), checked against the domain's slots at load time
(:meth:`Condition.check`) and evaluated on every slot update (:meth:`Condition.evaluate`,
which never raises).

Grammar (keywords are case-insensitive; precedence ``not`` > ``and`` > ``or``)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | primary
    primary    := "(" expr ")" | comparison
    comparison := value [op value] | value "is" ["not"] value
    op         := "=" | "==" | "!=" | "<" | ">" | "<=" | ">=" | "contains" | "matches"
    value      := slot | string | number | "true" | "false" | "null"
    slot       := "slots." NAME | NAME

A bare ``NAME`` is a slot reference too (``age > 18`` is ``slots.age > 18``). A value on
its own is a truthiness test (``slots.confirmed``). Strings are quoted with ``'`` or ``"``.

Semantics: a missing slot is ``null``. ``=``/``!=`` compare values (a number and a string
that parses as a number compare as numbers; ``true`` never equals ``1``). Ordering works on
two numbers or two strings; anything else is false. ``contains`` is substring (strings) or
membership (lists); ``matches`` is :func:`re.search` with the literal regex.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from subagents.errors import SubagentsError

__all__ = [
    "Condition",
    "ConditionSyntaxError",
    "SlotTyping",
    "as_number",
    "parse_condition",
    "parse_conditions",
    "values_equal",
]


class SlotTyping(Protocol):
    """What the load-time check needs to know about a slot: its type's verdict on a
    comparison (:class:`subagents.config.slots.Slot` and ``SlotConfig`` provide it)."""

    def condition_problem(self, name: str, op: str, literal: Any) -> str | None:
        """Why comparing slot ``name`` with ``literal`` by ``op`` can never make sense."""
        ...


class ConditionSyntaxError(SubagentsError, ValueError):
    """A condition that does not parse; ``position`` is the 0-based column of the problem."""

    def __init__(self, message: str, text: str, position: int) -> None:
        self.text = text
        self.position = position
        self.reason = message
        super().__init__(f"{message} at column {position + 1} in condition: {text}")


# --------------------------------------------------------------------------- tokenizer

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op>==|!=|<=|>=|=|<|>|\(|\))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "is", "contains", "matches", "true", "false", "null", "none"}
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "number" | "string" | "op" | "name" | "kw" | "end"
    value: Any
    pos: int


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            if text[pos] in "'\"":
                raise ConditionSyntaxError("unterminated string", text, pos)
            raise ConditionSyntaxError(f"unexpected character {text[pos]!r}", text, pos)
        kind = m.lastgroup or ""
        raw = m.group()
        if kind == "number":
            tokens.append(_Token("number", float(raw), pos))
        elif kind == "string":
            tokens.append(_Token("string", _unquote(raw), pos))
        elif kind == "op":
            tokens.append(_Token("op", "=" if raw == "==" else raw, pos))
        elif kind == "name":
            low = raw.lower()
            tokens.append(_Token("kw", low, pos) if low in _KEYWORDS else _Token("name", raw, pos))
        pos = m.end()
    tokens.append(_Token("end", None, len(text)))
    return tokens


# --------------------------------------------------------------------------- AST

_MISSING = object()


class _Node:
    __slots__ = ()

    def eval(self, slots: Mapping[str, Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def slot_names(self) -> set[str]:
        return set()

    def children(self) -> Iterable[_Node]:
        return ()


class _Literal(_Node):
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def eval(self, slots: Mapping[str, Any]) -> Any:
        return self.value


class _Slot(_Node):
    __slots__ = ("name", "bare", "pos")

    def __init__(self, name: str, bare: bool, pos: int) -> None:
        self.name = name
        self.bare = bare
        self.pos = pos

    def eval(self, slots: Mapping[str, Any]) -> Any:
        return slots.get(self.name)

    def slot_names(self) -> set[str]:
        return {self.name}


class _Not(_Node):
    __slots__ = ("operand",)

    def __init__(self, operand: _Node) -> None:
        self.operand = operand

    def eval(self, slots: Mapping[str, Any]) -> bool:
        return not _truthy(self.operand.eval(slots))

    def slot_names(self) -> set[str]:
        return self.operand.slot_names()

    def children(self) -> Iterable[_Node]:
        return (self.operand,)


class _BoolOp(_Node):
    __slots__ = ("is_and", "operands")

    def __init__(self, is_and: bool, operands: list[_Node]) -> None:
        self.is_and = is_and
        self.operands = operands

    def eval(self, slots: Mapping[str, Any]) -> bool:
        if self.is_and:
            return all(_truthy(o.eval(slots)) for o in self.operands)
        return any(_truthy(o.eval(slots)) for o in self.operands)

    def slot_names(self) -> set[str]:
        return set().union(*(o.slot_names() for o in self.operands))

    def children(self) -> Iterable[_Node]:
        return self.operands


class _Compare(_Node):
    __slots__ = ("op", "left", "right", "fn", "pos")

    def __init__(self, op: str, left: _Node, right: _Node, pos: int) -> None:
        self.op = op
        self.left = left
        self.right = right
        self.pos = pos
        self.fn = _operator(op, right)

    def eval(self, slots: Mapping[str, Any]) -> bool:
        return self.fn(self.left.eval(slots), self.right.eval(slots))

    def slot_names(self) -> set[str]:
        return self.left.slot_names() | self.right.slot_names()

    def children(self) -> Iterable[_Node]:
        return (self.left, self.right)


# --------------------------------------------------------------------------- semantics


def _truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    try:
        return bool(value)
    except Exception:  # an exotic slot value with a broken __bool__
        return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_number(value: Any) -> float | None:
    """The value as a number if it is one or is a string that cleanly parses as one."""
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def values_equal(a: Any, b: Any) -> bool:
    """Equality as the condition language sees it (``=``)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) or _is_number(b):
        na, nb = as_number(a), as_number(b)
        return na is not None and nb is not None and na == nb
    if type(a) is not type(b) and not (isinstance(a, str) and isinstance(b, str)):
        return bool(isinstance(a, list | tuple) and isinstance(b, list | tuple) and a == b)
    return bool(a == b)


def _ordered(op: str) -> Callable[[Any, Any], bool]:
    cmp: Callable[[Any, Any], bool] = {
        "<": lambda x, y: x < y,
        ">": lambda x, y: x > y,
        "<=": lambda x, y: x <= y,
        ">=": lambda x, y: x >= y,
    }[op]

    def compare(a: Any, b: Any) -> bool:
        if isinstance(a, str) and isinstance(b, str):
            return cmp(a, b)
        if isinstance(a, bool) or isinstance(b, bool):
            return False
        na, nb = as_number(a), as_number(b)
        if na is None or nb is None:
            return False
        return cmp(na, nb)

    return compare


def _contains(a: Any, b: Any) -> bool:
    if isinstance(a, str):
        return isinstance(b, str) and b in a
    if isinstance(a, list | tuple | set | frozenset):
        return any(values_equal(item, b) for item in a)
    if isinstance(a, Mapping):
        return isinstance(b, str) and b in a
    return False


def _matcher(right: _Node) -> Callable[[Any, Any], bool]:
    # A literal pattern is compiled once, at parse time; a slot pattern per evaluation.
    compiled = re.compile(right.value) if isinstance(right, _Literal) else None

    def matches(a: Any, b: Any) -> bool:
        if not isinstance(a, str) or not isinstance(b, str):
            return False
        try:
            pattern = compiled if compiled is not None else re.compile(b)
        except re.error:
            return False
        return pattern.search(a) is not None

    return matches


def _operator(op: str, right: _Node) -> Callable[[Any, Any], bool]:
    if op == "=":
        return values_equal
    if op == "!=":
        return lambda a, b: not values_equal(a, b)
    if op == "contains":
        return _contains
    if op == "matches":
        return _matcher(right)
    return _ordered(op)


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def fail(self, message: str, tok: _Token | None = None) -> ConditionSyntaxError:
        tok = tok or self.peek()
        return ConditionSyntaxError(message, self.text, tok.pos)

    def accept_kw(self, word: str) -> bool:
        tok = self.peek()
        if tok.kind == "kw" and tok.value == word:
            self.i += 1
            return True
        return False

    def parse(self) -> _Node:
        if self.peek().kind == "end":
            raise self.fail("empty condition")
        node = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise self.fail(f"unexpected {_describe(tok)}; expected 'and', 'or' or the end")
        return node

    def expr(self) -> _Node:
        operands = [self.and_expr()]
        while self.accept_kw("or"):
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else _BoolOp(False, operands)

    def and_expr(self) -> _Node:
        operands = [self.not_expr()]
        while self.accept_kw("and"):
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else _BoolOp(True, operands)

    def not_expr(self) -> _Node:
        if self.accept_kw("not"):
            return _Not(self.not_expr())
        return self.primary()

    def primary(self) -> _Node:
        tok = self.peek()
        if tok.kind == "op" and tok.value == "(":
            self.take()
            node = self.expr()
            close = self.peek()
            if close.kind != "op" or close.value != ")":
                raise self.fail(f"expected ')' (to close the '(' at column {tok.pos + 1})")
            self.take()
            return node
        return self.comparison()

    def comparison(self) -> _Node:
        left = self.value()
        tok = self.peek()
        if tok.kind == "kw" and tok.value == "is":
            self.take()
            negate = self.accept_kw("not")
            node: _Node = _Compare("=", left, self.value(), tok.pos)
            return _Not(node) if negate else node
        if (tok.kind == "op" and tok.value not in ("(", ")")) or (
            tok.kind == "kw" and tok.value in ("contains", "matches")
        ):
            self.take()
            right = self.value()
            if tok.value == "matches" and isinstance(right, _Literal):
                self._check_regex(right, tok)
            return _Compare(tok.value, left, right, tok.pos)
        return left

    def _check_regex(self, right: _Literal, tok: _Token) -> None:
        if not isinstance(right.value, str):
            raise self.fail("'matches' needs a quoted regular expression", tok)
        try:
            re.compile(right.value)
        except re.error as exc:
            raise self.fail(f"invalid regular expression {right.value!r} ({exc})", tok) from None

    def value(self) -> _Node:
        tok = self.take()
        if tok.kind in ("number", "string"):
            value = tok.value
            if tok.kind == "number" and value.is_integer() and abs(value) < 2**53:
                value = int(value)
            return _Literal(value)
        if tok.kind == "kw" and tok.value in ("true", "false"):
            return _Literal(tok.value == "true")
        if tok.kind == "kw" and tok.value in ("null", "none"):
            return _Literal(None)
        if tok.kind == "name":
            return self._slot(tok)
        if tok.kind == "end":
            raise self.fail(
                "expected a value (a slot, a quoted string, a number, true, false or null)"
                " but the condition ended",
                tok,
            )
        raise self.fail(f"expected a value but found {_describe(tok)}", tok)

    def _slot(self, tok: _Token) -> _Slot:
        parts = tok.value.split(".")
        if len(parts) == 1:
            return _Slot(parts[0], True, tok.pos)
        if len(parts) == 2 and parts[0] == "slots":
            return _Slot(parts[1], False, tok.pos)
        raise self.fail(
            f"unknown name {tok.value!r}; refer to a slot as slots.<name>"
            " and quote strings ('text')",
            tok,
        )


def _describe(tok: _Token) -> str:
    if tok.kind == "end":
        return "end of condition"
    if tok.kind == "string":
        return f"string {tok.value!r}"
    return repr(tok.value)


# --------------------------------------------------------------------------- public API


class Condition:
    """A parsed condition. Immutable; share it freely across conversations."""

    __slots__ = ("text", "_root", "_slots")

    def __init__(self, text: str, root: _Node) -> None:
        self.text = text
        self._root = root
        self._slots = frozenset(root.slot_names())

    def evaluate(self, slots: Mapping[str, Any]) -> bool:
        """Whether the condition holds for these slot values. Never raises."""
        try:
            return _truthy(self._root.eval(slots))
        except Exception:  # a slot value no operator expected; the condition is false
            return False

    def slot_names(self) -> set[str]:
        """The slots the condition reads, in no particular order."""
        return set(self._slots)

    def check(self, slot_types: Mapping[str, SlotTyping]) -> list[str]:
        """Load-time problems against the domain's slots (empty list when fine)."""
        problems: list[str] = []
        _check_node(self._root, slot_types, problems)
        return problems

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Condition({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Condition) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def parse_condition(text: str) -> Condition:
    """Parse one condition (cached by text). Raises :class:`ConditionSyntaxError`."""
    if not isinstance(text, str):
        raise ConditionSyntaxError(f"a condition must be a string, not {text!r}", str(text), 0)
    return _parse_cached(text)


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Condition:
    return Condition(text, _Parser(text).parse())


def parse_conditions(texts: Sequence[str]) -> Condition:
    """Parse a list of conditions (``exit_if``) into one that holds when all of them hold."""
    if isinstance(texts, str):
        return parse_condition(texts)
    parsed = [parse_condition(t) for t in texts]
    if len(parsed) == 1:
        return parsed[0]
    text = " and ".join(f"({c.text})" for c in parsed)
    return Condition(text, _BoolOp(True, [c._root for c in parsed]))


# --------------------------------------------------------------------------- load-time checks


def _check_node(node: _Node, slot_types: Mapping[str, SlotTyping], out: list[str]) -> None:
    if isinstance(node, _Slot):
        if node.name not in slot_types:
            out.append(_unknown_slot(node, slot_types))
        return
    if isinstance(node, _Compare):
        for side, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(side, _Slot) and isinstance(other, _Literal):
                slot = slot_types.get(side.name)
                if slot is not None:
                    # The slot's type owns which literals and operators make sense.
                    problem = slot.condition_problem(side.name, node.op, other.value)
                    if problem:
                        out.append(problem)
    for child in node.children():
        _check_node(child, slot_types, out)


def _unknown_slot(node: _Slot, slot_types: Mapping[str, SlotTyping]) -> str:
    message = f"unknown slot '{node.name}'"
    close = difflib.get_close_matches(node.name, list(slot_types), n=1)
    if close:
        message += f"; did you mean '{close[0]}'?"
    elif node.bare:
        message += f" (to compare with the text {node.name}, quote it: '{node.name}')"
    else:
        message += " (declare it under slots: in domain.yml)"
    return message
