"""Extreme but finite numbers: refused where they enter, harmless where they are computed on.

The kind (issue 11, item 3): one regression label of ``1e308`` was accepted by ``/feedback``;
``rung monitor`` then showed RMSE inf and R² nan (so ``min_r2`` silently did not apply) and
every automation job failed with ``OverflowError: (34, 'Numerical result out of range')``
after ~1,500 lines of RuntimeWarnings. Now:

* every door takes numbers in the range ``-1e100 … 1e100`` (``rung.core.numbers``): the
  ``/feedback`` label of a regressor, numeric features of ``/predict`` and of every frame
  checked by ``check_frame`` (less for float32/float16 columns) — one line naming the value
  and the range;
* every metric, bootstrap, aggregate and drift statistic over extreme values (hypothesis
  strategies of ±1e308, subnormals, huge spreads, constant columns) raises nothing and emits
  no warning (warnings are errors in these tests), is finite whenever the inputs are in
  range, and a value that is not finite is explained in one line naming its row;
* an alert on a metric that is not finite is reported, not skipped;
* end to end through a real server: ``/feedback`` refuses ``1e308``; a ``1e308`` stored
  before the rule leaves ``rung monitor`` and ``rung automate tick`` working, with finite
  metrics and nothing on stderr.
"""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import rung_cli, start_server
from rung.core.aggregate import aggregate_rows
from rung.core.columns import ColumnKind, check_frame, problem
from rung.core.drift import NumericReference, NumericWindow, assess
from rung.core.errors import InvalidInput
from rung.core.numbers import MAX_MAGNITUDE, Running, not_finite, regression
from rung.evaluation import metrics as m
from rung.evaluation.bootstrap import paired_deltas
from rung.monitoring.alerts import breaches, rules_of
from rung.monitoring.performance import live_metrics
from rung.serving.labels import Target
from test_monitoring_regression import REGRESS, diab

EXTREMES = [1e308, -1e308, 1.7976931348623157e308, -1.7976931348623157e308, 1e-320, 5e-324]
EXTREME = st.one_of(
    st.sampled_from([*EXTREMES, 0.0, -0.0, 1.0, MAX_MAGNITUDE, -MAX_MAGNITUDE]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e-300, max_value=1e-300),  # subnormals and tiny numbers
)


@st.composite
def columns(draw: st.DrawFn, within: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions of one length: extreme values, constant columns, huge spreads;
    ``within``: every value in the accepted range."""
    n = draw(st.integers(1, 25))
    value = EXTREME.filter(lambda v: abs(v) <= MAX_MAGNITUDE) if within else EXTREME
    shape = draw(st.sampled_from(["any", "constant", "spread"]))
    if shape == "constant":
        y = np.full(n, draw(value))
    elif shape == "spread":
        big = draw(value)
        y = np.array([big if i % 2 else -big for i in range(n)], dtype=float)
    else:
        y = np.array(draw(st.lists(value, min_size=n, max_size=n)), dtype=float)
    p = np.array(draw(st.lists(value, min_size=n, max_size=n)), dtype=float)
    return y, p


def _strict() -> Any:
    """Every warning an error: a numpy RuntimeWarning leaking to the user fails the test."""
    catcher = warnings.catch_warnings()
    catcher.__enter__()
    warnings.simplefilter("error")
    return catcher


@settings(max_examples=150, deadline=None)
@given(columns())
def test_metrics_never_raise_or_warn_and_explain_what_is_not_finite(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = data
    catcher = _strict()
    try:
        fns = m.resolve(None, "regression")
        values = m.compute(fns, y, p, None, [])
        live = live_metrics("regression", p.tolist(), y.tolist())
        deltas = paired_deltas(y, p, p / 2, None, None, [], fns, ["mae", "rmse", "r2", "mape"])
        rows = {f"d{i}": {"x": v} for i, v in enumerate([*y.tolist(), values["mae"]])}
        aggregate_rows(rows, ["x"])
    finally:
        catcher.__exit__(None, None, None)
    for name in ("mae", "rmse", "r2"):
        value = values[name]
        if value is not None and not math.isfinite(value):
            note = not_finite(name, value, y, p)
            assert note is not None and note.startswith(f"{name} is not finite")
            assert "row" in note or "the labels barely vary" in note
        shown = {"mae": "MAE", "rmse": "RMSE", "r2": "R²"}[name]
        said = [n for n in live.get("not_finite", []) if n.startswith(shown)]
        assert (live[name] is None or math.isfinite(live[name])) == (not said), live
    for name in ("mae", "rmse"):  # an error past float64 is inf in both, never nan
        assert values[name] == live[name] or values[name] == pytest.approx(live[name], rel=1e-6)
    for d in deltas.values():
        assert math.isfinite(d["delta"]) and 0 < d["p_better"] <= 1 and 0 < d["p_worse"] <= 1


@settings(max_examples=150, deadline=None)
@given(columns(within=True))
def test_in_range_numbers_give_finite_metrics_equal_to_the_plain_formulas(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = data
    got = regression(y, p)
    running = Running()
    for a, b in zip(p.tolist(), y.tolist(), strict=True):
        running.add(a, b)
    live = running.report()
    for name in ("mae", "rmse"):
        assert got[name] is not None and math.isfinite(got[name])
        assert live[name] == pytest.approx(got[name], rel=1e-9, abs=1e-300)
    err = y - p
    assert got["mae"] == pytest.approx(float(np.mean(np.abs(err))), rel=1e-9, abs=1e-300)
    if len(y) > 1:  # R² is finite, or -inf when the labels barely vary: said so
        r2 = got["r2"]
        assert r2 is not None and (math.isfinite(r2) or r2 == -math.inf)
        if r2 == -math.inf:
            note = not_finite("r2", r2, y, p)
            assert note is not None and "the labels barely vary" in note


def test_the_example_label_of_1e308_gives_finite_metrics_and_a_finite_bootstrap() -> None:
    """The tester's case: 42 ordinary rows and one label of 1e308."""
    r = np.random.default_rng(0)
    y = np.append(r.normal(3, 1, 42), 1e308)
    p = y[:-1].mean() + r.normal(0, 0.1, 43)
    catcher = _strict()
    try:
        fns = m.resolve(None, "regression")
        values = m.compute(fns, y, p, None, [])
        live = live_metrics("regression", p.tolist(), y.tolist())
        deltas = paired_deltas(y, p, p + 1, None, None, [], fns, ["mae", "rmse", "r2"])
    finally:
        catcher.__exit__(None, None, None)
    for source in (values, live):
        assert all(math.isfinite(source[k]) for k in ("mae", "rmse", "r2")), source
    assert values["rmse"] == pytest.approx(1e308 / math.sqrt(43), rel=1e-6)
    assert set(deltas) == {"mae", "rmse", "r2"}


def test_a_metric_that_overflows_is_named_with_its_row() -> None:
    y, p = np.array([1.0, 2.0, 1e308]), np.array([1.0, 2.0, -1e308])  # error 2e308: inf
    values = regression(y, p)
    assert values["mae"] == math.inf
    note = not_finite("rmse", values["rmse"], y, p)
    assert note is not None and note.startswith("rmse is not finite (inf): the label 1e+308")
    assert "row 2" in note and "-1e100 … 1e100" in note
    live = live_metrics("regression", p.tolist(), y.tolist())
    assert live["not_finite"][0].startswith("MAE is not finite (inf): the label 1e+308 of row 2")


@pytest.mark.parametrize(
    ("values", "extreme"), [([1e308] * 50, True), (EXTREMES * 10, True), ([3.0] * 50, False)]
)
def test_drift_statistics_over_extreme_and_constant_columns_stay_quiet(
    values: list[float], extreme: bool
) -> None:
    served = [[1e-320] * 30, [-1e308, 1e308] * 20, [3.0] * 30, list(np.linspace(-1, 1, 40))]
    catcher = _strict()
    try:
        ref = NumericReference.of(np.array(values))
        for window in served:
            w = NumericWindow(ref)
            w.add(np.array(window))
            verdict = assess("f", w)["verdict"]
            assert verdict["drift"] in (True, False, None)
    finally:
        catcher.__exit__(None, None, None)


def test_an_alert_on_a_metric_that_is_not_finite_is_reported() -> None:
    live = live_metrics("regression", [1.0, 2.0, -1e308], [1.0, 2.0, 1e308])
    report = {
        "model": "m@1",
        "drifted": [],
        "features": {},
        "prediction": None,
        "performance": {**live, "rows": 3},
        "health": {"error_rate": None, "latency_ms": {"p99": None}},
    }
    rules = rules_of({"alerts": {"min_r2": 0.5, "max_mae": 1e300, "min_labelled": 1}})
    messages = [a["message"] for a in breaches(report, rules)]
    assert any(
        "live R² is not finite (nan), so min_r2 = 0.5 cannot hold" in x and "row 2" in x
        for x in messages
    ), messages
    assert any("live MAE is not finite (inf)" in x for x in messages), messages


@pytest.mark.parametrize(
    ("value", "dtype", "refused"),
    [
        (1e100, "float64", False),
        (-1e100, "float64", False),
        (1e-320, "float64", False),
        (1.0000001e100, "float64", True),
        (1e308, "float64", True),
        (-1e308, "Float64", True),
        (2**400, "float64", True),
        (3e38, "float32", False),
        (1e39, "float32", True),
        (65504.0, "float16", False),
        (70000.0, "float16", True),
    ],
)
def test_the_one_input_rule_refuses_numbers_past_the_range(
    value: float, dtype: str, refused: bool
) -> None:
    spec = ColumnKind("numeric", dtype, True)
    why = problem(value, spec)
    assert (why is not None) == refused, why
    if refused:
        assert repr(float(value)) in why and ("-1e100 … 1e100" in why or dtype in why)
    frame = pd.DataFrame({"x": pd.Series([0.5, float(value), 1.0], dtype="float64")})
    if refused:
        with pytest.raises(InvalidInput, match=r"column 'x' row 1: .*outside the range"):
            check_frame(frame, {"x": spec.to_dict()}, "the data")
    else:
        check_frame(frame, {"x": spec.to_dict()}, "the data")


@pytest.mark.parametrize("value", [1e308, -1e101, 2**400, 1.5e100])
def test_a_regression_label_past_the_range_is_refused(value: float) -> None:
    fits, why = Target("m@1", None).check(value)
    assert not fits and "outside the range of numbers rung accepts (-1e100 … 1e100)" in why
    fits, why = Target("m@1", None).read(repr(float(value)))
    assert not fits and "outside the range" in why
    assert Target("m@1", None).check(1e-320) == (True, 1e-320)
    assert Target("m@1", None).check(-1e100) == (True, -1e100)


CONFIG = """
[eval]
label = "y"
criteria = ["mae <= 1e308 on every dataset"]

[monitor.alerts]
min_r2 = 0.5
min_labelled = 10

[automate]
model = "diab"
pipeline = "train.py:train"
datasets = ["diab_holdout@1"]
fresh = 50

[[automate.triggers]]
kind = "dataset"
dataset = "diab"
"""


def test_feedback_refuses_1e308_and_a_stored_one_breaks_nothing(ws) -> None:  # type: ignore[no-untyped-def]
    """End to end, on each backend: `/feedback` → `rung monitor` → `rung automate tick`."""
    (ws.root / "train.py").write_text(REGRESS)
    ws.data.add(diab(300, 1), name="diab")
    ws.data.add(diab(100, 2), name="diab_holdout")
    ws.models.register(str(ws.run("train.py:train", {}).id), "diab")
    ws.models.promote("diab", 1, force=True, reason="first")
    (ws.root / "rung.toml").write_text(CONFIG)
    served = diab(60, 3)
    proc, url = start_server(ws.root, "diab@champion")
    try:
        answer = httpx.post(
            f"{url}/predict",
            json={"columns": {"a": served["a"].tolist(), "b": served["b"].tolist()}},
        ).json()
        rid = answer["request_id"]
        labels = served["y"].tolist()
        refused = httpx.post(
            f"{url}/feedback", json={"request_id": rid, "labels": [*labels[:-1], 1e308]}
        )
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["message"] == (
            "invalid feedback at feedback.0.labels.59: 1e+308 is outside the range of numbers"
            " rung accepts (-1e100 … 1e100): a label of diab@1, a regressor, must be within it"
        )
        assert "-1e100 … 1e100" in error["hint"]
        big = httpx.post(f"{url}/predict", json={"a": 1e101, "b": 0.0})
        assert big.status_code == 422 and "1e+101 is outside the range" in big.text
        sent = httpx.post(f"{url}/feedback", json={"request_id": rid, "labels": labels})
        assert sent.status_code == 200, sent.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with ws.store.write() as tx:  # a label stored before the range was enforced
        tx.execute(
            "UPDATE feedback SET label = '1e308' WHERE request_id = :r AND \"row\" = 59",
            {"r": rid},
        )

    shown = rung_cli("monitor", "diab@champion", "--json", "--no-save", cwd=ws.root)
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    perf = json.loads(shown.stdout)["performance"]
    assert all(math.isfinite(perf[k]) for k in ("mae", "rmse", "r2")), perf
    assert perf["rmse"] == pytest.approx(1e308 / math.sqrt(60), rel=1e-3)
    assert any("live R²" in a["message"] for a in json.loads(shown.stdout)["alerts"])

    ws.data.add(diab(300, 4), name="diab")  # a new version: the dataset trigger fires
    tick = rung_cli("automate", "tick", cwd=ws.root)
    assert tick.returncode == 0, tick.stdout + tick.stderr
    assert "FAILED" not in tick.stdout and "Overflow" not in tick.stdout + tick.stderr
    assert "Warning" not in tick.stderr, tick.stderr[:2000]
    assert "job 1:" in tick.stdout, tick.stdout


def test_the_openapi_document_states_the_range() -> None:
    from rung.serving.openapi import feature_schema

    schema = feature_schema({"kind": "numeric", "dtype": "float64"})
    assert (schema["minimum"], schema["maximum"]) == (-MAX_MAGNITUDE, MAX_MAGNITUDE)
    narrow = feature_schema({"kind": "numeric", "dtype": "float32"})
    assert narrow["maximum"] == float(np.finfo("float32").max)


def test_a_criterion_on_a_metric_that_is_nan_fails_saying_so() -> None:
    """Not "metric 'r2' is missing … did you mean": the metric is there, but not a number."""
    from rung.core.criteria import judge, parse_criteria

    results = {"datasets": {"d@1": {"r2": math.nan, "mae": 1.0}}, "mean": {}, "slices": {}}
    verdict = judge(parse_criteria(["r2 >= 0.5 on every dataset"]), results)
    assert verdict.status == "failed"
    assert verdict.reasons == [
        "r2 >= 0.5 on every dataset: r2 is not a number (nan) at dataset d@1, so it cannot"
        " meet >= 0.5 (the evaluation's notes say why)"
    ]


def test_an_evaluation_notes_a_metric_that_is_not_finite(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    """A dataset whose labels barely vary (subnormals) against errors of ~150: R² is -inf,
    not a crash and not a silent value — a note of the evaluation names it, and a criterion
    on it fails saying it is not a number."""
    ws = sqlite_ws
    (ws.root / "train.py").write_text(REGRESS)
    ws.data.add(diab(200, 1), name="diab")
    run = ws.run("train.py:train", {})
    tiny = diab(50, 2).assign(y=[1e-320 * (i % 3) for i in range(50)])
    ws.data.add(tiny, name="tiny")
    catcher = _strict()
    try:
        ev = ws.evaluate(str(run.id), ["tiny@1"], label="y", criteria=["r2 >= 0.5"])
    finally:
        catcher.__exit__(None, None, None)
    notes = ev.verdict["notes"]
    assert any(
        n.startswith("dataset tiny@1: r2 is not finite (-inf)") and "barely vary" in n
        for n in notes
    ), notes
    assert ev.status == "failed"
    assert math.isfinite(ev.rows["tiny@1"]["mae"])
