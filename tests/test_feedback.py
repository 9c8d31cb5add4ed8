"""Feedback that is checked, through a real `rung serve` on 127.0.0.1, on each backend.

One model name holds four versions of different kinds — string classes ``["no", "yes"]``,
integer classes ``[0, 1]``, boolean classes ``[false, true]`` and a regressor — and the alias
moves across them while requests are answered, so each request is answered by a version of
another kind. Every label is then checked against the version that answered *its* request:

* a hypothesis strategy of label values (JSON scalars and non-scalars, numbers, booleans,
  ``"NaN"``/``"inf"`` strings, class look-alikes such as ``"1"`` for ``1``, case and space
  variants) against each kind, with an oracle of what fits;
* the multi-row rules (``label`` without ``row``, ``labels`` of the wrong length, rows past
  the request, a row twice in one body, nulls in ``labels``);
* the duplicate rule (the latest wins, ``replaced`` in the answer, ``corrections`` stored,
  ``rung monitor`` counting each row once and saying how many were corrected), under
  concurrent calls;
* unknown and failed request ids.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import rung_cli, start_server
from model_project import frame
from rung.core.hashing import canonical_json

KINDS = textwrap.dedent(
    """
    import rung
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    @rung.step
    def fit(frame, kind: str = "str"):
        prep = make_column_transformer((OneHotEncoder(), ["color"]), remainder="passthrough")
        x = frame[["a", "color"]]
        if kind == "reg":
            return make_pipeline(prep, LinearRegression()).fit(x, frame["a"] * 2.0 + 1.0)
        yes = frame["y"] == "yes"
        y = {"str": frame["y"], "int": yes.astype(int), "bool": yes}[kind]
        return make_pipeline(prep, LogisticRegression()).fit(x, y)

    @rung.pipeline
    def train(kind: str = "str"):
        return fit(rung.dataset("train"), kind=kind)
    """
)
VERSIONS = {"str": 1, "int": 2, "bool": 3, "reg": 4}
ROW = {"a": 0.3, "color": "red"}
ROWS3 = {"records": [ROW, {"a": -2.0, "color": "blue"}, {"a": 2.0, "color": "red"}]}


def fits(kind: str, value: Any) -> Any:
    """The oracle: the label stored for ``value`` sent to a version of ``kind``, or
    ``_REFUSED``."""
    if isinstance(value, bool):
        return value if kind == "bool" else _REFUSED
    if isinstance(value, int | float):
        if kind == "reg":  # a finite number in the range rung accepts; integers kept exact
            return value if abs(value) <= 1e100 and math.isfinite(float(value)) else _REFUSED
        if kind == "int" and value in (0, 1):
            return int(value)
        return _REFUSED
    if isinstance(value, str):
        return value if kind == "str" and value in ("no", "yes") else _REFUSED
    return _REFUSED  # null, lists, objects


_REFUSED = object()

LOOK_ALIKES = [
    "yes", "no", "Yes", " yes", "YES", "yes ", "no\n", "1", "0", "1.0", "0.0", " 1",
    "true", "True", "false", "FALSE", "NaN", "nan", "inf", "-Infinity", "3.5", "", "not-a-class",
]  # fmt: skip
LABELS = st.one_of(
    st.sampled_from(LOOK_ALIKES),
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0.0, 1.0, -0.0, 0.5, 1.5, 2.0**53, 1e308, -1e-300, 1e100, 1.5e100, 5e-324]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.lists(st.sampled_from(["yes", 1, True, None]), max_size=2),
    st.dictionaries(st.sampled_from(["nested", "yes"]), st.lists(st.integers(), max_size=2)),
)


@pytest.fixture
def kinds(ws):  # type: ignore[no-untyped-def]
    """The four versions of "m" registered, one one-row and one three-row request answered by
    each (the alias moved between them), and the service left on the regressor."""
    (ws.root / "train.py").write_text(KINDS)
    ws.data.add(frame(200, 1), name="train")
    for kind, version in VERSIONS.items():
        run = ws.run("train.py:train", {"kind": kind})
        assert ws.models.register(str(run.id), "m").version == version
    ws.models.promote("m", 1, force=True, reason="test")
    proc, url = start_server(ws.root, "m@champion", "--poll", "0.1")
    requests: dict[str, dict[str, Any]] = {}
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            for kind, version in VERSIONS.items():
                ws.models.promote("m", version, force=True, reason="test")
                deadline = time.monotonic() + 60
                while http.post("/predict", json=ROW).json()["version"] != version:
                    assert time.monotonic() < deadline, "the service did not follow its alias"
                    time.sleep(0.1)
                one = http.post("/predict", json=ROW).json()
                three = http.post("/predict", json=ROWS3).json()
                assert one["version"] == three["version"] == version
                requests[kind] = {"one": one, "three": three}
        yield ws, url, requests
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def stored(ws: Any, request_id: str) -> dict[int, tuple[Any, int]]:
    with ws.store.read() as tx:
        rows = tx.all(
            'SELECT "row", label, corrections FROM feedback WHERE request_id = :r',
            {"r": request_id},
        )
    return {r["row"]: (json.loads(r["label"]), r["corrections"]) for r in rows}


def count(ws: Any) -> int:
    with ws.store.read() as tx:
        return int(tx.scalar("SELECT COUNT(*) FROM feedback"))


def test_labels_fit_the_version_that_answered(kinds) -> None:  # type: ignore[no-untyped-def]
    ws, url, requests = kinds
    classes = {v.version: (v.signature or {}).get("classes") for v in ws.models.list()}
    assert classes == {1: ["no", "yes"], 2: [0, 1], 3: [False, True], 4: None}

    with httpx.Client(base_url=url, timeout=30) as http:

        @settings(
            max_examples=60,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(kind=st.sampled_from(sorted(VERSIONS)), value=LABELS)
        def check(kind: str, value: Any) -> None:
            rid = requests[kind]["one"]["request_id"]
            before = stored(ws, rid)
            r = http.post("/feedback", json={"request_id": rid, "label": value})
            want = fits(kind, value)
            if want is _REFUSED:
                assert r.status_code == 422, (kind, value, r.text)
                error = r.json()["error"]
                assert set(error) == {"type", "message", "hint", "fields"}
                assert error["fields"][0]["loc"] == ["feedback", 0, "label"]
                assert "\n" not in error["message"]
                if kind in ("str", "int", "bool") and _scalar(value) and value is not None:
                    assert f"is not a class of m@{VERSIONS[kind]}" in error["message"]
                    assert "its classes: [" in error["message"]
                assert stored(ws, rid) == before  # nothing stored on a refusal
                return
            assert r.status_code == 200, (kind, value, r.text)
            label, corrections = stored(ws, rid)[0]
            assert label == want and type(label) is type(want)
            prior = before.get(0)
            changed = prior is not None and canonical_json(prior[0]) != canonical_json(want)
            assert r.json() == {"accepted": 1, "replaced": int(changed)}
            assert corrections == (prior[1] if prior else 0) + changed

        check()

        # the examples of the issue, for a model whose classes are ["no", "yes"]
        rid = requests["str"]["one"]["request_id"]
        for value in ({"nested": [1, 2]}, 3.14, None, True, ["yes"], "not-a-class"):
            r = http.post("/feedback", json={"request_id": rid, "label": value})
            assert r.status_code == 422, (value, r.text)
        r = http.post("/feedback", json={"request_id": rid, "label": "Yes"})
        message = r.json()["error"]["message"]
        assert message == (
            'invalid feedback at feedback.0.label: "Yes" is not a class of m@1'
            ' (its classes: ["no", "yes"]); did you mean "yes", a string?'
        )
        r = http.post(
            "/feedback", json={"request_id": requests["int"]["one"]["request_id"], "label": "1"}
        )
        assert "did you mean 1, a number?" in r.json()["error"]["message"]
        r = http.post(
            "/feedback", json={"request_id": requests["reg"]["one"]["request_id"], "label": "3.5"}
        )
        assert "is not a finite number, and m@4 is a regressor (send 3.5 unquoted)" in r.text


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def test_many_classes_are_listed_up_to_twenty() -> None:
    from rung.serving.labels import target

    many = target("m@1", {"classes": [f"c{i}" for i in range(1000)]}, [])
    fits_, why = many.check("c1000")
    assert not fits_ and why.endswith('"c19", … 980 more (1000 classes)])')
    assert many.check("c999") == (True, "c999")
    unknown = target("m@2", None, ["a", "b"])  # classes not recorded: judged by its answers
    assert unknown.check("z") == (True, "z") and not unknown.check(1)[0]
    assert not target("m@3", None, [1.5]).check("1.5")[0]


def test_multi_row_requests_need_one_label_per_row_or_a_row(kinds) -> None:  # type: ignore[no-untyped-def]
    ws, url, requests = kinds
    rid = requests["str"]["three"]["request_id"]
    cases: list[tuple[dict[str, Any], list[Any], str]] = [
        ({"label": "yes"}, ["feedback", 0, "label"], "predicted 3 rows: one label without a row"),
        ({"labels": ["yes", "no"]}, ["feedback", 0, "labels"], "2 label(s) for request"),
        ({"labels": ["yes"] * 4}, ["feedback", 0, "labels"], "which predicted 3 row(s)"),
        ({"row": 1, "labels": ["yes"] * 3}, ["feedback", 0, "row"], "got a label for row 3"),
        ({"row": 3, "label": "yes"}, ["feedback", 0, "row"], "got a label for row 3"),
        ({"labels": ["yes", "maybe", "no"]}, ["feedback", 0, "labels", 1], '"maybe" is not'),
        ({"label": "yes", "labels": ["yes"] * 3}, ["feedback", 0, "label"], "not both"),
    ]
    with httpx.Client(base_url=url, timeout=30) as http:
        for entry, loc, words in cases:
            r = http.post("/feedback", json={"request_id": rid, **entry})
            assert r.status_code == 422, (entry, r.text)
            assert r.json()["error"]["fields"][0]["loc"] == loc, entry
            assert words in r.json()["error"]["message"], r.text
        twice = {
            "feedback": [
                {"request_id": rid, "row": 2, "label": "yes"},
                {"request_id": rid, "labels": ["no", None, "no"]},
            ]
        }
        r = http.post("/feedback", json=twice)
        assert r.status_code == 422 and "labelled twice in one body" in r.text
        assert r.json()["error"]["fields"][0]["loc"] == ["feedback", 1, "labels", 2]
        assert count(ws) == 0

        # a null in "labels" is a row not known yet; "row" picks one row
        r = http.post("/feedback", json={"request_id": rid, "labels": ["yes", None, "no"]})
        assert r.json() == {"accepted": 2, "replaced": 0}
        r = http.post("/feedback", json={"request_id": rid, "row": 1, "label": "no"})
        assert r.json() == {"accepted": 1, "replaced": 0}
        r = http.post("/feedback", json={"request_id": rid, "row": 1, "labels": ["yes", "yes"]})
        assert r.json() == {"accepted": 2, "replaced": 2}
        assert stored(ws, rid) == {0: ("yes", 0), 1: ("yes", 1), 2: ("yes", 1)}
        # a one-row request takes a bare label; null alone is not a label
        one = requests["bool"]["one"]["request_id"]
        assert http.post("/feedback", json={"request_id": one, "label": True}).status_code == 200
        r = http.post("/feedback", json={"request_id": one, "label": None})
        assert r.status_code == 422 and "null is not a label" in r.text


def test_unknown_and_failed_request_ids(kinds) -> None:  # type: ignore[no-untyped-def]
    ws, url, _ = kinds
    with httpx.Client(base_url=url, timeout=30) as http:
        r = http.post("/feedback", json={"request_id": "nope", "label": 1.0})
        assert r.status_code == 404 and r.json()["error"]["type"] == "NotFound"
        assert "no prediction with request id 'nope'" in r.json()["error"]["message"]
        bad = http.post("/predict", json={"a": "x", "color": "red"}, headers={"X-Request-ID": "f1"})
        assert bad.status_code == 422
        failed = bad.headers["x-request-id"]  # the server's id, whatever the client sent
        assert failed != "f1" and bad.headers["x-correlation-id"] == "f1"
        deadline = time.monotonic() + 30  # a failed request is logged after its answer
        while not _logged(ws, failed):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        r = http.post("/feedback", json={"request_id": failed, "label": 1.0})
        assert r.status_code == 422 and f"request '{failed}' failed (status 422)" in r.text
        # a client reusing its own id makes two requests with two ids: no ambiguity
        ok = http.post("/predict", json=ROW, headers={"X-Request-ID": "f1"}).json()
        assert ok["version"] == 4 and ok["request_id"] not in ("f1", failed)
        assert http.post("/feedback", json={"request_id": "f1", "label": 1.0}).status_code == 404
        r = http.post("/feedback", json={"request_id": ok["request_id"], "label": 1.0})
        assert r.status_code == 200
        again = {"a": 5.0, "color": "blue"}
        second = http.post("/predict", json=again, headers={"X-Request-ID": "f1"}).json()
        assert second["request_id"] != ok["request_id"]
        assert http.post(
            "/feedback", json={"request_id": second["request_id"], "label": 11.0}
        ).json() == {"accepted": 1, "replaced": 0}
    assert count(ws) == 2
    from rung.monitoring.performance import labelled_rows

    rows = labelled_rows(ws.store, "m", 10, "y")
    assert sorted(rows[["a", "y"]].to_dict("records"), key=str) == sorted(
        [{"a": 0.3, "y": 1.0}, {"a": 5.0, "y": 11.0}], key=str
    )


def _logged(ws: Any, request_id: str) -> bool:
    with ws.store.read() as tx:
        return bool(
            tx.scalar("SELECT COUNT(*) FROM predictions WHERE request_id = :r", {"r": request_id})
        )


def test_the_latest_label_wins_under_concurrent_calls(kinds) -> None:  # type: ignore[no-untyped-def]
    ws, url, requests = kinds
    rid = requests["str"]["three"]["request_id"]
    answers: list[dict[str, Any]] = []
    failures: list[str] = []

    def send(labels: list[str]) -> None:
        try:
            with httpx.Client(base_url=url, timeout=60) as http:
                for _ in range(6):
                    r = http.post("/feedback", json={"request_id": rid, "labels": labels})
                    if r.status_code != 200:
                        failures.append(r.text)
                    else:
                        answers.append(r.json())
        except Exception as exc:
            failures.append(repr(exc))

    senders = [
        threading.Thread(target=send, args=(labels,))
        for labels in (["yes", "no", "yes"], ["no", "no", "yes"], ["yes", "yes", "no"])
    ]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    assert failures == [] and len(answers) == 18
    rows = stored(ws, rid)
    assert sorted(rows) == [0, 1, 2]  # one label per row, however many calls
    with ws.store.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM feedback WHERE request_id = :r", {"r": rid}) == 3
    # every answer counted exactly what it replaced: the rows' corrections add up to it
    assert sum(a["replaced"] for a in answers) == sum(c for _, c in rows.values())
    assert all(a["accepted"] == 3 for a in answers)

    from rung.monitoring.performance import live_performance

    perf = live_performance(ws.store, "m")
    assert perf["labelled"] == 3  # each (request, row) once
    assert perf["corrected"] == sum(1 for _, c in rows.values() if c)


def test_rung_monitor_says_how_many_labels_were_corrected(served_on_each_backend) -> None:  # type: ignore[no-untyped-def]
    ws, url = served_on_each_backend
    with httpx.Client(base_url=url, timeout=30) as http:
        batch = http.post("/predict", json=ROWS3).json()
        rid = batch["request_id"]
        assert http.post("/feedback", json={"request_id": rid, "labels": ["yes"] * 3}).json() == {
            "accepted": 3,
            "replaced": 0,
        }
        again = http.post("/feedback", json={"request_id": rid, "labels": ["yes", "no", "yes"]})
        assert again.json() == {"accepted": 3, "replaced": 1}
        retry = http.post("/feedback", json={"request_id": rid, "labels": ["yes", "no", "yes"]})
        assert retry.json() == {"accepted": 3, "replaced": 0}  # the same labels: nothing new
    shown = rung_cli("monitor", "trend@champion", "--window", "1d", cwd=ws.root)
    assert shown.returncode == 0, shown.stderr
    line = next(x for x in shown.stdout.splitlines() if x.startswith("live performance"))
    assert "on 3 labelled rows of 3, 1 corrected" in line, line


def test_a_feedback_file_is_checked_and_named_by_its_line(sqlite_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from model_project import TRAIN

    ws = sqlite_ws
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(200, 1), name="train")
    ws.models.register(str(ws.run("train.py:train").id), "trend")
    ws.models.promote("trend", 1, force=True, reason="test")
    source = tmp_path / "in.csv"
    frame(5, 2).drop(columns=["y"]).to_csv(source, index=False)
    scored = tmp_path / "scored.csv"
    done = rung_cli("predict", "trend@champion", "-i", str(source), "-o", str(scored), cwd=ws.root)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(scored)
    table["y"] = ["yes", "no", "Yes", None, "no"]
    table.to_csv(tmp_path / "labels.csv", index=False)
    cli = rung_cli("feedback", str(tmp_path / "labels.csv"), "--label", "y", cwd=ws.root)
    assert cli.returncode == 1
    assert cli.stderr.startswith(
        f'error: {str(tmp_path / "labels.csv")!r} line 4: "Yes" is not a class of trend@1'
    ), cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1 and count(ws) == 0
    table["y"] = ["yes", "no", "yes", None, "no"]
    table.to_csv(tmp_path / "labels.csv", index=False)
    cli = rung_cli("feedback", str(tmp_path / "labels.csv"), "--label", "y", cwd=ws.root)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.strip() == "4 label(s) recorded, 1 row(s) without a label left out"
    table["y"] = ["no", "no", "yes", None, "no"]
    table.to_csv(tmp_path / "labels.csv", index=False)
    cli = rung_cli("feedback", str(tmp_path / "labels.csv"), "--label", "y", cwd=ws.root)
    assert cli.stdout.strip() == (
        "4 label(s) recorded, 1 replacing an earlier label, 1 row(s) without a label left out"
    )
    assert count(ws) == 4


def test_the_migration_folds_duplicate_labels(store_url: str) -> None:
    """A store at 0010 holding a row labelled three times ("a", "b", "b") and another once
    migrates to one label per row: the latest, with the changes counted."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from rung.store.metadata import MetadataStore

    engine = create_engine(store_url)
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", "rung.store:migrations")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0010")
        for rid, row, label in [("r", 0, '"a"'), ("r", 0, '"b"'), ("s", 1, '"x"'), ("r", 0, '"b"')]:
            conn.execute(
                text('INSERT INTO feedback (request_id, "row", label, at) VALUES (:r, :w, :l, 0)'),
                {"r": rid, "w": row, "l": label},
            )
    engine.dispose()
    store = MetadataStore(store_url)
    try:
        with store.read() as tx:
            rows = tx.all(
                'SELECT id, request_id, "row", label, corrections FROM feedback ORDER BY id'
            )
    finally:
        store.close()
    assert [(r["request_id"], r["label"], r["corrections"]) for r in rows] == [
        ("s", '"x"', 0),
        ("r", '"b"', 1),
    ]
    assert rows[-1]["id"] == 4  # the latest row is the one kept


@pytest.mark.parametrize(
    ("classes", "predicts", "cells"),
    [
        (["0", "1"], [], {"1": "1", "0": "0", "1.0": None, " 1": None, "yes": None}),
        ([0, 1], [], {"1": 1, "1.0": 1, "0": 0, "2": None, "True": None, "one": None}),
        ([False, True], [], {"True": True, "true": True, "False": False, "1": None}),
        (["no", "yes"], [], {"yes": "yes", "Yes": None, " yes": None, "true": None}),
        (None, [1.5], {"3.5": 3.5, "3": 3, "-0.25": -0.25, "inf": None, "x": None, "": None}),
        (None, [True], {"true": True, "FALSE": False, "1": None}),
        (None, ["a"], {"anything": "anything"}),
    ],
)
def test_csv_cells_are_read_as_the_class_or_number_they_spell(
    classes: Any, predicts: list[Any], cells: dict[str, Any]
) -> None:
    """A CSV cell has no type: ``"1"`` is the class ``1`` of an integer classifier and the
    class ``"1"`` of a string one, as `rung feedback labels.csv` reads it; case and spaces
    still matter."""
    from rung.serving.labels import target

    t = target("m@1", None if classes is None else {"classes": classes}, predicts)
    for cell, want in cells.items():
        fits_, got = t.read(cell)
        if want is None:
            assert not fits_, (cell, got)
        else:
            assert fits_ and got == want and type(got) is type(want), (cell, got)


def test_a_corrected_label_is_the_newest_feedback(ws) -> None:  # type: ignore[no-untyped-def]
    """A replaced label gets an id above every earlier one — on SQLite too, which would reuse
    the highest rowid once deleted — so that automation's performance trigger (the newest
    feedback id) sees a correction."""
    from model_project import log_served
    from rung.serving.feedback import record

    ((rid, _),) = log_served(ws.store, [frame(2, 1)])  # "trend"@1, not registered: strings
    assert record(ws.store, {"request_id": rid, "labels": ["yes", "yes"]})["replaced"] == 0

    def newest() -> int:
        with ws.store.read() as tx:
            return int(tx.scalar("SELECT MAX(id) FROM feedback"))

    for label in ("no", "yes", "no"):
        before = newest()
        answer = record(ws.store, {"request_id": rid, "row": 1, "label": label})
        assert answer == {"accepted": 1, "replaced": 1} and newest() > before
    assert stored(ws, rid) == {0: ("yes", 0), 1: ("no", 3)}
    assert record(ws.store, {"request_id": rid, "row": 1, "label": "no"})["replaced"] == 0
    with pytest.raises(Exception, match="is a number; trend@1 predicts strings"):
        record(ws.store, {"request_id": rid, "row": 0, "label": 1})


def _label(kind: str, prediction: Any, right: bool) -> Any:
    """A label of ``kind`` equal to ``prediction`` (``right``) or wrong by far."""
    if right:
        return prediction
    if kind == "str":
        return {"yes": "no", "no": "yes"}[prediction]
    if kind == "reg":
        return float(prediction) + 100.0
    return not prediction if kind == "bool" else 1 - int(prediction)


def test_live_performance_counts_only_the_rows_the_version_answered(kinds) -> None:  # type: ignore[no-untyped-def]
    """After a promotion, the late labels of the previous versions' answers are not the new
    champion's errors (peer report: evidently#50's kind, a window mixing versions). For each
    version judged in turn, its own rows are labelled right and every other version's wrong:
    its live metrics are perfect, whatever the others did, and `rung monitor` says how many
    rows it left out."""
    ws, url, requests = kinds
    by_version = {VERSIONS[k]: k for k in VERSIONS}
    with httpx.Client(base_url=url, timeout=30) as http:
        for judged, judged_kind in by_version.items():
            for kind, answers in requests.items():
                for answer in answers.values():
                    labels = [
                        _label(kind, p, VERSIONS[kind] == judged) for p in answer["predictions"]
                    ]
                    sent = http.post(
                        "/feedback", json={"request_id": answer["request_id"], "labels": labels}
                    )
                    assert sent.status_code == 200, sent.text
            report = ws.monitor.check(f"m@{judged}", "1d", save=False)
            perf = report["performance"]
            # the fixture's polls while the alias moved are answered and left unlabelled
            assert perf["labelled"] == 4 and perf["other_versions"] >= 12, perf
            assert report["rows"] == perf["rows"] + perf["other_versions"]
            if judged_kind == "reg":
                assert perf["mae"] < 1e-6, perf
            else:
                assert perf["accuracy"] == 1.0, perf
    shown = rung_cli("monitor", "m@4", "--window", "1d", "--no-save", cwd=ws.root)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"; \d+ rows answered by other versions are not counted", shown.stdout)
