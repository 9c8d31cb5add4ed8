"""Every rung over the awkward-frames strategy (tests/strategies.py): each one works, reporting
the same kinds as :func:`rung.core.columns.kind_of`, or refuses in one line.

Kept fast: few examples each, no deadline, one trained model shared by the module.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import rung_cli, start_server
from rung.core.columns import ColumnKind, kind_of, kinds_of
from rung.core.errors import InvalidInput, RungError
from strategies import awkward_columns, awkward_frames, json_values

FAST = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _kinds(frame: pd.DataFrame) -> dict[str, tuple[str, str | None]]:
    return {name: (k.kind, k.timezone) for name, k in kinds_of(frame).items()}


def _of_schema(columns: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {name: (c["kind"], c.get("timezone")) for name, c in columns.items()}


def _one_line_refusal(out: Any) -> None:
    """A CLI refusal: non-zero, one ``error:`` line, no traceback."""
    assert out.returncode != 0
    assert "Traceback" not in out.stderr, out.stderr
    assert [line for line in out.stderr.splitlines() if line.startswith("error:")], out.stderr


# -- data: add, show, schema, validate, diff ------------------------------------------------


@settings(FAST, max_examples=10)
@given(frame=awkward_frames())
def test_data_rungs_report_the_kinds_of_the_column_kind_model(sqlite_ws, frame) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    try:
        expected = _kinds(frame)
    except InvalidInput:  # duplicate names: refused at the boundary, nothing stored
        before = len(ws.data.list())
        with pytest.raises(InvalidInput, match="duplicate column name"):
            ws.data.add(frame, name="awk")
        assert len(ws.data.list()) == before
        return
    try:
        v = ws.data.add(frame, name="awk")
    except InvalidInput as exc:  # a column Parquet cannot hold (mixed numbers and strings)
        assert "cannot be stored as Parquet" in str(exc) and "\n" not in str(exc)
        return
    schema = ws.data.schema(v.ref)
    stored = _kinds(v.load())
    assert _of_schema(schema["columns"]) == stored
    assert _of_schema(v.schema["columns"]) == stored
    for name, (kind, zone) in expected.items():  # Parquet keeps every kind, but for an
        # object column of ints and nulls, which it reads back as floats
        assert ColumnKind(stored[name][0], timezone=stored[name][1]).accepts(
            ColumnKind(kind, timezone=zone)
        )
    assert not ws.data.validate(v.ref, schema).schema_skew
    path = ws.root / "awk.csv"
    frame.to_csv(path, index=False)
    c = ws.data.add(path, name="awk-csv")
    read_back = _kinds(pd.read_csv(path))
    assert _of_schema(c.schema["columns"]) == read_back
    assert _of_schema(ws.data.schema(c.ref)["columns"]) == read_back
    ws.data.validate(c.ref, schema)  # a report, whatever it says
    ws.data.diff(v.ref, c.ref)


@settings(FAST, max_examples=2)
@given(frame=awkward_frames(max_rows=4, max_columns=3))
def test_the_data_commands_work_or_refuse_in_one_line(sqlite_ws, frame) -> None:  # type: ignore[no-untyped-def]
    root = sqlite_ws.root
    frame.to_csv(root / "f.csv", index=False)
    try:
        frame.set_axis([str(c) for c in frame.columns], axis=1).to_parquet(root / "f.parquet")
    except (ValueError, TypeError):  # what pandas cannot write is no test of rung's
        (root / "f.parquet").unlink(missing_ok=True)
    for name in ("f.csv", "f.parquet"):
        if not (root / name).exists():
            continue
        out = rung_cli("data", "add", name, "--name", "cli", cwd=root)
        if out.returncode != 0:
            _one_line_refusal(out)
    versions = [v for v in sqlite_ws.data.list() if v.name == "cli"]
    for v in versions:
        shown = rung_cli("data", "show", v.ref, "--json", cwd=root)
        assert shown.returncode == 0, shown.stderr
        schema = rung_cli("data", "schema", v.ref, "-o", "s.json", cwd=root)
        assert schema.returncode == 0, schema.stderr
        written = json.loads((root / "s.json").read_text())["columns"]
        assert _of_schema(json.loads(shown.stdout)["schema"]["columns"]) == _of_schema(written)
        checked = rung_cli("data", "validate", v.ref, "--schema", "s.json", cwd=root)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    if len(versions) == 2:
        diff = rung_cli("data", "diff", versions[0].ref, versions[1].ref, cwd=root)
        assert diff.returncode == 0, diff.stderr


# -- a pipeline step's input and output ------------------------------------------------------

PASS = textwrap.dedent(
    """
    import rung

    from sklearn.dummy import DummyClassifier

    @rung.step
    def same(frame):
        return frame

    @rung.step
    def fit(frame):
        return DummyClassifier().fit(frame, ["p"] * len(frame))

    @rung.pipeline
    def passthrough():
        return same(rung.dataset("step-in"))

    @rung.pipeline
    def train():
        return fit(rung.dataset("step-in"))
    """
)


@settings(FAST, max_examples=3)
@given(frame=awkward_frames(duplicates=False))
def test_a_step_and_a_registered_model_keep_the_kinds_they_were_given(sqlite_ws, frame) -> None:  # type: ignore[no-untyped-def]
    from rung.pipelines import materialize

    ws = sqlite_ws
    (ws.root / "passthrough.py").write_text(PASS)
    try:
        v = ws.data.add(frame, name="step-in")
    except InvalidInput:
        return
    run = ws.run("passthrough.py:passthrough")
    (step,) = ws.runs.get(run.id)["steps"]
    (out,) = step["outputs"]
    stored = materialize.load(out["kind"], ws.artifacts.get_bytes(out["hash"]))
    assert _kinds(stored) == _kinds(v.load())
    model_run = ws.run("passthrough.py:train")
    registered = ws.models.register(str(model_run.id), "awk-step")
    assert registered.signature["features"] == list(_kinds(v.load()))
    assert _of_schema(registered.signature["columns"]) == _kinds(v.load())


# -- a trained model: register, eval, serve, predict, monitor --------------------------------

FEATURES = ["num", "cnt", "flag", "word", "size", "day", "at", "Größe.x y"]

TRAIN = textwrap.dedent(
    """
    import rung
    from sklearn.dummy import DummyClassifier

    FEATURES = FEATURE_LIST

    @rung.step
    def fit(frame):
        return DummyClassifier(strategy="most_frequent").fit(frame[FEATURES], frame["y"])

    @rung.pipeline
    def train():
        return fit(rung.dataset("awk-train"))
    """
).replace("FEATURE_LIST", repr(FEATURES))


def training_frame(n: int = 40) -> pd.DataFrame:
    k = pd.RangeIndex(n)
    return pd.DataFrame(
        {
            "num": k * 0.5,
            "cnt": pd.array([None if i % 7 == 0 else i for i in k], dtype="Int64"),
            "flag": pd.array([None if i % 5 == 0 else i % 2 == 0 for i in k], dtype="boolean"),
            "word": pd.array(
                [None if i % 6 == 0 else "red" if i % 2 else "ß" for i in k], dtype="string"
            ),
            "size": pd.Categorical(["lo", "hi"] * (n // 2), categories=["lo", "mid", "hi"]),
            "day": pd.Timestamp("2024-01-01") + pd.to_timedelta(k, unit="D"),
            "at": (pd.Timestamp("2024-01-01", tz="Europe/Paris") + pd.to_timedelta(k, unit="h")),
            "Größe.x y": [True, False] * (n // 2),
            "y": ["p", "q", "p", "p"] * (n // 4),
        }
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from rung import Workspace

    root = tmp_path_factory.mktemp("awk") / "ws"
    with Workspace.init(root) as ws:
        (root / "train.py").write_text(TRAIN)
        ws.data.add(training_frame(), name="awk-train")
        run = ws.run("train.py:train").id
        ws.models.register(str(run), "awk")
        ws.models.register(str(run), "awk-batch")  # batch scoring logs apart from the service
        yield ws


def test_the_signature_reports_the_kinds_of_the_training_data(trained) -> None:  # type: ignore[no-untyped-def]
    sig = trained.models.get("awk@1").signature
    assert sig["features"] == FEATURES
    assert _of_schema(sig["columns"]) == _kinds(training_frame()[FEATURES])
    schema = trained.data.schema("awk-train@1")["columns"]
    assert _of_schema({f: schema[f] for f in FEATURES}) == _of_schema(sig["columns"])


@settings(FAST, max_examples=40)
@given(row=st.fixed_dictionaries({f: json_values() for f in FEATURES}))
def test_any_request_is_answered_or_refused_with_its_fields(trained, row) -> None:  # type: ignore[no-untyped-def]
    from rung.serving.payload import PayloadError, check, frame_of
    from rung.serving.predictor import compute, ready

    version, model = trained.models.load("awk@1")
    held = ready("awk", 1, model, version.signature)
    try:
        columns, _ = check({"records": [row, row]}, version.signature)
    except PayloadError as exc:
        assert exc.errors and "\n" not in exc.message
        return
    frame = frame_of(columns, version.signature)
    assert list(frame.columns) == FEATURES
    for f in FEATURES:  # the training dtype, or a wider one where a null forced it
        trained_kind = version.signature["columns"][f]
        got = kind_of(frame[f])
        assert (
            got.kind == trained_kind["kind"]
            or frame[f].isna().all()
            or {
                got.kind,
                trained_kind["kind"],
            }
            <= {"numeric", "integer"}
        )
    assert len(compute(held, frame)["predictions"]) == 2


@settings(FAST, max_examples=10)
@given(
    rows=st.lists(
        st.fixed_dictionaries({f: json_values() for f in FEATURES}), min_size=1, max_size=3
    )
)
def test_the_service_and_its_monitor_over_awkward_requests(trained, served, rows) -> None:  # type: ignore[no-untyped-def]
    r = httpx.post(f"{served}/predict", json={"records": rows}, timeout=30)
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert r.json()["error"]["fields"]


@pytest.fixture(scope="module")
def served(trained):  # type: ignore[no-untyped-def]
    proc, url = start_server(trained.root, "awk@1")
    good = {
        "num": 1.5,
        "cnt": 3,
        "flag": None,
        "word": "red",
        "size": "mid",
        "day": "2024-02-29",
        "at": "2024-03-01T10:00:00+01:00",
        "Größe.x y": True,
    }
    assert httpx.post(f"{url}/predict", json=good, timeout=30).status_code == 200
    yield url
    proc.terminate()
    proc.wait(30)
    out = rung_cli("monitor", "check", "awk@1", "--no-save", "--json", cwd=trained.root)
    assert out.returncode == 0, out.stderr
    features = json.loads(out.stdout)["features"]
    assert set(features) == set(FEATURES)  # every kind is monitored, datetimes included


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_batch_scoring_of_the_training_rows(trained, suffix, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The training data itself, through a CSV (where Int64, boolean, category and zoned
    datetimes come back as floats, objects, strings and ISO strings) or Parquet, is scored."""
    from rung.serving.batch import score_file

    frame = training_frame()
    path = tmp_path / f"in{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    summary = score_file(trained, "awk-batch@1", path, tmp_path / f"out{suffix}")
    assert summary["rows"] == len(frame)


@st.composite
def perturbed(draw: Any) -> pd.DataFrame:
    """Training rows with one feature replaced by an awkward column."""
    n = draw(st.integers(1, 5))
    feature = draw(st.sampled_from(FEATURES))
    frame = training_frame().head(n).copy()
    frame[feature] = draw(awkward_columns([feature], n))[feature].to_numpy()
    return frame


@settings(FAST, max_examples=5)
@given(frame=perturbed())
def test_batch_scoring_works_or_refuses_in_one_line(trained, frame, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    from rung.serving.batch import score_file

    where: Path = tmp_path_factory.mktemp("batch")
    frame.to_csv(where / "in.csv", index=False)
    try:
        summary = score_file(trained, "awk-batch@1", where / "in.csv", where / "out.csv")
    except RungError as exc:
        assert "\n" not in exc.message
        return
    assert summary["rows"] == len(frame)
    assert len(pd.read_csv(where / "out.csv")) == len(frame)


@settings(FAST, max_examples=3)
@given(frame=st.integers(1, 6).flatmap(lambda n: awkward_columns(FEATURES, n)))
def test_eval_works_or_refuses_in_one_line(trained, frame) -> None:  # type: ignore[no-untyped-def]
    frame["y"] = (["p", "q"] * len(frame))[: len(frame)]
    try:
        v = trained.data.add(frame, name="awk-eval")
        ev = trained.evaluate("awk@1", [v.ref], label="y")
    except RungError as exc:
        assert "\n" not in exc.message
        return
    assert ev.rows[v.ref]["examples"] == len(frame)
