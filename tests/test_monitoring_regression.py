"""Monitoring that fits the task: a regression model's live metrics are MAE, RMSE and R² (no
accuracy), its alerts are max_mae/max_rmse/min_r2, and a performance trigger on its MAE fires
under `rung automate tick`; a classifier's are accuracy, per-class metrics and log loss. The
live metrics come from one function (``live_metrics``), checked against scikit-learn."""

from __future__ import annotations

import json
import math
import textwrap
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import rung_cli, start_server
from rung.core.errors import InvalidInput
from rung.monitoring.performance import live_metrics, task_of

sklearn_metrics = pytest.importorskip("sklearn.metrics")

REGRESS = textwrap.dedent(
    """
    import rung
    from sklearn.linear_model import LinearRegression

    @rung.step
    def fit(frame):
        return LinearRegression().fit(frame[["a", "b"]], frame["y"])

    @rung.pipeline
    def train():
        return fit(rung.dataset("diab"))
    """
)

CONFIG = """
[eval]
label = "y"
criteria = ["mae <= 1000 on every dataset"]

[monitor.alerts]
max_mae = 30
min_r2 = -100
min_accuracy = 0.5

[automate]
model = "diab"
pipeline = "train.py:train"
datasets = ["diab_holdout@1"]

[[automate.triggers]]
kind = "performance"
metric = "mae"
above = 30
labelled = 100
"""


def diab(n: int, seed: int) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    a, b = r.normal(0, 1, n), r.normal(0, 1, n)
    return pd.DataFrame({"a": a, "b": b, "y": 150 + 40 * a - 20 * b + r.normal(0, 10, n)})


def test_a_regression_model_is_monitored_by_mae_rmse_and_r2(ws) -> None:  # type: ignore[no-untyped-def]
    """The issue's example: `live performance: accuracy 0, MAE 44.82` and an accuracy alert
    for a regressor; now MAE, RMSE and R², a max_mae alert, a warning for min_accuracy, and
    the performance trigger on the MAE — on SQLite and PostgreSQL, through a real service."""
    (ws.root / "train.py").write_text(REGRESS)
    ws.data.add(diab(400, 1), name="diab")
    ws.data.add(diab(200, 2), name="diab_holdout")
    ws.models.register(str(ws.run("train.py:train", {}).id), "diab")
    ws.models.promote("diab", 1, force=True, reason="first")
    assert task_of(ws.models.get("diab@1").signature) == "regression"
    (ws.root / "rung.toml").write_text(CONFIG)  # every key optional: the template replaced

    served = diab(100, 3)
    predictions: list[float] = []
    truth = served["y"] + 50  # the world moved: every answer is about 50 too low
    proc, url = start_server(ws.root, "diab@champion")
    try:
        for i in range(0, 100, 10):
            part = served.iloc[i : i + 10]
            answer = httpx.post(
                f"{url}/predict",
                json={"columns": {"a": part["a"].tolist(), "b": part["b"].tolist()}},
            ).json()
            predictions += answer["predictions"]
            sent = httpx.post(
                f"{url}/feedback",
                json={"request_id": answer["request_id"], "labels": truth[i : i + 10].tolist()},
            )
            assert sent.status_code == 200, sent.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    shown = rung_cli("monitor", "diab@champion", cwd=ws.root)
    assert shown.returncode == 0, shown.stderr
    line = next(x for x in shown.stdout.splitlines() if x.startswith("live performance:"))
    assert "MAE" in line and "RMSE" in line and "R²" in line and "accuracy" not in line
    assert "on 100 labelled rows of 100" in line
    assert "ALERT performance: diab@champion: live MAE" in shown.stdout and "> 30" in shown.stdout
    assert "ALERT performance: diab@champion: live accuracy" not in shown.stdout
    assert (
        "warning: [monitor.alerts] min_accuracy does not apply to diab@champion, a regressor"
        in shown.stdout
    )

    report = json.loads(rung_cli("monitor", "diab@1", "--json", "--no-save", cwd=ws.root).stdout)
    perf = report["performance"]
    assert perf["task"] == "regression" and "accuracy" not in perf
    assert perf["mae"] == pytest.approx(sklearn_metrics.mean_absolute_error(truth, predictions))
    assert perf["rmse"] == pytest.approx(
        math.sqrt(sklearn_metrics.mean_squared_error(truth, predictions))
    )
    assert perf["r2"] == pytest.approx(sklearn_metrics.r2_score(truth, predictions))
    assert [a["kind"] for a in report["alerts"]] == ["performance"]  # min_r2 -100: not breached
    windows = ws.monitor.windows("diab")
    assert windows[-1]["performance"]["mae"] == pytest.approx(perf["mae"])  # recomputed alike

    tick = rung_cli("automate", "tick", cwd=ws.root)
    assert tick.returncode == 0, tick.stderr
    assert "fired: performance: live MAE of diab@1" in tick.stdout, tick.stdout
    assert f"{perf['mae']:.4g} > 30 on its newest 100 labelled rows" in tick.stdout

    # a trigger whose metric does not fit the model: one line, naming it and what fits
    config = (ws.root / "rung.toml").read_text()
    (ws.root / "rung.toml").write_text(
        config.replace('metric = "mae"\nabove = 30', 'metric = "accuracy"\nbelow = 0.5')
    )
    httpx_free = rung_cli("automate", "tick", cwd=ws.root)
    assert httpx_free.returncode == 1
    assert "metric 'accuracy' does not fit diab@1, a regressor" in httpx_free.stderr
    assert "use one of mae, rmse, r2" in httpx_free.stderr
    assert len(httpx_free.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ('metric = "mae"\nbelow = 3', "needs above = N"),
        ('metric = "rmse"\nabove = 3\nbelow = 1', "fires above = N"),
        ('metric = "r2"\nabove = 0.5', "needs below = N"),
        ('metric = "f1"\nbelow = 0.5', "expected one of 'accuracy', 'log_loss', 'mae'"),
    ],
)
def test_a_performance_trigger_needs_the_bound_its_metric_gets_worse_by(
    sqlite_ws, trigger: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    base = (sqlite_ws.root / "rung.toml").read_text()
    (sqlite_ws.root / "rung.toml").write_text(
        base + f'[automate]\nmodel = "m"\n[[automate.triggers]]\nkind = "performance"\n{trigger}\n'
    )
    out = rung_cli("automate", "tick", cwd=sqlite_ws.root)
    assert out.returncode == 1 and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["no", "yes", "maybe"]), st.sampled_from(["no", "yes", "maybe"])),
        min_size=1,
        max_size=60,
    ),
    st.integers(0, 2**32 - 1),
)
def test_classification_live_metrics_match_scikit_learn(
    pairs: list[tuple[str, str]], seed: int
) -> None:
    predicted, labels = [p for p, _ in pairs], [y for _, y in pairs]
    classes = ["maybe", "no", "yes"]
    raw = np.random.default_rng(seed).dirichlet([1, 1, 1], len(pairs))
    probas = [dict(zip(classes, map(float, row), strict=True)) for row in raw]
    m = live_metrics("classification", predicted, labels, probas)
    assert m["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(labels, predicted))
    assert m["log_loss"] == pytest.approx(
        sklearn_metrics.log_loss(labels, np.clip(raw, 1e-15, 1), labels=classes)
    )
    for c, got in m["per_class"].items():
        said, actual = predicted.count(c), labels.count(c)
        if said:
            assert got["precision"] == pytest.approx(
                sklearn_metrics.precision_score(labels, predicted, labels=[c], average="macro")
            )
        else:
            assert got["precision"] is None
        if actual:
            assert got["recall"] == pytest.approx(
                sklearn_metrics.recall_score(labels, predicted, labels=[c], average="macro")
            )
        assert got["support"] == actual
    assert live_metrics("classification", predicted, labels)["log_loss"] is None  # none logged


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)),
        min_size=2,
        max_size=60,
    )
)
def test_regression_live_metrics_match_scikit_learn(pairs: list[tuple[float, float]]) -> None:
    predicted, labels = [p for p, _ in pairs], [y for _, y in pairs]
    m = live_metrics("regression", [*predicted, "abc"], [*labels, 1.0])  # a string: left out
    assert m["not_numbers"] == 1 and "accuracy" not in m
    assert m["mae"] == pytest.approx(sklearn_metrics.mean_absolute_error(labels, predicted))
    assert m["rmse"] == pytest.approx(
        math.sqrt(sklearn_metrics.mean_squared_error(labels, predicted)), rel=1e-6, abs=1e-6
    )
    if np.var(labels) > 1e-6 * max(1.0, float(np.mean(np.square(labels)))):
        assert m["r2"] == pytest.approx(
            sklearn_metrics.r2_score(labels, predicted), rel=1e-6, abs=1e-6
        )
    elif len(set(labels)) == 1:
        assert m["r2"] is None  # labels that do not vary: R² undefined


def test_an_alert_rule_of_the_other_task_is_a_warning_and_a_trigger_metric_an_error() -> None:
    from rung.monitoring.alerts import breaches, misfits, rules_of
    from rung.monitoring.performance import check_metric

    rules = rules_of({"alerts": {"min_accuracy": 0.5, "max_mae": 3.0}})
    assert misfits(rules, "regression", "diab@1") == [
        "[monitor.alerts] min_accuracy does not apply to diab@1, a regressor: it has no live"
        " accuracy (its rules: max_mae, max_rmse, min_r2); set it per model, in"
        " [monitor.models.NAME.alerts] of the models it fits"
    ]
    # a rule of the model's own table is named there, with no advice to move it
    assert misfits(rules, "regression", "diab@1", "diab", {"min_accuracy"}) == [
        "[monitor.models.diab.alerts] min_accuracy does not apply to diab@1, a regressor: it"
        " has no live accuracy (its rules: max_mae, max_rmse, min_r2)"
    ]
    assert misfits(rules, "classification", "trend@1")[0].startswith(
        "[monitor.alerts] max_mae does not apply to trend@1, a classifier"
    )
    perf: dict[str, Any] = {"task": "regression", "labelled": 40, "mae": 4.0, "rmse": 5.0}
    report = {"model": "diab@1", "drifted": [], "features": {}, "performance": perf}
    report["health"] = {"error_rate": None, "latency_ms": {"p99": None}}
    assert [a["message"] for a in breaches(report, rules)] == [
        "diab@1: live MAE 4 > 3 on 40 labelled rows"
    ]
    with pytest.raises(InvalidInput, match="metric 'mae' does not fit trend@1, a classifier"):
        check_metric("mae", "classification", "trend@1", "trigger 'performance'")


def test_a_classifier_keeps_accuracy_and_gains_per_class_and_log_loss(
    served_on_each_backend,
) -> None:  # type: ignore[no-untyped-def]
    """The same path for a classifier: accuracy as before, per-class metrics, and the log
    loss from the probabilities the service logged; no MAE."""
    ws, url = served_on_each_backend
    rows = {"a": [2.0, -2.0, 1.5, -1.0], "color": ["red", "blue", "red", "blue"]}
    answer = httpx.post(f"{url}/predict", json={"columns": rows}).json()
    labels = ["yes", "yes", "yes", "no"]
    sent = httpx.post(
        f"{url}/feedback", json={"request_id": answer["request_id"], "labels": labels}
    )
    assert sent.status_code == 200, sent.text
    report = json.loads(
        rung_cli("monitor", "trend@champion", "--json", "--no-save", cwd=ws.root).stdout
    )
    perf = report["performance"]
    assert perf["task"] == "classification" and "mae" not in perf
    assert perf["accuracy"] == pytest.approx(
        sklearn_metrics.accuracy_score(labels, answer["predictions"])
    )
    probas = np.array([[p["no"], p["yes"]] for p in answer["probabilities"]])
    assert perf["log_loss"] == pytest.approx(
        sklearn_metrics.log_loss(labels, probas, labels=["no", "yes"])
    )
    assert perf["per_class"]["yes"]["support"] == 3 and perf["per_class"]["no"]["support"] == 1
    shown = rung_cli("monitor", "trend@champion", "--no-save", cwd=ws.root).stdout
    assert "live performance: accuracy" in shown and "log loss" in shown and "MAE" not in shown
    assert "per class: no precision" in shown
