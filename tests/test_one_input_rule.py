"""One rule for building a model's input from a frame, applied by `rung eval`, `rung predict`
and the service alike (docs/columns.md): the same frames are accepted or refused by all of
them, for the same reason. `rung eval` once skipped the signature check (a null the training
data never had reached the model, whose multi-line error was printed) and gave a nameless
plain predictor every column, which `rung predict` refused."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from conftest import rung_cli, start_server
from model_project import TRAIN, frame

CASES: dict[str, tuple[dict[str, list[Any]], str | None]] = {
    "valid": ({"a": [0.5, -1.0, 2.0], "color": ["red", "blue", "red"]}, None),
    "null": ({"a": [0.5, math.nan, 2.0], "color": ["red", "blue", "red"]}, "null is not allowed"),
    "category": ({"a": [0.5, 1.0, 2.0], "color": ["red", "green", "red"]}, "unknown category"),
    "text": ({"a": ["0.5", "abc", "2"], "color": ["red", "blue", "red"]}, "expected a number"),
    "inf": ({"a": [0.5, math.inf, 2.0], "color": ["red", "blue", "red"]}, "finite"),
}


@pytest.fixture
def trained(sqlite_ws):  # type: ignore[no-untyped-def]
    """The rule is the same code on either backend (the store only holds the datasets):
    walked on SQLite, since each case starts several CLI processes."""
    ws = sqlite_ws
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(200, 1), name="train")
    run = ws.run("train.py:train")
    ws.models.register(str(run.id), "trend")
    return ws


def test_eval_predict_and_serve_agree_on_each_frame(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = trained
    verdicts: dict[str, dict[str, str | None]] = {}
    for name, (cols, _) in CASES.items():
        rows = pd.DataFrame(cols)
        path = tmp_path / f"{name}.csv"
        rows.assign(y=["yes", "no", "yes"]).to_csv(path, index=False)
        (tmp_path / f"{name}-in.csv").write_text(rows.to_csv(index=False))
        ws.data.add(path, name=name)  # as `rung data add` would (tested by test_data_cli)
        ev = rung_cli("eval", "trend@1", "--on", f"{name}@1", "--label", "y", cwd=ws.root)
        pr = rung_cli(
            "predict",
            "trend@1",
            "-i",
            str(tmp_path / f"{name}-in.csv"),
            "-o",
            str(tmp_path / "o.csv"),
            cwd=ws.root,
        )
        verdicts[name] = {}
        for what, out in (("eval", ev), ("predict", pr)):
            assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) <= 1
            verdicts[name][what] = None if out.returncode == 0 else out.stderr
    ws.models.promote("trend", 1, force=True, reason="test")
    proc, url = start_server(ws.root, "trend@champion")
    try:
        for name, (cols, _) in CASES.items():
            if name == "inf":
                continue  # JSON has no infinity: such a body is "not JSON" before any rule
            body = {"columns": {k: [_json(v) for v in vals] for k, vals in cols.items()}}
            r = httpx.post(f"{url}/predict", json=body)
            verdicts[name]["serve"] = None if r.status_code == 200 else r.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    for name, (_, says) in CASES.items():
        for what, refusal in verdicts[name].items():
            if says is None:
                assert refusal is None, (name, what, refusal)
            else:
                assert refusal is not None and says in refusal, (name, what, refusal)


def _json(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


PLAIN_MODEL = """
class Plain:
    def predict(self, frame):
        return ["yes"] * len(frame)
"""

PLAIN = """
import rung
from plain_model import Plain


@rung.step(pickle=True)
def fit():
    return Plain()


@rung.pipeline
def train():
    return fit()
"""


def test_a_nameless_plain_predictor_is_refused_by_eval_and_predict_alike(
    sqlite_ws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    monkeypatch.syspath_prepend(str(ws.root))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(ws.root), os.environ.get("PYTHONPATH", "")])
    )
    (ws.root / "plain.py").write_text(PLAIN)
    (ws.root / "plain_model.py").write_text(PLAIN_MODEL)
    run = str(ws.run("plain.py:train").id)
    reg = rung_cli("model", "register", run, "--name", "plain", "--allow-pickle", cwd=ws.root)
    assert reg.returncode == 0, reg.stderr
    ws.data.add(pd.DataFrame({"a": [1.0, 2.0], "y": ["yes", "no"]}), name="d")
    (tmp_path / "in.csv").write_text("a\n1.0\n")
    ev = rung_cli("eval", "plain@1", "--on", "d@1", "--label", "y", cwd=ws.root)
    pr = rung_cli("predict", "plain@1", "-i", str(tmp_path / "in.csv"), "-o", "o.csv", cwd=ws.root)
    for out in (ev, pr):
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert "fitted without column names" in out.stderr and "--features" in out.stderr
