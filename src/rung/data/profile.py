"""Schema and summary statistics of a table, and the difference between two of them.

A profile is plain JSON so that it can be stored with a dataset version and compared later
without reading the data again.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rung.core.columns import check_unique_names, datetimes, drift_numbers, kind_of, kinds_of

if TYPE_CHECKING:
    import pandas as pd

_TOP = 20  # categories kept per categorical column


def column_kind(series: pd.Series) -> str:
    """The kind name of one column (:func:`rung.core.columns.kind_of`)."""
    return kind_of(series).kind


def profile(df: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(schema, stats)`` for ``df``.

    ``schema["columns"][name]`` is the column's kind in its JSON form
    (:class:`rung.core.columns.ColumnKind`, without categories), in the frame's order.
    Numeric and integer columns get min/max/mean/std/quartiles, datetimes their range (ISO
    8601), every other kind its distinct count and top values. Raises
    :class:`~rung.core.errors.InvalidInput` on duplicate column names.
    """
    import numpy as np

    check_unique_names(df.columns, "the DataFrame")
    schema: dict[str, Any] = {"columns": {}}
    stats: dict[str, Any] = {"rows": len(df), "columns": {}}
    for (name, spec), col in zip(kinds_of(df).items(), _columns(df), strict=True):
        kind = spec.kind
        missing = int(col.isna().sum())
        schema["columns"][name] = {k: v for k, v in spec.to_dict().items() if k != "categories"}
        entry: dict[str, Any] = {"missing": missing, "missing_rate": _rate(missing, len(df))}
        if kind in ("numeric", "integer"):
            values = drift_numbers(col, spec)
            values = values[~np.isnan(values)]
            if len(values):
                entry.update(_number_stats(values))
            exact = col.dropna()
            if kind == "integer" and len(exact) and getattr(col.dtype, "kind", "") in "iu":
                # the exact range: int64 values near the extremes collapse as floats
                entry.update(min=int(exact.min()), max=int(exact.max()))
        elif kind == "datetime":
            stamps = datetimes(col.tolist(), spec).dropna()
            if len(stamps):
                entry.update(min=stamps.min().isoformat(), max=stamps.max().isoformat())
        else:
            counts = col.dropna().astype(str).value_counts()
            entry["unique"] = int(counts.size)
            entry["top"] = {str(k): int(v) for k, v in counts.head(_TOP).items()}
        stats["columns"][name] = entry
    return schema, stats


def _number_stats(values: Any) -> dict[str, float | None]:
    """Range, mean, sample std and quartiles of non-NaN floats; a statistic that is not
    finite (±inf in the data, or beyond the float range) is ``None``."""
    import numpy as np

    with np.errstate(over="ignore", invalid="ignore"):
        q = np.quantile(values, [0.25, 0.5, 0.75]).tolist()
        return {
            "min": _num(values.min()),
            "max": _num(values.max()),
            "mean": _num(values.mean()),
            "std": _num(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "p25": _num(q[0]),
            "p50": _num(q[1]),
            "p75": _num(q[2]),
        }


def _columns(df: pd.DataFrame) -> list[pd.Series]:
    """The columns of ``df`` by position (one Series each, whatever their names)."""
    return [df.iloc[:, i] for i in range(df.shape[1])]


def diff_profiles(
    a: tuple[dict[str, Any], dict[str, Any]], b: tuple[dict[str, Any], dict[str, Any]]
) -> dict[str, Any]:
    """What changed from profile ``a`` to ``b``: rows, columns, types and statistics."""
    (schema_a, stats_a), (schema_b, stats_b) = a, b
    cols_a, cols_b = schema_a["columns"], schema_b["columns"]
    changed_types = {
        c: {
            "from": _typed(cols_a[c]),
            "to": _typed(cols_b[c]),
            "kind_from": cols_a[c].get("kind"),
            "kind_to": cols_b[c].get("kind"),
            "timezone_from": cols_a[c].get("timezone"),
            "timezone_to": cols_b[c].get("timezone"),
        }
        for c in cols_a
        if c in cols_b
        and (cols_a[c]["dtype"], cols_a[c].get("kind"), cols_a[c].get("timezone"))
        != (cols_b[c]["dtype"], cols_b[c].get("kind"), cols_b[c].get("timezone"))
    }
    stat_changes: dict[str, dict[str, Any]] = {}
    for c in (c for c in cols_a if c in cols_b):
        sa, sb = stats_a["columns"].get(c, {}), stats_b["columns"].get(c, {})
        moved = {
            k: {"from": sa.get(k), "to": sb.get(k)}
            for k in ("missing_rate", "min", "max", "mean", "std", "p50", "unique")
            if k in sa or k in sb
            if not _close(sa.get(k), sb.get(k))
        }
        new_cats = sorted(set(sb.get("top", {})) - set(sa.get("top", {})))
        if new_cats:
            moved["new_categories"] = {"from": None, "to": new_cats}
        if moved:
            stat_changes[c] = moved
    return {
        "rows": {"from": stats_a.get("rows"), "to": stats_b.get("rows")},
        "columns_added": [c for c in cols_b if c not in cols_a],
        "columns_removed": [c for c in cols_a if c not in cols_b],
        "types_changed": changed_types,
        "stats_changed": stat_changes,
    }


def _typed(spec: dict[str, Any]) -> str:
    """A column's dtype with its time zone, if any: ``datetime64 (Europe/Paris)``."""
    zone = spec.get("timezone")
    return f"{spec['dtype']} ({zone})" if zone else str(spec["dtype"])


def _rate(n: int, total: int) -> float:
    return round(n / total, 6) if total else 0.0


def _num(value: Any) -> float | None:
    f = float(value)
    return f if math.isfinite(f) else None


def _close(x: Any, y: Any) -> bool:
    if isinstance(x, int | float) and isinstance(y, int | float):
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    return bool(x == y)
