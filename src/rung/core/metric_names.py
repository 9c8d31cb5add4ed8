"""The names of the metrics rung computes, with their task and range: what a criterion, a
decisive metric or a guardrail may name, checked when the workspace opens.

The metrics themselves are computed in :mod:`rung.evaluation.metrics` (``BUILTIN``; a test
checks that the two lists agree). Here are only their names, for :mod:`rung.config`:

* numeric, one value each — ``accuracy``, ``roc_auc``, ``log_loss`` (classification);
  ``mae``, ``rmse``, ``r2``, ``mape`` (regression);
* per class or averaged — ``precision_<class>``, ``recall_<class>``, ``f1_<class>``, and
  ``_macro``/``_weighted`` (classification, in [0, 1]); the class itself is not known before
  a model is evaluated, so any suffix is accepted;
* not a number — ``top_error`` (the most frequent confusion, a text) and the bare
  ``precision``/``recall``/``f1`` (a family of per-class values): no bound can apply.

User metrics (``custom_metrics=`` of ``ws.evaluate``) are allowed by name where they are
declared (``[eval] custom_metrics``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from rung.core.suggest import closest

CLASSIFICATION = "classification"
REGRESSION = "regression"
INF = math.inf

NUMERIC: dict[str, tuple[str, float, float]] = {
    "accuracy": (CLASSIFICATION, 0.0, 1.0),
    "roc_auc": (CLASSIFICATION, 0.0, 1.0),
    "log_loss": (CLASSIFICATION, 0.0, INF),
    "mae": (REGRESSION, 0.0, INF),
    "rmse": (REGRESSION, 0.0, INF),
    "r2": (REGRESSION, -INF, 1.0),
    "mape": (REGRESSION, 0.0, INF),
}
"""Metric → (task, lowest value, highest value)."""
PER_CLASS = ("precision", "recall", "f1")
AVERAGES = ("macro", "weighted")
NOT_NUMBERS = {
    "top_error": "the most frequent confusion, a text",
    **{
        family: f"a value per class: name one, e.g. {family}_macro, {family}_weighted or"
        f" {family}_<class>"
        for family in PER_CLASS
    },
}
"""Computed metrics that are not one number, with what they are."""
EXAMPLES = [*NUMERIC, *(f"{f}_{a}" for f in PER_CLASS for a in AVERAGES)]
"""Every numeric name that needs no class (for "did you mean")."""


class UnknownMetric(ValueError):
    """A metric name rung does not compute as a number; its text says why and the nearest."""


def metric_range(name: str, custom: Iterable[str] = ()) -> tuple[str | None, float, float]:
    """``(task, low, high)`` of the numeric metric ``name`` — task None and an unbounded
    range for a declared user metric (``custom``). Raises :class:`UnknownMetric` naming the
    nearest names for anything else (a misspelling, ``top_error``, bare ``precision``)."""
    custom = list(custom)
    if name in custom:
        return None, -INF, INF
    if name in NUMERIC:
        return NUMERIC[name]
    family, sep, rest = name.partition("_")
    if family in PER_CLASS and sep and rest:
        return CLASSIFICATION, 0.0, 1.0
    if name in NOT_NUMBERS:
        raise UnknownMetric(f"metric {name!r} is not a number ({NOT_NUMBERS[name]})")
    near = closest(name, [*EXAMPLES, *custom, *_per_class_readings(name)])
    if near:
        raise UnknownMetric(
            f"unknown metric {name!r}: did you mean {' or '.join(map(repr, near))}?"
        )
    known = ", ".join([*NUMERIC, "precision_<class>", "recall_<class>", "f1_<class>"])
    raise UnknownMetric(
        f"unknown metric {name!r}: known: {known}, their _macro/_weighted averages"
        " (user metrics: declare them in [eval] custom_metrics)"
    )


def _per_class_readings(name: str) -> set[str]:
    """Per-class names ``name`` may have meant, its class kept: split at each ``_`` (or, with
    none, at each family's length, one character either way) where the part before is
    near a family — ``precison_down``, ``p_recision_down`` and ``precisiondown`` all give
    ``precision_down``."""
    cuts = (
        {i for i, c in enumerate(name) if c == "_"}
        or {len(f) for f in PER_CLASS if name.startswith(f)}
        or {len(f) + d for f in PER_CLASS for d in (-1, 1)}
    )
    out: set[str] = set()
    for cut in cuts:
        prefix, rest = name[:cut], name[cut:].lstrip("_")
        if rest:  # the family misspelt, its class kept
            families = [prefix] if prefix in PER_CLASS else closest(prefix, PER_CLASS)
            out.update(f"{f}_{rest}" for f in families)
    return out


def in_range(name: str, value: float, custom: Iterable[str] = ()) -> str | None:
    """None when ``value`` can be a value of ``name``; else the range, as text."""
    _, low, high = metric_range(name, custom)
    if low <= value <= high:
        return None
    if high == INF:
        return f"{name} is at least {low:g}"
    if low == -INF:
        return f"{name} is at most {high:g}"
    return f"{name} is in [{low:g}, {high:g}]"
