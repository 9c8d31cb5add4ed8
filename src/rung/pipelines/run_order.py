"""The sort order of a runs listing (``rung ui``'s runs table, ``/api/runs?order=``,
:meth:`rung.pipelines.history.Runs.list`) as an SQL ``ORDER BY`` on ``runs``.

A sort key is a run attribute (``id``, ``name``, ``status``, ``trigger``, ``kind``,
``started_at``, ``ended_at``, ``code_commit``, ``seconds``) or ``metrics.KEY`` (the run's last
logged value of ``KEY``, as :mod:`rung.pipelines.run_filter` reads it), with ``-`` before it
for descending. Runs without the value (no such metric, NaN, a run still running for
``seconds``/``ended_at``) come last either way; ties are broken newest first, so a page
boundary never moves between two requests of the same listing.
"""

from __future__ import annotations

from typing import Any

from rung.core.errors import InvalidInput
from rung.core.query import ATTRIBUTES
from rung.core.suggest import did_you_mean

DEFAULT = "-id"
"""The listing's order when none is given: newest first."""
SORTABLE = tuple(sorted((set(ATTRIBUTES) - {"dataset"}) | {"seconds"}))
"""The attributes a listing can be sorted by."""
_HINT = "sort by an attribute ({}) or metrics.NAME, with - before it for descending"


def order_by(order: str | None, dialect: str = "sqlite") -> tuple[str, dict[str, Any]]:
    """The ``ORDER BY`` expression (without the keywords) for ``order`` (None: :data:`DEFAULT`)
    and its parameters (``:o1``).

    Raises :class:`InvalidInput` naming the key and the nearest sortable one for anything
    else (a parameter key included: parameters are listed, not sorted, for now)."""
    text = (order or DEFAULT).strip()
    descending = text.startswith("-")
    key = text[1:].strip() if descending else text
    direction = "DESC" if descending else "ASC"
    if key.startswith("metrics.") and len(key) > len("metrics."):
        finite = (
            "NULLIF(m.value, 'NaN'::float8)"
            if dialect == "postgresql"
            else "(CASE WHEN typeof(m.value) = 'text' THEN NULL ELSE m.value END)"
        )
        value = (
            f"(SELECT {finite} FROM metrics m WHERE m.id = (SELECT MAX(l.id) FROM metrics l"
            " WHERE l.run_id = runs.id AND l.key = :o1))"
        )
        return _ordered(value, direction), {"o1": key[len("metrics.") :]}
    if key == "seconds":
        return _ordered("(runs.ended_at - runs.started_at)", direction), {}
    if key in SORTABLE:
        return _ordered(f"runs.{key}", direction), {}
    raise InvalidInput(
        f"cannot sort runs by {key!r}",
        did_you_mean(key, [*SORTABLE, "metrics.NAME"], _HINT.format(", ".join(SORTABLE))),
    )


def _ordered(value: str, direction: str) -> str:
    """``value`` in ``direction``, the runs without it last, ties newest first."""
    if value == "runs.id":
        return f"runs.id {direction}"
    return f"CASE WHEN {value} IS NULL THEN 1 ELSE 0 END, {value} {direction}, runs.id DESC"
