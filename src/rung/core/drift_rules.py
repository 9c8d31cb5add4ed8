"""The rules of drift statistics that the configuration schema checks when a workspace opens:
each statistic's direction (drift at or above its threshold, or below it for a p-value), its
default threshold and the range a threshold can take — kept apart from
:mod:`rung.core.drift`, which computes the statistics with numpy, so that opening a workspace
does not import numpy (130 ms of every CLI command's start-up). Sources and reasons for each
value are given beside it; :mod:`rung.core.drift` re-exports them."""

from __future__ import annotations

import math

DEFAULTS = {"numeric": ("wasserstein", 0.1), "categorical": ("jensenshannon", 0.1)}
# the test of each basis: an effect size is drift only when its test tells it from sampling
# noise too (p-value below ALPHA), whatever the size of the window: one rule for all sizes
TESTS = {"numeric": "ks_pvalue", "categorical": "chi2_pvalue"}
# 0.0025: a feature has two tests (its distribution's and its null rate's); at 0.0025 each,
# the union (Bonferroni) bound keeps its false alarms under 0.5 % of in-distribution
# windows, which leaves room for the tests' approximations on small windows (a 20 %-null
# column of 100 rows: the normal approximation of its null count rejects at about twice
# its level): measured at most 1 % per feature (benchmarks/scripts/drift_false_alarms.py)
ALPHA = 0.0025
_THRESHOLD = {"wasserstein": 0.1, "jensenshannon": 0.1, "psi": 0.2, "ks": 0.1}  # else 0.1
_THRESHOLD.update(ks_pvalue=ALPHA, chi2_pvalue=ALPHA, changed_share=0.1)
# an absolute change of the null rate of 0.1 (ten points) is drift — when a two-proportion
# test also tells it from sampling noise (p < ALPHA): a rate's standard error is up to
# 0.5/sqrt(n), 0.05 at 100 rows, so ten points alone would be noise there
NULL_THRESHOLD = 0.1
# how each statistic is judged: "at_least" = drift when stat >= threshold; "below" for p-values
_DIRECTION = {
    "wasserstein": "at_least",
    "psi": "at_least",
    "ks": "at_least",
    "jensenshannon": "at_least",
    "ks_pvalue": "below",
    "chi2_pvalue": "below",
    "changed_share": "at_least",
    "null_rate_change": "at_least",
    "chi2": "at_least",
    "wasserstein_raw": "at_least",
}
_UNIT = {"ks", "ks_pvalue", "chi2_pvalue", "jensenshannon", "changed_share", "null_rate_change"}


def threshold_range(statistic: str | None) -> tuple[float, float]:
    """The thresholds that can mean something for ``statistic``: ``(0, 1)`` for a p-value,
    a share, the KS statistic and the Jensen-Shannon distance (all in [0, 1] by definition),
    ``(0, inf)`` for the others (distances and PSI/chi² are >= 0) and for ``None`` (the
    statistic chosen by the feature's kind and the window's size). Used by the configuration
    schema to refuse ``threshold = 5`` on a p-value when the workspace opens."""
    return (0.0, 1.0) if statistic in _UNIT else (0.0, math.inf)
