"""Azkaban Flow 2.0 conditions: macros over parent statuses and expressions over parent outputs.

Grammar (operators as in Azkaban):  expr := or;  or := and ('||' and)*;  and := not ('&&' not)*;
not := '!' not | cmp;  cmp := atom (('=='|'!='|'>'|'>='|'<'|'<=') atom)?;
atom := '(' expr ')' | macro | '${' job ':' param '}' | number | 'string' | "string" | true | false.
A condition without a macro also requires all_success, as in Azkaban.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

MACROS = ("all_success", "all_done", "all_failed", "one_success", "one_failed")
DEFAULT_MACRO = "all_success"


class ConditionError(ValueError):
    """The condition text does not parse."""


@dataclass(frozen=True)
class Macro:
    name: str


@dataclass(frozen=True)
class Ref:
    job: str
    param: str


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # "&&" or "||"
    left: Node
    right: Node


@dataclass(frozen=True)
class Compare:
    op: str
    left: Node
    right: Node


Node = Macro | Ref | Literal | Not | BoolOp | Compare

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<ref>\$\{(?P<job>[^:}]+):(?P<param>[^}]+)\})
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<str>'[^']*'|"[^"]*")
    | (?P<op>==|!=|>=|<=|&&|\|\||[<>!()])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ConditionError(f"unexpected character {text[pos:].strip()[:1]!r} at position {pos}")
        pos = match.end()
        if match["ref"]:
            tokens.append(("ref", Ref(match["job"].strip(), match["param"].strip())))
        elif match["num"]:
            num = match["num"]
            tokens.append(("lit", Literal(float(num) if "." in num else int(num))))
        elif match["str"]:
            tokens.append(("lit", Literal(match["str"][1:-1])))
        elif match["op"]:
            tokens.append(("op", match["op"]))
        else:
            word = match["word"]
            if word in MACROS:
                tokens.append(("macro", Macro(word)))
            elif word in ("true", "false"):
                tokens.append(("lit", Literal(word == "true")))
            else:
                raise ConditionError(f"unknown word {word!r} (macros are {', '.join(MACROS)})")
    return tokens


# A condition is a line of a flow file, not a program: these bounds keep parsing and evaluating it (both
# recursive) far from Python's recursion limit, so a hostile one is refused with a reason instead of crashing.
MAX_TOKENS = 200
MAX_NESTING = 32


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ConditionError(f"nested more than {MAX_NESTING} deep (parentheses and '!')")

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take_op(self, *ops: str) -> str | None:
        token = self.peek()
        if token and token[0] == "op" and token[1] in ops:
            self.pos += 1
            return token[1]
        return None

    def parse(self) -> Node:
        if not self.tokens:
            raise ConditionError("empty condition")
        if len(self.tokens) > MAX_TOKENS:
            raise ConditionError(f"too long: {len(self.tokens)} terms and operators, at most {MAX_TOKENS}")
        node = self.or_()
        if self.peek() is not None:
            raise ConditionError(f"unexpected {self.peek()[1]!r} after a complete expression")  # type: ignore[index]
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.take_op("||"):
            node = BoolOp("||", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.take_op("&&"):
            node = BoolOp("&&", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.take_op("!"):
            self.nest()
            node = Not(self.not_())
            self.depth -= 1
            return node
        return self.cmp()

    def cmp(self) -> Node:
        left = self.atom()
        op = self.take_op(*_COMPARISONS)
        if op is None:
            return left
        return Compare(op, left, self.atom())

    def atom(self) -> Node:
        token = self.peek()
        if token is None:
            raise ConditionError("expression ends too early")
        self.pos += 1
        kind, value = token
        if kind in ("ref", "lit", "macro"):
            return value
        if value == "(":
            self.nest()
            node = self.or_()
            if not self.take_op(")"):
                raise ConditionError("missing ')'")
            self.depth -= 1
            return node
        raise ConditionError(f"unexpected {value!r}")


@lru_cache(maxsize=4096)
def parse(text: str) -> Node:
    """Parse a condition; raises ConditionError naming the problem. The tree is immutable, so parses are cached:
    react reads a job's condition on every consideration."""
    return _Parser(_tokenize(text)).parse()


def walk(node: Node) -> list[Node]:
    out: list[Node] = [node]
    if isinstance(node, Not):
        out += walk(node.operand)
    elif isinstance(node, BoolOp | Compare):
        out += walk(node.left) + walk(node.right)
    return out


def macros(node: Node) -> list[str]:
    return [n.name for n in walk(node) if isinstance(n, Macro)]


def refs(node: Node) -> list[Ref]:
    return [n for n in walk(node) if isinstance(n, Ref)]


@dataclass(frozen=True)
class ParentView:
    """What a condition may see of its parents."""

    statuses: tuple[str, ...]  # final statuses: SUCCEEDED, FAILED, SKIPPED, CANCELLED
    outputs: Mapping[str, Mapping[str, str]]  # job -> param -> JSON text


# Azkaban counts FAILED, KILLED and CANCELLED as failed (Status.isStatusFailed, used by
# ConditionalWorkflowUtils.checkConditionOnJobStatus). A job Kafkaban skips (its condition false, or a parent not
# successful) is one Azkaban cancels, and a cancelled one is killed or cancelled there.
FAILED_LIKE = frozenset({"FAILED", "SKIPPED", "CANCELLED"})


def macro_holds(name: str, statuses: tuple[str, ...]) -> bool:
    if name == "all_success":
        return all(s == "SUCCEEDED" for s in statuses)
    if name == "all_done":
        return True  # evaluated only once every parent has ended
    if name == "all_failed":
        return all(s in FAILED_LIKE for s in statuses)
    if name == "one_success":
        return any(s == "SUCCEEDED" for s in statuses)
    if name == "one_failed":
        return any(s in FAILED_LIKE for s in statuses)
    raise ConditionError(f"unknown macro {name!r}")


def names_a_macro(condition: str | None) -> bool:
    """Whether the condition names a status macro (without one, it also requires all_success)."""
    return condition is not None and bool(macros(parse(condition)))


def handles_failure(condition: str | None) -> bool:
    """Whether a child with this condition handles its parent's failure: it names a status macro other than
    all_success (Azkaban's FlowRunner.setFlowFailed: the flow is failed unless every child of the failed job
    has such a condition). A condition that does not parse handles nothing; validation reports it."""
    if condition is None:
        return False
    try:
        named = macros(parse(condition))
    except ConditionError:
        return False
    return bool(named) and DEFAULT_MACRO not in named


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


_ORDER: Mapping[str, Callable[[Any, Any], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _compare(op: str, left: Any, right: Any) -> bool:
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        left, right = a, b
    elif isinstance(left, bool) or isinstance(right, bool) or left is None or right is None:
        pass
    else:
        left, right = str(left), str(right)
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if type(left) is not type(right) or left is None:
        return False
    return _ORDER[op](left, right)


def _value(node: Node, view: ParentView) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Ref):
        raw = view.outputs.get(node.job, {}).get(node.param)
        return None if raw is None else json.loads(raw)
    return _truth(node, view)


def _truth(node: Node, view: ParentView) -> bool:
    if isinstance(node, Macro):
        return macro_holds(node.name, view.statuses)
    if isinstance(node, Not):
        return not _truth(node.operand, view)
    if isinstance(node, BoolOp):
        if node.op == "&&":
            return _truth(node.left, view) and _truth(node.right, view)
        return _truth(node.left, view) or _truth(node.right, view)
    if isinstance(node, Compare):
        return _compare(node.op, _value(node.left, view), _value(node.right, view))
    return bool(_value(node, view))


def holds(condition: str | None, view: ParentView) -> bool:
    """Whether a job whose parents have all ended should run."""
    if condition is None:
        return macro_holds(DEFAULT_MACRO, view.statuses)
    if not names_a_macro(condition) and not macro_holds(DEFAULT_MACRO, view.statuses):
        return False
    return _truth(parse(condition), view)
