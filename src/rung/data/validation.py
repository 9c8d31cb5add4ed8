"""Data validation in the style of TFX's ExampleValidator: a schema, and anomalies against it.

A schema is inferred from one dataset version (usually the training data): per column its
kind and dtype, whether nulls were seen, the range of numeric and date values, the categories
of categorical columns, and decile bins of numeric values plus category frequencies, so
that later data can be compared with it without the original rows.

Anomalies come in two kinds:

* **schema skew** — a missing column, an unexpected column, a kind change, a datetime
  column whose time zone changed, a category never
  seen, nulls where none were allowed; data with schema skew should stop a pipeline;
* **value skew** — distributions that moved: numeric columns by the population stability
  index over the reference deciles (PSI > 0.2), categorical columns by Jensen–Shannon
  distance of category frequencies (> 0.1), and values outside the reference range.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rung.core.columns import ColumnKind, datetimes, drift_numbers, kind_of, kinds_of
from rung.core.errors import InvalidInput, RungError

if TYPE_CHECKING:
    import pandas as pd

MAX_CATEGORIES = 1000
PSI_LIMIT = 0.2
JS_LIMIT = 0.1
OUT_OF_RANGE_LIMIT = 0.01  # share of values outside the reference range


class SchemaSkew(RungError):
    """Data does not match its schema; raised by :func:`check_schema` to stop a run."""

    status = 422


@dataclass
class Anomaly:
    kind: str  # schema | value
    column: str
    problem: str
    detail: str

    def __str__(self) -> str:
        return f"{self.column}: {self.detail}"


@dataclass
class ValidationReport:
    source: str
    schema_source: str
    anomalies: list[Anomaly] = field(default_factory=list)

    @property
    def schema_skew(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.kind == "schema"]

    @property
    def value_skew(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.kind == "value"]

    @property
    def ok(self) -> bool:
        return not self.anomalies

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "schema": self.schema_source,
            "schema_skew": [asdict(a) for a in self.schema_skew],
            "value_skew": [asdict(a) for a in self.value_skew],
        }


def infer_schema(df: pd.DataFrame, source: str = "<DataFrame>") -> dict[str, Any]:
    """The schema of ``df`` (JSON-able): per column its kind in the JSON form of
    :class:`rung.core.columns.ColumnKind`, its missing rate, the range and decile bins of
    numbers (numeric, integer) and the range of datetimes (ISO 8601), and the category shares
    of categorical and boolean columns (up to ``MAX_CATEGORIES``). Raises
    :class:`~rung.core.errors.InvalidInput` on duplicate column names."""
    columns: dict[str, Any] = {}
    kinds = kinds_of(df, source)
    for (name, spec), col in zip(
        kinds.items(), (df.iloc[:, i] for i in range(df.shape[1])), strict=True
    ):
        kind = spec.kind
        missing = int(col.isna().sum())
        entry: dict[str, Any] = {
            **{k: v for k, v in spec.to_dict().items() if k != "categories"},
            "missing_rate": round(missing / len(df), 6) if len(df) else 0.0,
        }
        values = col.dropna()
        if kind in ("numeric", "integer") and len(values):
            floats = _finite(drift_numbers(values, spec))
            if len(floats):
                entry.update(min=float(floats.min()), max=float(floats.max()), bins=_bins(floats))
        elif kind == "datetime" and len(values):
            stamps = datetimes(values.tolist(), spec)
            entry.update(min=stamps.min().isoformat(), max=stamps.max().isoformat())
        elif kind in ("categorical", "boolean"):
            counts = values.astype(str).value_counts()
            if len(counts) <= MAX_CATEGORIES:
                total = float(counts.sum()) or 1.0
                entry["categories"] = {str(k): round(v / total, 6) for k, v in counts.items()}
        columns[name] = entry
    return {"source": source, "rows": len(df), "columns": columns}


def _finite(values: Any) -> Any:
    import numpy as np

    return values[np.isfinite(values)]


def load_schema(schema: dict[str, Any] | str | Path) -> dict[str, Any]:
    """A schema given as a dict or a JSON file path."""
    if isinstance(schema, dict):
        return schema
    path = Path(schema)
    if not path.exists():
        raise InvalidInput(
            f"no schema file {str(path)!r}", "write one with `rung data schema NAME@V -o FILE`"
        )
    try:
        loaded = json.loads(path.read_text())
    except ValueError as exc:
        raise InvalidInput(
            f"schema file {str(path)!r} is not JSON ({exc})",
            "regenerate it with `rung data schema`",
        ) from exc
    if not isinstance(loaded, dict) or "columns" not in loaded:
        raise InvalidInput(
            f"{str(path)!r} is not a rung schema", "regenerate it with `rung data schema`"
        )
    return loaded


def validate(
    df: pd.DataFrame, schema: dict[str, Any], source: str = "<DataFrame>"
) -> ValidationReport:
    """Every anomaly of ``df`` against ``schema``."""
    from rung.core.columns import check_unique_names

    check_unique_names(df.columns, source)
    report = ValidationReport(source, str(schema.get("source", "schema")))
    expected: dict[str, Any] = schema["columns"]
    by_name = {str(c): i for i, c in enumerate(df.columns)}
    for name, spec in expected.items():
        if name not in by_name:
            report.anomalies.append(Anomaly("schema", name, "missing_column", "column is missing"))
            continue
        _check_column(df.iloc[:, by_name[name]], name, spec, report)
    for name in df.columns:
        if str(name) not in expected:
            report.anomalies.append(
                Anomaly("schema", str(name), "unexpected_column", "column is not in the schema")
            )
    return report


def _check_column(col: Any, name: str, spec: dict[str, Any], report: ValidationReport) -> None:
    import numpy as np

    with np.errstate(over="ignore", invalid="ignore"):  # values near the float range
        _check_values(col, name, spec, report)


def _check_values(col: Any, name: str, spec: dict[str, Any], report: ValidationReport) -> None:
    import numpy as np

    add = report.anomalies.append
    seen = kind_of(col)
    expected = ColumnKind.from_dict(spec)
    if not expected.accepts(seen):
        add(
            Anomaly(
                "schema",
                name,
                "type_change",
                f"type changed from {expected.describe()} to {seen.describe()}",
            )
        )
        return
    if expected.timezone and seen.timezone and expected.timezone != seen.timezone:
        add(
            Anomaly(
                "schema",
                name,
                "timezone_change",
                f"time zone changed from {expected.timezone} to {seen.timezone}"
                " (the instants compare in UTC; the local times a model may use do not)",
            )
        )
    kind = expected.kind
    missing = int(col.isna().sum())
    if missing and not spec.get("nullable", True):
        add(
            Anomaly(
                "schema",
                name,
                "unexpected_nulls",
                f"{missing} null value(s) where the schema allows none",
            )
        )
    values = col.dropna()
    if not len(values):
        return
    if kind in ("categorical", "boolean") and "categories" in spec:
        ref: dict[str, float] = spec["categories"]
        counts = values.astype(str).value_counts()
        new = [c for c in counts.index if c not in ref]
        if new:
            shown = ", ".join(repr(c) for c in new[:5]) + (" …" if len(new) > 5 else "")
            add(
                Anomaly(
                    "schema", name, "new_category", f"{len(new)} category(ies) never seen: {shown}"
                )
            )
        total = float(counts.sum())
        cats = sorted(set(ref) | set(counts.index))
        p = np.array([ref.get(c, 0.0) for c in cats])
        q = np.array([counts.get(c, 0) / total for c in cats])
        js = _js_distance(p, q)
        if js > JS_LIMIT:
            add(
                Anomaly(
                    "value",
                    name,
                    "distribution_moved",
                    f"category frequencies moved (Jensen–Shannon distance {js:.3f} > {JS_LIMIT})",
                )
            )
    if kind in ("numeric", "integer") and "bins" in spec:
        floats = _finite(drift_numbers(values, seen))
        if not len(floats):
            return
        lo, hi = spec["min"], spec["max"]
        outside = float(np.mean((floats < lo) | (floats > hi)))
        if outside > OUT_OF_RANGE_LIMIT:
            add(
                Anomaly(
                    "value",
                    name,
                    "out_of_range",
                    f"{outside:.1%} of values outside the reference range [{lo:.6g}, {hi:.6g}]",
                )
            )
        psi = _psi(spec["bins"], floats)
        if psi > PSI_LIMIT:
            add(
                Anomaly(
                    "value",
                    name,
                    "distribution_moved",
                    f"distribution moved (PSI {psi:.3f} > {PSI_LIMIT}; mean {floats.mean():.6g})",
                )
            )


def _bins(values: Any) -> dict[str, list[float]]:
    """Decile edges of the reference values, and the share of them in each bin."""
    import numpy as np

    with np.errstate(over="ignore", invalid="ignore"):  # values near the float range
        return _deciles(values)


def _deciles(values: Any) -> dict[str, list[float]]:
    import numpy as np

    edges = np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9)))
    shares = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return {"edges": [float(e) for e in edges], "shares": [float(x) for x in shares / len(values)]}


def _psi(bins: dict[str, list[float]], values: Any) -> float:
    """Population stability index of ``values`` over the reference bins."""
    import numpy as np

    edges = np.array(bins["edges"])
    reference = np.array(bins["shares"])
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    actual = counts / max(len(values), 1)
    eps = 1e-4
    a, r = np.clip(actual, eps, None), np.clip(reference, eps, None)
    return float(np.sum((a - r) * np.log(a / r)))


def _js_distance(p: Any, q: Any) -> float:
    import numpy as np

    p = p / (p.sum() or 1.0)
    q = q / (q.sum() or 1.0)
    m = (p + q) / 2

    def kl(x: Any, y: Any) -> float:
        mask = x > 0
        return float(np.sum(x[mask] * np.log2(x[mask] / y[mask])))

    return math.sqrt(max(0.0, (kl(p, m) + kl(q, m)) / 2))


def check_schema(
    df: pd.DataFrame, schema: dict[str, Any] | str | Path, source: str = "data"
) -> ValidationReport:
    """Raise :class:`SchemaSkew` listing every schema anomaly; return the report otherwise.

    Value skew is reported, not raised: distributions move for legitimate reasons, a missing
    column does not.
    """
    report = validate(df, load_schema(schema), source)
    if report.schema_skew:
        listed = "; ".join(str(a) for a in report.schema_skew)
        raise SchemaSkew(
            f"{source} does not match schema {report.schema_source}: {listed}",
            "fix the data, or infer a new schema with `rung data schema` if the change is intended",
        )
    return report
