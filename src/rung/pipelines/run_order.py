"""The sort order of a runs listing (``rung ui``'s runs table, ``/api/runs?order=``,
:meth:`rung.pipelines.history.Runs.list`) as an SQL ``ORDER BY`` on ``runs``.

A sort key is a run attribute (``id``, ``name``, ``status``, ``trigger``, ``kind``,
``started_at``, ``ended_at``, ``code_commit``, ``seconds``), ``metrics.KEY`` (the run's last
logged value of ``KEY``) or ``params.KEY`` (numbers, then texts; as
:mod:`rung.pipelines.run_filter` reads them, from the same indexed tables; the name written as
in a filter), with ``-`` before it for descending. Runs without the value (no such metric or
parameter, NaN, a boolean or list parameter, a run still running for ``seconds``/
``ended_at``) come last either way; ties are broken newest first, so a page boundary never
moves between two requests of the same listing.
"""

from __future__ import annotations

from typing import Any

from rung.core.errors import InvalidInput
from rung.core.query import ATTRIBUTES, Field, parse_field
from rung.core.suggest import did_you_mean

DEFAULT = "-id"
"""The listing's order when none is given: newest first."""
SORTABLE = tuple(sorted((set(ATTRIBUTES) - {"dataset"}) | {"seconds"}))
"""The attributes a listing can be sorted by."""
_HINT = "sort by an attribute ({}), metrics.NAME or params.NAME, with - before it for descending"
_LISTED = ", ".join(SORTABLE)


def sort_key(order: str | None) -> tuple[Field | None, bool]:
    """``order`` (None: :data:`DEFAULT`) as (the field, descending); the field is None for
    ``seconds``. Names are written as in a filter (:func:`rung.core.query.parse_field`:
    ``metrics.`val loss```).

    Raises :class:`InvalidInput` for anything but a sortable attribute, ``metrics.NAME`` or
    ``params.NAME``, naming the nearest."""
    text = (order or DEFAULT).strip()
    descending = text.startswith("-")
    key = text[1:].strip() if descending else text
    if key == "seconds":
        return None, descending
    try:
        field = parse_field(key, "sort key")
    except InvalidInput as exc:
        if "backticks" in (exc.hint or ""):  # metrics.val loss: the name's own fix
            raise
        raise InvalidInput(
            f"cannot sort runs by {key!r}",
            did_you_mean(key, [*SORTABLE, "metrics.NAME"], _HINT.format(_LISTED)),
        ) from None
    if field.space == "run" and field.key not in SORTABLE:
        raise InvalidInput(f"cannot sort runs by {key!r}", _HINT.format(_LISTED))
    return field, descending


def order_by(order: str | None, dialect: str = "sqlite") -> tuple[str, dict[str, Any]]:
    """The ``ORDER BY`` expression (without the keywords) for ``order`` (:func:`sort_key`)
    and its parameters (``:o1``). Texts are ordered by code point on both backends
    (``COLLATE "C"`` on PostgreSQL, whose default follows the database's locale), as the
    filter compares them."""
    field, descending = sort_key(order)
    direction = "DESC" if descending else "ASC"
    if field is None:
        return _ordered("(runs.ended_at - runs.started_at)", direction), {}
    if field.space == "metrics":
        finite = (
            "NULLIF(v.value, 'NaN'::float8)"
            if dialect == "postgresql"
            else "(CASE WHEN typeof(v.value) = 'text' THEN NULL ELSE v.value END)"
        )
        value = f"(SELECT {finite} FROM latest_metrics v WHERE v.run_id = runs.id AND v.key = :o1)"
        return _ordered(value, direction), {"o1": field.key}
    if field.space == "params":  # numbers first, then texts; other kinds as missing
        lookup = "FROM run_params v WHERE v.run_id = runs.id AND v.key = :o1"
        text = "v.text" + (' COLLATE "C"' if dialect == "postgresql" else "")
        num, txt = f"(SELECT v.num {lookup})", f"(SELECT {text} {lookup})"
        kind = f"CASE WHEN {num} IS NOT NULL THEN 0 WHEN {txt} IS NOT NULL THEN 1 ELSE 2 END"
        return (
            f"{kind}, {num} {direction}, {txt} {direction}, runs.id DESC",
            {"o1": field.key},
        )
    column = f"runs.{field.key}"
    if dialect == "postgresql" and ATTRIBUTES[field.key] == "text":
        column += ' COLLATE "C"'
    return _ordered(column, direction), {}


def _ordered(value: str, direction: str) -> str:
    """``value`` in ``direction``, the runs without it last, ties newest first."""
    if value == "runs.id":
        return f"runs.id {direction}"
    return f"CASE WHEN {value} IS NULL THEN 1 ELSE 0 END, {value} {direction}, runs.id DESC"
