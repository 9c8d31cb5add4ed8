"""One check of a model's outputs (:mod:`rung.core.outputs`), used by eval, predict, the service
and monitoring: one scalar per row, non-finite values stated the same way everywhere, and a
regressor's numbers against string labels named in one line."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import rung_cli, start_server
from rung.core.errors import InvalidInput, ModelFailed
from rung.core.outputs import check_against_labels, checked, from_json, to_json

WEIRD = """
import numpy as np


class Weird:
    '''A regressor whose predict returns what its mode says.'''

    feature_names_in_ = np.array(["a"], dtype=object)

    def __init__(self, mode):
        self.mode = mode

    def predict(self, frame):
        n = len(frame)
        a = np.asarray(frame["a"], dtype=float)
        if self.mode == "nonfinite":
            return np.where(a > 2, np.inf, np.where(a < -2, -np.inf, np.where(a == 0, np.nan, a)))
        if self.mode == "2d":
            return np.ones((n, 3))
        if self.mode == "dict":
            return [{"k": 1}] * n
        if self.mode == "short":
            return np.zeros(max(n - 1, 0))
        return a * 2
"""

TRAIN = """
import rung
from weird import Weird


@rung.step(pickle=True)
def fit(mode: str = "ok"):
    return Weird(mode)


@rung.pipeline
def train(mode: str = "ok"):
    return fit(mode=mode)
"""

MODES = ["ok", "nonfinite", "2d", "dict", "short"]


@pytest.fixture
def weird(sqlite_ws, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    (ws.root / "train.py").write_text(TRAIN)
    (ws.root / "weird.py").write_text(WEIRD)
    monkeypatch.syspath_prepend(str(ws.root))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(ws.root), os.environ.get("PYTHONPATH", "")])
    )
    for mode in MODES:
        run = str(ws.run("train.py:train", {"mode": mode}).id)
        reg = rung_cli("model", "register", run, "--name", mode, "--allow-pickle", cwd=ws.root)
        assert reg.returncode == 0, reg.stderr
    ws.data.add(pd.DataFrame({"a": [1.0, 0.0, 3.0, -3.0, 1.5], "y": [2.0, 0, 1, 1, 3]}), name="d")
    ws.data.add(pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": ["low", "high", "high"]}), name="s")
    return ws


SAYS = {
    "2d": "the model's predictions have shape (5, 3), not one value per row (5,)",
    "dict": "the model's prediction for row 0 is a dict ({'k': 1}), not a single number or label",
    "short": "the model returned 4 prediction(s) for 5 row(s)",
}


def test_eval_and_predict_refuse_bad_outputs_in_one_line(weird, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = weird
    rows = tmp_path / "rows.csv"
    pd.DataFrame({"a": [1.0, 0.0, 3.0, -3.0, 1.5]}).to_csv(rows, index=False)
    for mode, says in SAYS.items():
        ev = rung_cli("eval", f"{mode}@1", "--on", "d@1", "--label", "y", cwd=ws.root)
        pr = rung_cli("predict", f"{mode}@1", "-i", str(rows), "-o", "o.csv", cwd=ws.root)
        for out in (ev, pr):
            assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
            assert len(out.stderr.strip().splitlines()) == 1, out.stderr
            assert out.stderr.startswith(f"error: {says}"), (mode, out.stderr)
            assert "the model raised" not in out.stderr
    ev = rung_cli("eval", "nonfinite@1", "--on", "d@1", "--label", "y", cwd=ws.root)
    assert ev.returncode == 1 and ev.stderr.startswith(
        "error: the model's predictions are not finite for 3 of 5 row(s) of dataset d@1"
        " (first: nan at row 1)"
    ), ev.stderr
    ev = rung_cli("eval", "ok@1", "--on", "s@1", "--label", "y", cwd=ws.root)
    assert ev.returncode == 1 and ev.stderr.startswith(
        "error: labels are strings but the model predicts numbers: label column 'y' of dataset"
        " s@1 holds 'low'"
    ), ev.stderr
    ok = rung_cli("eval", "ok@1", "--on", "d@1", "--label", "y", cwd=ws.root)
    assert ok.returncode == 0, ok.stderr


def test_non_finite_predictions_read_the_same_from_the_service_the_log_and_predict(
    weird, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    ws = weird
    values = [1.0, 0.0, 3.0, -3.0]
    expected = [2.0 / 2 * 1.0, "nan", "inf", "-inf"]
    proc, url = start_server(ws.root, "nonfinite@1")
    try:
        r = httpx.post(f"{url}/predict", json={"columns": {"a": values}})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"] == expected
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    rows = tmp_path / "rows.csv"
    pd.DataFrame({"a": values}).to_csv(rows, index=False)
    out = tmp_path / "out.csv"
    done = rung_cli("predict", "nonfinite@1", "-i", str(rows), "-o", str(out), cwd=ws.root)
    assert done.returncode == 0, done.stderr
    scored = pd.read_csv(out)["prediction"].tolist()
    assert scored[0] == 1.0 and math.isnan(scored[1]) and scored[2:] == [math.inf, -math.inf]
    with ws.store.read() as tx:
        logged = [
            json.loads(r["outputs"])["predictions"]
            for r in tx.all("SELECT outputs FROM predictions WHERE status = 200 ORDER BY id")
        ]
    assert logged == [expected, expected], logged  # the service's record and the batch's


def test_a_model_with_bad_outputs_is_refused_by_the_service(weird) -> None:  # type: ignore[no-untyped-def]
    """The service's warm-up prediction runs the same check: such a version never serves."""
    out = rung_cli("serve", "dict@1", "--port", "1", cwd=weird.root)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert SAYS["dict"] in out.stderr


SCALARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.text(max_size=5),
)
NON_SCALARS = st.one_of(
    st.dictionaries(st.text(max_size=2), st.integers(), min_size=1),
    st.lists(st.integers(), min_size=2, max_size=3).map(lambda v: [v]),
    st.just(object()),
    st.complex_numbers(allow_nan=False),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(SCALARS, min_size=1, max_size=8), st.integers(-2, 2))
def test_outputs_are_one_scalar_per_row(values: list[Any], off: int) -> None:
    rows = len(values) + off
    same_kind = len({type(v) for v in values}) == 1
    if not same_kind:
        values = [str(v) for v in values]
    if off:
        with pytest.raises(ModelFailed, match=rf"returned {len(values)} prediction\(s\)"):
            checked(values, rows)
        return
    arr = checked(values, rows)
    assert arr.shape == (rows,)
    back = from_json(json.loads(json.dumps(to_json(arr))))
    for a, b in zip(arr.tolist(), back, strict=True):
        assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=5), NON_SCALARS, st.integers(0, 4))
def test_a_non_scalar_output_is_refused_naming_its_row(
    values: list[Any], bad: Any, at: int
) -> None:
    at = min(at, len(values))
    mixed = [*values[:at], bad, *values[at:]]
    with pytest.raises(ModelFailed):
        checked(np.array([*mixed, None], dtype=object)[:-1], len(mixed))
    with pytest.raises(ModelFailed, match=r"shape \(3, 2\)"):
        checked(np.zeros((3, 2)), 3)
    assert checked(np.zeros((3, 1)), 3).shape == (3,)


def test_numbers_against_string_labels_and_non_finite_are_named() -> None:
    with pytest.raises(InvalidInput, match="labels are strings but the model predicts numbers"):
        check_against_labels(np.array([1.0]), np.array(["high"], dtype=object), "d", "y")
    with pytest.raises(
        InvalidInput, match=r"not finite for 1 of 2 row\(s\) of d \(first: -inf at row 1\)"
    ):
        check_against_labels(np.array([1.0, -np.inf]), np.array([1.0, 2.0]), "d", "y")
    with pytest.raises(InvalidInput, match=r"labels are numbers but the model predicts strings"):
        check_against_labels(np.array(["a"], dtype=object), np.array([1.0]), "d", "y")
    check_against_labels(np.array(["a"]), np.array(["a"], dtype=object), "d", "y")
    check_against_labels(np.array([1, 0]), np.array([1, 1]), "d", "y")


def _to_json_per_value(values: Any) -> list[Any]:
    """The JSON form value by value: what :func:`to_json`'s fast paths must equal."""
    out: list[Any] = []
    for v in values.tolist():
        if isinstance(v, float) and not math.isfinite(v):
            out.append("nan" if math.isnan(v) else "inf" if v > 0 else "-inf")
        else:
            out.append(v.item() if hasattr(v, "item") else v)
    return out


ARRAYS = st.one_of(
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=6).map(
        lambda v: np.array(v, dtype=np.int64)
    ),
    st.lists(st.integers(0, 255), max_size=6).map(lambda v: np.array(v, dtype=np.uint8)),
    st.lists(st.floats(width=32), max_size=6).map(lambda v: np.array(v, dtype=np.float32)),
    st.lists(st.floats(), max_size=6).map(lambda v: np.array(v, dtype=np.float64)),
    st.lists(st.booleans(), max_size=6).map(np.array),
    st.lists(st.text(max_size=4), min_size=1, max_size=6).map(np.array),
    st.lists(
        st.one_of(st.text(max_size=4), st.integers(-5, 5), st.floats(), st.none(), st.booleans()),
        max_size=6,
    ).map(lambda v: np.array([*v, object()], dtype=object)[:-1]),
)


@settings(max_examples=300, deadline=None)
@given(ARRAYS)
def test_the_json_form_is_the_same_by_every_path(arr: Any) -> None:
    """Every dtype a model may predict: the fast paths of :func:`to_json` (whole arrays)
    give what converting value by value gives, non-finite floats as their strings."""
    got, want = to_json(arr), _to_json_per_value(arr)
    assert json.dumps(got) == json.dumps(want)
    assert [type(v) for v in got] == [type(v) for v in want]
