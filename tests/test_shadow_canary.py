"""Several models in one process, a challenger in shadow and as a canary, and the live
comparison of challenger and champion — against a real `rung serve` on 127.0.0.1, with labels
sent back through /feedback.

One server serves ``trend@champion`` with ``trend@challenger`` in shadow and
``other@champion`` with ``other@challenger`` as a 50 % canary. Each champion is a nearly
constant model (C = 1e-4), each challenger a good one (C = 1): the comparison has a true
answer to find.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx
import numpy as np
import pytest

from conftest import rung_cli, start_server
from model_project import TRAIN, frame


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from rung import Workspace

    root = tmp_path_factory.mktemp("fleet") / "ws"
    with Workspace.init(root) as ws:
        (ws.root / "train.py").write_text(TRAIN)
        ws.data.add(frame(300, 1), name="train")
        for name in ("trend", "other"):
            for c in (0.0001, 1.0):
                run = ws.run("train.py:train", {"C": c})
                ws.models.register(str(run.id), name)
            ws.models.promote(name, 1, force=True, reason="test")
            ws.models.promote(name, 2, "challenger", force=True, reason="test")
        proc, url = start_server(
            ws.root,
            "trend@champion",
            "other@champion",
            "--shadow",
            "trend@challenger",
            "--canary",
            "other@challenger=50%",
            "--poll",
            "0.2",
        )
        yield ws, url, proc
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def records(ws: Any, request_id: str) -> list[dict[str, Any]]:
    with ws.store.read() as tx:
        return tx.all(
            "SELECT model, version, role, status, rows, inputs, outputs FROM predictions"
            " WHERE request_id = :r ORDER BY id",
            {"r": request_id},
        )


def until(check: Any, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def rows(n: int, seed: int) -> list[dict[str, Any]]:
    data = frame(n, seed)
    return [
        {"a": float(a), "color": c, "y": y}
        for a, c, y in zip(data["a"], data["color"], data["y"], strict=True)
    ]


def test_several_models_are_each_served_under_their_own_name(fleet) -> None:  # type: ignore[no-untyped-def]
    _, url, _ = fleet
    row = {"a": 2.0, "color": "red"}
    for name in ("trend", "other"):
        got = httpx.post(f"{url}/predict/{name}", json=row, headers={"X-Canary-Key": "k"})
        assert got.status_code == 200, got.text
        assert got.json()["model"] == name
        meta = httpx.get(f"{url}/v2/models/{name}").json()
        assert meta["name"] == name and [i["name"] for i in meta["inputs"]] == ["a", "color"]
        infer = httpx.post(
            f"{url}/v2/models/{name}/infer",
            json={
                "inputs": [
                    {"name": "a", "shape": [1], "datatype": "FP64", "data": [2.0]},
                    {"name": "color", "shape": [1], "datatype": "BYTES", "data": ["red"]},
                ]
            },
        )
        assert infer.status_code == 200 and infer.json()["model_name"] == name
        assert infer.headers["X-Model-Version"] == f"{name}@{infer.json()['model_version']}"
    # rung.Client names the model per call or once (and refuses a route given as the service)
    import rung
    from rung.core.errors import InvalidInput

    with rung.Client(url) as client:
        assert client.predict(row, model="other")["model"] == "other"
    with rung.Client(url, model="trend") as client:
        assert client.predict([row, row])["model"] == "trend"
    for route in (f"{url}/predict", f"{url}/predict/other", f"{url}/v2/models/other/infer"):
        with pytest.raises(InvalidInput, match="is a route of the service"):
            rung.Client(route)
    # plain /predict with two models does not say which: one line naming the choices
    plain = httpx.post(f"{url}/predict", json=row)
    assert plain.status_code == 409
    error = plain.json()["error"]
    assert "2 models" in error["message"] and "/predict/trend" in error["hint"]
    assert "/predict/other" in error["hint"]
    for method, path in (
        ("POST", "/predict/nope"),
        ("GET", "/v2/models/nope"),
        ("POST", "/v2/models/nope/infer"),
    ):
        missing = httpx.request(method, f"{url}{path}", json=row)
        assert missing.status_code == 404, path
        body = missing.json()  # /v2: the protocol's shape, rung's object in "detail"
        error = body["detail"] if path.startswith("/v2/") else body["error"]
        assert "'trend'" in error["message"], path
    metrics = httpx.get(f"{url}/metrics").text
    assert 'rung_model_version{model="trend",role="answer"} 1.0' in metrics
    assert 'rung_model_version{model="other",role="answer"} 1.0' in metrics
    assert 'path="/predict/{name}"' in metrics


def test_the_shadow_predicts_every_request_off_the_path_under_the_same_id(fleet) -> None:  # type: ignore[no-untyped-def]
    ws, url, _ = fleet
    answered: list[tuple[str, dict[str, Any]]] = []
    first = rung_cli("monitor", "trend@champion", "--json", "--no-save", cwd=ws.root)
    before = json.loads(first.stdout)["rows"] if first.returncode == 0 else 0  # other tests'
    with httpx.Client() as client:
        for r in rows(240, 7):
            got = client.post(f"{url}/predict/trend", json={"a": r["a"], "color": r["color"]})
            assert got.status_code == 200
            body = got.json()
            assert body["version"] == 1 and got.headers["X-Model-Version"] == "trend@1"
            answered.append((body["request_id"], r))
        batch = client.post(
            f"{url}/predict/trend", json={"columns": {"a": [1.0, -1.0], "color": ["red", "red"]}}
        ).json()
    # clients see only the champion; the log holds the answer and, under the same id, the
    # shadow's prediction (role shadow, no inputs of its own)
    both = until(lambda: len(records(ws, batch["request_id"])) == 2)
    assert both
    answer, shadow = records(ws, batch["request_id"])
    assert (answer["role"], answer["version"], shadow["role"], shadow["version"]) == (
        "answer",
        1,
        "shadow",
        2,
    )
    assert shadow["rows"] == 2 and json.loads(shadow["inputs"]) == {}
    assert len(json.loads(shadow["outputs"])["predictions"]) == 2
    assert until(lambda: all(len(records(ws, rid)) == 2 for rid, _ in answered[-5:]))
    # labels come back through /feedback and label the answer (checked against version 1)
    feedback = {"feedback": [{"request_id": rid, "label": r["y"]} for rid, r in answered]}
    took = httpx.post(f"{url}/feedback", json=feedback)
    assert took.status_code == 200 and took.json()["accepted"] == len(answered), took.text
    metrics = httpx.get(f"{url}/metrics").text
    assert 'rung_shadow_total{outcome="logged"}' in metrics
    # monitoring counts what clients got: no shadow row in the window
    done = rung_cli("monitor", "trend@champion", "--json", "--no-save", cwd=ws.root)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rows"] == before + len(answered) + 2  # the batch's two rows
    assert report["performance"]["labelled"] == len(answered)
    # the paired comparison on the same requests: the challenger is better
    done = rung_cli("monitor", "compare", "trend@champion", "trend@challenger", cwd=ws.root)
    assert done.returncode == 0, done.stderr
    assert "paired" in done.stdout and f"{len(answered)} labelled rows" in done.stdout
    assert "verdict: trend@2 is better than trend@1" in done.stdout, done.stdout
    assert "accuracy on live traffic" in done.stdout and "Holm" in done.stdout
    as_json = json.loads(
        rung_cli(
            "monitor", "compare", "trend@champion", "trend@challenger", "--json", cwd=ws.root
        ).stdout
    )
    assert as_json["mode"] == "paired" and as_json["verdict"] == "better"
    assert as_json["labelled"] == {"pairs": len(answered)}
    assert as_json["decision"]["decisive"] == {"accuracy": "0.01"}
    # a period that holds none of them: not enough evidence, said plainly
    none = rung_cli(
        "monitor",
        "compare",
        "trend@champion",
        "trend@challenger",
        "--since",
        "2999-01-01",
        cwd=ws.root,
    )
    assert none.returncode == 0 and "not enough evidence: 0 labelled" in none.stdout


def test_the_canary_answers_its_share_by_a_stable_key_and_names_its_version(fleet) -> None:  # type: ignore[no-untyped-def]
    ws, url, _ = fleet
    by_key: dict[str, set[int]] = {}
    answered: list[tuple[str, int, dict[str, Any]]] = []
    with httpx.Client() as client:
        for i, r in enumerate(rows(400, 11)):
            key = f"client-{i % 200}"  # each key twice: the same arm both times
            got = client.post(
                f"{url}/predict/other",
                json={"a": r["a"], "color": r["color"]},
                headers={"X-Canary-Key": key},
            )
            assert got.status_code == 200
            body = got.json()
            assert got.headers["X-Model-Version"] == f"other@{body['version']}"
            by_key.setdefault(key, set()).add(body["version"])
            answered.append((body["request_id"], body["version"], r))
    assert all(len(v) == 1 for v in by_key.values())  # a stable hash of the client's key
    canary = sum(v == {2} for v in by_key.values())
    assert 70 <= canary <= 130  # 50 % of 200 keys (binomial: 6 standard deviations)
    rid, version, _ = answered[0]
    (record,) = records(ws, rid)
    assert record["role"] == ("canary" if version == 2 else "answer")
    assert record["version"] == version
    took = httpx.post(
        f"{url}/feedback",
        json={"feedback": [{"request_id": rid, "label": r["y"]} for rid, _, r in answered]},
    )
    assert took.status_code == 200, took.text
    done = rung_cli(
        "monitor", "compare", "other@champion", "other@challenger", "--json", cwd=ws.root
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["mode"] == "two-sample"
    # every labelled answer is judged, or counted as left out: the champion's answers before
    # the canary's first are outside its period
    left = result["excluded"]["rows"]
    assert result["labelled"]["champion"] + result["labelled"]["challenger"] + left == 400
    assert set(result["excluded"]["reasons"]) <= {"answered outside the canary's period"}
    assert left < 40, result["excluded"]
    assert result["verdict"] == "better", result["summary"]
    gains = [t for t in result["decision"]["tests"] if t["kind"] == "gain"]
    assert gains and gains[0]["metric"] == "accuracy" and gains[0]["significant"]


def samples(url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of metric family ``name`` on /metrics (read by prometheus_client's own
    parser: the exposition must be valid), by its labels."""
    from prometheus_client.parser import text_string_to_metric_families

    found = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for s in family.samples:
            if s.name == name:
                found[tuple(sorted(s.labels.items()))] = s.value
    return found


def v2_request(**extra: Any) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "a", "shape": [1], "datatype": "FP64", "data": [2.0]},
            {"name": "color", "shape": [1], "datatype": "BYTES", "data": ["red"]},
        ],
        **extra,
    }


def test_a_request_naming_a_version_is_answered_by_that_version(fleet) -> None:  # type: ignore[no-untyped-def]
    """With a 50 % canary (other@1 answers, other@2 the canary), every way a client names a
    version — the v2 path, the body's model_version, tritonclient's model_version — is
    answered by that version for every client key, logged in that version's role; without
    one the split holds. A version no arm answers (the shadow's included) is a 404 naming
    the served ones; the metadata and the ready route cover both answering versions."""
    ws, url, _ = fleet
    role = {"1": "answer", "2": "canary"}
    split: set[str] = set()
    with httpx.Client() as client:
        for i in range(24):
            key = {"X-Canary-Key": f"pin-{i}"}
            for version in ("1", "2"):
                for path, body in (
                    (f"/v2/models/other/versions/{version}/infer", v2_request()),
                    ("/v2/models/other/infer", v2_request(model_version=version)),
                ):
                    got = client.post(f"{url}{path}", json=body, headers=key)
                    assert got.status_code == 200, got.text
                    assert got.json()["model_version"] == version, (path, key)
                    assert got.headers["X-Model-Version"] == f"other@{version}"
                    (record,) = records(ws, got.headers["X-Request-ID"])
                    assert (record["version"], record["role"]) == (int(version), role[version])
            free = client.post(f"{url}/v2/models/other/infer", json=v2_request(), headers=key)
            split.add(free.json()["model_version"])
    assert split == {"1", "2"}  # the unversioned requests still follow the split
    for path in ("/v2/models/other/versions/7/infer", "/v2/models/trend/versions/2/infer"):
        missing = httpx.post(f"{url}{path}", json=v2_request())
        assert missing.status_code == 404, path
        message = missing.json()["detail"]["message"]
        served = "1, 2" if "other" in path else "version(s) 1"
        assert served in message and "is not served here" in message, message
    assert httpx.get(f"{url}/v2/models/other").json()["versions"] == ["1", "2"]
    assert httpx.get(f"{url}/v2/models/trend").json()["versions"] == ["1"]  # a shadow answers none
    for version in ("1", "2"):
        assert httpx.get(f"{url}/v2/models/other/versions/{version}/ready").status_code == 200
        assert httpx.get(f"{url}/v2/models/other/versions/{version}").json()["name"] == "other"
    assert httpx.get(f"{url}/v2/models/trend/versions/2/ready").status_code == 404
    assert httpx.get(f"{url}/v2/models/other/versions/3/ready").status_code == 404

    import tritonclient.http as triton

    client = triton.InferenceServerClient(url.removeprefix("http://"))
    a = triton.InferInput("a", [1], "FP64")
    a.set_data_from_numpy(np.array([2.0]))
    color = triton.InferInput("color", [1], "BYTES")
    color.set_data_from_numpy(np.array([b"red"], dtype=object))
    for version in ("1", "2"):
        assert client.is_model_ready("other", version)
        answered = {
            client.infer(
                "other", [a, color], model_version=version, headers={"X-Canary-Key": f"t{i}"}
            ).get_response()["model_version"]
            for i in range(12)
        }
        assert answered == {version}
    client.close()


def test_each_arm_is_visible_in_health_and_metrics(fleet) -> None:  # type: ignore[no-untyped-def]
    """/health names each challenger (role, share, version, alias, its target, its last
    error); rung_model_version has a sample per arm; rung_predictions_total counts each
    arm's predictions by version, role and status — the answers a client saw from each."""
    _, url, _ = fleet
    health = httpx.get(f"{url}/health").json()
    by_model = {m["model"]: m for m in health["models"]}
    assert by_model["trend"]["challengers"] == [
        {
            "role": "shadow",
            "share": 1.0,
            "version": 2,
            "alias": "trend@challenger",
            "alias_target": 2,
            "last_error": None,
        }
    ]
    (canary,) = by_model["other"]["challengers"]
    assert (canary["role"], canary["share"], canary["version"]) == ("canary", 0.5, 2)
    assert by_model["other"]["version"] == 1 and by_model["other"]["last_error"] is None
    versions = samples(url, "rung_model_version")
    assert versions[(("model", "trend"), ("role", "answer"))] == 1
    assert versions[(("model", "trend"), ("role", "shadow"))] == 2
    assert versions[(("model", "other"), ("role", "answer"))] == 1
    assert versions[(("model", "other"), ("role", "canary"))] == 2

    def counts() -> dict[tuple[tuple[str, str], ...], float]:
        return samples(url, "rung_predictions_total")

    def key(version: int, role: str, status: int) -> tuple[tuple[str, str], ...]:
        return (
            ("model", "other"),
            ("role", role),
            ("status", str(status)),
            ("version", str(version)),
        )

    before = counts()
    seen: dict[int, int] = {1: 0, 2: 0}
    with httpx.Client() as client:
        for i in range(60):
            got = client.post(
                f"{url}/predict/other",
                json={"a": float(i % 5), "color": "red"},
                headers={"X-Canary-Key": f"metrics-{i}"},
            )
            seen[got.json()["version"]] += 1
        bad = client.post(f"{url}/v2/models/other/versions/2/infer", json={"inputs": []})
        assert bad.status_code == 400
    assert seen[1] and seen[2]
    after = counts()
    for version, role in ((1, "answer"), (2, "canary")):
        grown = after[key(version, role, 200)] - before.get(key(version, role, 200), 0)
        assert grown == seen[version], (version, grown, seen)
    assert after[key(2, "canary", 400)] - before.get(key(2, "canary", 400), 0) == 1
    assert samples(url, "rung_prediction_seconds_count")[(("model", "other"), ("role", "canary"))]
    # a request to the model with a shadow (this test may run alone): the shadow predicts it
    # within its gathering window
    trend = httpx.post(f"{url}/predict/trend", json={"a": 0.5, "color": "red"})
    assert trend.status_code == 200, trend.text
    shadowed = until(
        lambda: counts().get(
            (("model", "trend"), ("role", "shadow"), ("status", "200"), ("version", "2"))
        )
    )
    assert shadowed  # the shadow's predictions are counted in its own role


def test_each_model_follows_its_own_alias(fleet) -> None:  # type: ignore[no-untyped-def]
    ws, url, _ = fleet
    ws.models.promote("other", 2, force=True, reason="follow test")

    def versions() -> tuple[int, int]:
        t = httpx.post(f"{url}/predict/trend", json={"a": 1.0, "color": "red"}).json()
        o = httpx.post(
            f"{url}/predict/other",
            json={"a": 1.0, "color": "red"},
            headers={"X-Canary-Key": "client-0"},
        ).json()
        return t["version"], o["version"]

    assert until(lambda: versions() == (1, 2))


def test_a_challenger_that_cannot_follow_its_alias_is_reported_as_itself(fleet) -> None:  # type: ignore[no-untyped-def]
    """The shadow's alias moves to a version whose stored bytes are corrupt: /health reports
    it in the challenger's entry (its alias target, its last error) while the champion's
    last_error stays null, and the failures count under role="shadow", never the
    champion's label."""
    from pathlib import Path

    ws, url, _ = fleet
    run = ws.run("train.py:train", {"C": 0.5})
    v = ws.models.register(str(run.id), "trend")
    path = Path(ws.artifacts.path(v.hash))
    os.chmod(path, 0o644)
    path.write_bytes(b"not the model any more")
    ws.models.promote("trend", v.version, "challenger", force=True, reason="corrupt on purpose")

    def shadow() -> dict[str, Any]:
        health = httpx.get(f"{url}/health").json()
        (trend,) = [m for m in health["models"] if m["model"] == "trend"]
        return {**trend["challengers"][0], "champion": trend}

    got = until(lambda: (s := shadow())["last_error"] and s)
    assert got, shadow()
    assert (got["version"], got["alias_target"]) == (2, v.version)
    assert got["last_error"]["version"] == v.version and got["last_error"]["error"]
    assert got["champion"]["last_error"] is None and got["champion"]["ready"] is True
    failures = samples(url, "rung_alias_follow_failures_total")
    assert failures[(("model", "trend"), ("role", "shadow"))] >= 1
    assert failures.get((("model", "trend"), ("role", "answer")), 0) == 0
    assert httpx.post(f"{url}/predict/trend", json={"a": 1.0, "color": "red"}).status_code == 200


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--canary", "trend@challenger", "has no share of requests"),
        ("--canary", "trend@challenger=0%", "is not a percentage in (0, 100]"),
        ("--canary", "trend@challenger=101%", "is not a percentage in (0, 100]"),
        ("--canary", "trend@challenger=10", "is not a percentage in (0, 100]"),
        ("--shadow", "trend@challenger=ten%", "is not a percentage in (0, 100]"),
        ("--shadow", "trend", "is not NAME@ALIAS"),
        ("--shadow", "@x=5%", "is not NAME@ALIAS"),
    ],
)
def test_a_bad_challenger_option_is_one_line(fleet, option: str, value: str, says: str) -> None:  # type: ignore[no-untyped-def]
    done = rung_cli("serve", "trend@champion", option, value, cwd=fleet[0].root)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_a_shadow_that_cannot_predict_never_fails_the_answer(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    """The challenger needs a feature the requests do not carry: every answer is still the
    champion's 200, and the shadow's failure is logged under the request's id with its
    status and counted."""
    ws = sqlite_ws
    (ws.root / "train.py").write_text(TRAIN)
    (ws.root / "train_b.py").write_text(
        TRAIN.replace('frame[["a", "color"]]', 'frame[["a", "color", "b"]]').replace(
            'rung.dataset("train")', 'rung.dataset("train_b")'
        )
    )
    data = frame(200, 3)
    ws.data.add(data, name="train")
    ws.data.add(data.assign(b=data["a"] * 2), name="train_b")
    ws.models.register(str(ws.run("train.py:train").id), "trend")
    ws.models.register(str(ws.run("train_b.py:train").id), "trend")
    ws.models.promote("trend", 1, force=True, reason="test")
    proc, url = start_server(ws.root, "trend@champion", "--shadow", "trend@2")
    try:
        ids = []
        with httpx.Client() as client:
            for a in (-1.0, 0.0, 1.0):
                got = client.post(f"{url}/predict", json={"a": a, "color": "red"})
                assert got.status_code == 200 and got.json()["version"] == 1, got.text
                ids.append(got.json()["request_id"])
        assert until(lambda: all(len(records(ws, rid)) == 2 for rid in ids))
        for rid in ids:
            answer, shadow = records(ws, rid)
            assert (answer["role"], answer["status"]) == ("answer", 200)
            assert (shadow["role"], shadow["version"], shadow["status"]) == ("shadow", 2, 422)
        metrics = httpx.get(f"{url}/metrics").text
        assert 'rung_shadow_total{outcome="failed"} 3.0' in metrics
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_canary_with_other_inputs_is_checked_and_described_as_itself(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    """The canary takes a feature the champion does not (``b``): a v2 request the split or a
    pinned version sends to the canary is checked against the canary's inputs (not refused
    for the champion's), each version's metadata describes its own inputs, and a request
    pinned to a version is refused for that version's inputs only."""
    ws = sqlite_ws
    (ws.root / "train.py").write_text(TRAIN)
    (ws.root / "train_b.py").write_text(
        TRAIN.replace('frame[["a", "color"]]', 'frame[["a", "color", "b"]]').replace(
            'rung.dataset("train")', 'rung.dataset("train_b")'
        )
    )
    data = frame(200, 3)
    ws.data.add(data, name="train")
    ws.data.add(data.assign(b=data["a"] * 2), name="train_b")
    ws.models.register(str(ws.run("train.py:train").id), "trend")
    ws.models.register(str(ws.run("train_b.py:train").id), "trend")
    ws.models.promote("trend", 1, force=True, reason="test")
    ws.models.promote("trend", 2, "challenger", force=True, reason="test")
    proc, url = start_server(ws.root, "trend@champion", "--canary", "trend@challenger=50%")
    b = {"name": "b", "shape": [1], "datatype": "FP64", "data": [4.0]}
    with_b = v2_request()
    with_b["inputs"].append(b)
    try:
        with httpx.Client() as client:
            meta = {
                v: [
                    i["name"]
                    for i in client.get(f"{url}/v2/models/trend/versions/{v}").json()["inputs"]
                ]
                for v in ("1", "2")
            }
            assert meta == {"1": ["a", "color"], "2": ["a", "color", "b"]}
            for version, body in (("1", v2_request()), ("2", with_b)):
                got = client.post(f"{url}/v2/models/trend/versions/{version}/infer", json=body)
                assert got.status_code == 200 and got.json()["model_version"] == version, got.text
            wrong = client.post(f"{url}/v2/models/trend/versions/1/infer", json=with_b)
            assert wrong.status_code == 400 and "'b'" in wrong.json()["error"], wrong.text
            wrong = client.post(f"{url}/v2/models/trend/versions/2/infer", json=v2_request())
            assert wrong.status_code == 400 and "'b' is missing" in wrong.json()["error"]
            # unversioned: each key's arm checks the request against its own inputs
            for i in range(40):
                key = {"X-Canary-Key": f"inputs-{i}"}
                version = client.post(
                    f"{url}/predict/trend", json={"a": 1.0, "color": "red", "b": 2.0}, headers=key
                ).json()["version"]
                got = client.post(
                    f"{url}/v2/models/trend/infer",
                    json=with_b if version == 2 else v2_request(),
                    headers=key,
                )
                assert got.status_code == 200, got.text
                assert got.json()["model_version"] == str(version)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
