"""Drift statistics from counts agree with the exact ones and stream in chunks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rung.core.drift import (
    ALPHA,
    CategoricalReference,
    CategoricalWindow,
    NumericReference,
    NumericWindow,
    assess,
    categorical_stats,
    judge,
    numeric_stats,
    pool_small_cells,
    reference_from_dict,
)
from rung.core.errors import InvalidInput

scipy_stats = pytest.importorskip("scipy.stats")


def _window(ref: NumericReference, values: np.ndarray, chunks: int = 1) -> NumericWindow:
    w = NumericWindow(ref)
    for part in np.array_split(values, chunks):
        w.add(part)
    return w


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shift=st.floats(-2, 2),
    scale=st.floats(0.3, 3),
    n=st.integers(200, 5000),
    chunks=st.integers(1, 9),
    heavy=st.booleans(),
)
def test_numeric_statistics_match_the_exact_ones(
    seed: int, shift: float, scale: float, n: int, chunks: int, heavy: bool
) -> None:
    rng = np.random.default_rng(seed)
    draw = rng.lognormal if heavy else rng.normal
    ref = draw(0, 1, n)
    cur = draw(shift, scale, n + 17)
    reference = NumericReference.of(ref)
    stats = numeric_stats(_window(reference, cur, chunks))
    exact_w = scipy_stats.wasserstein_distance(ref, cur) / np.std(ref)
    # bin means stand for the values: close, not exact, most off on heavy, widened tails
    # (hypothesis found lognormal n=200 off by 0.021: heavy tails over few values get more room)
    assert stats["wasserstein"] == pytest.approx(exact_w, rel=0.1, abs=0.03 if heavy else 0.02)
    exact_ks = scipy_stats.ks_2samp(ref, cur).statistic
    assert stats["ks"] <= exact_ks + 1e-12  # the gap at the bin edges: never more
    assert stats["ks"] >= exact_ks - 0.03  # and at most a bin's share less
    assert stats["psi"] >= 0
    # chunks change nothing: the window is counts
    once = numeric_stats(_window(reference, cur, 1))
    assert once == pytest.approx(stats)


def test_the_reference_against_itself_shows_no_drift() -> None:
    x = np.random.default_rng(1).normal(5, 2, 10_000)
    reference = NumericReference.of(x)
    stats = numeric_stats(_window(reference, x))
    assert stats["ks"] == 0 and stats["wasserstein"] == pytest.approx(0, abs=1e-12)
    assert stats["psi"] == pytest.approx(0, abs=1e-12)
    assert judge("numeric", stats)["drift"] is False


def test_a_shift_drifts_by_effect_size_and_a_tiny_one_does_not() -> None:
    rng = np.random.default_rng(2)
    ref = rng.normal(0, 1, 200_000)
    reference = NumericReference.of(ref)
    tiny = numeric_stats(_window(reference, rng.normal(0.03, 1, 200_000)))
    assert tiny["ks_pvalue"] is not None and tiny["ks_pvalue"] < 1e-6  # "significant" ...
    assert judge("numeric", tiny)["drift"] is False  # ... but too small to matter
    assert judge("numeric", tiny, "ks_pvalue", 0.05)["drift"] is True  # if one insists
    big = numeric_stats(_window(reference, rng.normal(0.5, 1, 50_000)))
    verdict = judge("numeric", big)
    assert verdict == {
        "statistic": "wasserstein",
        "value": big["wasserstein"],
        "threshold": 0.1,
        "drift": True,
        "pvalue": big["ks_pvalue"],  # the test that tells it from noise
        "alpha": ALPHA,
    }
    assert judge("numeric", big, "psi", 0.2)["drift"] is (big["psi"] >= 0.2)
    with pytest.raises(
        InvalidInput, match="no statistic 'jensenshannon' for the numeric feature a"
    ):
        judge("numeric", big, "jensenshannon", name="a")


def test_nulls_and_infinities_are_counted_apart() -> None:
    reference = NumericReference.of([1.0, 2.0, float("nan"), 3.0, None])
    assert (reference.n, reference.nulls) == (3, 2)
    w = NumericWindow(reference)
    w.add([1.0, float("inf"), None, 2.5])
    assert (w.n, w.nulls) == (2, 2)
    empty = NumericWindow(reference)
    assert numeric_stats(empty)["wasserstein"] is None
    assert judge("numeric", numeric_stats(empty))["drift"] is None
    nothing = NumericReference.of([float("nan")])  # kept: its null rate is still compared
    assert (nothing.n, nothing.nulls, nothing.low) == (0, 1, None)


@settings(max_examples=60, deadline=None)
@given(
    ref=st.lists(st.sampled_from("abcde"), min_size=1, max_size=300),
    cur=st.lists(st.sampled_from("abcde"), min_size=1, max_size=300),
)
def test_categorical_statistics_match_scipy(ref: list[str], cur: list[str]) -> None:
    from scipy.spatial.distance import jensenshannon

    reference = CategoricalReference.of(ref)
    w = CategoricalWindow(reference)
    w.add(cur[: len(cur) // 2])
    w.add(cur[len(cur) // 2 :])
    stats = categorical_stats(w)
    cats = reference.categories
    p = np.array([ref.count(c) for c in cats] + [0]) / len(ref)
    q = np.array([cur.count(c) for c in cats] + [len([v for v in cur if v not in cats])]) / len(cur)
    assert stats["jensenshannon"] == pytest.approx(float(jensenshannon(p, q)), abs=1e-9)
    if q[-1] > 0:
        assert set(w.unseen) == {v for v in cur if v not in cats}
    # Pearson's test of homogeneity of the 2 x k table, rare categories pooled (Cochran)
    a = np.array([ref.count(c) for c in cats] + [0], dtype=float)
    b = np.array([cur.count(c) for c in cats] + [len(cur) - sum(v in cats for v in cur)], float)
    pa, pb = pool_small_cells(a, b)
    assert pa.sum() == a.sum() and pb.sum() == b.sum()
    keep = (pa + pb) > 0
    table = np.array([pa[keep], pb[keep]])
    if table.shape[1] < 2:
        assert stats["chi2_pvalue"] == 1.0
        return
    exact = scipy_stats.chi2_contingency(table, correction=False)
    assert stats["chi2"] == pytest.approx(exact.statistic)
    assert stats["chi2_pvalue"] == pytest.approx(exact.pvalue, abs=1e-12)
    expected = exact.expected_freq
    if table.shape[1] > 2:  # pooled: no column is expected under 5 times in both rows but one
        assert (expected[:, 1:] >= 5 - 1e-9).all()


def test_rare_categories_are_pooled_only_when_expected_under_five() -> None:
    many = np.array([500.0, 300, 200]), np.array([50.0, 30, 20])
    assert [x.tolist() for x in pool_small_cells(*many)] == [[200, 300, 500], [20, 30, 50]]
    rare = np.array([900.0, 90, 6, 4]), np.array([90.0, 9, 1, 0])
    a, b = pool_small_cells(*rare)  # expected in the window: 90, 9, 0.6, 0.4 -> 0.4+0.6+9
    assert a.tolist() == [100, 900] and b.tolist() == [10, 90]


def test_categorical_shift_and_the_reference_round_trip() -> None:
    rng = np.random.default_rng(3)
    cats = list("abcdefghij")
    ref = rng.choice(cats, 50_000).tolist()
    reference = CategoricalReference.of([*ref, None])
    assert reference.nulls == 1 and reference.categories == cats
    same = CategoricalWindow(reference)
    same.add(ref)
    assert categorical_stats(same)["jensenshannon"] == 0
    moved = CategoricalWindow(reference)
    moved.add(rng.choice(cats, 50_000, p=[0.3] + [0.7 / 9] * 9).tolist())
    assert judge("categorical", categorical_stats(moved))["drift"] is True
    for r in (reference, NumericReference.of(rng.normal(0, 1, 100))):
        assert reference_from_dict(r.to_dict()) == r


def test_categorical_counts_agree_for_lists_and_pandas_series() -> None:
    import pandas as pd

    values = ["a", "b", None, "a", float("nan"), "z", "b", "a"]
    ref = CategoricalReference.of(["a", "b", "b", None])
    assert (ref.categories, ref.counts, ref.n, ref.nulls) == (["a", "b"], [1, 2, 0], 3, 1)
    assert CategoricalReference.of(pd.Series(["a", "b", "b", None])) == ref
    by_list, by_series = CategoricalWindow(ref), CategoricalWindow(ref)
    by_list.add(values)
    by_series.add(pd.Series(values))
    for w in (by_list, by_series):
        assert (w.counts.tolist(), w.n, w.nulls, w.unseen) == ([3, 2, 1], 6, 2, {"z": 1})


def test_one_rule_judges_every_window_size_the_effect_gated_by_the_test() -> None:
    """The issue's example: 100 draws of the reference's own distribution have a normalised
    Wasserstein distance near 0.1 already; the test holds them back, at 100 rows as at 5000."""
    rng = np.random.default_rng(5)
    reference = NumericReference.of(rng.normal(0, 1, 20_000))
    small = _window(reference, rng.normal(0, 1, 100))  # the same world, 100 rows
    stats = numeric_stats(small)
    assert stats["wasserstein"] is not None and stats["wasserstein"] > 0.05  # mostly noise
    verdict = judge("numeric", stats)
    assert (verdict["statistic"], verdict["threshold"], verdict["alpha"]) == (
        "wasserstein",
        0.1,
        ALPHA,
    )
    assert verdict["drift"] is False
    noisy = {**stats, "wasserstein": 0.15}  # an effect as large by chance: p-value decides
    assert judge("numeric", noisy)["drift"] is (stats["ks_pvalue"] < ALPHA)
    assert judge("numeric", noisy, alpha=1)["drift"] is True  # alpha = 1: the test is off
    chosen = judge("numeric", stats, "psi")  # a configured statistic replaces the effect size
    assert (chosen["statistic"], chosen["threshold"]) == ("psi", 0.2)
    pvalue = judge("numeric", stats, "ks_pvalue")  # a p-value decides alone, ungated
    assert "alpha" not in pvalue and pvalue["drift"] is (stats["ks_pvalue"] < ALPHA)


def _judged(seed: int, rows: int, shift: float, kind: str) -> dict[str, object]:
    """The verdict on the first ``rows`` of one stream of served values: numbers shifted by
    ``shift`` sd, or four categories whose first one gains ``shift`` / 2 of the share."""
    rng = np.random.default_rng(seed)
    if kind == "numeric":
        reference: NumericReference | CategoricalReference = NumericReference.of(
            rng.normal(0, 1, 5_000)
        )
        served: list[object] | np.ndarray = rng.normal(shift, 1, 1_100)
    else:
        cats, even = list("abcd"), np.full(4, 0.25)
        reference = CategoricalReference.of(rng.choice(cats, 5_000, p=even).tolist())
        moved = even + np.array([shift / 2, -shift / 6, -shift / 6, -shift / 6])
        served = rng.choice(cats, 1_100, p=moved).tolist()
    window: NumericWindow | CategoricalWindow = (
        NumericWindow(reference)
        if isinstance(reference, NumericReference)
        else CategoricalWindow(reference)
    )
    window.add(served[:rows])
    return assess("x", window)["verdict"]


@settings(max_examples=40, deadline=None, derandomize=True)  # fixed examples: no flaky chance
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(800, 1_100),  # around the old boundary at 1000 rows
    shift=st.sampled_from([0.0, 0.02, 0.5, 1.0]),
    kind=st.sampled_from(["numeric", "categorical"]),
)
def test_the_verdict_does_not_change_rule_across_window_sizes(
    seed: int, rows: int, shift: float, kind: str
) -> None:
    """982 rows and 1000 rows of the same traffic are judged by the same rule (the default
    window "1000" comes back as 982 rows when requests are kept whole), and reach the same
    verdict when the traffic is clearly the same or clearly shifted."""
    verdict = _judged(seed, rows, shift, kind)
    thousand = _judged(seed, 1_000, shift, kind)
    effect = "wasserstein" if kind == "numeric" else "jensenshannon"
    for v in (verdict, thousand):
        assert (v["statistic"], v["threshold"], v["alpha"]) == (effect, 0.1, ALPHA)
        assert v["drift"] is (v["value"] >= 0.1 and v["pvalue"] < ALPHA)
    if shift >= 0.5:  # clearly shifted: drift on both sides of the old boundary
        assert verdict["drift"] is True and thousand["drift"] is True
    if shift == 0.0:  # the same distribution: at neither
        assert verdict["drift"] is False and thousand["drift"] is False
