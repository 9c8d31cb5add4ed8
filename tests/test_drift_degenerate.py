"""Null rates as a monitored statistic, and defined verdicts for degenerate distributions:
constant and single-category references, all-null sides, empty windows; duplicate column
names refused in one line. Through ``compare_frames`` (small and large windows, where the
default statistics differ) and through a served model's monitoring window."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_project import TRAIN, frame, in_fifties, log_served
from rung.core.drift import (
    ALPHA,
    NULL_THRESHOLD,
    CategoricalReference,
    CategoricalWindow,
    null_rates,
)
from rung.core.errors import InvalidInput
from rung.monitoring.drift import compare_frames

pytest.importorskip("scipy")

R = np.random.default_rng(0)


def _col(kind: str, n: int) -> pd.Series:
    """The columns of the family, ``n`` rows each; "spread" is N(5, 1) at its quantiles, so
    that two of them never differ by chance."""
    from scipy.special import ndtri

    spread = 5 + ndtri((np.arange(n) + 0.5) / n)
    return {
        "constant 3": pd.Series(np.full(n, 3.0)),
        "constant 7": pd.Series(np.full(n, 7.0)),
        "constant -1": pd.Series(np.full(n, -1.0)),
        "spread": pd.Series(spread),
        "all null": pd.Series(np.full(n, np.nan)),
        "one category": pd.Series(["red"] * n, dtype=object),
        "new category": pd.Series(["green"] * n, dtype=object),
        "no category": pd.Series([None] * n, dtype=object),
        "95% null": pd.Series(np.where(np.arange(n) % 20 == 0, spread, np.nan)),
        "5% null": pd.Series(np.where(np.arange(n) % 20 == 0, np.nan, spread)),
    }[kind]


# reference, current, drift?, the deciding statistic, words of the note (or None)
FAMILY = [
    ("constant 3", "constant 3", False, "changed_share", "reference is constant (3)"),
    ("constant 3", "constant 7", True, "changed_share", "reference is constant (3)"),
    ("constant 3", "constant -1", True, "changed_share", "reference is constant (3)"),
    ("constant 3", "spread", True, "changed_share", "reference is constant (3)"),
    ("spread", "constant 3", True, None, None),  # a window gone constant: the usual statistics
    ("one category", "one category", False, None, None),
    ("one category", "new category", True, None, None),
    ("all null", "spread", True, "null_rate_change", "the reference has no value (all null)"),
    ("spread", "all null", True, "null_rate_change", "no value in the window (all null)"),
    ("no category", "one category", True, "null_rate_change", "the reference has no value"),
    ("one category", "no category", True, "null_rate_change", "no value in the window"),
    ("all null", "all null", False, None, "no value in the reference nor in the window"),
    ("spread", "95% null", True, "null_rate_change", None),
    ("spread", "5% null", False, None, None),
]


@pytest.mark.parametrize("rows", [60, 3000])  # one rule, small windows and large
@pytest.mark.parametrize(("ref", "cur", "drift", "statistic", "note"), FAMILY)
def test_degenerate_references_and_windows_have_defined_verdicts(
    ref: str, cur: str, drift: bool, statistic: str | None, note: str | None, rows: int
) -> None:
    report = compare_frames(
        pd.DataFrame({"x": _col(ref, 2000)}), pd.DataFrame({"x": _col(cur, rows)})
    )
    x = report["features"]["x"]
    assert x["verdict"]["drift"] is drift, x
    assert report["drifted"] == (["x"] if drift else [])
    if statistic:
        assert x["verdict"]["statistic"] == statistic
    if drift:  # a drift always has the number that decided it (alerts print it)
        assert isinstance(x["verdict"]["value"], float)
    if note:
        assert x["note"].startswith("x: ") and note in x["note"] and "\n" not in x["note"]
        assert x["note"] in report["notes"]
    else:
        assert "note" not in x
    rates = x["nulls_rate"]
    assert rates["threshold"] == NULL_THRESHOLD
    assert rates["current"] == pytest.approx(_col(cur, rows).isna().mean())


def test_constant_shifted_is_flagged_with_the_share_that_moved() -> None:
    """The issue's example: KS 0 and an infinite Wasserstein used to say "no drift"."""
    x = compare_frames(pd.DataFrame({"x": [3.0] * 500}), pd.DataFrame({"x": [7.0] * 500}))
    v = x["features"]["x"]["verdict"]
    assert (v["statistic"], v["value"], v["drift"]) == ("changed_share", 1.0, True)
    few = compare_frames(
        pd.DataFrame({"x": [3.0] * 500}), pd.DataFrame({"x": [3.0] * 95 + [9.0] * 5})
    )
    assert few["features"]["x"]["verdict"]["value"] == pytest.approx(0.05)
    assert few["drifted"] == []  # 5 % off the constant: under the 0.1 threshold


def test_an_empty_window_has_no_verdict_and_says_so() -> None:
    ref = pd.DataFrame({"x": R.normal(0, 1, 100), "c": ["a", "b"] * 50})
    report = compare_frames(ref, ref.iloc[0:0])
    assert report["rows"] == 0 and report["drifted"] == []
    for name in ("x", "c"):
        f = report["features"][name]
        assert f["verdict"]["drift"] is None
        assert f["note"] == f"{name}: no row in the window: no statistic, no verdict"


def test_the_null_threshold_is_configurable_per_feature() -> None:
    ref = pd.DataFrame({"x": _col("spread", 2000)})
    cur = pd.DataFrame({"x": _col("5% null", 2000)})
    assert compare_frames(ref, cur)["drifted"] == []
    strict = compare_frames(ref, cur, thresholds={"x": {"null_threshold": 0.02}})
    v = strict["features"]["x"]["verdict"]
    assert strict["drifted"] == ["x"] and v["statistic"] == "null_rate_change"
    assert v["value"] == pytest.approx(0.05) and v["threshold"] == 0.02


@settings(max_examples=80, deadline=None)
@given(
    ref=st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c"])), min_size=1, max_size=80),
    cur=st.lists(
        st.one_of(st.none(), st.just(float("nan")), st.sampled_from(["a", "d"])), max_size=80
    ),
    threshold=st.floats(0.01, 0.9),
)
def test_null_rates_are_the_shares_and_the_verdict_their_change(
    ref: list[Any], cur: list[Any], threshold: float
) -> None:
    reference = CategoricalReference.of(ref)
    window = CategoricalWindow(reference)
    window.add(pd.Series(cur, dtype=object))
    rates = null_rates(reference, window, threshold)
    before = sum(v is None for v in ref) / len(ref)
    assert rates["reference"] == pytest.approx(before)
    if not cur:
        assert rates["current"] is None and rates["drift"] is None
        return
    now = sum(v is None or v != v for v in cur) / len(cur)
    assert rates["current"] == pytest.approx(now)
    assert rates["change"] == pytest.approx(now - before)
    # the two-proportion z-test is Pearson's chi-squared of the 2 x 2 table, uncorrected
    k1, n1 = sum(v is None for v in ref), len(ref)
    k2, n2 = round(now * len(cur)), len(cur)
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]])
    if (table.sum(axis=0) > 0).all():
        from scipy.stats import chi2_contingency

        exact = chi2_contingency(table, correction=False).pvalue
        assert rates["pvalue"] == pytest.approx(exact, abs=1e-12)
    else:
        assert rates["pvalue"] == 1.0  # nothing varies
    if abs(abs(now - before) - threshold) > 1e-9 and abs(rates["pvalue"] - ALPHA) > 1e-9:
        # ten points of change is drift only where the test tells it from noise too
        assert rates["drift"] is (abs(now - before) >= threshold and rates["pvalue"] < ALPHA)


def test_duplicate_column_names_are_refused_in_one_line() -> None:
    good = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    twice = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["a", "b", "a"])
    with pytest.raises(
        InvalidInput, match=r"the current data has duplicate column name\(s\) \['a'\]"
    ):
        compare_frames(good, twice)
    with pytest.raises(InvalidInput, match=r"the reference has duplicate column name\(s\) \['a'\]"):
        compare_frames(twice, good)
    with pytest.raises(InvalidInput, match="column 'a' of the current data is not numeric"):
        compare_frames(good, pd.DataFrame({"a": ["x", "y"], "b": [1.0, 2.0]}))


def test_a_served_feature_going_null_drifts_in_the_monitoring_window(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(1500, 1), name="train")
    ws.models.register(str(ws.run("train.py:train").id), "trend")
    ws.models.promote("trend", 1, force=True, reason="test")
    served = frame(1200, 2)
    served.loc[served.index % 20 != 0, "a"] = np.nan  # 95 % of "a" missing, the rest as before
    log_served(ws.store, in_fifties(served))
    report = ws.monitor.check("trend@champion", "1200")
    assert report is not None
    a = report["features"]["a"]
    assert a["nulls_rate"]["reference"] == 0 and a["nulls_rate"]["current"] == pytest.approx(0.95)
    assert a["verdict"]["statistic"] == "null_rate_change" and a["verdict"]["drift"] is True
    assert report["drifted"] == ["a"]
    assert any("a (null_rate_change 0.95)" in alert["message"] for alert in report["alerts"])

    from conftest import rung_cli

    # a misspelt [monitor.features.NAME] is named, with the nearest feature, not ignored
    with open(ws.root / "rung.toml", "a") as f:
        f.write('\n[monitor.features.A]\nstatistic = "psi"\nthreshold = 0.2\n')
    shown = rung_cli("monitor", "trend@champion", "--window", "1200", "--no-save", cwd=ws.root)
    assert shown.returncode == 0, shown.stderr
    assert "0.0% → 95.0%" in shown.stdout and "null_rate_change" in shown.stdout
    assert (
        """note: [monitor.features."A"] names no feature of this model; did you mean 'a'?"""
        in " ".join(shown.stdout.split())
    )


@pytest.mark.parametrize(
    ("key", "near"),
    [("a_b", "'a.b'"), ("A.B", "'a.b'"), ("colour", "'color'"), ("zzz", "it is not applied")],
)
def test_a_threshold_for_no_feature_is_noted_with_the_nearest(key: str, near: str) -> None:
    frame_ = pd.DataFrame({"a.b": np.arange(50.0), "color": ["red", "blue"] * 25})
    report = compare_frames(frame_, frame_, {key: {"statistic": "psi"}, "a.b": {}})
    (note,) = report["notes"]
    assert note.startswith(f'[monitor.features."{key}"] names no feature') and near in note


def test_every_public_function_taking_a_frame_refuses_duplicate_names(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    import rung
    from rung.data.profile import profile
    from rung.data.validation import infer_schema, validate
    from rung.monitoring.drift import build_reference, frame_reference
    from rung.pipelines.materialize import dump

    twice = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["a", "b", "a"])
    calls = {
        "compare_frames": lambda: compare_frames(twice, twice),
        "frame_reference": lambda: frame_reference(twice),
        "build_reference": lambda: build_reference(twice, {"features": ["a", "b"]}),
        "data.add": lambda: sqlite_ws.data.add(twice, name="twice"),
        "profile": lambda: profile(twice),
        "infer_schema": lambda: infer_schema(twice),
        "validate": lambda: validate(twice, {"columns": {"a": {"kind": "numeric"}}}),
        "a step's output": lambda: dump(twice),
        "Client.predict": lambda: rung.Client("http://127.0.0.1:9").predict(twice),
    }
    for name, call in calls.items():
        with pytest.raises(InvalidInput, match=r"duplicate column name\(s\) \['a'\]"):
            call()
            pytest.fail(f"{name} took a frame with duplicate column names")
    assert sqlite_ws.data.list() == []  # nothing stored on a refusal


@settings(max_examples=40, deadline=None)
@given(exponent=st.integers(-300, 300), shift=st.sampled_from([0.0, 0.5, 3.0]))
def test_numeric_drift_is_scale_invariant_over_the_float_range(exponent: int, shift: float) -> None:
    """The normalised statistics (Wasserstein over the reference's spread, KS, PSI) and the
    verdict do not depend on the unit: values near 1e155 once had a spread of inf (squares
    overflow), a Wasserstein distance of 0 and no drift for a 3-sd shift (scipy/scipy#19712)."""
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(size=2000), rng.normal(size=2000) + shift
    scale = 10.0**exponent
    base = compare_frames(pd.DataFrame({"a": ref}), pd.DataFrame({"a": cur}))["features"]["a"]
    scaled = compare_frames(pd.DataFrame({"a": ref * scale}), pd.DataFrame({"a": cur * scale}))
    got = scaled["features"]["a"]
    assert got["verdict"]["drift"] == base["verdict"]["drift"]
    for stat in ("wasserstein", "ks"):
        assert got["stats"][stat] == pytest.approx(base["stats"][stat], rel=1e-6, abs=1e-9)
