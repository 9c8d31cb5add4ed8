"""The names a run filter (:mod:`rung.core.query`) mentions, checked against what the store
holds, so that a typo is not answered by an empty listing alone.

* **Refused** (:func:`refuse_impossible`, before the query): a value of ``status`` or
  ``kind`` outside their closed sets (:data:`CLOSED`) compared with ``=``, ``!=``, ``in`` or
  ``not in`` — ``status = "sucess"``, ``kind = "tracker"`` can never hold, and their
  negations always would — and a ``dataset`` no version of which exists (``dataset = "wne"``;
  ``"wine@9"`` when ``wine`` has versions 1 and 2), each with the nearest known names.
* **Warned** (:func:`unknown_names`, when a filter selected nothing): a ``metrics.K`` or
  ``params.K`` no run has, and a ``name`` or ``trigger`` value no run holds (both open sets,
  so no refusal), each with the nearest known ones. These are read only then: each is a scan
  of the metric, parameter or run rows.

Nearness is :func:`rung.core.suggest.did_you_mean` (the rule every "did you mean" follows).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rung.core.errors import InvalidInput
from rung.core.query import And, Compare, Expr, IsNan, Like, Member, Not, Or, Range
from rung.core.suggest import closest, did_you_mean

CLOSED = {
    "status": ("running", "succeeded", "failed", "dead"),
    "kind": ("pipeline", "tracking"),
}
"""The values a run's ``status`` and ``kind`` take, all of them (:mod:`rung.pipelines.liveness`
marks a run whose process is gone ``dead``)."""

Leaf = Compare | Member | Range | Like | IsNan


def leaves(expr: Expr) -> Iterator[Leaf]:
    """Every comparison of ``expr``, left to right."""
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Not):
            stack.append(node.part)
        elif isinstance(node, And | Or):
            stack.extend(reversed(node.parts))
        else:
            yield node


def _exact_values(leaf: Leaf) -> tuple[Any, ...]:
    """The values ``leaf`` compares for (in)equality, or () for an order, a range or a like."""
    if isinstance(leaf, Compare):
        return (leaf.value,) if leaf.op in ("=", "!=") else ()
    if isinstance(leaf, Member):
        return leaf.values
    return ()


def refuse_impossible(tx: Any, expr: Expr, text: str) -> None:
    """Raise :class:`InvalidInput` for the first comparison of ``expr`` (the filter ``text``)
    that can never select a run or always would: a closed attribute compared with a value it
    never takes, or a dataset (``NAME`` or ``NAME@VERSION``) the store has never held.

    ``tx``: a read transaction on the metadata store."""
    shown = repr(text if len(text) <= 80 else text[:77] + "...")
    datasets: list[str] | None = None
    for leaf in leaves(expr):
        field = leaf.field
        if field.space != "run":
            continue
        if field.key in CLOSED:
            known = CLOSED[field.key]
            for value in _exact_values(leaf):
                if value not in known:
                    choices = f"{field.key} is one of {', '.join(known)}"
                    # a set of a few words: a looser match than a name's ('sucess')
                    near = closest(str(value), known, cutoff=0.4)
                    fix = f"did you mean {' or '.join(map(repr, near))}? ({choices})"
                    raise InvalidInput(
                        f"filter {shown}: {field.key} is never {value!r}",
                        fix if near else choices,
                    )
        elif field.key == "dataset" and not isinstance(leaf, Like):
            if datasets is None:
                rows = tx.all("SELECT name, version FROM datasets")
                datasets = [r["name"] for r in rows] + [f"{r['name']}@{r['version']}" for r in rows]
            for value in _exact_values(leaf):
                if str(value) not in datasets:
                    raise InvalidInput(
                        f"filter {shown}: no dataset {value!r}",
                        did_you_mean(str(value), datasets, "see `rung data list`"),
                    )


def unknown_names(tx: Any, expr: Expr, dialect: str) -> list[str]:
    """One line per name in ``expr`` that no run holds — a metric or parameter key, a run
    ``name`` or ``trigger`` compared for equality — with the nearest known ones, in the
    filter's order, each once: ``no run has a metric 'acuracy' — did you mean 'accuracy'?``;
    [] when every name is known. ``dialect``: ``sqlite`` or ``postgresql``."""
    found: list[str] = []
    known: dict[str, list[str]] = {}
    for leaf in leaves(expr):
        field = leaf.field
        if field.space in ("metrics", "params"):
            pool, words = field.space, [field.key]
            what = "a metric" if field.space == "metrics" else "a parameter"
        elif field.key in ("name", "trigger"):
            pool, words = field.key, [str(v) for v in _exact_values(leaf)]
            what = f"the {field.key}"
        else:
            continue
        for word in words:
            if _held(tx, pool, word):  # one indexed lookup; every name read only when not
                continue
            if pool not in known:
                known[pool] = _known(tx, pool, dialect)
            if word in known[pool]:
                continue
            line = f"no run has {what} {word!r}"
            near = closest(word, known[pool])
            if near:
                line += f" — did you mean {' or '.join(map(repr, near))}?"
            if line not in found:
                found.append(line)
    return found


_HOLDERS = {
    "metrics": "SELECT 1 AS x FROM latest_metrics WHERE key = :w LIMIT 1",
    "params": "SELECT 1 AS x FROM run_params WHERE key = :w LIMIT 1",
    "name": "SELECT 1 AS x FROM runs WHERE name = :w LIMIT 1",
    "trigger": "SELECT 1 AS x FROM runs WHERE trigger = :w LIMIT 1",
}


def _held(tx: Any, what: str, word: str) -> bool:
    """Whether some run holds ``word`` as a metric or parameter key, name or trigger: an
    index lookup (the filter's tables, migration 0018), where reading every distinct key of
    100,000 runs took 0.3 s."""
    return tx.one(_HOLDERS[what], {"w": word}) is not None


def _known(tx: Any, what: str, dialect: str) -> list[str]:
    """Every metric key, parameter key (logged or the pipeline's), run name or trigger."""
    if what == "metrics":
        return [r["key"] for r in tx.all("SELECT DISTINCT key FROM metrics")]
    if what == "params":
        logged = [r["key"] for r in tx.all("SELECT DISTINCT key FROM params")]
        pipeline = (
            "SELECT DISTINCT jsonb_object_keys(params::jsonb) AS key FROM runs"
            " WHERE jsonb_typeof(params::jsonb) = 'object'"
            if dialect == "postgresql"
            else "SELECT DISTINCT je.key AS key FROM runs, json_each(runs.params) je"
            " WHERE json_type(runs.params) = 'object'"
        )
        return sorted({*logged, *(r["key"] for r in tx.all(pipeline))})
    column = {"name": "name", "trigger": "trigger"}[what]
    return [r[column] for r in tx.all(f"SELECT DISTINCT {column} FROM runs") if r[column]]
