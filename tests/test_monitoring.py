"""Data drift of a served model: its training data against the prediction log, streamed."""

from __future__ import annotations

import http.server
import threading
import time
from typing import Any, ClassVar

import numpy as np
import pytest

from model_project import TRAIN, frame, log_served
from rung.core.errors import InvalidInput, NotFound
from rung.monitoring.drift import build_reference, data_drift, logged_inputs
from rung.monitoring.window import references
from rung.serving.log import PredictionLog

pytest.importorskip("sklearn")


def _log(ws: Any, rows: Any, requests: int) -> list[str]:
    parts = [rows.iloc[idx] for idx in np.array_split(np.arange(len(rows)), requests)]
    return [request_id for request_id, _ in log_served(ws.store, parts)]


def test_drift_against_the_training_data_streams_from_the_log(ws) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(2000, 1), name="train")
    run = ws.run("train.py:train", {})
    version = ws.models.register(str(run.id), "trend")
    reference = references(ws.models, version).inputs  # the frame it was trained on
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

    latest = rung_cli(
        "monitor", "trend@champion", "--window", "1000", cwd=ws.root, env={"COLUMNS": "200"}
    )
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
    assert report["performance"] == {  # a classifier: accuracy and per-class metrics
        "task": "classification",
        "rows": 2500,
        "labelled": 500,
        "corrected": 0,
        "missing": 2000,
        "other_versions": 0,  # every row of the window answered by trend@1
        "accuracy": 0.6,
        "log_loss": None,  # no probabilities logged
        "per_class": {
            "no": {"precision": None, "recall": 0.0, "support": 200},
            "yes": {"precision": 0.6, "recall": 1.0, "support": 300},
        },
    }
    older = rung_cli("monitor", "trend@champion", "--window", "100", cwd=ws.root)
    assert "(100 rows)" in older.stdout  # the newest request of 100 rows, not labelled yet
    assert "no labels back yet for the 100 rows" in older.stdout

    bad = rung_cli("monitor", "trend@champion", "--window", "1x", cwd=ws.root)
    assert bad.returncode == 1 and "cannot read the window '1x'" in bad.stderr
    assert "30m, 12h, 1d, 2w" in bad.stderr

    # predictions: the log says "yes" to every row; on its training data the model said
    # "no" to some of them, so the outputs drifted too
    assert "(predictions)" in latest.stdout and "ALERT prediction_drift" in latest.stdout
    assert "ALERT data_drift: trend@champion: 2 of 2 features drifted" in latest.stdout
    # every request took 1 ms: the histogram's bucket (0.89, 1] ms, read at its middle
    assert (
        "health: 10 requests, 0 server errors (5xx, 0.0%), 0 client errors (4xx, 0.0%),"
        in latest.stdout
    )
    assert "latency p50 0.9441 ms" in latest.stdout
    # every check was stored (the --json one and the 100-row one too): a time series
    series = rung_cli("monitor", "show", "trend", "--json", cwd=ws.root)
    windows = json.loads(series.stdout)
    assert [w["window"] for w in windows] == ["1000", "1d", "100"]
    assert [w["rows"] for w in windows] == [1000, 2500, 100]
    assert [len(w["drifted"]) for w in windows] == [2, 2, 2]
    record(ws.store, {"feedback": [{"request_id": ids[5], "labels": ["yes"] * 100}]})
    windows = json.loads(rung_cli("monitor", "show", "trend", "--json", cwd=ws.root).stdout)
    assert windows[0]["performance"]["labelled"] == 600  # labels that came back later count
    shown = rung_cli("monitor", "show", "trend", cwd=ws.root)
    assert shown.returncode == 0 and "3 windows" in shown.stdout
    alerts = json.loads(rung_cli("monitor", "alerts", "trend", "--json", cwd=ws.root).stdout)
    assert {a["kind"] for a in alerts} == {"data_drift", "prediction_drift"}
    assert all(a["delivery"] is None for a in alerts)  # no webhook configured
    dry = rung_cli("monitor", "trend@champion", "--no-save", cwd=ws.root)
    assert dry.returncode == 0 and "stored as window" not in dry.stdout
    assert len(json.loads(rung_cli("monitor", "show", "trend", "--json", cwd=ws.root).stdout)) == 3


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


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    delay = 0.0

    def do_POST(self) -> None:
        import json

        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(self.delay)
        type(self).received.append(body)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _hook_server(delay: float) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = type("Hook", (_Hook,), {"received": [], "delay": delay})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/alerts"


def test_alerts_go_to_the_webhook_and_failures_say_why(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    import json
    import socket

    from conftest import rung_cli

    ws = sqlite_ws
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(2000, 1), name="train")
    ws.models.register(str(ws.run("train.py:train", {}).id), "trend")
    moved = frame(500, 3)
    moved["a"] = moved["a"] + 1.0
    _log(ws, moved, requests=5)
    config = (ws.root / "rung.toml").read_text()

    def configure(url: str, timeout: float = 5) -> None:
        (ws.root / "rung.toml").write_text(
            config + f'\n[monitor]\nwebhook = "{url}"\nwebhook_timeout = {timeout}\n'
        )

    good, url = _hook_server(delay=0)
    try:
        configure(url)
        ok = rung_cli("monitor", "trend@1", cwd=ws.root)
        assert ok.returncode == 0, ok.stderr
        received = good.RequestHandlerClass.received  # type: ignore[attr-defined]
        assert {r["kind"] for r in received} == {"data_drift", "prediction_drift"}
        assert all(r["model"] == "trend@1" and r["window"] == 1 for r in received)
        assert "a (wasserstein" in next(r for r in received if r["kind"] == "data_drift")["message"]
    finally:
        good.shutdown()

    again = rung_cli("monitor", "trend@1", cwd=ws.root)  # nothing new: stored once
    assert again.returncode == 0 and "the same rows as window 1: not stored again" in again.stdout
    assert len(received) == 2  # and no alert sent twice

    slow, url = _hook_server(delay=3)
    _log(ws, moved, requests=5)  # new predictions: a new window
    try:
        configure(url, timeout=0.5)
        late = rung_cli("monitor", "trend@1", cwd=ws.root)
        assert late.returncode == 1
        assert (
            f"is logged but not delivered: the webhook {url} timed out after 0.5 s" in late.stderr
        )
    finally:
        slow.shutdown()

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/alerts"
    configure(closed)
    _log(ws, moved, requests=5)
    refused = rung_cli("monitor", "trend@1", cwd=ws.root)
    assert refused.returncode == 1
    assert f"the webhook {closed} refused the connection" in refused.stderr
    alerts = json.loads(rung_cli("monitor", "alerts", "trend", "--json", cwd=ws.root).stdout)
    assert len(alerts) == 6  # every alert logged, delivered or not
    assert [a["delivery"] for a in alerts][::2] == [
        f"the webhook {closed} refused the connection",
        f"the webhook {url} timed out after 0.5 s",
        "delivered",
    ]


def test_a_reference_dataset_must_match_the_model(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(2000, 1), name="train")
    ws.models.register(str(ws.run("train.py:train", {}).id), "trend")
    _log(ws, frame(300, 2), requests=3)
    extra = frame(500, 4).assign(b=1.0)
    ws.data.add(extra, name="ref")
    with pytest.raises(InvalidInput, match=r"the reference ref@1 has column\(s\) \['y', 'b'\]"):
        ws.monitor.check("trend@1", reference="ref@1")
    ws.data.add(frame(500, 4)[["a", "color"]], name="ref")
    report = ws.monitor.check("trend@1", reference="ref@2")
    assert report is not None and report["reference"] == "ref@2"
    assert report["features"]["a"]["verdict"]["drift"] is False  # 300 rows: KS decides
    assert report["prediction"]["verdict"]["drift"] is True  # the log says "yes" to all rows
    assert ws.monitor.check("trend@1", only_new=True) is None  # nothing new since
    log = PredictionLog(ws.store)  # another version answers 50 rows
    part = frame(50, 5)
    log.submit(
        {
            "request_id": "v2-0",
            "model": "trend",
            "version": 2,
            "rows": 50,
            "inputs": {"a": part["a"].tolist(), "color": part["color"].tolist()},
            "outputs": {"predictions": ["no"] * 50},
            "latency_ms": 1.0,
        }
    ).result()
    log.close()
    mixed = ws.monitor.check("trend@1", "1000", save=False)
    assert mixed is not None and mixed["rows"] == 350  # inputs, performance, health: all
    assert mixed["prediction"]["rows"] == 300  # prediction drift: version 1's answers only
    (ws.root / "rung.toml").write_text("[monitor]\nwindows = 3\n")
    from rung.workspace import Workspace

    with pytest.raises(InvalidInput, match=r"unknown key 'monitor.windows'.*did you mean 'window'"):
        Workspace.open(ws.root).monitor  # noqa: B018
