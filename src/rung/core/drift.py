"""Data drift from counts: bounded memory whatever the number of rows.

The reference (a model's training data) is summarised once per feature: a numeric feature
into ~100 bins cut at its quantiles, a categorical one into its categories plus "other".
Every window of served inputs is reduced to counts over the same bins, chunk by chunk
(:class:`NumericWindow`, :class:`CategoricalWindow`), so a window of millions of rows never
has to be in memory. The statistics then come from two count vectors:

* numeric: Kolmogorov–Smirnov distance (largest gap between the two CDFs at the bin edges)
  with its asymptotic p-value; PSI over the reference's deciles; Wasserstein-1 distance with
  each bin's mass at the mean of its values (bins keep their sums), normalised by the
  reference's standard deviation (as Evidently does);
* categorical: chi-squared against the reference's shares, with its p-value, and the
  Jensen–Shannon distance (natural log, as ``scipy.spatial.distance.jensenshannon``).

**Verdicts rest on effect sizes, not p-values.** On a large window a p-value flags shifts
too small to matter (alert fatigue); so by default a numeric feature drifts when its
normalised Wasserstein distance reaches 0.1 and a categorical one when its Jensen–Shannon
distance reaches 0.1 — Evidently's defaults for large data — and the p-values are reported
as information. The statistic and threshold are configurable per feature.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULTS = {"numeric": ("wasserstein", 0.1), "categorical": ("jensenshannon", 0.1)}
# under LARGE rows an effect size cannot be told from sampling noise (the Wasserstein distance
# of 100 draws from their own distribution is ~0.1 sd): there the tests decide, at 5 %
SMALL_DEFAULTS = {"numeric": ("ks_pvalue", 0.05), "categorical": ("chi2_pvalue", 0.05)}
LARGE = 1000
_THRESHOLD = {"wasserstein": 0.1, "jensenshannon": 0.1, "psi": 0.2, "ks": 0.1}
_THRESHOLD.update(ks_pvalue=0.05, chi2_pvalue=0.05)
# how each statistic is judged: "at_least" = drift when stat >= threshold; "below" for p-values
_DIRECTION = {
    "wasserstein": "at_least",
    "psi": "at_least",
    "ks": "at_least",
    "jensenshannon": "at_least",
    "ks_pvalue": "below",
    "chi2_pvalue": "below",
}
OTHER = "<other>"
_EPS = 1e-4  # share given to an empty bin in PSI


# -- references -------------------------------------------------------------------------


@dataclass
class NumericReference:
    """A numeric feature of the reference: bin edges at its quantiles and counts per bin."""

    edges: list[float]  # interior cut points, increasing; bins = len(edges) + 1
    counts: list[int]
    sums: list[float]  # of the values in each bin: their mean places the bin's mass
    n: int
    std: float
    low: float
    high: float
    nulls: int = 0
    # what the numbers are: "values" (numeric, integer), "epoch_seconds" (datetimes, in UTC),
    # "length" (text, in characters); see rung.core.columns.drift_numbers
    measure: str = "values"

    @classmethod
    @np.errstate(over="ignore", invalid="ignore")  # values near the float range: inf, not noise
    def of(cls, values: Any, bins: int = 100, measure: str = "values") -> NumericReference:
        values = numbers(values, measure)
        x = np.sort(_finite(values))  # sorted once: quantiles, counts and sums by position
        if x.size == 0:
            raise ValueError("a numeric reference needs at least one finite value")
        edges = np.unique(_sorted_quantiles(x, np.linspace(0, 1, bins + 1)[1:-1]))
        counts, sums = _binned(x, edges)
        return cls(
            edges=edges.tolist(),
            counts=counts.tolist(),
            sums=sums.tolist(),
            n=int(x.size),
            std=float(np.std(x)),
            low=float(x[0]),
            high=float(x[-1]),
            nulls=int(np.size(values) - x.size),
            measure=measure,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "numeric", **self.__dict__}


_MEASURED = {"epoch_seconds": "datetime", "length": "text"}


def measure_of(kind: str) -> str:
    """How a column kind is measured for drift: ``"values"``, ``"epoch_seconds"`` or
    ``"length"`` (the numbers of :func:`rung.core.columns.drift_numbers`)."""
    return {v: k for k, v in _MEASURED.items()}.get(kind, "values")


def numbers(values: Any, measure: str = "values") -> Any:
    """The floats a numeric reference or window counts (``NaN`` for a missing value): the
    values as they are when numpy reads them as floats, else through
    :func:`rung.core.columns.drift_numbers` (datetimes, text, ``pd.NA``)."""
    if measure == "values":
        try:
            return np.asarray(values, dtype=float).ravel()
        except (TypeError, ValueError):
            pass
    from rung.core.columns import ColumnKind, drift_numbers

    return drift_numbers(values, ColumnKind(_MEASURED.get(measure, "numeric")))


@dataclass
class CategoricalReference:
    """A categorical feature of the reference: counts per category, then "other"."""

    categories: list[str]
    counts: list[int]  # one per category, then one for values the reference never had (0)
    n: int
    nulls: int = 0

    @classmethod
    def of(cls, values: Any) -> CategoricalReference:
        counts: Counter[str] = Counter()
        nulls = 0
        for v, count in _count(values):
            if v is None or _is_nan(v):
                nulls += count
            else:
                counts[str(v)] += count
        cats = sorted(counts)
        return cls(
            categories=cats,
            counts=[*(counts[c] for c in cats), 0],
            n=sum(counts.values()),
            nulls=nulls,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "categorical", **self.__dict__}


def reference_from_dict(d: dict[str, Any]) -> NumericReference | CategoricalReference:
    fields = {k: v for k, v in d.items() if k != "kind"}
    if d.get("kind") == "numeric":
        return NumericReference(**fields)
    return CategoricalReference(**fields)


# -- windows: counts accumulated chunk by chunk -------------------------------------------


@dataclass
class NumericWindow:
    """Served values of one numeric feature, reduced to counts over the reference's bins."""

    ref: NumericReference
    counts: np.ndarray = field(init=False)
    sums: np.ndarray = field(init=False)
    n: int = 0
    nulls: int = 0
    low: float = math.inf
    high: float = -math.inf

    def __post_init__(self) -> None:
        self.counts = np.zeros(len(self.ref.edges) + 1, dtype=np.int64)
        self.sums = np.zeros(len(self.ref.edges) + 1)

    @np.errstate(over="ignore", invalid="ignore")
    def add(self, values: Any) -> None:
        values = numbers(values, self.ref.measure)
        x = np.sort(_finite(values))
        self.nulls += int(np.size(values) - x.size)
        if x.size:
            counts, sums = _binned(x, np.asarray(self.ref.edges))
            self.counts += counts
            self.sums += sums
            self.n += int(x.size)
            self.low, self.high = min(self.low, float(x[0])), max(self.high, float(x[-1]))


@dataclass
class CategoricalWindow:
    """Served values of one categorical feature, counted per reference category."""

    ref: CategoricalReference
    counts: np.ndarray = field(init=False)
    n: int = 0
    nulls: int = 0
    unseen: dict[str, int] = field(default_factory=dict)  # values the reference never had

    def __post_init__(self) -> None:
        self.counts = np.zeros(len(self.ref.categories) + 1, dtype=np.int64)
        self._index = {c: i for i, c in enumerate(self.ref.categories)}

    def add(self, values: Any) -> None:
        """Count a chunk: by hashing (``Counter``, or pandas' ``value_counts`` for a Series),
        then one step per distinct value, so a million rows cost milliseconds."""
        other = len(self.ref.categories)
        for v, count in _count(values):
            if v is None or _is_nan(v):
                self.nulls += count
                continue
            key = str(v)
            i = self._index.get(key, other)
            self.counts[i] += count
            self.n += count
            if i == other and (key in self.unseen or len(self.unseen) < 20):
                self.unseen[key] = self.unseen.get(key, 0) + count


# -- statistics ---------------------------------------------------------------------------


@np.errstate(over="ignore", invalid="ignore")
def numeric_stats(window: NumericWindow) -> dict[str, float | None]:
    """KS distance and p-value, PSI, Wasserstein-1 (raw and normalised) of a window."""
    ref = window.ref
    r = np.asarray(ref.counts, dtype=float)
    c = window.counts.astype(float)
    if window.n == 0:
        return {k: None for k in ("ks", "ks_pvalue", "psi", "wasserstein", "wasserstein_raw")}
    fr, fc = np.cumsum(r) / r.sum(), np.cumsum(c) / c.sum()
    ks = float(np.max(np.abs(fr[:-1] - fc[:-1]))) if fr.size > 1 else 0.0
    w1 = _wasserstein(
        np.asarray(ref.sums) / np.maximum(r, 1),
        r / r.sum(),
        window.sums / np.maximum(c, 1),
        c / c.sum(),
    )
    return {
        "ks": ks,
        "ks_pvalue": _ks_pvalue(ks, ref.n, window.n),
        "psi": _psi(r, c),
        "wasserstein": w1 / ref.std if ref.std > 0 else (0.0 if w1 == 0 else math.inf),
        "wasserstein_raw": w1,
    }


def categorical_stats(window: CategoricalWindow) -> dict[str, float | None]:
    """Chi-squared statistic and p-value, and the Jensen–Shannon distance of a window."""
    r = np.asarray(window.ref.counts, dtype=float)
    c = window.counts.astype(float)
    if window.n == 0:
        return {"chi2": None, "chi2_pvalue": None, "jensenshannon": None}
    p, q = r / r.sum(), c / c.sum()
    m = (p + q) / 2
    js = math.sqrt(max(0.0, (_kl(p, m) + _kl(q, m)) / 2))
    expected = p * c.sum()
    seen = expected > 0
    chi2 = float(np.sum((c[seen] - expected[seen]) ** 2 / expected[seen]))
    if np.any(c[~seen] > 0):  # values the reference never had: infinitely unlikely under it
        chi2 = math.inf
    dof = int(seen.sum()) - 1
    return {"chi2": chi2, "chi2_pvalue": _chi2_pvalue(chi2, dof), "jensenshannon": js}


def judge(
    kind: str,
    stats: dict[str, float | None],
    statistic: str | None = None,
    threshold: float | None = None,
    rows: int | None = None,
) -> dict[str, Any]:
    """The verdict of one feature: which statistic decided, against which threshold.

    By default an effect size decides; on a window of fewer than ``LARGE`` rows (``rows``),
    a test's p-value does, as Evidently's presets do, since effect sizes of small samples
    are mostly noise. A configured statistic always wins."""
    defaults = SMALL_DEFAULTS if rows is not None and rows < LARGE else DEFAULTS
    statistic = statistic or defaults[kind][0]
    threshold = _THRESHOLD.get(statistic, 0.1) if threshold is None else threshold
    if statistic not in stats:
        raise ValueError(
            f"no statistic {statistic!r} for a {kind} feature; choose from {sorted(stats)}"
        )
    value = stats[statistic]
    if value is None:
        drift = None
    elif _DIRECTION[statistic] == "below":
        drift = value < threshold
    else:
        drift = value >= threshold
    return {"statistic": statistic, "value": value, "threshold": threshold, "drift": drift}


# -- helpers ------------------------------------------------------------------------------


def _finite(values: Any) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    return x[np.isfinite(x)]


def _sorted_quantiles(x: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """``np.quantile(x, qs)`` (linear interpolation) of an already sorted ``x``, by position:
    no partition of the data per call."""
    pos = qs * (x.size - 1)
    low = np.floor(pos).astype(np.int64)
    high = np.minimum(low + 1, x.size - 1)
    return np.asarray(x[low] + (pos - low) * (x[high] - x[low]))


def _binned(x: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts and sums of sorted ``x`` per bin, bin ``k`` holding ``edges[k-1] <= v <
    edges[k]``: two searches per edge instead of one per value."""
    cut = np.concatenate(([0], np.searchsorted(x, edges, side="left"), [x.size]))
    total = np.concatenate(([0.0], np.cumsum(x)))
    return np.diff(cut).astype(np.int64), total[cut[1:]] - total[cut[:-1]]


def _count(values: Any) -> list[tuple[Any, int]]:
    """(value, count) pairs of a chunk, nulls included: by hashing (pandas' ``value_counts``
    for a Series, else ``Counter``), so a million values cost milliseconds, not a loop."""
    if hasattr(values, "value_counts") and hasattr(values, "isna"):
        pairs = [(v, int(c)) for v, c in values.value_counts(dropna=True).items()]
        nulls = int(values.isna().sum())
        return [*pairs, (None, nulls)] if nulls else pairs
    return list(Counter(values).items())


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _wasserstein(a: np.ndarray, p: np.ndarray, b: np.ndarray, q: np.ndarray) -> float:
    """Wasserstein-1 between two discrete distributions: atoms ``a`` with weights ``p`` and
    ``b`` with ``q`` (each bin's mass at the mean of its values: within a bin the two
    distributions are alike, across bins — the tails above all — the means carry the shift)."""
    xs = np.concatenate((a, b))
    w = np.concatenate((p, -q))
    order = np.argsort(xs, kind="stable")
    xs, gap = xs[order], np.cumsum(w[order])  # F_p - F_q just right of each atom
    return float(np.sum(np.abs(gap[:-1]) * np.diff(xs)))


def _psi(r: np.ndarray, c: np.ndarray, groups: int = 10) -> float:
    """PSI over the reference's deciles (the usual 10 bins), from the fine bins' counts."""
    share_before = np.concatenate(([0.0], np.cumsum(r)[:-1])) / r.sum()
    group = np.minimum((share_before * groups + 1e-9).astype(int), groups - 1)
    rg = np.bincount(group, weights=r, minlength=groups) / r.sum()
    cg = np.bincount(group, weights=c, minlength=groups) / c.sum()
    rg, cg = np.maximum(rg, _EPS), np.maximum(cg, _EPS)
    return float(np.sum((cg - rg) * np.log(cg / rg)))


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] / q[nz])))


def _ks_pvalue(d: float, n: int, m: int) -> float | None:
    try:  # scipy.special: the same function as scipy.stats.kstwobign.sf, a quarter the import
        from scipy.special import kolmogorov
    except ModuleNotFoundError:
        return None
    return float(kolmogorov(d * math.sqrt(n * m / (n + m))))


def _chi2_pvalue(stat: float, dof: int) -> float | None:
    if math.isinf(stat):  # a value the reference never had
        return 0.0
    if dof < 1:
        return None
    try:  # scipy.special.chdtrc is scipy.stats.chi2.sf, without importing scipy.stats
        from scipy.special import chdtrc
    except ModuleNotFoundError:
        return None
    return float(chdtrc(dof, stat))
