"""The thesis's Table 2: one row per dataset, then Total, Mean and Std rows.

Each dataset row holds the number of examples and one value per metric. Aggregate rows sum,
average and take the *sample* standard deviation (ddof=1) of every numeric column; a column
holding any non-numeric value (the most frequent error class, say) shows ``-`` there, as does
Std with fewer than two datasets.
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
        total = math.fsum(numbers)
        mean = total / len(numbers)
        result["Total"][column] = total
        result["Mean"][column] = mean
        if len(numbers) < 2:
            result["Std"][column] = DASH
        else:
            var = math.fsum((x - mean) ** 2 for x in numbers) / (len(numbers) - 1)
            result["Std"][column] = math.sqrt(var)
    return result
