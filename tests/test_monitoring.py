"""Data drift of a served model: its training data against the prediction log, streamed."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from model_project import TRAIN, frame
from rung.core.errors import InvalidInput, NotFound
from rung.monitoring.drift import build_reference, data_drift, logged_inputs, version_reference
from rung.serving.log import PredictionLog

pytest.importorskip("sklearn")


def _log(ws: Any, rows: Any, requests: int) -> list[str]:
    log = PredictionLog(ws.store)
    ids: list[str] = []
    try:
        done = []
        for idx in np.array_split(np.arange(len(rows)), requests):
            part = rows.iloc[idx]
            columns = {"a": part["a"].tolist(), "color": part["color"].tolist()}
            ids.append(f"r{len(ids)}-{time.time_ns()}")
            done.append(
                log.submit(
                    {
                        "request_id": ids[-1],
                        "model": "trend",
                        "version": 1,
                        "rows": len(part),
                        "inputs": columns,
                        "outputs": {"predictions": ["yes"] * len(part)},
                        "latency_ms": 1.0,
                    }
                )
            )
        for d in done:
            d.result()
    finally:
        log.close()
    return ids


def test_drift_against_the_training_data_streams_from_the_log(ws) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(2000, 1), name="train")
    run = ws.run("train.py:train", {})
    version = ws.models.register(str(run.id), "trend")
    reference = version_reference(ws.models, version)
    assert set(reference) == {"a", "color"} and reference["a"].n == 2000

    with pytest.raises(NotFound, match="no logged predictions"):
        data_drift(reference, logged_inputs(ws.store, "trend"))

    _log(ws, frame(1500, 2), requests=40)  # the same world
    calm = data_drift(reference, logged_inputs(ws.store, "trend", chunk=7))
    assert calm["rows"] == 1500 and calm["drifted"] == []
    whole = data_drift(reference, logged_inputs(ws.store, "trend", chunk=1000))
    for name, feature in calm["features"].items():  # chunks change sums' order, nothing more
        assert feature["stats"] == pytest.approx(whole["features"][name]["stats"], rel=1e-9)
        assert feature["verdict"]["drift"] == whole["features"][name]["verdict"]["drift"]
    a = calm["features"]["a"]
    assert a["verdict"]["statistic"] == "wasserstein" and a["verdict"]["threshold"] == 0.1
    assert a["stats"]["ks_pvalue"] is not None

    since = time.time()
    moved = frame(1500, 3)
    moved["a"] = moved["a"] + 1.0
    moved["color"] = "red"
    _log(ws, moved, requests=30)
    shifted = data_drift(reference, logged_inputs(ws.store, "trend", since=since, chunk=11))
    assert shifted["rows"] == 1500
    assert shifted["drifted"] == ["a", "color"]
    assert shifted["features"]["a"]["stats"]["wasserstein"] == pytest.approx(
        1.0 / np.std(frame(2000, 1)["a"]), rel=0.1
    )
    loose = data_drift(
        reference,
        logged_inputs(ws.store, "trend", since=since),
        {"a": {"statistic": "wasserstein", "threshold": 5.0}},
    )
    assert loose["drifted"] == ["color"]  # a threshold per feature
    assert data_drift(reference, logged_inputs(ws.store, "trend", versions=[1]))["rows"] == 3000
    with pytest.raises(NotFound):
        data_drift(reference, logged_inputs(ws.store, "trend", versions=[2]))


def test_a_reference_without_the_models_features_is_refused() -> None:
    signature = {
        "features": ["a", "color"],
        "columns": {"a": {"kind": "numeric"}, "color": {"kind": "categorical"}},
    }
    with pytest.raises(InvalidInput, match=r"lacks the model's feature\(s\) \['color'\]"):
        build_reference(frame(10, 1)[["a"]], signature)


def test_rung_monitor_through_the_cli(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    import json

    from conftest import rung_cli

    ws = sqlite_ws
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(2000, 1), name="train")
    version = ws.models.register(str(ws.run("train.py:train", {}).id), "trend")
    ws.models.promote("trend", version.version, force=True, reason="test")

    empty = rung_cli("monitor", "trend@champion", cwd=ws.root)
    assert empty.returncode == 1 and "no logged predictions" in empty.stderr
    assert len(empty.stderr.strip().splitlines()) == 1

    _log(ws, frame(1500, 2), requests=15)
    moved = frame(1000, 3)
    moved["a"] = moved["a"] + 1.0
    moved["color"] = "red"
    ids = _log(ws, moved, requests=10)  # the newest 1000 rows: shifted

    from rung.serving.feedback import record

    # ground truth for half of them so far: 300 right ("yes" was predicted), 200 wrong
    record(ws.store, {"feedback": [{"request_id": i, "labels": ["yes"] * 100} for i in ids[:3]]})
    record(ws.store, {"feedback": [{"request_id": i, "labels": ["no"] * 100} for i in ids[3:5]]})

    latest = rung_cli("monitor", "trend@champion", "--window", "1000", cwd=ws.root)
    assert latest.returncode == 0, latest.stderr
    assert "(1000 rows)" in latest.stdout and "2 of 2 features drifted: a, color" in latest.stdout
    assert (
        "live performance: accuracy 0.6 on 500 labelled rows of 1000 (500 labels not back yet)"
        in latest.stdout
    )
    report = json.loads(
        rung_cli("monitor", "trend@1", "--window", "1d", "--json", cwd=ws.root).stdout
    )
    assert report["rows"] == 2500 and report["model"] == "trend@1"
    assert report["performance"] == {
        "rows": 2500,
        "labelled": 500,
        "missing": 2000,
        "accuracy": 0.6,
        "mae": None,
    }
    older = rung_cli("monitor", "trend@champion", "--window", "100", cwd=ws.root)
    assert "(100 rows)" in older.stdout  # the newest request of 100 rows, not labelled yet
    assert "no labels back yet for the 100 rows" in older.stdout

    bad = rung_cli("monitor", "trend@champion", "--window", "1x", cwd=ws.root)
    assert bad.returncode == 1 and "cannot read the window '1x'" in bad.stderr
    assert "30m, 12h, 1d, 2w" in bad.stderr


def test_compare_frames_flags_the_shifted_columns_only() -> None:
    import pandas as pd

    from rung.monitoring.drift import compare_frames

    rng = np.random.default_rng(3)

    def make(n: int, shift: bool) -> pd.DataFrame:
        data: dict[str, Any] = {
            f"x{i}": rng.normal(0, 1, n) + (0.5 * shift * (i < 2)) for i in range(4)
        }
        weights = [0.1] * 10 if not shift else [0.3] + [0.7 / 9] * 9
        data["color"] = rng.choice([f"c{k}" for k in range(10)], size=n, p=weights).tolist()
        data["color"][:5] = [None] * 5
        return pd.DataFrame(data)

    report = compare_frames(make(20_000, False), make(20_000, True))
    assert report["drifted"] == ["x0", "x1", "color"]
    assert report["features"]["color"]["kind"] == "categorical"
    assert report["features"]["color"]["nulls"] == 5
    assert report["features"]["x2"]["verdict"]["drift"] is False
    with pytest.raises(InvalidInput, match="lacks column"):
        compare_frames(make(100, False), make(100, False).drop(columns=["x3"]))
