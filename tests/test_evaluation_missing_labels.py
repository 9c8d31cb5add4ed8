"""Unlabelled rows are left out of the label metrics and counted (``labelled`` beside
``examples``), whatever marks them missing (None, NaN, pd.NA), whatever the labels' type
(string or integer classes, regression values) and file format; with no label at all, no
metric and a note, never a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import rung_cli
from rung.evaluation import worker
from rung.pipelines import materialize

pytest.importorskip("sklearn")
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression, LogisticRegression

N = 40
MISSING = [None, float("nan"), pd.NA]
_rng = np.random.default_rng(3)
X = pd.DataFrame({"a": _rng.normal(0, 1, N), "b": _rng.normal(0, 1, N)})
TASKS = {  # the classes (or None: regression) and how the labels are drawn
    "strings": ["down", "up"],
    "integers": [0, 1],
    "regression": None,
}


def _models(tmp: Path, task: str) -> tuple[str, str]:
    """A model and a weaker baseline for ``task``, as skops files."""
    classes = TASKS[task]
    if classes is None:
        y = X["a"] * 2 + X["b"]
        fitted = [LinearRegression().fit(X, y), LinearRegression().fit(X[["a", "b"]], X["a"])]
    else:
        y = np.where(X["a"] > 0, classes[1], classes[0])
        fitted = [LogisticRegression().fit(X, y), LogisticRegression(C=1e-4).fit(X, y)]
    paths = []
    for i, model in enumerate(fitted):
        kind, data = materialize.dump(model)
        path = tmp / f"{task}-{i}.{kind}"
        path.write_bytes(data)
        paths.append(str(path))
    return paths[0], paths[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("models")
    return {task: _models(tmp, task) for task in TASKS}


@st.composite
def labelled_frames(draw: Any) -> tuple[str, str, pd.DataFrame, list[bool]]:
    """A task, a file format, the frame to store, and which rows carry a label."""
    task = draw(st.sampled_from(sorted(TASKS)))
    fmt = draw(st.sampled_from(["csv", "parquet"]))
    has = draw(st.lists(st.booleans(), min_size=N, max_size=N))
    classes = TASKS[task]
    values: list[Any] = []
    for i, present in enumerate(has):
        if not present:
            values.append(draw(st.sampled_from(MISSING)))
        elif classes is None:
            values.append(draw(st.floats(-10, 10, allow_nan=False)))
        else:
            values.append(classes[draw(st.integers(0, 1))] if i % 3 else classes[i % 2])
    dtype = {"strings": "string", "integers": "Int64", "regression": "Float64"}[task]
    column = (
        pd.array(values, dtype=dtype) if draw(st.booleans()) else pd.Series(values, dtype=object)
    )
    frame = X.assign(y=column, year=np.arange(N) % 3)
    return task, fmt, frame, has


def _expected(task: str, y: list[Any], pred: np.ndarray) -> dict[str, float]:
    if TASKS[task] is None:
        out = {
            "mae": skm.mean_absolute_error(y, pred),
            "rmse": float(np.sqrt(skm.mean_squared_error(y, pred))),
        }
        if len(y) > 1:
            out["r2"] = skm.r2_score(y, pred)
        return out
    classes = TASKS[task]
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "f1_macro": skm.f1_score(y, pred, labels=classes, average="macro", zero_division=0),
        "recall_weighted": skm.recall_score(
            y, pred, labels=classes, average="weighted", zero_division=0
        ),
    }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=labelled_frames())
def test_unlabelled_rows_are_counted_and_left_out(
    case: tuple[str, str, pd.DataFrame, list[bool]],
    models: dict[str, tuple[str, str]],
    tmp_path: Path,
) -> None:
    task, fmt, frame, has = case
    path = tmp_path / f"data.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    model, baseline = models[task]
    result = worker.run(
        worker.Task(
            dataset="d@1",
            data_path=str(path),
            data_format=fmt,
            model_path=model,
            model_kind="skops",
            label="y",
            metric_names=None,
            slices={"year": "year"},
            baseline_path=baseline,
            baseline_kind="skops",
        )
    )
    n = sum(has)
    assert result["examples"] == N and result["labelled"] == n
    years = result["slices"].get("year", {})
    assert sum(s["examples"] for s in years.values()) == (N if n else 0)
    assert sum(s["labelled"] for s in years.values()) == n
    if n == 0:
        assert result["metrics"] == {} and "deltas" not in result
        return
    keep = np.array(has)
    y = [v for v, present in zip(frame["y"], has, strict=True) if present]
    for path_, got in ((model, result["metrics"]), (baseline, result["baseline_metrics"])):
        fitted = worker.load_model(path_, "skops", what="model", opt_in="allow_pickle=True")
        pred = fitted.predict(X[keep])
        for name, value in _expected(task, y, pred).items():
            assert got[name] == pytest.approx(value, abs=1e-9), name
    assert set(result["deltas"]) <= set(result["metrics"])


def test_eval_with_missing_labels_through_the_cli(sqlite_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The issue's example: 10 % of string labels missing, and all of them."""
    ws = sqlite_ws
    (ws.root / "train.py").write_text(
        "import rung\nfrom sklearn.linear_model import LogisticRegression\n\n"
        "@rung.step\ndef fit(frame):\n"
        "    return LogisticRegression().fit(frame[['a', 'b']], frame['y'])\n\n"
        "@rung.pipeline\ndef train():\n    return fit(rung.dataset('train'))\n"
    )
    full = X.assign(y=np.where(X["a"] > 0, "up", "down"))
    ws.data.add(full, name="train")
    run = ws.run("train.py:train").id
    some = full.astype({"y": object})
    some.loc[::10, "y"] = None
    ws.data.add(some, name="some")
    ws.data.add(full.assign(y=None), name="none")
    done = rung_cli(
        "eval", str(run), "--on", "some@1", "--on", "none@1", "--label", "y",
        "--criterion", "accuracy >= 0.5 on every dataset", "--format", "json",
        cwd=ws.root,
    )  # fmt: skip
    assert "Traceback" not in done.stderr
    assert done.returncode == 1, done.stderr  # the criterion has no value on none@1
    import json

    ev = json.loads(done.stdout)
    assert ev["columns"][:2] == ["examples", "labelled"]
    assert ev["rows"]["some@1"]["examples"] == N and ev["rows"]["some@1"]["labelled"] == N - 4
    assert ev["rows"]["none@1"] == {"examples": N, "labelled": 0}
    assert ev["aggregates"]["Total"]["labelled"] == N - 4
    notes = ev["verdict"]["notes"]
    assert "dataset some@1: 4 of 40 rows have no label in 'y': left out of the metrics" in notes
    assert "dataset none@1: no row has a label in 'y': no metric computed" in notes
    table = rung_cli("eval", "show", str(ev["id"]), cwd=ws.root)
    assert (
        table.returncode == 0
        and "labelled" in table.stdout
        and "no metric computed" in table.stdout
    )
