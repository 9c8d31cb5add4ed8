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
* categorical: Pearson's chi-squared test of homogeneity of the two samples' counts (rare
  categories pooled), with its p-value, and the Jensen–Shannon distance (natural log, as
  ``scipy.spatial.distance.jensenshannon``).

**One verdict rule at every window size** (:func:`judge`): a feature drifts when its effect
size reaches its threshold — the normalised Wasserstein distance of a numeric feature, the
Jensen–Shannon distance of a categorical one, 0.1 each (Evidently's defaults for large data)
— *and* the test of its basis (two-sample KS, chi-squared) tells the change from sampling
noise, p-value below ``ALPHA`` (0.0025). The effect size keeps large windows from flagging
shifts too small to matter; the test keeps small windows (whose effect sizes are mostly
noise) from flagging chance; no window size switches from one to the other. The measured
false-alarm rate of these defaults is in docs/monitoring.md
(``benchmarks/scripts/drift_false_alarms.py``). The statistic, threshold and ``alpha`` are
configurable per feature.

**The null rate is monitored too.** Every feature's share of missing values (None, NaN,
``pd.NA``; ±inf of a numeric feature counts as missing) in the window is compared with the
reference's: an absolute change of ``NULL_THRESHOLD`` (0.1, ten percentage points) or more is
drift when a two-proportion test puts it beyond sampling noise too, whatever the
distribution of the values that are there (:func:`null_rates`).

**Degenerate distributions have defined verdicts** (:func:`assess`):

* a constant numeric reference: the window is judged by ``changed_share``, the share of its
  values that differ from the reference's only value (threshold 0.1) — KS and Wasserstein
  cannot see a shift from one constant to another (KS 0 when the new constant lands in the
  same bin, an infinite normalised Wasserstein);
* a single-category reference: Jensen–Shannon and chi-squared as usual (chi-squared with no
  degree of freedom — that category alone on both sides — has p-value 1);
* a reference or a window with no value at all (all null, or no row): no distribution
  statistic can be computed; the null rate decides, and a one-line ``note`` naming the
  column says so. A window with no row of a feature has no verdict (``drift`` None).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rung.core.drift_rules import (
    _DIRECTION,
    _THRESHOLD,
    ALPHA,
    DEFAULTS,
    NULL_THRESHOLD,
    TESTS,
)
from rung.core.errors import InvalidInput

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
    low: float | None  # None when the reference has no value (all null)
    high: float | None
    nulls: int = 0
    # what the numbers are: "values" (numeric, integer), "epoch_seconds" (datetimes, in UTC),
    # "length" (text, in characters); see rung.core.columns.drift_numbers
    measure: str = "values"
    # the column's kind (the JSON form of rung.core.columns.ColumnKind), for reports only
    column: dict[str, Any] | None = None
    # whether the exact values differ (integers): int64 values near the extremes collapse to
    # one float, so low == high alone would call 300 distinct ones constant; None: unknown
    varies: bool | None = None

    @classmethod
    @np.errstate(over="ignore", invalid="ignore")  # values near the float range: inf, not noise
    def of(cls, values: Any, bins: int = 100, measure: str = "values") -> NumericReference:
        """Summarise ``values`` (any array-like; NaN, None and ±inf count as nulls). A
        reference without a finite value is kept too: only its null rate can be compared."""
        varies = _exact_varies(values)
        values = numbers(values, measure)
        x = np.sort(_finite(values))  # sorted once: quantiles, counts and sums by position
        nulls = int(np.size(values) - x.size)
        if x.size == 0:
            return cls(
                edges=[],
                counts=[0],
                sums=[0.0],
                n=0,
                std=0.0,
                low=None,
                high=None,
                nulls=nulls,
                measure=measure,
            )
        edges = np.unique(_sorted_quantiles(x, np.linspace(0, 1, bins + 1)[1:-1]))
        counts, sums = _binned(x, edges)
        return cls(
            edges=edges.tolist(),
            counts=counts.tolist(),
            sums=sums.tolist(),
            n=int(x.size),
            std=_std(x),
            low=float(x[0]),
            high=float(x[-1]),
            nulls=nulls,
            measure=measure,
            varies=varies,
        )

    @property
    def constant(self) -> bool:
        """Every value of the reference is the same (one value, or many equal ones), judged
        on the exact integers when they were known (see ``varies``)."""
        if self.n == 0:
            return False
        return self.low == self.high if self.varies is None else not self.varies

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
    :func:`rung.core.columns.drift_numbers` (datetimes, text, ``pd.NA``).

    A value of the wrong kind in a numeric feature — a string that is not a number
    (``"abc"``), a list or an object — counts as a missing value, so it shows in the
    feature's null rate (a monitored statistic) instead of stopping the count; a numeric
    string (``"1.5"``) is read as its number, a boolean as 0 or 1 (``pandas.to_numeric``
    with ``errors="coerce"``). The same holds for datetimes and text: a value that cannot be
    read as a time (an object, an integer out of the timestamp range) counts as null."""
    if measure == "values":
        try:
            return np.asarray(values, dtype=float).ravel()
        except (TypeError, ValueError):
            import pandas as pd

            series = (
                values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
            )
            return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    from rung.core.columns import ColumnKind, drift_numbers

    kind = ColumnKind(_MEASURED.get(measure, "numeric"))
    try:
        return drift_numbers(values, kind)
    except (TypeError, ValueError, OverflowError):  # one value of the wrong kind: -1 as a date
        return np.array([_one_number(v, kind) for v in values], dtype=float)


def _one_number(value: Any, kind: Any) -> float:
    from rung.core.columns import drift_numbers

    try:
        return float(drift_numbers([value], kind)[0])
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _exact_varies(values: Any) -> bool | None:
    """For integer values (numpy or pandas nullable): whether two non-null ones differ,
    compared exactly; ``None`` for anything else."""
    dtype = getattr(values, "dtype", None)
    if dtype is None or getattr(dtype, "kind", "") not in ("i", "u"):
        return None
    present = values.dropna() if hasattr(values, "dropna") else values
    return bool(len(present) and int(present.min()) != int(present.max()))


@dataclass
class CategoricalReference:
    """A categorical feature of the reference: counts per category, then "other"."""

    categories: list[str]
    counts: list[int]  # one per category, then one for values the reference never had (0)
    n: int
    nulls: int = 0
    column: dict[str, Any] | None = None  # the column's kind, for reports only

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
    same: int = 0  # values equal to a constant reference's only value

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
            if self.ref.constant:
                self.same += int(np.count_nonzero(x == self.ref.low))


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
    """KS distance and p-value, PSI, Wasserstein-1 (raw and normalised) of a window, and,
    against a constant reference only, ``changed_share`` (the share of the window's values
    that differ from the reference's value). All None when either side has no value."""
    ref = window.ref
    r = np.asarray(ref.counts, dtype=float)
    c = window.counts.astype(float)
    if window.n == 0 or ref.n == 0:
        names = ["ks", "ks_pvalue", "psi", "wasserstein", "wasserstein_raw"]
        return dict.fromkeys(names + (["changed_share"] if ref.constant else []))
    fr, fc = np.cumsum(r) / r.sum(), np.cumsum(c) / c.sum()
    ks = float(np.max(np.abs(fr[:-1] - fc[:-1]))) if fr.size > 1 else 0.0
    w1 = _wasserstein(
        np.asarray(ref.sums) / np.maximum(r, 1),
        r / r.sum(),
        window.sums / np.maximum(c, 1),
        c / c.sum(),
    )
    stats: dict[str, float | None] = {
        "ks": ks,
        "ks_pvalue": _ks_pvalue(ks, ref.n, window.n),
        "psi": _psi(r, c),
        "wasserstein": w1 / ref.std if ref.std > 0 else (0.0 if w1 == 0 else math.inf),
        "wasserstein_raw": w1,
    }
    if ref.constant:
        stats["changed_share"] = (window.n - window.same) / window.n
    return stats


def categorical_stats(window: CategoricalWindow) -> dict[str, float | None]:
    """Pearson's chi-squared test of homogeneity of the reference's and the window's counts
    (a 2 × k table: both are samples, so the reference's shares are not taken as exact —
    as the two-sample KS test of numbers does) with its p-value, categories expected fewer
    than 5 times pooled (:func:`pool_small_cells`); and the Jensen–Shannon distance."""
    r = np.asarray(window.ref.counts, dtype=float)
    c = window.counts.astype(float)
    if window.n == 0 or window.ref.n == 0:  # no value on one side: nothing to compare
        return {"chi2": None, "chi2_pvalue": None, "jensenshannon": None}
    p, q = r / r.sum(), c / c.sum()
    m = (p + q) / 2
    js = math.sqrt(max(0.0, (_kl(p, m) + _kl(q, m)) / 2))
    ref, cur = pool_small_cells(r, c)
    chi2, dof = _homogeneity(ref, cur)
    return {"chi2": chi2, "chi2_pvalue": _chi2_pvalue(chi2, dof), "jensenshannon": js}


def _homogeneity(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Pearson's statistic of the 2 × k table (a, b) and its degrees of freedom (k − 1)."""
    columns = a + b
    keep = columns > 0
    a, b, columns = a[keep], b[keep], columns[keep]
    total = columns.sum()
    chi2 = 0.0
    for row in (a, b):
        expected = columns * row.sum() / total
        chi2 += float(np.sum((row - expected) ** 2 / expected))
    return chi2, int(columns.size) - 1


MIN_EXPECTED = 5.0


def pool_small_cells(
    a: np.ndarray, b: np.ndarray, least: float = MIN_EXPECTED
) -> tuple[np.ndarray, np.ndarray]:
    """The two rows ``a`` and ``b`` of a 2 × k table of counts with the categories expected
    fewer than ``least`` (5) times in either row pooled into one column — then the next
    smallest ones added to it until it is expected ``least`` times too: Pearson's statistic
    follows the chi-squared distribution only when no expected count is small (Cochran 1954,
    "Some methods for strengthening the common χ² tests", Biometrics 10(4): the "expected
    count ≥ 5" rule). Without it a rare category seen once in a window of 100 rows made
    the test flag in-distribution windows several times more often than its level. Columns
    come out in the order of their rising totals; two columns are always left (pooling into
    one would leave no test: a new category in a single-category feature must still show)."""
    columns = a + b
    smaller = min(a.sum(), b.sum())
    total = columns.sum()
    if total == 0 or columns.size < 3:
        return a, b
    order = np.argsort(columns, kind="stable")
    a, b, expected = a[order], b[order], columns[order] * smaller / total
    small = int(np.searchsorted(expected, least, side="left"))  # columns expected < least
    if small == 0:
        return a, b
    k = max(small, int(np.searchsorted(np.cumsum(expected), least, side="left")) + 1)
    k = min(k, expected.size - 1)  # two columns at least: a test, however rough, not none
    if k < 2:
        return a, b
    return np.concatenate(([a[:k].sum()], a[k:])), np.concatenate(([b[:k].sum()], b[k:]))


def describe_default_rule(alpha: float = ALPHA) -> str:
    """The default verdict rule in words (the CLI and the benchmarks print it)."""
    return (
        "wasserstein/jensenshannon >= 0.1 and KS/chi-squared p-value < "
        f"{alpha:g}, at every window size"
    )


# effect sizes that the test of their basis gates (not p-values, changed_share, null rates)
_GATED = {"wasserstein", "wasserstein_raw", "psi", "ks", "jensenshannon", "chi2"}


def judge(
    kind: str,
    stats: dict[str, float | None],
    statistic: str | None = None,
    threshold: float | None = None,
    name: str | None = None,
    alpha: float | None = None,
) -> dict[str, Any]:
    """The verdict of one feature: which statistic decided, against which threshold.

    **One rule at every window size**: a feature drifts when its effect size reaches its
    threshold (by default the normalised Wasserstein distance for numbers, the Jensen–Shannon
    distance for categories, 0.1 each: Evidently's defaults for large data, see
    https://docs.evidentlyai.com/metrics/explainer_drift) **and** the test of its basis —
    two-sample Kolmogorov–Smirnov for numbers, Pearson's chi-squared for categories — puts
    it beyond sampling noise (p-value below ``alpha``, default :data:`ALPHA` 0.0025: with the
    null rate's test at the same level, at most 1 % of in-distribution windows flag a
    feature, by the union bound). The
    effect size says the change matters, the test that it is not chance: the pairing of a
    significance test with a smallest effect size of interest (Lakens, Scheel & Isager 2018,
    "Equivalence testing for psychological research: a tutorial", AMPPS 1(2)). Small windows
    are held back by the test (an effect size of 100 draws is mostly noise), large ones by
    the effect size (a p-value flags shifts too small to matter); nothing switches at a
    window size, so a window of 982 rows and one of 1000 are judged alike.

    A configured ``statistic`` replaces the effect size (a p-value statistic then decides
    alone, below its threshold); ``alpha`` = 1 turns the test off. Against a constant
    reference, ``changed_share`` decides (when ``stats`` has a value for it), ungated.
    Raises :class:`InvalidInput` naming the feature ``name`` for a statistic its kind does
    not have. The verdict holds ``pvalue`` and ``alpha`` when a test gated it."""
    if statistic is None and stats.get("changed_share") is not None:
        statistic = "changed_share"
    statistic = statistic or DEFAULTS[kind][0]
    threshold = _THRESHOLD.get(statistic, 0.1) if threshold is None else threshold
    if statistic not in stats or statistic not in _DIRECTION:
        known = sorted(k for k in stats if k in _DIRECTION)
        raise InvalidInput(
            f"no statistic {statistic!r} for the {kind} feature {name or ''}".rstrip(),
            f"choose from {', '.join(known)} under [monitor.features]",
        )
    value = stats[statistic]
    drift: bool | None
    if value is None:
        drift = None
    elif _DIRECTION[statistic] == "below":
        drift = value < threshold
    else:
        drift = value >= threshold
    verdict: dict[str, Any] = {
        "statistic": statistic,
        "value": value,
        "threshold": threshold,
        "drift": drift,
    }
    if statistic in _GATED:
        alpha = ALPHA if alpha is None else float(alpha)
        pvalue = stats.get(TESTS[kind])
        verdict["pvalue"], verdict["alpha"] = pvalue, alpha
        if drift and pvalue is not None and not pvalue < alpha:
            verdict["drift"] = False  # as large as that by chance: not told from noise
    return verdict


def null_rates(
    reference: NumericReference | CategoricalReference,
    window: NumericWindow | CategoricalWindow,
    threshold: float | None = None,
    alpha: float | None = None,
) -> dict[str, Any]:
    """The null rate of the reference and of the window, the change (window − reference),
    the p-value of the two-proportion z-test of that change (pooled variance; e.g. Agresti,
    *Categorical Data Analysis*, 3rd ed., 2013, §3.1.3) and the verdict: drift when
    ``|change| >= threshold`` (default ``NULL_THRESHOLD``) and ``pvalue < alpha`` (default
    :data:`ALPHA`), the rule of :func:`judge`. Rates are None for a side without rows; so
    is then the verdict."""
    threshold = NULL_THRESHOLD if threshold is None else float(threshold)
    alpha = ALPHA if alpha is None else float(alpha)
    ref_rows, rows = reference.n + reference.nulls, window.n + window.nulls
    before = reference.nulls / ref_rows if ref_rows else None
    now = window.nulls / rows if rows else None
    change = None if before is None or now is None else now - before
    pvalue = (
        None
        if change is None
        else _two_proportion_pvalue(reference.nulls, ref_rows, window.nulls, rows)
    )
    drift = None
    if change is not None and pvalue is not None:
        drift = abs(change) >= threshold - 1e-12 and pvalue < alpha
    return {
        "reference": before,
        "current": now,
        "change": change,
        "threshold": threshold,
        "pvalue": pvalue,
        "alpha": alpha,
        "drift": drift,
    }


def _two_proportion_pvalue(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test of k1/n1 against k2/n2 (1 when
    both rates are 0 or both 1: nothing varies)."""
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = abs(k2 / n2 - k1 / n1) / se
    return math.erfc(z / math.sqrt(2))


def assess(
    name: str,
    window: NumericWindow | CategoricalWindow,
    statistic: str | None = None,
    threshold: float | None = None,
    null_threshold: float | None = None,
    alpha: float | None = None,
) -> dict[str, Any]:
    """Everything said about one feature of a window: ``kind``, ``rows`` and ``nulls`` of
    the window, every statistic (``stats``), the null rates (``nulls_rate``), the
    ``verdict`` and, where a degenerate side leaves something undecidable, a one-line
    ``note`` naming the feature.

    The verdict is the distribution's (see :func:`judge`) unless the null rate drifted and
    the distribution did not: then ``null_rate_change`` (the absolute change) is its
    statistic. ``drift`` is True when either drifted, None when neither could be judged."""
    if isinstance(window, NumericWindow):
        kind, stats = "numeric", numeric_stats(window)
    else:
        kind, stats = "categorical", categorical_stats(window)
    ref = window.ref
    nulls = null_rates(ref, window, null_threshold, alpha)
    stats = {**stats, "null_rate": nulls["current"], "null_rate_reference": nulls["reference"]}
    verdict = judge(kind, stats, statistic, threshold, name, alpha)
    if nulls["drift"] and not verdict["drift"]:
        verdict = {
            "statistic": "null_rate_change",
            "value": abs(nulls["change"]),
            "threshold": nulls["threshold"],
            "drift": True,
            "pvalue": nulls["pvalue"],  # the two-proportion test's, which rejected too
            "alpha": nulls["alpha"],
        }
    elif verdict["drift"] is None and nulls["drift"] is False:
        verdict = {**verdict, "drift": False}  # nothing to compare but the null rate: same
    out: dict[str, Any] = {
        "kind": kind,
        "rows": window.n,
        "nulls": window.nulls,
        "stats": stats,
        "nulls_rate": nulls,
        "verdict": verdict,
    }
    note = _note(name, window)
    if note:
        out["note"] = note
    return out


def _note(name: str, window: NumericWindow | CategoricalWindow) -> str | None:
    """The one line that says why a feature has no distribution statistic, if it has none."""
    ref = window.ref
    if window.n + window.nulls == 0:
        return f"{name}: no row in the window: no statistic, no verdict"
    if ref.n == 0 and window.n == 0:
        return f"{name}: no value in the reference nor in the window (all null): only the null rate is compared"
    if ref.n == 0:
        return f"{name}: the reference has no value (all null): only the null rate is compared"
    if window.n == 0:
        return f"{name}: no value in the window (all null): only the null rate is compared"
    if isinstance(ref, NumericReference) and ref.constant:
        return (
            f"{name}: the reference is constant ({ref.low:g}): judged by the share of values"
            " that differ from it"
        )
    return None


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
        try:
            pairs = [(v, int(c)) for v, c in values.value_counts(dropna=True).items()]
        except TypeError:  # an unhashable value (a struct column read from Parquet)
            values = [None if _is_null(v) else v for v in values]
        else:
            nulls = int(values.isna().sum())
            return [*pairs, (None, nulls)] if nulls else pairs
    try:
        return list(Counter(values).items())
    except TypeError:  # an unhashable value (a list, a dict): counted as its text
        return list(Counter(v if _hashable(v) else str(v) for v in values).items())


def _is_null(v: Any) -> bool:
    import pandas as pd

    return v is None or (np.ndim(v) == 0 and bool(pd.isna(v)))


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _std(x: np.ndarray) -> float:
    """The population standard deviation of the finite, sorted ``x``, scaled first so that
    values past 1e154 (whose squares overflow to inf) keep a finite spread; ``np.std`` of
    them is inf, which made the normalised Wasserstein distance 0 (scipy/scipy#19712)."""
    scale = float(max(abs(x[0]), abs(x[-1])))
    if scale == 0.0 or not math.isfinite(scale):
        return 0.0 if scale == 0.0 else float(np.std(x))
    return scale * float(np.std(x / scale))


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
    if dof < 1:  # a single-category reference, and only that category in the window
        return 1.0
    try:  # scipy.special.chdtrc is scipy.stats.chi2.sf, without importing scipy.stats
        from scipy.special import chdtrc
    except ModuleNotFoundError:
        return None
    return float(chdtrc(dof, stat))
