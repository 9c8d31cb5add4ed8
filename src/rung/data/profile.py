"""Schema and summary statistics of a table, and the difference between two of them.

A profile is plain JSON so that it can be stored with a dataset version and compared later
without reading the data again.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rung.core.frames import unique_columns

if TYPE_CHECKING:
    import pandas as pd

_TOP = 20  # categories kept per categorical column


def column_kind(series: pd.Series) -> str:
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype) or _looks_like_dates(series):
        return "datetime"
    return "categorical"


def _looks_like_dates(series: pd.Series) -> bool:
    """Text columns of ISO dates (as CSV files hold them) profile as dates, not categories."""
    import pandas as pd

    sample = series.dropna().head(50).astype("string")
    if sample.empty or not sample.str.fullmatch(r"\d{4}-\d{2}-\d{2}([ T][\d:.]+)?").all():
        return False
    try:
        pd.to_datetime(series.dropna(), format="ISO8601")
    except (ValueError, TypeError):
        return False
    return True


def profile(df: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(schema, stats)`` for ``df``."""
    import pandas as pd

    unique_columns(df)
    schema: dict[str, Any] = {"columns": {}}
    stats: dict[str, Any] = {"rows": len(df), "columns": {}}
    for name in df.columns:
        col = df[name]
        kind = column_kind(col)
        missing = int(col.isna().sum())
        schema["columns"][str(name)] = {"dtype": str(col.dtype), "kind": kind}
        entry: dict[str, Any] = {"missing": missing, "missing_rate": _rate(missing, len(df))}
        if kind == "numeric":
            values = col.dropna().astype("float64")
            if len(values):
                q = values.quantile([0.25, 0.5, 0.75]).tolist()
                entry.update(
                    min=_num(values.min()),
                    max=_num(values.max()),
                    mean=_num(values.mean()),
                    std=_num(values.std(ddof=1)) if len(values) > 1 else 0.0,
                    p25=_num(q[0]),
                    p50=_num(q[1]),
                    p75=_num(q[2]),
                )
        elif kind == "datetime":
            stamps = pd.to_datetime(col.dropna(), format="ISO8601")
            if len(stamps):
                entry.update(min=str(stamps.min()), max=str(stamps.max()))
        else:
            counts = col.astype("string").value_counts(dropna=True)
            entry["unique"] = int(counts.size)
            entry["top"] = {str(k): int(v) for k, v in counts.head(_TOP).items()}
        stats["columns"][str(name)] = entry
    return schema, stats


def diff_profiles(
    a: tuple[dict[str, Any], dict[str, Any]], b: tuple[dict[str, Any], dict[str, Any]]
) -> dict[str, Any]:
    """What changed from profile ``a`` to ``b``: rows, columns, types and statistics."""
    (schema_a, stats_a), (schema_b, stats_b) = a, b
    cols_a, cols_b = schema_a["columns"], schema_b["columns"]
    changed_types = {
        c: {"from": cols_a[c]["dtype"], "to": cols_b[c]["dtype"]}
        for c in cols_a
        if c in cols_b and cols_a[c]["dtype"] != cols_b[c]["dtype"]
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


def _rate(n: int, total: int) -> float:
    return round(n / total, 6) if total else 0.0


def _num(value: Any) -> float | None:
    f = float(value)
    return f if math.isfinite(f) else None


def _close(x: Any, y: Any) -> bool:
    if isinstance(x, int | float) and isinstance(y, int | float):
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    return bool(x == y)
