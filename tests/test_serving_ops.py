"""Operating `rung serve` (issue 12, part 4), on one real server shared by the tests: the
access log and the swap line on stderr, every error status counted, the alias follower's
failures logged, counted, reported and retried, and a busy port refused in one line."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import RUNG, Served, rung_cli, start_server
from model_project import TRAIN, frame

ACCESS = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<method>[A-Z]+) (?P<route>\S+)"
    r" (?P<status>\d{3}) (?P<ms>\d+\.\d\d)ms version=(?P<version>\S+)"
    r" request_id=(?P<request_id>\S+)$"
)


SETTINGS = """
[serve]
log_sample_rows = 10      # a request of more rows stores a sample of 10
max_body = 262144         # 256 KiB: a larger body is a 413
retention = "30d"
prune_interval = "1s"     # the service applies retention every second

[monitor]
window = "1h"             # what a monitoring window in progress needs: the last hour
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, Served]]:
    """`rung serve trend@champion --poll 0.2` over two versions, version 1 the champion."""
    from rung import Workspace

    root = tmp_path_factory.mktemp("ops") / "ws"
    with Workspace.init(root) as ws, (ws.root / "rung.toml").open("a") as toml:
        toml.write(SETTINGS)
    with Workspace.open(root) as ws:
        (ws.root / "train.py").write_text(TRAIN)
        ws.data.add(frame(300, 1), name="train")
        for c in (1.0, 0.001):
            ws.models.register(str(ws.run("train.py:train", {"C": c}).id), "trend")
        ws.models.promote("trend", 1, force=True, reason="test")
        proc, url = start_server(ws.root, "trend@champion", "--poll", "0.2")
        try:
            yield ws, url, proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)


def access_lines(proc: Served) -> list[dict[str, str]]:
    lines = [ACCESS.match(line) for line in proc.err().splitlines()]
    return [m.groupdict() for m in lines if m]


def samples(url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of metric family ``name`` on /metrics, by its labels."""
    text = httpx.get(f"{url}/metrics").text
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                found[tuple(sorted(s.labels.items()))] = s.value
    return found


def test_each_request_is_one_access_log_line_naming_its_version_and_id(server) -> None:  # type: ignore[no-untyped-def]
    ws, url, proc = server
    one = httpx.post(f"{url}/predict", json={"a": 2.0, "color": "red"})
    assert one.headers["x-model-version"] == "trend@1"
    assert one.headers["x-request-id"] == one.json()["request_id"]
    infer = httpx.post(
        f"{url}/v2/models/trend/infer",
        json={
            "inputs": [
                {"name": "a", "shape": [1], "datatype": "FP64", "data": [1.0]},
                {"name": "color", "shape": [1], "datatype": "BYTES", "data": ["red"]},
            ]
        },
    )
    assert (
        infer.headers["x-model-version"] == "trend@1"
        and infer.headers["x-request-id"] == infer.json()["id"]
    )
    bad = httpx.post(f"{url}/predict", json={"a": "x", "color": "red"})
    assert bad.status_code == 422 and bad.headers["x-request-id"]  # its key in the log
    logged = None
    for _ in range(100):  # an error's record is not awaited before its answer
        with ws.store.read() as tx:
            logged = tx.one(
                "SELECT status FROM predictions WHERE request_id = :r",
                {"r": bad.headers["x-request-id"]},
            )
        if logged:
            break
        time.sleep(0.1)
    assert logged == {"status": 422}
    assert "x-model-version" not in httpx.get(f"{url}/v2/health/live").headers
    httpx.get(f"{url}/no%0Awhere%20at all")  # a newline and spaces in the path: still one line
    deadline = (
        time.monotonic() + 30
    )  # each line is written once its answer is sent: wait for the last
    while time.monotonic() < deadline and not any(
        line["status"] == "404" for line in access_lines(proc)
    ):
        time.sleep(0.1)
    lines = access_lines(proc)
    by_id = {line["request_id"]: line for line in lines}
    ok = by_id[one.headers["x-request-id"]]
    assert (ok["method"], ok["route"], ok["status"], ok["version"]) == (
        "POST",
        "/predict",
        "200",
        "trend@1",
    )
    assert float(ok["ms"]) > 0
    v2 = by_id[infer.headers["x-request-id"]]
    assert (v2["route"], v2["status"], v2["version"]) == (
        "/v2/models/{name}/infer",
        "200",
        "trend@1",
    )
    assert by_id[bad.headers["x-request-id"]]["status"] == "422"
    live = [line for line in lines if line["route"] == "/v2/health/live"]
    # every answer has the server's request id; only predictions name a version
    assert live and live[-1]["version"] == "-" and len(live[-1]["request_id"]) == 32
    odd = [line for line in lines if line["status"] == "404"]
    assert odd and odd[-1]["route"] == "/no\\nwhere\\x20at\\x20all"
    assert not [
        line for line in proc.err().splitlines() if line.startswith("/") or line == "at all"
    ]


ERRORS = [  # (method, path, body, status): every kind of error answer the service gives
    ("GET", "/nowhere", None, 404),
    ("GET", "/v2/models/x/y/z", None, 404),
    ("GET", "/predict", None, 405),
    ("PUT", "/metrics", None, 405),
    ("DELETE", "/feedback", None, 405),
    ("POST", "/predict", b"not json", 422),
    ("POST", "/predict", b'{"a": "x", "color": "red"}', 422),
    ("POST", "/feedback", b'{"request_id": "nope", "label": "yes"}', 404),
    ("GET", "/v2/models/other", None, 404),
    ("POST", "/v2/models/trend/infer", b'{"inputs": 3}', 400),
    ("POST", "/predict", b"x" * (9 * 1024 * 1024), 413),
    ("POST", "/predict", b"{}", 415),  # not declared JSON (sent as text/plain below)
]


def test_every_4xx_counts_in_rung_errors_total(server) -> None:  # type: ignore[no-untyped-def]
    _, url, _ = server

    def total() -> float:
        return sum(samples(url, "rung_errors_total").values())

    before = total()
    for method, path, body, status in ERRORS:
        kind = "text/plain" if status == 415 else "application/json"
        headers = {"Content-Type": kind} if body is not None else {}
        r = httpx.request(method, f"{url}{path}", content=body, headers=headers)
        assert r.status_code == status, (method, path, r.text)
    assert total() - before == len(ERRORS)
    errors = samples(url, "rung_errors_total")
    assert errors[(("path", "other"), ("type", "NotFound"))] >= 1
    assert errors[(("path", "/metrics"), ("type", "MethodNotAllowed"))] >= 1
    assert errors[(("path", "/feedback"), ("type", "MethodNotAllowed"))] >= 1


def test_a_large_request_stores_a_sample_that_feedback_and_monitoring_read_right(server) -> None:  # type: ignore[no-untyped-def]
    """50 rows answered, 10 stored (``log_sample_rows = 10``): labels are keyed by the
    request's rows, so each stored row meets its own label, and labels for rows not stored
    are left out and said so in one line."""
    import json

    from rung.monitoring.performance import labelled_rows, live_performance

    ws, url, _ = server
    rows = [{"a": round(-2.5 + 0.1 * i, 2), "color": "red" if i % 3 else "blue"} for i in range(50)]
    answer = httpx.post(f"{url}/predict", json={"records": rows}).json()
    predictions, rid = answer["predictions"], answer["request_id"]
    assert len(predictions) == 50 and len(set(predictions)) == 2  # every row answered
    with ws.store.read() as tx:
        stored = tx.one(
            "SELECT rows, answered, inputs, outputs FROM predictions WHERE request_id = :r",
            {"r": rid},
        )
    assert stored["rows"] == 10 and stored["answered"] == 50
    outputs, inputs = json.loads(stored["outputs"]), json.loads(stored["inputs"])
    sample = outputs["sample"]
    assert sample == sorted(set(sample)) and len(sample) == 10 and sample[-1] < 50
    assert inputs["a"] == [rows[i]["a"] for i in sample]
    assert outputs["predictions"] == [predictions[i] for i in sample]
    assert len(outputs["probabilities"]) == 10
    # labels for every row: the 10 stored are taken, the 40 others left out, said in one line
    done = httpx.post(f"{url}/feedback", json={"request_id": rid, "labels": predictions}).json()
    assert (done["accepted"], done["replaced"], done["unstored"]) == (10, 0, 40)
    assert "\n" not in done["note"] and "a sample of 10 of its 50 rows" in done["note"]
    missing = next(i for i in range(50) if i not in sample)
    one = httpx.post(
        f"{url}/feedback", json={"request_id": rid, "row": missing, "label": predictions[missing]}
    ).json()
    assert (one["accepted"], one["unstored"]) == (0, 1) and f"row {missing} of" in one["note"]
    past = httpx.post(f"{url}/feedback", json={"request_id": rid, "row": 50, "label": "yes"})
    assert past.status_code == 422  # past the rows answered: refused as before
    # monitoring pairs each stored prediction with its own row's label: all correct
    live = live_performance(ws.store, "trend")
    assert live["labelled"] == 10 and live["accuracy"] == 1.0, live
    frame = labelled_rows(ws.store, "trend", 100)
    assert len(frame) == 10 and (frame["prediction"] == frame["label"]).all()
    assert frame["a"].tolist() == [rows[i]["a"] for i in sample]


def test_refused_requests_are_logged_without_their_payload(server) -> None:  # type: ignore[no-untyped-def]
    ws, url, _ = server
    with ws.store.read() as tx:
        before = int(tx.scalar("SELECT MAX(id) FROM predictions") or 0)
    payload = {"records": [{"a": "a long secret " * 50, "color": "red"}] * 20}
    for path, body in (
        ("/predict", payload),
        ("/v2/models/trend/infer", {"inputs": [{"name": "a", "data": ["secret " * 100]}]}),
        ("/predict", {"a": 1.0, "color": "green " * 100}),
    ):
        assert httpx.post(f"{url}{path}", json=body).status_code in (400, 422)  # v2: 400
    assert (
        httpx.post(f"{url}/feedback", json={"request_id": "x" * 10, "label": "s"}).status_code
        == 404
    )
    time.sleep(0.5)  # an error's record is not awaited
    with ws.store.read() as tx:
        failed = tx.all(
            "SELECT rows, inputs, outputs, status FROM predictions WHERE id > :i", {"i": before}
        )
    assert len(failed) == 3  # /feedback's refusals are not predictions
    # each logged with the status its client got (the v2 route's bad request is a 400)
    assert sorted(r["status"] for r in failed) == [400, 422, 422]
    for record in failed:
        assert record["rows"] == 0 and record["inputs"] == "{}"
        assert record["outputs"] in ('{"error":"PayloadError"}', '{"error":"TensorError"}')
        assert "secret" not in str(record)


def test_the_service_applies_retention(server) -> None:  # type: ignore[no-untyped-def]
    """``retention = "30d"``, ``prune_interval = "1s"``: once every record so far is made 40
    days old (time passes), they go within seconds — but those whose label came back
    within the 30 days stay, and a new record stays."""
    ws, url, proc = server
    labelled = httpx.post(f"{url}/predict", json={"a": 1.0, "color": "red"}).json()["request_id"]
    for _ in range(12):  # and a dozen without a label
        assert httpx.post(f"{url}/predict", json={"a": 2.0, "color": "red"}).status_code == 200
    with ws.store.write() as tx:
        tx.execute("UPDATE predictions SET at = at - :d", {"d": 40 * 86400})
        tx.insert(
            "feedback",
            {
                "request_id": labelled,
                "row": 0,
                "label": '"yes"',
                "at": time.time() - 86400,
                "corrections": 0,
            },
        )
        recent = {r["request_id"] for r in tx.all("SELECT request_id FROM feedback")}
        old = int(tx.scalar("SELECT COUNT(*) FROM predictions"))
    fresh = httpx.post(f"{url}/predict", json={"a": 1.0, "color": "red"}).json()["request_id"]
    deadline = time.monotonic() + 30
    left: set[str] = set()
    while time.monotonic() < deadline:
        with ws.store.read() as tx:
            left = {r["request_id"] for r in tx.all("SELECT request_id FROM predictions")}
        if left == recent | {fresh}:
            break
        time.sleep(0.2)
    assert labelled in recent and left == recent | {fresh}
    time.sleep(0.3)
    lines = [line for line in proc.err().splitlines() if "prediction log: deleted" in line]
    assert lines and re.search(r"deleted \d+ record\(s\) older than 30d", lines[-1]), lines
    assert old - len(recent) > 10


def test_a_busy_port_is_one_line_and_no_serving_claim(server) -> None:  # type: ignore[no-untyped-def]
    ws, _, _ = server
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for workers in ("1", "2"):
            done = rung_cli(
                "serve", "trend@champion", "--port", str(port), "--workers", workers, cwd=ws.root
            )
            assert done.returncode != 0, done.stderr
            lines = done.stderr.strip().splitlines()
            assert lines == [
                f"error: port {port} on 127.0.0.1 is already in use by another process — stop"
                " that process, or serve on another port (--port 0 picks a free one)"
            ], done.stderr


def test_a_version_that_cannot_load_is_logged_counted_reported_and_retried(server) -> None:  # type: ignore[no-untyped-def]
    """The alias moves to a version whose stored bytes are corrupt: the service keeps its
    version, says so once, counts each attempt, shows it in /health, and picks the version
    up once its bytes are restored — without a restart."""
    ws, url, proc = server
    assert httpx.get(f"{url}/health").json() == {
        "ready": True,
        "model": "trend",
        "version": 1,
        "alias": "trend@champion",
        "alias_target": 1,
        "last_error": None,
    }
    path = Path(ws.artifacts.path(ws.models.get("trend@2").hash))
    good = path.read_bytes()
    os.chmod(path, 0o644)
    path.write_bytes(b"not the model any more")
    ws.models.promote("trend", 2, force=True, reason="corrupt on purpose")
    deadline = time.monotonic() + 10
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        health = httpx.get(f"{url}/health").json()
        if health["last_error"]:
            break
        time.sleep(0.1)
    assert health["version"] == 1 and health["alias_target"] == 2, health
    error = health["last_error"]
    assert error["version"] == 2 and error["attempts"] >= 1 and error["retry_at"] > error["at"]
    assert "\n" not in error["error"] and error["error"]
    assert httpx.get(f"{url}/v2/health/ready").json() == {"ready": True}  # the protocol's body
    r = httpx.post(f"{url}/predict", json={"a": 0.3, "color": "red"})
    assert r.status_code == 200 and r.json()["version"] == 1
    # watched for 4 s = 20 polls: retried (not never), but each retry after a backoff of
    # 8 polls, then 16 (not at each poll); each attempt counted, the line not repeated
    seen = {error["attempts"]: error["at"]}
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        error = httpx.get(f"{url}/health").json()["last_error"]
        seen[error["attempts"]] = error["at"]
        time.sleep(0.05)
    attempts = sorted(seen)
    assert len(attempts) >= 2 and attempts == list(range(attempts[0], attempts[-1] + 1)), seen
    for k in attempts[1:]:
        assert seen[k] - seen[k - 1] >= 0.2 * 8 * 2 ** (k - 2) - 0.05, seen
    counted = samples(url, "rung_alias_follow_failures_total")[
        (("model", "trend"), ("role", "answer"))
    ]
    assert counted >= attempts[-1]
    path.write_bytes(good)  # restored: the next retry loads it
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and health["version"] != 2:
        health = httpx.get(f"{url}/health").json()
        time.sleep(0.2)
    assert health["version"] == 2 and health["last_error"] is None, health
    assert httpx.post(f"{url}/predict", json={"a": 0.3, "color": "red"}).json()["version"] == 2
    err = proc.err()
    warnings = [line for line in err.splitlines() if "cannot be served" in line]
    assert len(warnings) == 1, err
    assert "trend@champion moved to version 2" in warnings[0]
    assert "still serving version 1" in warnings[0]
    swaps = [line for line in err.splitlines() if line.endswith("version 1 → 2 of trend@champion")]
    assert len(swaps) == 1 and re.match(r"^\d{4}-\d\d-\d\dT[\d:.]+Z ", swaps[0]), err


def test_a_client_gone_before_its_body_is_499_not_a_500(server) -> None:  # type: ignore[no-untyped-def]
    """A client that closes its connection mid-body: logged 499 (nobody reads an answer),
    no traceback in the server's log, never a 500 in the error rate monitoring reads."""
    ws, url, proc = server
    host, port = url.removeprefix("http://").split(":")
    with ws.store.read() as tx:
        before = int(tx.scalar("SELECT MAX(id) FROM predictions") or 0)
    with socket.create_connection((host, int(port))) as s:
        s.sendall(
            b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"records": ['
        )
        time.sleep(0.5)
    deadline = time.monotonic() + 10
    logged: list[Any] = []
    while time.monotonic() < deadline and not logged:
        with ws.store.read() as tx:
            logged = tx.all("SELECT status FROM predictions WHERE id > :i", {"i": before})
        time.sleep(0.1)
    assert [r["status"] for r in logged] == [499]
    assert "Traceback" not in proc.err() and "ClientDisconnect" not in proc.err()


def test_an_answer_stays_small_whatever_the_request_held(server) -> None:  # type: ignore[no-untyped-def]
    """Values, names and numbers a client sent are quoted bounded in every error: a 200 KB
    category, feature name or v2 input name, a 5,000-digit integer, thousands of bad rows."""
    _, url, _ = server
    huge = "z" * 200_000
    bodies: list[tuple[str, bytes]] = [
        ("/predict", json.dumps({"records": [{"a": 1.0, "color": huge}]}).encode()),
        ("/predict", json.dumps({"records": [{"a": huge, "color": "red"}]}).encode()),
        ("/predict", json.dumps({"records": [{"a": 1.0, huge: "red"}]}).encode()),
        ("/predict", b'{"records": [{"a": ' + b"7" * 5000 + b', "color": "red"}]}'),
        ("/predict", json.dumps({"records": [{"a": "x", "color": 5}] * 3000}).encode()),
        (
            "/v2/models/trend/infer",
            json.dumps(
                {
                    "inputs": [
                        {"name": "a", "shape": [1], "datatype": "FP64", "data": [1.0]},
                        {"name": "color", "shape": [1], "datatype": "BYTES", "data": [huge]},
                    ]
                }
            ).encode(),
        ),
        (
            "/v2/models/trend/infer",
            json.dumps(
                {"inputs": [{"name": huge, "shape": [1], "datatype": "FP64", "data": [1.0]}]}
            ).encode(),
        ),
    ]
    for path, raw in bodies:
        started = time.monotonic()
        r = httpx.post(
            f"{url}{path}", content=raw, headers={"content-type": "application/json"}, timeout=60
        )
        assert r.status_code in (400, 422), (path, r.status_code, r.text[:300])
        assert len(r.content) < 60_000, (path, len(r.content))
        assert "set_int_max_str_digits" not in r.text
        assert time.monotonic() - started < 10
    r = httpx.post(
        f"{url}/predict", content=bodies[3][1], headers={"content-type": "application/json"}
    )
    assert "an integer of more than 4300 digits" in r.text, r.text[:400]


def test_head_is_answered_wherever_get_is(server) -> None:  # type: ignore[no-untyped-def]
    """RFC 9110: HEAD gets GET's status and headers, no body; a trailing slash is a 404, not
    a redirect to an address the service may not be reached by; no Server header."""
    _, url, _ = server
    for path in (
        "/health",
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/trend",
        "/v2/models/trend/ready",
        "/metrics",
        "/openapi.json",
        "/docs",
    ):
        get, head = httpx.get(f"{url}{path}"), httpx.head(f"{url}{path}")
        assert (head.status_code, head.content) == (get.status_code, b""), path
        assert head.headers.get("content-type") == get.headers.get("content-type"), path
        assert "server" not in head.headers and "server" not in get.headers
    assert httpx.head(f"{url}/predict").status_code == 405
    for path in ("/v2/health/ready/", "/health/"):
        r = httpx.get(f"{url}{path}")
        assert r.status_code == 404 and "location" not in r.headers, (path, r.status_code)


def test_the_body_limit_is_configured(server) -> None:  # type: ignore[no-untyped-def]
    """``[serve] max_body`` (here 256 KiB): a larger body is a 413 naming the limit, counted
    while it streams and after decoding; a smaller one is answered."""
    import gzip

    _, url, _ = server
    rows = [{"a": 0.5, "color": "red"}] * 5000  # ~150 KB
    ok = httpx.post(f"{url}/predict", json={"records": rows}, timeout=60)
    assert ok.status_code == 200, ok.text[:300]
    big = json.dumps({"records": rows * 2}).encode()  # ~300 KB
    for raw, headers in (
        (big, {"content-type": "application/json"}),
        (gzip.compress(big), {"content-type": "application/json", "content-encoding": "gzip"}),
    ):
        r = httpx.post(f"{url}/predict", content=raw, headers=headers, timeout=60)
        assert r.status_code == 413 and "262144" in r.text, (r.status_code, r.text[:300])


def test_several_workers_announce_only_once_a_worker_answers(tmp_path: Path, server) -> None:  # type: ignore[no-untyped-def]
    """With several workers uvicorn binds the port long before a worker has loaded its model:
    the "serving … on" line comes once one answers, so a client that waits for it succeeds."""
    ws, _, _ = server
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = Served(
        [RUNG, "serve", "trend@champion", "--port", str(port), "--workers", "2"],
        cwd=ws.root,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "serving trend@champion" not in proc.err():
            assert proc.poll() is None, proc.err()
            time.sleep(0.05)
        assert "serving trend@champion" in proc.err()
        assert httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_large_request_whose_client_left_is_logged_as_499_not_answered(server) -> None:  # type: ignore[no-untyped-def]
    """A client that sends a large batch and closes at once: nobody receives the answer, so
    the request is recorded as 499 (client closed), never as answered rows."""
    ws, url, _ = server
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"records": [{"a": 0.5, "color": "red"}] * 6000}).encode()
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with ws.store.read() as tx:
        before = tx.scalar("SELECT COUNT(*) FROM predictions WHERE status = 499")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(head + body)
    deadline = time.monotonic() + 20
    closed = before
    while time.monotonic() < deadline and closed == before:
        time.sleep(0.2)
        with ws.store.read() as tx:
            closed = tx.scalar("SELECT COUNT(*) FROM predictions WHERE status = 499")
    assert closed == before + 1
    with ws.store.read() as tx:
        last = tx.one("SELECT status, rows FROM predictions ORDER BY id DESC LIMIT 1")
    assert last is not None and last["status"] == 499, last
