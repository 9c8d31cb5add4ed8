"""The run filter: one query language for ``rung runs --filter``, the API and the UI.

Written as a user would type it::

    metrics.accuracy > 0.9 and params.C in (0.1, 1) and trigger like "automate job %"
    (status = "failed" or metrics.loss >= 0.5) and not name like "%smoke%"
    metrics.auc between 0.8 and 0.9 and dataset = "sp500@2"

* **Fields**: ``metrics.NAME`` (the run's last logged value of that metric), ``params.NAME``
  (its parameter: a pipeline parameter, or one logged during the run), and the run's own
  attributes — :data:`ATTRIBUTES`: ``id``, ``name``, ``status``, ``trigger``, ``kind``,
  ``started_at``, ``ended_at`` (UNIX seconds), ``code_commit`` and ``dataset`` (a dataset the
  run read: ``"NAME"`` or ``"NAME@VERSION"``). A name holding other characters than letters
  (any alphabet), digits, ``_``, ``-`` and ``.``, or starting with a digit, is written between
  backticks: ``metrics.`val loss```.
* **Comparisons**: ``=`` (or ``==``), ``!=`` (or ``<>``), ``<``, ``<=``, ``>``, ``>=``;
  ``in (V, …)`` and ``not in (V, …)``; ranges ``between LO and HI`` (both ends included; LO
  above HI is refused) and ``not between``; text match ``like`` / ``ilike``
  (case-insensitive) with SQL's wildcards ``%`` (any text) and ``_`` (one character), and
  ``not like`` / ``not ilike``; ``metrics.K is nan`` and ``is not nan``. NaN is in no other
  comparison, ``!=`` included: a choice, since IEEE 754 makes ``NaN != x`` true and
  PostgreSQL makes NaN equal itself; a filter selects NaN only with ``is nan``.
* **Logic**: ``and``, ``or``, ``not`` and parentheses; ``not`` binds tightest, then ``and``,
  then ``or`` (as in SQL and Python). Keywords are case-insensitive.
* **Values**: numbers (``0.9``, ``-1e-3``; an integer beyond ±2**53 is refused: values are
  compared as 64-bit floats, which hold integers exactly only up to there) and text in double
  or single quotes (a quote inside is doubled, as in SQL: ``'it''s'``).
* **Two-valued**: a comparison on a field a run does not have is false, and ``not`` of it true
  (``not metrics.loss > 1`` holds for a run that never logged ``loss``).
* **Types**: a metric is compared with numbers; a parameter as a number when both it and the
  value are numbers, as text when both are texts (a boolean, null, a list or a mapping
  matches neither); ``like`` takes text.

:func:`parse` turns the text into a tree of the dataclasses below (``str()`` of the tree is
its canonical text, which parses back to the same tree). The grammar is Lark's (LALR); a
mistake is an :class:`~rung.core.errors.InvalidInput` naming the position and the fix.
This module only parses; the metadata store's query is built from the tree where runs are
listed (:mod:`rung.pipelines.run_filter`).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from rung.core.errors import InvalidInput

ATTRIBUTES = {
    "id": "number",
    "name": "text",
    "status": "text",
    "trigger": "text",
    "kind": "text",
    "started_at": "number",
    "ended_at": "number",
    "code_commit": "text",
    "dataset": "text",
}
"""The run attributes a filter can name, and what they are compared with."""

MAX_FILTER = 4000
"""Characters of a filter at most (a filter is typed or pasted, not generated)."""

MAX_DEPTH = 24
"""Levels of nesting at most (``not``, parentheses, ``and`` within ``or``): a deeper tree
overflowed SQLite's parser stack (60 nested ``not``) and Python's recursion limit."""

EXAMPLE = 'metrics.accuracy > 0.9 and params.C in (0.1, 1) and status = "succeeded"'

SHELL_QUOTING = "put the whole filter in single quotes: -f 'name = \"wine\"'"
"""The fix for a filter whose quotes the shell removed (``-f "name = "wine""``)."""

Value = float | int | str

EXACT = 2**53
"""The largest integer a filter compares exactly: values are compared as 64-bit floats."""

_GRAMMAR = r"""
?start: or_test
?or_test: and_test (_OR and_test)*
?and_test: not_test (_AND not_test)*
?not_test: NOT not_test -> negation
         | atom
?atom: "(" or_test ")"
     | field COMP value -> compare
     | field NOT? _IN "(" value ("," value)* ")" -> member
     | field NOT? _BETWEEN value _AND value -> range
     | field NOT? LIKE value -> like
     | field _IS NOT? _NAN -> isnan
field: NAME ("." key)*
?key: NAME | QUOTED_NAME
?value: NUMBER | STRING
NOT.2: /not\b/i
_AND.2: /and\b/i
_OR.2: /or\b/i
_IN.2: /in\b/i
_BETWEEN.2: /between\b/i
LIKE.2: /i?like\b/i
_IS.2: /is\b/i
_NAN.2: /nan\b/i
COMP: "==" | "!=" | "<>" | "<=" | ">=" | "=" | "<" | ">"
NAME: /[^\W\d][\w\-]*/
QUOTED_NAME: /`[^`\n]+`/
NUMBER: /[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?(?![A-Za-z_0-9.])/
STRING: /"([^"]|"")*"/ | /'([^']|'')*'/
%ignore /\s+/
"""


@dataclass(frozen=True)
class Field:
    """What a comparison reads: ``space`` is ``metrics``, ``params`` or ``run`` (an
    attribute of :data:`ATTRIBUTES`), ``key`` the metric's, parameter's or attribute's name."""

    space: str
    key: str

    def __str__(self) -> str:
        if self.space == "run":
            return self.key
        shown = self.key if _PLAIN_KEY.fullmatch(self.key) else f"`{self.key}`"
        return f"{self.space}.{shown}"


@dataclass(frozen=True)
class Compare:
    """``field op value`` with ``op`` one of ``= != < <= > >=``."""

    field: Field
    op: str
    value: Value

    def __str__(self) -> str:
        return f"{self.field} {self.op} {_literal(self.value)}"


@dataclass(frozen=True)
class Member:
    """``field in (values)``, or ``not in`` when ``negated``."""

    field: Field
    values: tuple[Value, ...]
    negated: bool = False

    def __str__(self) -> str:
        inner = ", ".join(_literal(v) for v in self.values)
        return f"{self.field} {'not in' if self.negated else 'in'} ({inner})"


@dataclass(frozen=True)
class Range:
    """``field between low and high`` (both included), or ``not between`` when ``negated``."""

    field: Field
    low: Value
    high: Value
    negated: bool = False

    def __str__(self) -> str:
        word = "not between" if self.negated else "between"
        return f"{self.field} {word} {_literal(self.low)} and {_literal(self.high)}"


@dataclass(frozen=True)
class Like:
    """``field like pattern`` (``%`` any text, ``_`` one character); ``ilike`` ignores the
    letter case (``case``: False); ``not`` when ``negated``."""

    field: Field
    pattern: str
    case: bool = True
    negated: bool = False

    def __str__(self) -> str:
        word = ("not " if self.negated else "") + ("like" if self.case else "ilike")
        return f"{self.field} {word} {_literal(self.pattern)}"


@dataclass(frozen=True)
class IsNan:
    """``metrics.K is nan``: the run's last ``K`` is NaN; ``is not nan`` (``negated``): it has
    a ``K`` and the last one is a number (±infinity included). Metrics only."""

    field: Field
    negated: bool = False

    def __str__(self) -> str:
        return f"{self.field} is {'not ' if self.negated else ''}nan"


@dataclass(frozen=True)
class Not:
    part: Expr

    def __str__(self) -> str:
        return f"not {_wrapped(self.part, Not)}"


@dataclass(frozen=True)
class And:
    parts: tuple[Expr, ...]

    def __str__(self) -> str:
        return " and ".join(_wrapped(p, And) for p in self.parts)


@dataclass(frozen=True)
class Or:
    parts: tuple[Expr, ...]

    def __str__(self) -> str:
        return " or ".join(_wrapped(p, Or) for p in self.parts)


Expr = Compare | Member | Range | Like | IsNan | Not | And | Or

_PLAIN_KEY = re.compile(r"[^\W\d][\w\-]*(\.[^\W\d][\w\-]*)*")
_OPS = {"==": "=", "<>": "!="}


def _wrapped(part: Expr, inside: type) -> str:
    """``part`` as text within an ``inside`` node: parenthesised when it binds more loosely."""
    loose = {Not: (And, Or), And: (Or,), Or: ()}[inside]
    return f"({part})" if isinstance(part, loose) else str(part)


def _literal(value: Value) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    return repr(value)


def parse(text: str) -> Expr:
    """The filter ``text`` as a tree (see the module's docstring for the language).

    Raises:
        InvalidInput: a mistake — an unexpected word or character (its position and what
            could come there), an unknown attribute (the nearest names), a value of the wrong
            type for its field, a number that is not finite, or a filter longer than
            :data:`MAX_FILTER` characters.
    """
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

    if not isinstance(text, str):
        raise InvalidInput(f"a filter is text, not {type(text).__name__}", f"write e.g. {EXAMPLE}")
    if len(text) > MAX_FILTER:
        raise InvalidInput(
            f"filter of {len(text)} characters, over the limit of {MAX_FILTER}",
            "write a shorter filter",
        )
    if not text.strip():
        raise InvalidInput("empty filter", f"write e.g. {EXAMPLE}")
    try:
        tree = _parser().parse(text, start="start")
    except UnexpectedEOF as exc:
        raise InvalidInput(
            f"filter {_shown(text)} ends too early, at position {len(text) + 1}",
            _fix("complete it", getattr(exc, "expected", ())),
        ) from None
    except UnexpectedCharacters as exc:
        at = exc.pos_in_stream or 0
        char = text[at : at + 1]
        if char in ('"', "'"):
            fix = f"close the text with a second {char} (a {char} inside it is doubled: {char * 2})"
        elif _GLUED.match(text, at):
            fix = "put a space between the number and the word after it"
        elif char in "\u201c\u201d\u2018\u2019":
            fix = "write straight quotes, \" or ' (a word processor curls them)"
        else:
            fix = _backticks(text, at) or _fix(
                "write a field, an operator and a value", exc.allowed
            )
        raise InvalidInput(
            f"filter {_shown(text)}: unexpected {_word(text, at)!r} at position {at + 1}", fix
        ) from None
    except UnexpectedInput as exc:
        doubled = _DOUBLED.search(_QUOTED.sub(lambda m: "x" * len(m.group()), text))
        if doubled:  # `a and and b`: the second `and` was read as a field's name
            raise InvalidInput(
                f"filter {_shown(text)}: {doubled.group(1)!r} then {doubled.group(2)!r} at"
                f" position {doubled.start(2) + 1}",
                "drop one of them, or write the condition between them",
            ) from None
        token = getattr(exc, "token", None)
        pos = getattr(token, "start_pos", None)
        pos = pos if isinstance(pos, int) else getattr(exc, "pos_in_stream", 0) or 0
        got = str(token) if token is not None else text[pos:][:12]
        if not got:  # the end of the text, as a token
            raise InvalidInput(
                f"filter {_shown(text)} ends too early, at position {len(text) + 1}",
                _fix("complete it", getattr(exc, "expected", ())),
            ) from None
        allowed: Any = getattr(exc, "expected", None) or ()
        if str(token).lower() == "nan" and "STRING" in allowed:
            raise InvalidInput(
                f"filter {_shown(text)}: nan is not a value to compare with (position {pos + 1})",
                "select NaN with `is nan`: metrics.loss is nan (and the rest with is not nan)",
            ) from None
        word = got.lower().lstrip("+-")
        at_value = getattr(token, "type", None) == "NAME" and "STRING" in allowed
        if at_value and word in ("inf", "infinity"):
            raise InvalidInput(
                f"filter {_shown(text)}: {got!r} is not a value to compare with (position"
                f" {pos + 1})",
                "an infinite metric is beyond every finite number: metrics.loss > 1e308 selects"
                " +inf, metrics.loss < -1e308 selects -inf",
            ) from None
        if at_value and word in ("true", "false", "null", "none"):
            raise InvalidInput(
                f"filter {_shown(text)}: {got!r} is not a value a filter compares (position"
                f" {pos + 1})",
                "a filter compares numbers and texts; a boolean or null parameter matches"
                " neither (see its value with rung show RUN)",
            ) from None
        if getattr(token, "type", None) == "NAME" and "STRING" in allowed:
            raise InvalidInput(  # `name = wine`: quotes left out, or eaten by the shell
                f"filter {_shown(text)}: a text value must be quoted, not {got[:20]!r}"
                f" (position {pos + 1})",
                f'write "{got[:20]}"; in a shell, {SHELL_QUOTING}',
            ) from None
        raise InvalidInput(
            f"filter {_shown(text)}: unexpected {got[:20]!r} at position {pos + 1}",
            _backticks(text, pos) or _fix("check what comes before it", allowed),
        ) from None
    depth = _depth(tree)
    if depth > MAX_DEPTH:
        raise InvalidInput(
            f"filter {_shown(text)} nests {depth} levels deep, over the limit of {MAX_DEPTH}",
            "write it flatter: drop doubled `not`s and parentheses around a single condition",
        )
    return _build(tree, text)


_NAME_SO_FAR = re.compile(r"\b((?:metrics|params)\.)(\S[^=<>!()\"']*?)\s*$", re.IGNORECASE)
_OPERATOR = re.compile(r"\s*(==|!=|<>|<=|>=|=|<|>|\b(?:not|in|between|i?like|is)\b)", re.IGNORECASE)


def _backticks(text: str, at: int) -> str | None:
    """The fix for a metric or parameter name cut short at ``at`` by a character a bare name
    cannot hold (``metrics.val loss > 1``, ``params.lr/2 = 1``): the whole name between
    backticks, or None when the text there is not such a name."""
    before = _NAME_SO_FAR.search(text[:at])
    if before is None:
        return None
    rest = text[before.start(2) :]
    end = _OPERATOR.search(rest)
    name = (rest[: end.start()] if end else rest).strip()
    if not name or "`" in name:
        return None
    return (
        f"a name with spaces or other characters goes between backticks: {before.group(1)}`{name}`"
    )


def parse_field(text: str, what: str) -> Field:
    """A field's name alone — ``metrics.NAME``, ``params.NAME`` (between backticks when it
    holds other characters, as in a filter) or an attribute — for a sort key or a column;
    ``what`` names it in the error (``sort key``).

    Raises :class:`InvalidInput` naming the text and the forms it may take, with the nearest
    attribute for an unknown one."""
    from lark.exceptions import UnexpectedInput

    if not isinstance(text, str) or not text.strip() or len(text) > MAX_FILTER:
        raise InvalidInput(
            f"{what} {_shown(str(text))} is not a field's name",
            "write metrics.NAME, params.NAME or a run attribute",
        )
    try:
        tree = _parser().parse(text.strip(), start="field")
    except UnexpectedInput:
        hint = _backticks(text + " =", len(text)) or (
            "write metrics.NAME, params.NAME (a name with spaces or other characters between"
            " backticks: metrics.`val loss`) or a run attribute"
        )
        raise InvalidInput(f"{what} {_shown(text)} is not a field's name", hint) from None
    try:
        return _field(tree, text)
    except InvalidInput as exc:
        raise InvalidInput(
            exc.message.replace(f"filter {_shown(text)}", f"{what} {_shown(text)}", 1), exc.hint
        ) from None


def _depth(tree: Any) -> int:
    """The nesting depth of Lark's parse ``tree`` (counted without recursion)."""
    from lark import Tree

    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        if node.data in ("or_test", "and_test", "negation"):
            deepest = max(deepest, level)
            stack.extend((k, level + 1) for k in node.children if isinstance(k, Tree))
    return deepest


_GLUED = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[A-Za-z_]")
_QUOTED = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'|`[^`]*`')
_DOUBLED = re.compile(r"\b(and|or|not)\s+(and|or)\b", re.IGNORECASE)


def _word(text: str, at: int) -> str:
    """The word of ``text`` from ``at`` on (to the next space), at most 20 characters."""
    word = text[at:].split(None, 1)[0] if text[at:].strip() else text[at:]
    return word if len(word) <= 20 else word[:19] + "…"


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


_TERMINALS = {
    "COMP": "a comparison (=, !=, <, <=, >, >=)",
    "_IN": "in",
    "NOT": "not",
    "_BETWEEN": "between",
    "LIKE": "like",
    "NUMBER": "a number",
    "STRING": "a quoted text",
    "NAME": "a field",
    "LPAR": "(",
    "RPAR": ")",
    "_AND": "and",
    "_OR": "or",
    "_IS": "is",
    "_NAN": "nan",
    "COMMA": ",",
    "DOT": ".",
    "QUOTED_NAME": "a `quoted` name",
    "$END": "the end",
}


def _fix(what: str, names: Any) -> str:
    """``what`` to do, then what the grammar could take there — or, when that is unknown, an
    example of a whole filter."""
    expected = _expected(names)
    return f"{what}{expected}" if expected else f"{what}, e.g. {EXAMPLE}"


def _expected(names: Any) -> str:
    """What the grammar could take there, in words: literal tokens quoted (`and`, `)`)."""
    words = set()
    for n in names or ():
        word = _TERMINALS.get(n, n.lower())
        literal = word in (
            "(",
            ")",
            ",",
            ".",
            "and",
            "or",
            "not",
            "in",
            "between",
            "like",
            "is",
            "nan",
        )
        words.add(f"`{word}`" if literal else word)
    return f" (expected {', '.join(sorted(words))})" if words else ""


@functools.lru_cache(maxsize=1)
def _parser() -> Any:
    from lark import Lark

    return Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False, start=["start", "field"])


def _build(tree: Any, text: str) -> Expr:
    """The dataclass tree of Lark's parse ``tree`` (every node a ``lark.Tree``: the grammar
    inlines no bare token), with types checked."""
    kind, kids = str(tree.data), tree.children
    if kind in ("or_test", "and_test"):  # (a and b) and c is a and b and c: one node
        node = Or if kind == "or_test" else And
        parts: list[Expr] = []
        for k in kids:
            part = _build(k, text)
            parts.extend(part.parts if isinstance(part, node) else (part,))
        return node(tuple(parts))
    if kind == "negation":
        return Not(_build(kids[-1], text))
    field = _field(kids[0], text)
    made = _comparison(kind, field, kids, text)
    if field.key == "dataset" and field.space == "run" and not _dataset_form(made):
        values = [v for v in _dataset_values(made) if isinstance(v, str)] or ["NAME"]
        read = (
            f"dataset like {_literal(values[0])}"
            if isinstance(made, Like)
            else f"dataset = {_literal(values[0])}"
            if len(values) == 1
            else f"dataset in ({', '.join(map(_literal, values))})"
        )
        raise InvalidInput(
            f"filter {_shown(text)}: dataset takes `=`, `in` and `like` (which runs read it),"
            f" not `{_operator(made)}`",
            f"for the runs that did not read it write `not {read}`"
            if _negative(made)
            else f'write `{read}` (NAME or NAME@VERSION) or `dataset like "NAME@%"`',
        )
    return made


def _dataset_values(node: Expr) -> list[Value]:
    if isinstance(node, Compare):
        return [node.value]
    if isinstance(node, Member):
        return list(node.values)
    if isinstance(node, Range):
        return [node.low, node.high]
    return [node.pattern] if isinstance(node, Like) else []


def _operator(node: Expr) -> str:
    """The comparison word of ``node``: ``!=``, ``not in``, ``between`` …"""
    if isinstance(node, Compare):
        return node.op
    word = {Member: "in", Range: "between", Like: "like"}.get(type(node), "")
    return ("not " if getattr(node, "negated", False) else "") + word


def _negative(node: Expr) -> bool:
    """``!=`` and the ``not`` forms: meant as "did not read it"."""
    return (isinstance(node, Compare) and node.op == "!=") or bool(getattr(node, "negated", False))


def _dataset_form(node: Expr) -> bool:
    """Whether ``node`` is a comparison ``dataset`` takes: a set of reads holds ``=``, ``in``
    and ``like`` (read by any), not their negations or an order."""
    if isinstance(node, Compare):
        return node.op == "="
    return isinstance(node, Member | Like) and not node.negated


def _comparison(kind: str, field: Field, kids: list[Any], text: str) -> Expr:
    """The comparison node ``kind`` (compare, member, range, like) on ``field``."""
    from lark import Token

    if kind == "compare":
        op = _OPS.get(str(kids[1]), str(kids[1]))
        value = _value(kids[2])
        _check_type(field, value, text)
        return Compare(field, op, value)
    negated = len(kids) > 1 and isinstance(kids[1], Token) and kids[1].type == "NOT"
    rest = kids[2:] if negated else kids[1:]
    if kind == "member":
        values = tuple(_value(v) for v in rest)
        for v in values:
            _check_type(field, v, text)
        return Member(field, values, negated)
    if kind == "range":
        low, high = _value(rest[0]), _value(rest[1])
        _check_type(field, low, text)
        _check_type(field, high, text)
        if isinstance(low, str) == isinstance(high, str) and low > high:  # type: ignore[operator]
            made = Range(field, low, high, negated)
            held = f"every run with {field}" if negated else "no run"
            raise InvalidInput(
                f"filter {_shown(text)}: {made} holds for {held}: its low end"
                f" {_literal(low)} is above its high end {_literal(high)}",
                f"write the low end first: {Range(field, high, low, negated)}",
            )
        return Range(field, low, high, negated)
    if kind == "isnan":
        if field.space != "metrics":
            raise InvalidInput(
                f"filter {_shown(text)}: {field} is nan: only a metric can be NaN",
                "write e.g. metrics.loss is nan, or metrics.loss is not nan",
            )
        return IsNan(field, negated)
    if kind == "like":
        word, pattern = str(rest[0]).lower(), _value(rest[1])
        numeric = field.space == "metrics" or ATTRIBUTES.get(field.key) == "number"
        if not isinstance(pattern, str) or numeric:
            raise InvalidInput(
                f"filter {_shown(text)}: {field} {word} needs a text pattern and a field"
                f" holding text, not {_literal(pattern)}",
                f'write e.g. name {word} "%train%" (% any text, _ one character)',
            )
        return Like(field, pattern, case=word == "like", negated=negated)
    raise AssertionError(f"unhandled node {kind}")  # the grammar has no other


def _field(tree: Any, text: str) -> Field:
    from rung.core.suggest import unknown

    parts = [str(t)[1:-1] if str(t).startswith("`") else str(t) for t in tree.children]
    head = parts[0]
    if head.lower() in ("metrics", "params") and len(parts) > 1:
        return Field(head.lower(), ".".join(parts[1:]))
    if head.lower() in ("metrics", "params", "metric", "param"):
        space = "metrics" if head.lower().startswith("metric") else "params"
        raise InvalidInput(
            f"filter {_shown(text)}: {head!r} needs a name after it",
            f"write {space}.NAME, e.g. {space}.{'accuracy' if space == 'metrics' else 'C'}",
        )
    name = ".".join(parts)
    if name.lower() in ATTRIBUTES:
        return Field("run", name.lower())
    error = unknown(
        "field",
        name,
        [*ATTRIBUTES, "metrics.NAME", "params.NAME"],
        f"a filter reads metrics.NAME, params.NAME or one of {', '.join(ATTRIBUTES)}",
    )
    raise InvalidInput(f"filter {_shown(text)}: {error.message}", error.hint) from None


def _value(token: Any) -> Value:
    raw = str(token)
    if token.type == "STRING":
        quote = raw[0]
        return raw[1:-1].replace(quote * 2, quote)
    number = float(raw)
    if not math.isfinite(number):
        raise InvalidInput(f"number {raw[:40]!r} is not finite", "write a number within ±1.8e308")
    if re.fullmatch(r"[+-]?\d+", raw):
        if abs(int(raw)) > EXACT:
            raise InvalidInput(
                f"integer {raw[:40]} is beyond ±2**53 ({EXACT}), where 64-bit floats stop"
                " holding every integer: the comparison would not be exact",
                "compare with a value within ±9007199254740992, or log such an id as text",
            )
        return int(raw)
    return number


def _check_type(field: Field, value: Value, text: str) -> None:
    wants = "number" if field.space == "metrics" else ATTRIBUTES.get(field.key, "any")
    if field.space == "params" or wants == "any":
        return
    if wants == "number" and isinstance(value, str) and value.strip().lower() == "nan":
        raise InvalidInput(
            f"filter {_shown(text)}: {field} is compared with numbers, not {_literal(value)}",
            f"select NaN with {field} is nan (and the rest with {field} is not nan)"
            if field.space == "metrics"
            else "only a metric can be NaN",
        )
    if wants == "number" and isinstance(value, str):
        fix = f"write a number, e.g. {field} > 0.5"
        if _is_number(value):
            fix = f"write the number without quotes: {value.strip()}"
        elif field.key.endswith("_at"):
            fix = f"write UNIX seconds, e.g. {field} > 1767225600 (2026-01-01 00:00:00 UTC)"
            seconds = _iso_seconds(value)
            if seconds is not None:
                naive = _iso_seconds(value + "+00:00") is not None
                fix = f"write UNIX seconds: {_literal(value)} is {seconds}" + (
                    " (read as UTC)" if naive else ""
                )
        raise InvalidInput(
            f"filter {_shown(text)}: {field} is compared with numbers, not {_literal(value)}",
            fix,
        )
    if wants == "text" and not isinstance(value, str):
        raise InvalidInput(
            f"filter {_shown(text)}: {field} is compared with text, not {_literal(value)}",
            f'quote it, e.g. {field} = "{value}"',
        )


def _iso_seconds(text: str) -> int | None:
    """The UNIX seconds of an ISO 8601 date or time (``2026-11-30``, ``2026-11-30 22:24:54``,
    read as UTC unless it names its offset), or None for any other text."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text.strip().removesuffix(" UTC"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
