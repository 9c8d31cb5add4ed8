"""The thesis's Table 2: one row per dataset, then Total, Mean and Std rows.

Each dataset row holds the number of examples and one value per metric. Aggregate rows sum,
average and take the *sample* standard deviation (ddof=1) of every numeric column; a column
holding any non-numeric value (the most frequent error class, say) shows ``-`` there, as does
Std with fewer than two datasets. Values near float64's limit give ``inf`` or ``nan`` where
the true result is not representable, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

DASH = "-"
AGGREGATES = ("Total", "Mean", "Std")


def is_number(value: Any) -> TypeGuard[int | float]:
    """A real number that can be aggregated (booleans and NaN are not)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and not (isinstance(value, float) and math.isnan(value))
    )


def aggregate_rows(
    rows: Mapping[str, Mapping[str, Any]], columns: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """``{"Total": {...}, "Mean": {...}, "Std": {...}}`` over the dataset ``rows``."""
    result: dict[str, dict[str, Any]] = {name: {} for name in AGGREGATES}
    for column in columns:
        values = [row.get(column) for row in rows.values()]
        numbers = [float(v) for v in values if is_number(v)]
        if not values or len(numbers) != len(values):
            for name in AGGREGATES:
                result[name][column] = DASH
            continue
        total, mean, std = _moments(numbers)
        result["Total"][column] = total
        result["Mean"][column] = mean
        result["Std"][column] = DASH if len(numbers) < 2 else std
    return result


def _moments(numbers: list[float]) -> tuple[float, float, float]:
    """Sum, mean and sample standard deviation: exact (``math.fsum``) for ordinary values;
    for values near float64's limit (``1e308``), computed on the values divided by the
    largest magnitude and scaled back, so that they are finite whenever the result is
    representable — and ``inf`` or ``nan`` (a sum past the limit, an infinite value), never
    an ``OverflowError`` (see :mod:`rung.core.numbers`)."""
    n = len(numbers)
    finite = [abs(x) for x in numbers if math.isfinite(x)]
    top = max(finite, default=0.0) or 1.0
    if len(finite) == n and top <= 1e100:
        total = math.fsum(numbers)
        mean = total / n
        var = math.fsum((x - mean) ** 2 for x in numbers) / (n - 1) if n > 1 else 0.0
        return total, mean, math.sqrt(var)
    import numpy as np

    with np.errstate(all="ignore"):
        scaled = np.asarray(numbers, dtype=float) / top
        total = float(np.sum(scaled) * top)
        mean = float(np.mean(scaled) * top)
        std = float(np.std(scaled, ddof=1) * top) if n > 1 else 0.0
    return total, mean, std
