"""A run filter (:mod:`rung.core.query`) as the ``WHERE`` condition of a query on ``runs``,
on SQLite and on PostgreSQL, so that the metadata store does the filtering (an index per
metric and parameter lookup), whatever the number of runs.

What each field reads:

* ``metrics.K`` — the value of the run's last logged ``K`` (its highest id: what ``rung runs``
  and ``rung show`` print); NaN compares false with everything.
* ``params.K`` — the parameter logged during the run (``params`` table) or else the pipeline
  parameter (``runs.params``), as JSON: a number compares with numbers, a text with texts;
  other kinds (booleans, null, lists, mappings) and mixed kinds compare false.
* ``dataset`` — the dataset versions the run read (``runs.data_reads``): ``dataset = "x@2"``
  holds if it read version 2 of ``x``, ``dataset = "x"`` if it read any version of ``x``;
  ``in`` likewise, ``like`` on ``NAME@VERSION``.
* ``metrics.K is nan`` — the run's last ``K`` is NaN; ``is not nan``: it is a number.
* the other attributes — the ``runs`` column of that name.

Every comparison is false on a run without the field, including ``!=``, ``not in``,
``not between`` and ``not like`` (as in SQL); the logical ``not`` then makes it true.
``like`` is case-sensitive, ``ilike`` ignores the case of the letters A–Z; in a pattern,
``\\%``, ``\\_`` and ``\\\\`` stand for the characters themselves.
"""

from __future__ import annotations

import string
from typing import Any

from rung.core.query import (
    ATTRIBUTES,
    And,
    Compare,
    Expr,
    Field,
    IsNan,
    Like,
    Member,
    Not,
    Or,
    Range,
    Value,
)

_UPPER, _LOWER = string.ascii_uppercase, string.ascii_lowercase
_OPS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class _Sql:
    """The condition being written and its parameters (``:f1``, ``:f2``, …)."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"f{len(self.params) + 1}"
        self.params[name] = value
        return f":{name}"


def where(expr: Expr, dialect: str) -> tuple[str, dict[str, Any]]:
    """The SQL condition on ``runs`` (the table under its own name) that holds exactly for the
    runs ``expr`` selects, and its parameters; ``dialect``: ``sqlite`` or ``postgresql``."""
    sql = _Sql(dialect)
    return _expr(expr, sql), sql.params


def _expr(expr: Expr, sql: _Sql) -> str:
    if isinstance(expr, And):
        return "(" + " AND ".join(_expr(p, sql) for p in expr.parts) + ")"
    if isinstance(expr, Or):
        return "(" + " OR ".join(_expr(p, sql) for p in expr.parts) + ")"
    if isinstance(expr, Not):
        return f"(NOT {_expr(expr.part, sql)})"
    if isinstance(expr, IsNan):
        return _is_nan(expr, sql)
    field = expr.field
    if field.space == "metrics":
        return _metric(expr, sql)
    if field.space == "params":
        return _param(expr, sql)
    if field.key == "dataset":
        return _dataset(expr, sql)
    return f"COALESCE({_condition(expr, f'runs.{field.key}', sql, text=_is_text(field))}, 1=0)"


def _is_text(field: Field) -> bool:
    return ATTRIBUTES.get(field.key) == "text"


def _condition(expr: Expr, column: str, sql: _Sql, *, text: bool) -> str:
    """``expr``'s comparison on ``column`` (NULL where the column is NULL); text compares by
    code point on both databases (PostgreSQL's default collation may follow a locale)."""
    if text and sql.pg and not isinstance(expr, Like):
        column = f'({column} COLLATE "C")'
    if isinstance(expr, Compare):
        return f"{column} {_OPS[expr.op]} {sql.bind(expr.value)}"
    if isinstance(expr, Member):
        inner = ", ".join(sql.bind(v) for v in expr.values)
        return f"{column} {'NOT IN' if expr.negated else 'IN'} ({inner})"
    if isinstance(expr, Range):
        word = "NOT BETWEEN" if expr.negated else "BETWEEN"
        return f"{column} {word} {sql.bind(expr.low)} AND {sql.bind(expr.high)}"
    if isinstance(expr, Like):
        return _like(column, expr, sql)
    raise AssertionError(f"not a comparison: {expr!r}")


def _escaped(pattern: str) -> str:
    """``pattern`` with a lone backslash at its end standing for itself (PostgreSQL refuses a
    pattern that ends with its escape character)."""
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return pattern + "\\" if trailing % 2 else pattern


def _like(column: str, expr: Like, sql: _Sql) -> str:
    negate = "NOT " if expr.negated else ""
    if expr.case:
        if sql.pg:
            return f"{column} {negate}LIKE {sql.bind(_escaped(expr.pattern))}"
        # SQLite's LIKE ignores the case of ASCII letters: GLOB, with the pattern translated
        return f"{column} {negate}GLOB {sql.bind(_glob(expr.pattern))}"
    folded = f"translate({column}, '{_UPPER}', '{_LOWER}')" if sql.pg else f"lower({column})"
    pattern = _escaped(expr.pattern).translate(str.maketrans(_UPPER, _LOWER))
    escape = "" if sql.pg else " ESCAPE '\\'"
    return f"{folded} {negate}LIKE {sql.bind(pattern)}{escape}"


def _glob(pattern: str) -> str:
    """A LIKE pattern (``%``, ``_``, ``\\`` escapes) as a GLOB pattern (``*``, ``?``, the
    characters ``*?[`` as classes of one)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            i += 1
            ch = pattern[i]
            out.append(f"[{ch}]" if ch in "*?[" else ch)
        elif ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        else:
            out.append(f"[{ch}]" if ch in "*?[" else ch)
        i += 1
    return "".join(out)


def _metric(expr: Expr, sql: _Sql) -> str:
    key = sql.bind(expr.field.key)  # type: ignore[union-attr]
    finite = "m.value <> 'NaN'::float8" if sql.pg else "typeof(m.value) <> 'text'"
    cond = _condition(expr, "m.value", sql, text=False)
    return (
        "EXISTS (SELECT 1 FROM metrics m WHERE m.id = (SELECT MAX(l.id) FROM metrics l"
        f" WHERE l.run_id = runs.id AND l.key = {key}) AND {finite} AND {cond})"
    )


def _is_nan(expr: IsNan, sql: _Sql) -> str:
    """``metrics.K is [not] nan`` on the run's last ``K`` (NaN: PostgreSQL's own, which equals
    itself there; SQLite's text ``'NaN'``, as :meth:`~rung.store.metadata.Tx.real` writes it)."""
    key = sql.bind(expr.field.key)
    nan = "m.value = 'NaN'::float8" if sql.pg else "typeof(m.value) = 'text'"
    return (
        "EXISTS (SELECT 1 FROM metrics m WHERE m.id = (SELECT MAX(l.id) FROM metrics l"
        f" WHERE l.run_id = runs.id AND l.key = {key}) AND {'NOT ' if expr.negated else ''}{nan})"
    )


def _param(expr: Expr, sql: _Sql) -> str:
    key = sql.bind(expr.field.key)  # type: ignore[union-attr]
    values = _values(expr)
    numbers = all(not isinstance(v, str) for v in values)
    texts = all(isinstance(v, str) for v in values)
    if not (numbers or texts):  # in (1, "a"): each value against the parameter's own kind
        parts = _split(expr)
        return "(" + " OR ".join(_param(p, sql) for p in parts) + ")"
    if sql.pg:
        pick = "jsonb_typeof(pv.j) = 'number'" if numbers else "jsonb_typeof(pv.j) = 'string'"
        value = "(pv.j #>> '{}')::float8" if numbers else "(pv.j #>> '{}')"
        source = (
            f"SELECT p.value::jsonb AS j FROM params p WHERE p.run_id = runs.id AND p.key = {key}"
            f" UNION ALL SELECT (runs.params::jsonb) -> {key} WHERE (runs.params::jsonb) ? {key}"
            f" AND NOT EXISTS (SELECT 1 FROM params q WHERE q.run_id = runs.id AND q.key = {key})"
        )
    else:
        pick = "pv.t IN ('integer', 'real')" if numbers else "pv.t = 'text'"
        value = "pv.v"
        source = (
            "SELECT json_type(p.value) AS t, json_extract(p.value, '$') AS v FROM params p"
            f" WHERE p.run_id = runs.id AND p.key = {key}"
            f" UNION ALL SELECT je.type, je.value FROM json_each(runs.params) je WHERE je.key = {key}"
            f" AND NOT EXISTS (SELECT 1 FROM params q WHERE q.run_id = runs.id AND q.key = {key})"
        )
    typed = f"(CASE WHEN {pick} THEN {value} END)"
    return f"EXISTS (SELECT 1 FROM ({source}) pv WHERE {_condition(expr, typed, sql, text=texts)})"


def _values(expr: Expr) -> tuple[Value, ...]:
    if isinstance(expr, Compare):
        return (expr.value,)
    if isinstance(expr, Member):
        return expr.values
    if isinstance(expr, Range):
        return (expr.low, expr.high)
    if isinstance(expr, Like):
        return (expr.pattern,)
    return ()


def _split(expr: Expr) -> list[Expr]:
    """A comparison whose values are of both kinds as comparisons of one kind each: ``in``
    holds if either holds, ``not in`` (its negation, on a present field) if the one of the
    parameter's kind holds; a range across kinds holds for nothing."""
    if isinstance(expr, Member):
        numbers = tuple(v for v in expr.values if not isinstance(v, str))
        texts = tuple(v for v in expr.values if isinstance(v, str))
        return [Member(expr.field, numbers, expr.negated), Member(expr.field, texts, expr.negated)]
    # a range from a number to a text: empty, whatever the parameter
    return [Range(expr.field, 1, 0, False)]  # type: ignore[union-attr]


def _dataset(expr: Expr, sql: _Sql) -> str:
    """``dataset``'s comparisons, of the forms :func:`rung.core.query.parse` lets through
    (``=``, ``in``, ``like``; their negations are written with ``not`` in front)."""
    if sql.pg:
        read = "(r.e ->> 'dataset')"
        source = "jsonb_array_elements(COALESCE(runs.data_reads, '[]')::jsonb) AS r(e)"
    else:
        read = "json_extract(r.value, '$.dataset')"
        source = "json_each(COALESCE(runs.data_reads, '[]')) r"
    name = (
        f"split_part({read}, '@', 1)"
        if sql.pg
        else f"(CASE WHEN instr({read}, '@') > 0 THEN substr({read}, 1, instr({read}, '@') - 1)"
        f" ELSE {read} END)"
    )
    if isinstance(expr, Like):
        cond = _like(read, expr, sql)
    else:
        values = (expr.value,) if isinstance(expr, Compare) else expr.values  # type: ignore[union-attr]
        parts = []
        for v in values:
            bound = sql.bind(v)
            parts.append(f"{read} = {bound}" if "@" in str(v) else f"{name} = {bound}")
        cond = "(" + " OR ".join(parts) + ")"
    return f"EXISTS (SELECT 1 FROM {source} WHERE {cond})"
