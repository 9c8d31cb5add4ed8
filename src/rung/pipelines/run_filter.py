"""A run filter (:mod:`rung.core.query`) as the ``WHERE`` condition of a query on ``runs``,
on SQLite and on PostgreSQL, so that the metadata store does the filtering, whatever the
number of runs.

What each field reads:

* ``metrics.K`` — the value of the run's last logged ``K`` (its highest id: what ``rung runs``
  and ``rung show`` print), from ``latest_metrics``; NaN compares false with everything.
* ``params.K`` — the parameter logged during the run (``params`` table) or else the pipeline
  parameter (``runs.params``), from ``run_params``, typed: a JSON number compares with
  numbers, a text with texts; other kinds (booleans, null, lists, mappings) and mixed kinds
  compare false.

``latest_metrics`` and ``run_params`` (migration 0018) are kept by database triggers in the
same transaction as every write of their sources, and indexed by ``(key, value)``: a
selective condition is an index range scan, the others a lookup by ``(run_id, key)`` per run
(:func:`where` chooses, from the sizes of the conditions).
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
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from rung.store.metadata import Tx

_UPPER, _LOWER = string.ascii_uppercase, string.ascii_lowercase
_OPS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
PREFIX = 200  # characters of a text parameter in the index (migration 0018)
NOT_NULL = frozenset({"id", "name", "kind", "status", "trigger", "started_at"})
"""The attributes whose ``runs`` column is ``NOT NULL`` (a test checks them with the schema)."""


class _Sql:
    """The condition being written and its parameters (``:f1``, ``:f2``, …)."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"f{len(self.params) + 1}"
        self.params[name] = value
        return f":{name}"


def where(
    expr: Expr,
    dialect: str,
    tx: Tx | None = None,
    *,
    limit: int = 1000,
    drive: bool | None = None,
) -> tuple[str, dict[str, Any]]:
    """The SQL condition on ``runs`` (the table under its own name) that holds exactly for the
    runs ``expr`` selects, and its parameters; ``dialect``: ``sqlite`` or ``postgresql``.

    Given ``tx`` (the transaction the query will run in) and ``limit`` (the most runs it
    returns, newest first), the condition is also shaped for speed (:func:`_driver`): when a
    condition of the top-level ``and`` is selective, it is written as the set of runs its
    index finds (``runs.id IN (SELECT run_id …)``), from which the database starts; the rest
    are looked up per run found. Otherwise every condition is a lookup per run, and the
    database walks the runs newest first until ``limit`` match. Both forms select the same
    runs; ``drive`` forces one (``True``: the set form on the most selective condition, the
    first if ``tx`` is None) or the other (``False``), for tests."""
    sql = _Sql(dialect)
    parts: list[Expr] = list(expr.parts) if isinstance(expr, And) else [expr]
    # PostgreSQL turns each lookup into a semi-join and orders them from its statistics of
    # the two tables (EXPLAIN ANALYZE at 100,000 runs: 0.1-26 ms for the benchmark's
    # filters either way), so only SQLite, whose planner has no statistics of value ranges,
    # is told where to start
    if drive is None and sql.pg:
        drive = False
    counts: dict[int, int] = {}
    exact: set[int] = set()
    chosen = (
        None if drive is False else _driver(parts, dialect, tx, limit, bool(drive), counts, exact)
    )
    if chosen is None:
        return _expr(expr, sql), sql.params
    # the rest looked up per run found, the fewest matches first (most runs ruled out soonest);
    # a set at most twice the size of the first is cheaper read whole than looked up per run
    # (SQLite: 19-29 ms against 26-45 ms for the benchmark's 2-condition filter)
    order = sorted(
        (i for i in range(len(parts)) if i != chosen), key=lambda i: counts.get(i, 1 << 62)
    )
    small = [i for i in order if i in exact and counts[i] <= 2 * counts[chosen]]
    sets = [f"runs.id IN ({_set(parts[i], sql)})" for i in [chosen, *small]]
    rest = [_expr(parts[i], sql) for i in order if i not in small]
    return "(" + " AND ".join([*sets, *rest]) + ")", sql.params


# a store with fewer runs is walked whole: a few milliseconds at most
_SMALL = 2000
# the most index entries counted to size a condition: runs / _WIDE (a condition matching more
# runs than that is left to the walk, which finds `limit` matches soon)
_WIDE = 8


def _driver(
    parts: list[Expr],
    dialect: str,
    tx: Tx | None,
    limit: int,
    force: bool,
    counts: dict[int, int],
    exact: set[int],
) -> int | None:
    """Which of ``parts`` (the conditions and-ed at the top) to start from, or None;
    ``counts`` gets the sizes it counted, by position in ``parts``, ``exact`` the positions
    whose count was under its cap.

    Cost model, in index entries read: starting from part *i* reads its matches, *cᵢ*
    (counted with :func:`_count`, capped), and looks up the other conditions for each;
    walking the runs newest first reads about ``limit × runs / matches`` runs (all of them
    if fewer match), *matches* estimated as ``runs × Π cᵢ / runs`` (conditions taken as
    independent). The cheaper wins."""
    candidates = [i for i, p in enumerate(parts) if _indexed(p)]
    if not candidates:
        return None
    if tx is None:
        return candidates[0] if force else None
    runs = tx.scalar("SELECT MAX(id) FROM runs") or 0
    if not force and runs <= _SMALL:
        return None
    cap = max(runs // _WIDE, 1)
    best: int | None = None
    for i in candidates:  # small caps first: a selective condition is sized in a few reads
        counts[i] = _count(tx, parts[i], dialect, min(1000, cap))
        if counts[i] < min(1000, cap):
            exact.add(i)
    if min(counts.values()) >= min(1000, cap):
        for i in candidates:
            bound = cap if best is None else min(cap, 2 * counts[best] + 1)
            counts[i] = _count(tx, parts[i], dialect, bound)
            if counts[i] < bound:
                exact.add(i)
            if best is None or counts[i] < counts[best]:
                best = i
    best = min(counts, key=lambda i: counts[i]) if best is None else best
    if force:
        return best
    if counts[best] >= cap:
        return None
    matches = float(runs)
    for c in counts.values():
        matches *= max(c, 1) / runs
    walk = min(runs, limit * runs / max(matches, 1.0))
    return best if counts[best] * 1.5 < walk else None


def _indexed(expr: Expr) -> bool:
    """True for a comparison whose matching runs an index range finds (a metric or
    parameter compared for being equal, in, in a range, or like), and an ``or`` of them."""
    if isinstance(expr, Or):
        return all(_indexed(p) for p in expr.parts)
    if isinstance(expr, And | Not | IsNan) or expr.field.space not in ("metrics", "params"):
        return False  # `is nan` is looked up per run (NaN is outside the value index's order)
    if isinstance(expr, Compare):
        return expr.op != "!="
    return not expr.negated


def _set(expr: Expr, sql: _Sql) -> str:
    """``SELECT run_id …``: the runs an :func:`_indexed` ``expr`` holds for."""
    if isinstance(expr, Or):
        return " UNION ".join(_set(p, sql) for p in expr.parts)
    if expr.field.space == "metrics":  # type: ignore[union-attr]
        return _metric(expr, sql, probe=False)
    return _param(expr, sql, probe=False)


def _count(tx: Tx, expr: Expr, dialect: str, cap: int) -> int:
    """How many runs ``expr`` holds for, counted up to ``cap``."""
    sql = _Sql(dialect)
    found = tx.scalar(f"SELECT COUNT(*) FROM ({_set(expr, sql)} LIMIT {int(cap)}) c", sql.params)
    return int(found or 0)


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
    cond = _condition(expr, f"runs.{field.key}", sql, text=_is_text(field))
    # a column that is never NULL needs no COALESCE, which would hide it from its index
    # (`id > 99000`: a range of the primary key, not a pass over every run)
    return cond if field.key in NOT_NULL else f"COALESCE({cond}, 1=0)"


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


def _metric(expr: Expr, sql: _Sql, *, probe: bool = True) -> str:
    """``expr`` on ``latest_metrics`` (``probe``: per run, else the set of runs; NaN excluded: SQLite keeps it as the text ``'NaN'``,
    PostgreSQL's NaN sorts above every number)."""
    key = sql.bind(expr.field.key)  # type: ignore[union-attr]
    finite = "v.value <> 'NaN'::float8" if sql.pg else "typeof(v.value) <> 'text'"
    cond = f"v.key = {key} AND {finite} AND {_condition(expr, 'v.value', sql, text=False)}"
    return _lookup("latest_metrics", cond, probe)


def _is_nan(expr: IsNan, sql: _Sql) -> str:
    """``metrics.K is [not] nan`` on the run's last ``K`` (NaN: PostgreSQL's own, which equals
    itself there; SQLite's text ``'NaN'``, as :meth:`~rung.store.metadata.Tx.real` writes it)."""
    key = sql.bind(expr.field.key)
    nan = "v.value = 'NaN'::float8" if sql.pg else "typeof(v.value) = 'text'"
    return _lookup(
        "latest_metrics", f"v.key = {key} AND {'NOT ' if expr.negated else ''}{nan}", True
    )


def _lookup(table: str, cond: str, probe: bool) -> str:
    """``cond`` on the run's row of ``table``: as a lookup by ``(run_id, key)`` per run
    (``probe``), or as the set of runs an index range scan finds."""
    if probe:
        return f"EXISTS (SELECT 1 FROM {table} v WHERE v.run_id = runs.id AND {cond})"
    return f"SELECT v.run_id FROM {table} v WHERE {cond}"


def _param(expr: Expr, sql: _Sql, *, probe: bool = True) -> str:
    """``expr`` on ``run_params``: ``num`` against numbers, ``text`` against texts
    (``probe``: per run, else the set of runs)."""
    values = _values(expr)
    numbers = all(not isinstance(v, str) for v in values)
    texts = all(isinstance(v, str) for v in values)
    if not (numbers or texts):  # in (1, "a"): each value against the parameter's own kind
        parts = [_param(p, sql, probe=probe) for p in _split(expr)]
        return "(" + " OR ".join(parts) + ")" if probe else " UNION ".join(parts)
    key = sql.bind(expr.field.key)  # type: ignore[union-attr]
    column = "v.num" if numbers else "v.text"  # PostgreSQL: COLLATE "C" in the table
    cond = f"v.key = {key} AND {_condition(expr, column, sql, text=False)}"
    if texts:
        cond += _prefixed(expr, sql)
    return _lookup("run_params", cond, probe)


def _prefixed(expr: Expr, sql: _Sql) -> str:
    """The same comparison on the text's first :data:`PREFIX` characters, what the index on
    ``(key, substr(text, 1, 200))`` holds, so that the database can use it (implied by the
    comparison on the whole text: cutting two texts at the same length keeps their order)."""
    head = f'substr(v."text", 1, {PREFIX})'

    def cut(v: Value) -> str:
        return sql.bind(str(v)[:PREFIX])

    if isinstance(expr, Compare) and expr.op != "!=":
        op = {"<": "<=", ">": ">="}.get(expr.op, expr.op)
        return f" AND {head} {op} {cut(expr.value)}"
    if isinstance(expr, Member) and not expr.negated:
        return f" AND {head} IN ({', '.join(cut(v) for v in expr.values)})"
    if isinstance(expr, Range) and not expr.negated:
        return f" AND {head} BETWEEN {cut(expr.low)} AND {cut(expr.high)}"
    return ""


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
