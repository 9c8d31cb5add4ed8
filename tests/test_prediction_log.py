"""One format for the prediction log, whoever writes it: the service's records and batch
scoring's read back the same way; a malformed record is named and left out, never a crash;
batch predictions carry their request ids, and labels go back for them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import rung_cli
from model_project import TRAIN, frame, in_fifties, log_served
from rung.core import predlog
from rung.core.errors import InvalidInput, NotFound

pytest.importorskip("sklearn")


def _champion(ws: Any) -> None:
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(600, 1), name="train")
    ws.models.register(str(ws.run("train.py:train").id), "trend")
    ws.models.promote("trend", 1, force=True, reason="test")


def _insert(ws: Any, **fields: Any) -> int:
    """A row written into the predictions table with SQL, bypassing every writer of rung."""
    row = {
        "request_id": f"bad-{time.time_ns()}",
        "model": "trend",
        "version": 1,
        "rows": 2,
        "inputs": json.dumps({"a": [1.0, 2.0], "color": ["red", "blue"]}),
        "outputs": json.dumps({"predictions": ["yes", "no"]}),
        "latency_ms": 1.0,
        "status": 200,
        "at": time.time(),
        **fields,
    }
    with ws.store.write() as tx:
        return int(tx.insert("predictions", row))


# every way a record can break the format, and the words that name it
MALFORMED = [
    (
        {"inputs": json.dumps([{"a": 1.0, "color": "red"}, {"a": 2.0, "color": "blue"}])},
        "not columns",
    ),
    ({"inputs": "{not json"}, "inputs are not JSON"),
    ({"inputs": json.dumps({"a": [1.0], "color": ["red", "blue"]})}, "holds 1 values for 2 rows"),
    ({"inputs": json.dumps({"a": 5, "color": ["red", "blue"]})}, "'a' holds a number"),
    ({"outputs": json.dumps({"predictions": ["yes"]})}, "1 predictions for 2 rows"),
    ({"outputs": json.dumps(["yes", "no"])}, "no list of predictions"),
    ({"outputs": "null"}, "no list of predictions"),
    # values that are not JSON scalars (null, boolean, number, string)
    (
        {"inputs": json.dumps({"a": [{"hue": 1}, 2.0], "color": ["red", "blue"]})},
        "column 'a': row 0 is a JSON object",
    ),
    (
        {"inputs": json.dumps({"a": [1.0, 2.0], "color": ["red", ["blue"]]})},
        "column 'color': row 1 is a JSON list",
    ),
    (
        {"outputs": json.dumps({"predictions": [{"label": "yes"}, "no"]})},
        "predictions: row 0 is a JSON object",
    ),
]

# JSON values of every shape: scalars, and lists and objects nesting them
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


@settings(max_examples=200, deadline=None)
@given(a=st.lists(JSON, min_size=2, max_size=2), predictions=st.lists(JSON, min_size=2, max_size=2))
def test_any_json_value_is_read_as_a_value_or_refused_naming_the_record(
    a: list[Any], predictions: list[Any]
) -> None:
    """Whatever JSON a record holds in a column or as a prediction, the reader either returns
    it (every value a scalar) or refuses the record in one line; the drift accumulators then
    count what it returned, of whatever kind, without raising."""
    from rung.core.drift import (
        CategoricalReference,
        CategoricalWindow,
        NumericReference,
        NumericWindow,
    )

    row = {
        "id": 9,
        "request_id": "r",
        "rows": 2,
        "status": 200,
        "inputs": json.dumps({"a": a}),
        "outputs": json.dumps({"predictions": predictions}),
    }
    try:
        inputs, outputs = predlog.inputs_of(row), predlog.outputs_of(row)
    except predlog.MalformedRecord as exc:
        assert "record 9 (request 'r')" in exc.message and "\n" not in str(exc)
        assert not all(_scalar(v) for v in [*a, *predictions])
        return
    assert all(_scalar(v) for v in [*a, *predictions]) and outputs is not None
    for values in (inputs["a"], outputs["predictions"]):
        numeric = NumericWindow(NumericReference.of([1.0, 2.0, 3.0]))
        numeric.add(values)  # a value that is not a number counts as a null
        assert numeric.n + numeric.nulls == 2
        stamps = NumericWindow(NumericReference.of(["2020-01-01"], measure="epoch_seconds"))
        stamps.add(values)
        assert stamps.n + stamps.nulls == 2
        categories = CategoricalWindow(CategoricalReference.of(["red", "blue"]))
        categories.add(values)
        assert categories.n + categories.nulls == 2


def test_a_value_of_the_wrong_kind_in_a_numeric_feature_counts_as_null() -> None:
    from rung.core.drift import NumericReference, NumericWindow

    window = NumericWindow(NumericReference.of([1.0, 2.0, 3.0]))
    window.add([1.0, "abc", "2.5", True, None, "", 3])
    assert (window.n, window.nulls) == (4, 3)  # 1.0, 2.5, True as 1, 3; "abc", None, ""


@pytest.mark.parametrize(("fields", "why"), MALFORMED)
def test_the_reader_names_each_kind_of_malformed_record(fields: dict[str, Any], why: str) -> None:
    row = {"id": 7, "request_id": "r", "rows": 2, "status": 200, **fields}
    row.setdefault("inputs", json.dumps({"a": [1.0, 2.0]}))
    row.setdefault("outputs", json.dumps({"predictions": [1, 2]}))
    with pytest.raises(predlog.MalformedRecord, match="record 7 \\(request 'r'\\)") as caught:
        predlog.inputs_of(row)
        predlog.outputs_of(row)
    assert why in caught.value.message and "\n" not in str(caught.value)


def test_the_builder_keeps_columns_and_refuses_what_does_not_add_up() -> None:
    x = pd.DataFrame({"a": [1.0, 2.0], "color": ["red", "blue"]})
    from_frame = predlog.record(
        request_id="r",
        model="m",
        version=1,
        inputs=x,
        outputs={"predictions": [0, 1]},
        latency_ms=1,
    )
    from_columns = predlog.record(
        request_id="r",
        model="m",
        version=1,
        inputs={"a": [1.0, 2.0], "color": ["red", "blue"]},
        outputs={"predictions": [0, 1]},
        latency_ms=1,
        at=from_frame["at"],
    )
    assert from_frame == from_columns and from_frame["rows"] == 2
    failed = predlog.record(
        request_id="r",
        model="m",
        version=1,
        inputs=x,
        outputs={"error": "E"},
        latency_ms=1,
        status=422,
    )
    assert failed["rows"] == 0 and failed["inputs"] == {}
    with pytest.raises(ValueError, match="1 predictions for 2 rows"):
        predlog.record(
            request_id="r",
            model="m",
            version=1,
            inputs=x,
            outputs={"predictions": [0]},
            latency_ms=1,
        )


def test_batch_and_service_records_in_one_window_and_a_malformed_one(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from rung.serving.batch import score_file

    _champion(ws)
    source = tmp_path / "in.csv"
    frame(250, 5).drop(columns=["y"]).to_csv(source, index=False)
    summary = score_file(ws, "trend@champion", source, tmp_path / "out.csv", chunk=100)
    log_served(ws.store, in_fifties(frame(200, 6)))
    bad = [_insert(ws, **fields) for fields, _ in MALFORMED]
    log_served(ws.store, in_fifties(frame(100, 7)))
    with ws.store.read() as tx:  # the batch chunks are columns, like the service's records
        logged = tx.all("SELECT request_id, rows, inputs FROM predictions ORDER BY id LIMIT 3")
    assert [r["request_id"] for r in logged] == summary["request_ids"]
    assert set(json.loads(logged[0]["inputs"])) == {"a", "color"}

    report = ws.monitor.check("trend@champion", "1d")
    assert report is not None
    assert report["skipped"]["records"] == len(MALFORMED) and report["skipped"]["ids"] == bad
    assert f"prediction log record {bad[0]}" in report["skipped"]["first"]
    assert report["features"]["a"]["rows"] == 550  # 250 batch + 300 service rows
    assert report["performance"]["rows"] == 550
    bad_outputs = sum("outputs" in fields for fields, _ in MALFORMED)  # all it reads
    assert ws.monitor.windows("trend")[-1]["performance"]["skipped"]["records"] == bad_outputs

    from rung.monitoring.performance import labelled_rows
    from rung.serving.feedback import record

    record(ws.store, {"request_id": summary["request_ids"][0], "row": 0, "labels": ["yes", "no"]})
    with ws.store.read() as tx:
        bad_request = tx.scalar("SELECT request_id FROM predictions WHERE id = :i", {"i": bad[0]})
    record(ws.store, {"request_id": bad_request, "labels": ["yes", "no"]})
    rows = labelled_rows(ws.store, "trend", 10, "y")
    assert len(rows) == 2 and rows.attrs["skipped"]["ids"] == [bad[0]]


def test_monitor_and_automate_tick_name_the_malformed_record(sqlite_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    _champion(ws)
    (ws.root / "rung.toml").write_text(
        '[eval]\nlabel = "y"\n\n[automate]\nmodel = "trend"\nalias = "champion"\n'
        'pipeline = "train.py:train"\ndatasets = ["train@1"]\n\n'
        '[[automate.triggers]]\nkind = "drift"\nwindow = "1d"\n'
    )
    source = tmp_path / "in.csv"
    frame(120, 5).drop(columns=["y"]).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    assert (
        rung_cli(
            "predict", "trend@champion", "-i", str(source), "-o", str(out), cwd=ws.root
        ).returncode
        == 0
    )
    # a record in the list-of-records shape the batch writer used to log
    bad = _insert(ws, inputs=json.dumps([{"a": 1.0, "color": "red"}, {"a": 2.0, "color": "red"}]))
    seen = rung_cli("monitor", "trend@champion", "--window", "1d", cwd=ws.root)
    assert seen.returncode == 0, seen.stderr
    assert "Traceback" not in seen.stderr
    assert f"1 malformed log record(s) left out (ids {bad})" in seen.stdout
    assert f"prediction log record {bad}" in seen.stdout
    log_served(ws.store, in_fifties(frame(100, 8)))  # something new for the drift trigger
    tick = rung_cli("automate", "tick", cwd=ws.root)
    assert tick.returncode == 0, tick.stderr
    assert "Traceback" not in tick.stderr + tick.stdout
    assert f"prediction log record {bad} (request 'bad-" in tick.stderr, tick.stderr


def test_records_holding_values_of_the_wrong_kind_never_stop_monitor_or_tick(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    """The tester's examples: a dict in an input column, a dict prediction (malformed: named
    and left out), and a non-numeric string in a numeric feature (a well-formed record whose
    value counts as null), through the real CLI."""
    ws = sqlite_ws
    _champion(ws)
    (ws.root / "rung.toml").write_text(
        '[eval]\nlabel = "y"\n\n[automate]\nmodel = "trend"\nalias = "champion"\n'
        'pipeline = "train.py:train"\ndatasets = ["train@1"]\n\n'
        '[[automate.triggers]]\nkind = "drift"\nwindow = "1d"\n'
    )
    log_served(ws.store, in_fifties(frame(100, 8)))
    bad = [
        _insert(ws, inputs=json.dumps({"a": [1.0, 2.0], "color": [{"hue": "red"}, "blue"]})),
        _insert(ws, outputs=json.dumps({"predictions": [{"p": 1}, "no"]})),
        _insert(ws, inputs=json.dumps({"a": [[1.0], 2.0], "color": ["red", "blue"]})),
    ]
    _insert(ws, inputs=json.dumps({"a": ["abc", 2.0], "color": [7, True]}))  # well formed
    seen = rung_cli("monitor", "trend@champion", "--window", "1d", "--json", cwd=ws.root)
    assert seen.returncode == 0 and "Traceback" not in seen.stderr, seen.stderr
    report = json.loads(seen.stdout)
    assert report["skipped"]["records"] == 3 and report["skipped"]["ids"] == bad
    assert (report["features"]["a"]["rows"], report["features"]["a"]["nulls"]) == (101, 1)
    text = rung_cli("monitor", "trend@champion", "--window", "1d", cwd=ws.root)
    assert text.returncode == 0 and "Traceback" not in text.stderr, text.stderr
    assert f"3 malformed log record(s) left out (ids {', '.join(map(str, bad))})" in text.stdout
    log_served(ws.store, in_fifties(frame(100, 9)))  # something new for the drift trigger
    tick = rung_cli("automate", "tick", cwd=ws.root)
    assert tick.returncode == 0, tick.stderr
    assert "Traceback" not in tick.stderr + tick.stdout
    for record_id in bad[::2]:  # the drift trigger reads inputs: both input records named
        assert f"prediction log record {record_id} (request 'bad-" in tick.stderr, tick.stderr


def test_batch_predictions_get_their_labels_back_and_monitor_counts_them(
    ws, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _champion(ws)
    truth = frame(250, 5)
    source = tmp_path / "in.parquet"
    truth.drop(columns=["y"]).to_parquet(source)
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
    assert "rung feedback" in done.stdout
    scored = pd.read_csv(out)
    assert scored["request_id"].nunique() == 3
    assert scored["request_row"].tolist() == [*range(100), *range(100), *range(50)]

    # labels come back for 200 of the rows, one of them missing, in another order
    back = scored.assign(y=truth["y"]).iloc[:200].sample(frac=1, random_state=0)
    back.loc[back.index[0], "y"] = None
    back[["request_id", "request_row", "y"]].to_csv(tmp_path / "labels.csv", index=False)
    sent = rung_cli("feedback", str(tmp_path / "labels.csv"), "--label", "y", cwd=ws.root)
    assert sent.returncode == 0, sent.stderr
    assert "199 label(s) recorded, 1 row(s) without a label left out" in sent.stdout

    report = rung_cli("monitor", "trend@champion", "--window", "1d", "--json", cwd=ws.root)
    assert report.returncode == 0, report.stderr
    performance = json.loads(report.stdout)["performance"]
    labelled = back.dropna(subset=["y"])
    assert performance["rows"] == 250 and performance["labelled"] == 199
    assert performance["accuracy"] == pytest.approx(
        (labelled["prediction"] == labelled["y"]).mean()
    )


def test_feedback_files_are_refused_in_one_line(sqlite_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from rung.serving.feedback import feedback_file

    ws = sqlite_ws
    _champion(ws)
    missing = tmp_path / "missing.csv"
    pd.DataFrame({"request_id": ["x"], "y": [1]}).to_csv(missing, index=False)
    with pytest.raises(InvalidInput, match=r"lacks column\(s\) \['request_row'\]"):
        feedback_file(ws.store, missing, "y")
    unknown = tmp_path / "unknown.csv"
    pd.DataFrame({"request_id": ["nope"], "request_row": [0], "y": ["yes"]}).to_csv(
        unknown, index=False
    )
    with pytest.raises(NotFound, match="no prediction with request id 'nope'"):
        feedback_file(ws.store, unknown, "y")
    with pytest.raises(NotFound, match="no feedback file"):
        feedback_file(ws.store, tmp_path / "absent.csv", "y")
    bad_row = tmp_path / "bad_row.csv"
    pd.DataFrame({"request_id": ["x"], "request_row": [-1], "y": ["yes"]}).to_csv(
        bad_row, index=False
    )
    with pytest.raises(InvalidInput, match="bad request_row -1"):
        feedback_file(ws.store, bad_row, "y")
    with ws.store.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM feedback") == 0
    cli = rung_cli("feedback", str(unknown), "--label", "y", cwd=ws.root)
    assert cli.returncode == 1 and cli.stderr.startswith("error: no prediction with request id")


def test_null_labels_leave_their_rows_unlabelled(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    from rung.monitoring.performance import live_performance
    from rung.serving.feedback import record

    ws = sqlite_ws
    ((request_id, _),) = log_served(ws.store, [frame(4, 1)])
    answer = record(
        ws.store, {"request_id": request_id, "labels": ["yes", None, float("nan"), "no"]}
    )
    assert answer == {"accepted": 2, "replaced": 0}
    performance = live_performance(ws.store, "trend")
    assert (performance["rows"], performance["labelled"], performance["accuracy"]) == (4, 2, 0.5)
    with pytest.raises(NotFound, match="no prediction with request id 'nope'"):
        record(ws.store, {"request_id": "nope", "label": "yes"})


def test_a_reference_column_of_unhashable_values_is_counted_by_its_text() -> None:
    """A struct or list column (Parquet holds them) as a categorical reference: counted by
    each value's text, nulls apart, never ``unhashable type``."""
    from rung.core.drift import CategoricalReference, CategoricalWindow

    values = pd.Series([{"a": 1}, {"a": 1}, None, "x", [1]])
    ref = CategoricalReference.of(values)
    assert (ref.n, ref.nulls, ref.counts[ref.categories.index("{'a': 1}")]) == (4, 1, 2)
    window = CategoricalWindow(ref)
    window.add(values)
    window.add(list(values))
    assert (window.n, window.nulls) == (8, 2)


@pytest.mark.parametrize(
    "labels",
    [[["yes", "no"]] * 2, [{"x": 1}] * 2, [np.array([1, 2])] * 2],
    ids=["lists", "structs", "arrays"],
)
def test_a_feedback_file_of_non_scalar_labels_is_refused_in_one_line(  # type: ignore[no-untyped-def]
    sqlite_ws, tmp_path: Path, labels: list[Any]
) -> None:
    ws = sqlite_ws
    ((request_id, _),) = log_served(ws.store, [frame(4, 1)])
    path = tmp_path / "labels.parquet"
    pd.DataFrame({"request_id": [request_id] * 2, "request_row": [0, 1], "y": labels}).to_parquet(
        path
    )
    cli = rung_cli("feedback", str(path), "--label", "y", cwd=ws.root)
    assert cli.returncode == 1, cli.stdout
    assert cli.stderr.startswith(f"error: {str(path)!r} line 2: expected one scalar")
    assert len(cli.stderr.strip().splitlines()) == 1 and "Traceback" not in cli.stderr
    with ws.store.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM feedback") == 0
