"""A model that raises on rows its signature admits: one line naming the error and the rows,
the same mechanism (``rung.core.errors.model_raised``) in `rung eval`, `rung predict` and the
service (500 in the canonical error shape)."""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path

import httpx
import pandas as pd
import pytest

from conftest import rung_cli as cli
from conftest import start_server

PICKY = """
class Picky:
    '''Predicts like a threshold, and raises on values over 100 (as a model meeting NA would).'''

    feature_names_in_ = ["a"]
    classes_ = ["no", "yes"]

    def fit(self, frame, y=None):
        return self

    def predict(self, frame):
        out = []
        for v in frame["a"]:
            if v > 100:
                raise TypeError("boolean value of NA is ambiguous\\nsecond line")
            out.append("yes" if v > 1 else "no")
        return out
"""

TRAIN = """
import rung
from picky import Picky


@rung.step(pickle=True)
def fit():
    return Picky()


@rung.pipeline
def train():
    return fit()
"""


@pytest.fixture
def picky(sqlite_ws, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    (ws.root / "train.py").write_text(TRAIN)
    (ws.root / "picky.py").write_text(PICKY)
    monkeypatch.syspath_prepend(str(ws.root))
    path = os.pathsep.join([str(ws.root), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)  # the server and the CLI import the pickled class
    ws.data.add(pd.DataFrame({"a": [0.0, 1.5, 2.0], "y": ["no", "yes", "yes"]}), name="d")
    run = str(ws.run("train.py:train").id)
    reg = cli("model", "register", run, "--name", "picky", "--allow-pickle", cwd=ws.root)
    assert reg.returncode == 0, reg.stderr
    return ws, partial(cli, cwd=ws.root)


@pytest.mark.parametrize("bad_row", [0, 1, 4])
def test_rung_predict_names_the_models_error_and_the_rows_in_one_line(  # type: ignore[no-untyped-def]
    picky, tmp_path: Path, bad_row: int
) -> None:
    _, rung = picky
    values = [0.5, 1.5, 2.5, 3.5, 4.5]
    values[bad_row] = 500.0
    rows = tmp_path / "rows.csv"
    pd.DataFrame({"a": values}).to_csv(rows, index=False)
    out = tmp_path / "scored.csv"
    done = rung("predict", "picky@1", "-i", str(rows), "-o", str(out), "--chunk", "2")
    assert done.returncode == 1, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    start = bad_row - bad_row % 2
    end = min(start + 1, len(values) - 1)
    assert lines[0].startswith(
        "error: the model raised TypeError: boolean value of NA is ambiguous second line"
        f" on {str(rows)!r}, rows {start} to {end}"
    ), lines[0]
    assert not out.exists()


def test_rung_eval_says_it_with_the_same_words(picky) -> None:  # type: ignore[no-untyped-def]
    ws, rung = picky
    ws.data.add(pd.DataFrame({"a": [0.5, 500.0], "y": ["no", "yes"]}), name="e")
    done = rung("eval", "picky@1", "--on", "e@1", "--label", "y")
    assert done.returncode == 1
    assert done.stderr.startswith(
        "error: the model raised TypeError: boolean value of NA is ambiguous second line"
        " on dataset e@1, rows 0 to 1"
    ), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_service_answers_a_models_error_as_500_in_the_canonical_shape(picky) -> None:  # type: ignore[no-untyped-def]
    ws, _ = picky
    proc, url = start_server(ws.root, "picky@1")
    try:
        ok = httpx.post(f"{url}/predict", json={"a": 2.0})
        assert ok.status_code == 200 and ok.json()["predictions"] == ["yes"]
        for body, rows in (({"a": 500.0}, 0), ({"columns": {"a": [1.0, 2.0, 500.0]}}, 2)):
            r = httpx.post(f"{url}/predict", json=body)
            assert r.status_code == 500, r.text
            error, rid = r.json()["error"], r.headers["x-request-id"]
            assert error["type"] == "ModelFailed"
            # the answer names the request; the model's own text (it may hold data) is in
            # the server's log under that id, whole and on one line
            assert error["message"] == f"the model raised on this request (request {rid})"
            assert "TypeError" not in r.text and rid in error["hint"]
            logged = (
                f"request {rid}: POST /predict failed: the model raised TypeError: boolean"
                f" value of NA is ambiguous second line on rows 0 to {rows} of the request"
            )
            deadline = time.monotonic() + 10
            while logged not in proc.err() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert logged in proc.err()
        again = httpx.post(f"{url}/predict", json={"a": 0.5})
        assert again.status_code == 200 and again.json()["predictions"] == ["no"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
