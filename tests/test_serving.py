"""The serving service on a real socket: predictions, OIP v2, errors, metrics, the log, swaps."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from conftest import start_server
from model_project import TRAIN, frame


@pytest.fixture
def served(sqlite_ws):  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(300, 1), name="train")
    for c in (1.0, 0.001):
        run = ws.run("train.py:train", {"C": c})
        ws.models.register(str(run.id), "trend")
    ws.models.promote("trend", 1, force=True, reason="test")
    proc, url = start_server(ws.root, "trend@champion", "--poll", "0.2")
    yield ws, url, proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)


JSON = {"content-type": "application/json"}


def logged(ws: Any) -> int:
    with ws.store.read() as tx:
        return int(tx.scalar("SELECT COUNT(*) FROM predictions"))


def test_predict_in_both_forms_with_probabilities(served) -> None:  # type: ignore[no-untyped-def]
    ws, url, _ = served
    one = httpx.post(f"{url}/predict", json={"a": 2.0, "color": "red"}).json()
    assert one["model"] == "trend" and one["version"] == 1 and one["predictions"] == ["yes"]
    assert set(one["probabilities"][0]) == {"no", "yes"} and one["request_id"]
    batch = httpx.post(
        f"{url}/predict", json={"columns": {"a": [2.0, -2.0], "color": ["red", "blue"]}}
    ).json()
    assert batch["predictions"] == ["yes", "no"]
    assert logged(ws) == 2


def test_bad_input_is_422_with_the_field_and_never_500(served) -> None:  # type: ignore[no-untyped-def]
    _, url, _ = served
    bad = httpx.post(f"{url}/predict", json={"records": [{"a": "x", "color": "green"}]})
    assert bad.status_code == 422
    body = bad.json()["error"]
    assert body["type"] == "PayloadError" and [f["loc"] for f in body["fields"]] == [
        ["records", 0, "a"],
        ["records", 0, "color"],
    ]
    for payload in (b"not json", b"[]", b'{"records": 3}', b"{}"):
        r = httpx.post(
            f"{url}/predict", content=payload, headers={"content-type": "application/json"}
        )
        assert r.status_code == 422, (payload, r.text)
        assert set(r.json()["error"]) == {"type", "message", "hint", "fields"}
    big = httpx.post(f"{url}/predict", content=b"x" * (9 * 1024 * 1024), headers=JSON)
    assert big.status_code == 413 and big.json()["error"]["type"] == "PayloadTooLarge"
    odd: list[bytes] = [
        b'{"a": 1e999, "color": "red"}',  # parses to infinity
        b'{"a": NaN, "color": "red"}',  # the training data had no nulls
        b'{"a": true, "color": "red"}',
        b'{"a": "1.5", "color": "red"}',
        b'{"a": 1, "color": 7}',  # a number where a category is expected, and unknown
        b'{"a": 1, "color": ["red"]}',
        b'{"a": {"x": 1}, "color": null}',
        b'{"records": [null]}',
        b'{"records": [{}], "columns": {}}',
        b'{"columns": {"a": [1, 2], "color": ["red"]}}',
        b'{"columns": {"a": 1}}',
        b'{"records": []}',
        b'"just a string"',
        b'{"\ud800": 1}',
        b"\xff\xfe",
    ]
    for payload in odd:
        r = httpx.post(f"{url}/predict", content=payload, headers=JSON)
        assert r.status_code == 422, (payload, r.status_code, r.text)
        assert set(r.json()["error"]) == {"type", "message", "hint", "fields"}, payload
    extra = httpx.post(f"{url}/predict", json={"a": 1, "color": "red", "unused": "x"})
    assert extra.status_code == 200  # extra fields are ignored, as most serving APIs do
    for method, path, status in (("GET", "/nowhere", 404), ("GET", "/predict", 405)):
        r = httpx.request(method, f"{url}{path}")
        assert r.status_code == status
        assert set(r.json()["error"]) == {"type", "message", "hint", "fields"}
    for path in ("/v2/models/x/y/z", "/a/b"):
        httpx.get(f"{url}{path}")
    labels = httpx.get(f"{url}/metrics").text
    assert "/v2/models/x" not in labels and "/a/b" not in labels  # bounded label values
    # every failed prediction is in the log too, with its status and without inputs: the
    # error rate that `rung monitor` reports comes from the same log as the latencies
    ws = served[0]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with ws.store.read() as tx:
            statuses = tx.all(
                "SELECT status, COUNT(*) AS n FROM predictions GROUP BY status ORDER BY status"
            )
        if {s["status"]: s["n"] for s in statuses}.get(422) == 1 + 4 + len(odd):
            break
        time.sleep(0.1)
    assert {s["status"]: s["n"] for s in statuses} == {200: 1, 413: 1, 422: 1 + 4 + len(odd)}
    with ws.store.read() as tx:
        failed = tx.one("SELECT rows, inputs FROM predictions WHERE status = 413")
    assert failed == {"rows": 0, "inputs": "{}"}


def test_open_inference_protocol_v2_and_metrics(served) -> None:  # type: ignore[no-untyped-def]
    _, url, _ = served
    assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
    meta = httpx.get(f"{url}/v2/models/trend").json()
    assert [i["name"] for i in meta["inputs"]] == ["a", "color"]
    assert httpx.get(f"{url}/v2/models/other").status_code == 404
    infer = httpx.post(
        f"{url}/v2/models/trend/infer",
        json={
            "inputs": [
                {"name": "a", "shape": [2], "datatype": "FP64", "data": [2.0, -2.0]},
                {"name": "color", "shape": [2], "datatype": "BYTES", "data": ["red", "blue"]},
            ]
        },
    ).json()
    assert infer["model_name"] == "trend" and infer["outputs"][0]["data"] == ["yes", "no"]
    assert infer["outputs"][1]["shape"] == [2, 2]
    assert infer["outputs"][0]["datatype"] == meta["outputs"][0]["datatype"] == "BYTES"
    metrics = httpx.get(f"{url}/metrics").text
    assert 'rung_model_version{model="trend",role="answer"} 1.0' in metrics
    assert "rung_request_seconds_bucket" in metrics and "rung_rows_predicted_total 2.0" in metrics


def test_openapi_documents_predict_from_the_signature(served) -> None:  # type: ignore[no-untyped-def]
    _, url, _ = served
    doc = httpx.get(f"{url}/openapi.json").json()
    schemas = doc["components"]["schemas"]
    record = schemas["Record"]
    assert record["required"] == ["a", "color"]
    assert record["properties"]["a"]["type"] == "number"
    assert record["properties"]["color"]["enum"] == ["blue", "red"]
    assert (
        schemas["Columns"]["properties"]["columns"]["properties"]["a"]["items"]["type"] == "number"
    )
    assert schemas["Prediction"]["properties"]["predictions"]["items"]["enum"] == ["no", "yes"]
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert len(body["schema"]["oneOf"]) == 3
    example = body["example"]  # the documented example is itself a valid request
    answer = httpx.post(f"{url}/predict", json=example)
    assert answer.status_code == 200, answer.text
    assert doc["info"]["version"] == "trend version 1"
    assert "swagger-ui" in httpx.get(f"{url}/docs").text
    feedback = doc["paths"]["/feedback"]["post"]
    assert set(feedback["responses"]) == {
        *("200", "400", "404", "409", "413", "415", "422", "500", "503")
    }
    assert schemas["FeedbackAnswer"]["required"] == ["accepted", "replaced"]
    assert schemas["FeedbackEntry"]["properties"]["label"]["example"] == "yes"


def test_the_service_follows_its_alias_under_load_without_a_failed_request(served) -> None:  # type: ignore[no-untyped-def]
    ws, url, _ = served
    seen: list[int] = []
    failures: list[Any] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client() as client:
            while not stop.is_set():
                r = client.post(f"{url}/predict", json={"a": 0.3, "color": "red"})
                if r.status_code != 200:
                    failures.append(r.status_code)
                else:
                    seen.append(r.json()["version"])

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    ws.models.promote("trend", 2, force=True, reason="swap test")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not seen or seen[-1] != 2):
        time.sleep(0.1)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert failures == []
    assert 1 in seen and 2 in seen
    assert seen.index(2) > 0 and 1 not in seen[len(seen) - 5 :]  # swapped once, for good
    assert logged(ws) == len(seen)  # every 2xx response is in the log, nothing else
    assert httpx.get(f"{url}/openapi.json").json()["info"]["version"] == "trend version 2"


def test_an_alias_moved_to_a_version_that_cannot_load_keeps_the_service_on_its_version(
    served,
) -> None:  # type: ignore[no-untyped-def]
    """A corrupt (or untrusted) version behind the alias: the service keeps answering with
    the version it holds and says once, on stderr, why it did not swap."""
    ws, url, proc = served
    target = ws.models.get("trend@2")
    path = Path(ws.artifacts.path(target.hash))
    os.chmod(path, 0o644)
    path.write_bytes(b"not the model any more")
    ws.models.promote("trend", 2, force=True, reason="corrupt on purpose")
    time.sleep(2.0)  # ten polls
    r = httpx.post(f"{url}/predict", json={"a": 0.3, "color": "red"})
    assert r.status_code == 200 and r.json()["version"] == 1
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    warnings = [line for line in err.splitlines() if "cannot be served" in line]
    assert len(warnings) == 1, err
    assert "trend@champion moved to version 2" in warnings[0]
    assert "still serving version 1" in warnings[0]


def test_a_sigkill_loses_no_answered_prediction(served) -> None:  # type: ignore[no-untyped-def]
    ws, url, proc = served
    answered = 0
    with httpx.Client() as client:
        for _ in range(60):
            if client.post(f"{url}/predict", json={"a": 1.0, "color": "blue"}).status_code == 200:
                answered += 1
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert logged(ws) == answered


def test_overlapping_requests_are_batched_and_each_gets_its_own_rows(served) -> None:  # type: ignore[no-untyped-def]
    _, url, _ = served
    rows = [{"a": round(-3 + 0.05 * i, 2), "color": "red" if i % 3 else "blue"} for i in range(120)]
    with httpx.Client() as client:  # one at a time: the reference answers
        alone = [client.post(f"{url}/predict", json=row).json() for row in rows]

    def calls() -> float:
        text = httpx.get(f"{url}/metrics").text
        return float(
            next(
                ln.split()[1]
                for ln in text.splitlines()
                if ln.startswith("rung_model_calls_total ")
            )
        )

    before = calls()
    together: list[Any] = [None] * len(rows)

    def send(k: int) -> None:
        with httpx.Client() as client:
            for i in range(k, len(rows), 16):
                records = [rows[i]] if i % 2 else [rows[i], rows[i]]  # batches of 1 and 2 rows
                together[i] = client.post(f"{url}/predict", json={"records": records}).json()

    threads = [threading.Thread(target=send, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for i, (one, both) in enumerate(zip(alone, together, strict=True)):
        n = 1 if i % 2 else 2
        assert both["predictions"] == one["predictions"] * n, i
        # a batch may sum in another order: the same probabilities to the last bits or so
        for got, want in zip(both["probabilities"], one["probabilities"] * n, strict=True):
            assert got == pytest.approx(want, rel=1e-12, abs=1e-15), i
    assert calls() - before < len(rows)  # some requests shared a call to the model


def test_several_workers_share_one_metrics_page_and_one_log(served) -> None:  # type: ignore[no-untyped-def]
    ws, _, first = served
    first.terminate()
    first.wait(timeout=30)
    before = logged(ws)
    proc, url = start_server(ws.root, "trend@champion", "--workers", "2")
    try:
        for _ in range(40):  # a connection each: the workers share the listening socket
            r = httpx.post(f"{url}/predict", json={"a": 0.1, "color": "red"})
            assert r.status_code == 200
        metrics = httpx.get(f"{url}/metrics").text
        assert "rung_rows_predicted_total 40.0" in metrics  # summed over the workers
        assert metrics.count("rung_model_version{") >= 1 and 'pid="' in metrics
        assert logged(ws) - before == 40
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0, proc.err()


def test_feedback_and_the_client(served) -> None:  # type: ignore[no-untyped-def]
    import rung
    from rung.serving.client import ServiceError

    ws, url, _ = served
    with rung.Client(url) as client:
        assert client.ready()
        one = client.predict({"a": 2.0, "color": "red"})
        batch = client.predict(pd.DataFrame({"a": [1.0, -1.0], "color": ["red", "blue"]}))
        assert batch["predictions"] == ["yes", "no"]
        assert client.feedback(one["request_id"], label="yes") == {"accepted": 1, "replaced": 0}
        assert client.feedback(batch["request_id"], labels=["yes", "yes"])["accepted"] == 2
        # row 1 had "yes": the latest label wins, and the answer says it replaced one
        assert client.feedback(batch["request_id"], label="no", row=1) == {
            "accepted": 1,
            "replaced": 1,
        }
        with pytest.raises(ServiceError, match="got a label for row 2") as past:
            client.feedback(batch["request_id"], label="no", row=2)
        assert past.value.status == 422
        with pytest.raises(ServiceError, match="expected a row number >= 0"):
            client.feedback(batch["request_id"], label="no", row=-1)
        with pytest.raises(ServiceError, match="no prediction with request id 'nope'") as info:
            client.feedback("nope", label="yes")
        assert info.value.status == 404
        with pytest.raises(ServiceError, match="predicted 1 row"):
            client.feedback(one["request_id"], labels=["yes", "no"])
        with pytest.raises(ServiceError, match="unknown category 'green'") as bad:
            client.predict({"a": 1.0, "color": "green"})
        assert bad.value.status == 422
    r = httpx.post(f"{url}/feedback", json={"feedback": [{"label": 1}]})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["loc"] == [
        "feedback",
        0,
        "request_id",
    ]
    with ws.store.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM feedback") == 3  # one per labelled row
        latest = tx.one("SELECT row, label, corrections FROM feedback ORDER BY id DESC LIMIT 1")
    assert (latest["row"], latest["label"], latest["corrections"]) == (1, '"no"', 1)
    with pytest.raises(ServiceError, match="cannot reach the service"):
        rung.Client("http://127.0.0.1:9").predict({"a": 1.0, "color": "red"})


NON_SCALAR = [
    ({"label": {"x": [1]}}, ["feedback", 0, "label"]),
    ({"label": ["yes", "no"]}, ["feedback", 0, "label"]),
    ({"label": []}, ["feedback", 0, "label"]),
    ({"labels": ["yes", ["no"]]}, ["feedback", 0, "labels", 1]),
    ({"labels": [{"a": 1}, "no"]}, ["feedback", 0, "labels", 0]),
    ({"labels": []}, ["feedback", 0, "labels"]),
    ({"labels": "yes"}, ["feedback", 0, "labels"]),
    ({"labels": {"0": "yes"}}, ["feedback", 0, "labels"]),
]


def test_non_scalar_labels_are_refused_with_the_field(served) -> None:  # type: ignore[no-untyped-def]
    """Each kind of label that is not a scalar, in both body forms, against one server."""
    ws, url, _ = served
    batch = httpx.post(
        f"{url}/predict", json={"columns": {"a": [1.0, -1.0], "color": ["red", "blue"]}}
    ).json()
    for entry, loc in NON_SCALAR:
        for body in (
            {"request_id": batch["request_id"], **entry},
            {"feedback": [{"request_id": batch["request_id"], **entry}]},
        ):
            r = httpx.post(f"{url}/feedback", json=body)
            assert r.status_code == 422, (entry, r.text)
            error = r.json()["error"]
            assert error["type"] == "PayloadError" and error["fields"][0]["loc"] == loc, entry
            assert "\n" not in error["message"]
    with pytest.raises(Exception, match="predicted 2 row"):  # too many labels: the row count
        from rung.serving.feedback import record

        record(ws.store, {"request_id": batch["request_id"], "labels": ["yes"] * 3})
    with ws.store.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM feedback") == 0


def test_batch_scoring_with_rung_predict(sqlite_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from conftest import rung_cli

    ws = sqlite_ws
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(300, 1), name="train")
    ws.models.register(str(ws.run("train.py:train").id), "trend")
    ws.models.promote("trend", 1, force=True, reason="test")
    source = tmp_path / "in.parquet"
    frame(250, 5).drop(columns=["y"]).to_parquet(source)
    out = tmp_path / "out.csv"
    done = rung_cli(
        "predict",
        "trend@champion",
        "-i",
        str(source),
        "-o",
        str(out),
        "--chunk",
        "100",
        cwd=ws.root,
    )
    assert done.returncode == 0, done.stderr
    assert "scored 250 rows with trend@1" in done.stdout and "3 chunk(s) logged" in done.stdout
    scored = pd.read_csv(out)
    assert len(scored) == 250 and {"prediction", "proba_yes", "proba_no"} <= set(scored.columns)
    with ws.store.read() as tx:
        assert tx.scalar("SELECT SUM(rows) FROM predictions") == 250
    bad = rung_cli(
        "predict", "trend@champion", "-i", str(tmp_path / "nope.csv"), "-o", str(out), cwd=ws.root
    )
    assert bad.returncode == 1 and "no input file" in bad.stderr
    frame(5, 6).drop(columns=["color"]).to_csv(tmp_path / "short.csv", index=False)
    short = rung_cli(
        "predict", "trend@1", "-i", str(tmp_path / "short.csv"), "-o", str(out), cwd=ws.root
    )
    assert short.returncode == 1 and "lacks the model's feature column(s) ['color']" in short.stderr
