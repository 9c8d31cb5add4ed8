"""The column-kind model, end to end: booleans and datetimes through registration, serving
and monitoring; models fitted without column names selected by name or refused."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import rung_cli, start_server
from rung.core.columns import ColumnKind, coerce, drift_numbers, kind_of, problem
from rung.core.errors import InvalidInput

KINDS_TRAIN = textwrap.dedent(
    """
    import rung
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    FEATURES = ["a", "flag", "color", "day", "stamp"]

    @rung.step
    def fit(frame):
        prep = make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["flag", "color"]),
            ("drop", ["day", "stamp"]),
            remainder="passthrough",
        )
        return make_pipeline(prep, LogisticRegression()).fit(frame[FEATURES], frame["y"])

    @rung.pipeline
    def train():
        return fit(rung.dataset("kinds"))
    """
)

ARRAY_TRAIN = textwrap.dedent(
    """
    import numpy as np
    import rung
    from sklearn.tree import DecisionTreeClassifier

    @rung.step
    def fit(frame):
        X = frame[["a", "b"]].to_numpy()  # fitted on an array: the model knows no names
        return DecisionTreeClassifier(random_state=0).fit(X, frame["y"])

    @rung.step
    def fit_blind(n: int = 200):
        r = np.random.default_rng(0)
        X = r.normal(size=(n, 2))
        return DecisionTreeClassifier(random_state=0).fit(X, np.where(X[:, 0] > 0, "p", "n"))

    @rung.pipeline
    def train():
        return fit(rung.dataset("arr"))

    @rung.pipeline
    def blind():
        return fit_blind()
    """
)


def kinds_frame(n: int, seed: int, day: str = "2024-01-01") -> pd.DataFrame:
    r = np.random.default_rng(seed)
    a = r.normal(0, 1, n)
    flag = r.random(n) > 0.5
    return pd.DataFrame(
        {
            "a": a,
            "flag": flag,
            "color": r.choice(["red", "blue"], n),
            "day": pd.Timestamp(day) + pd.to_timedelta(r.integers(0, 365, n), unit="D"),
            "stamp": (
                pd.Timestamp(day, tz="Europe/Paris")
                + pd.to_timedelta(r.integers(0, 10**6, n), unit="s")
            ),
            "y": np.where(a + flag > 0.5, "yes", "no"),
        }
    )


@pytest.fixture
def kinds_ws(sqlite_ws):  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    (ws.root / "kinds.py").write_text(KINDS_TRAIN)
    ws.data.add(kinds_frame(300, 1), name="kinds")
    run = ws.run("kinds.py:train").id
    ws.models.register(str(run), "mixed")
    return ws


def test_the_signature_holds_every_kind(kinds_ws) -> None:  # type: ignore[no-untyped-def]
    sig = kinds_ws.models.get("mixed@1").signature
    kinds = {f: (c["kind"], c.get("timezone")) for f, c in sig["columns"].items()}
    assert kinds == {
        "a": ("numeric", None),
        "flag": ("boolean", None),
        "color": ("categorical", None),
        "day": ("datetime", None),
        "stamp": ("datetime", "Europe/Paris"),
    }
    assert sig["names"] == "model"
    schema = kinds_ws.data.schema("kinds@1")["columns"]
    assert {c: schema[c]["kind"] for c in sig["features"]} == {f: k for f, (k, _) in kinds.items()}


def test_a_model_with_a_boolean_and_datetime_features_is_served(kinds_ws) -> None:  # type: ignore[no-untyped-def]
    import httpx

    proc, url = start_server(kinds_ws.root, "mixed@1")
    try:
        row = {
            "a": 0.3,
            "flag": True,
            "color": "red",
            "day": "2024-03-01",
            "stamp": "2024-03-01T10:00:00+01:00",
        }
        r = httpx.post(f"{url}/predict", json={"records": [row, {**row, "flag": False}]})
        assert r.status_code == 200, r.text
        assert len(r.json()["predictions"]) == 2
        bad = httpx.post(f"{url}/predict", json={**row, "flag": "False", "day": "soon"})
        assert bad.status_code == 422
        locs = {tuple(e["loc"]) for e in bad.json()["error"]["fields"]}
        assert locs == {("flag",), ("day",)}
    finally:
        proc.terminate()
        proc.wait(30)


def test_datetime_features_drift_in_monitor_json(kinds_ws) -> None:  # type: ignore[no-untyped-def]
    from model_project import in_fifties
    from rung.core.columns import json_column
    from rung.serving.log import PredictionLog

    rare = kinds_frame(200, 5)
    rare["day"] = pd.Timestamp("2031-07-04")  # every served row on one rare day
    log = PredictionLog(kinds_ws.store)
    try:
        for i, part in enumerate(in_fifties(rare)):
            log.submit(
                {
                    "request_id": f"r{i}",
                    "model": "mixed",
                    "version": 1,
                    "rows": len(part),
                    "inputs": {
                        c: json_column(part[c]) for c in ["a", "flag", "color", "day", "stamp"]
                    },
                    "outputs": {"predictions": ["yes"] * len(part)},
                    "latency_ms": 1.0,
                }
            ).result()
    finally:
        log.close()
    out = rung_cli("monitor", "check", "mixed@1", "--no-save", "--json", cwd=kinds_ws.root)
    assert out.returncode == 0, out.stderr
    features = json.loads(out.stdout)["features"]
    assert set(features) == {"a", "flag", "color", "day", "stamp"}
    assert features["day"]["verdict"]["drift"] is True
    assert features["day"]["measure"] == "epoch_seconds"
    # the column's kind, as data show and the signature say; the drift basis apart
    sig = kinds_ws.models.get("mixed@1").signature["columns"]
    shown = {f: (v["kind"], v.get("timezone"), v["basis"]) for f, v in features.items()}
    assert shown == {
        f: (
            c["kind"],
            c.get("timezone"),
            "categorical" if c["kind"] in ("boolean", "categorical") else "numeric",
        )
        for f, c in sig.items()
    }
    assert shown["stamp"] == ("datetime", "Europe/Paris", "numeric")
    assert shown["flag"] == ("boolean", None, "categorical")
    table = rung_cli("monitor", "check", "mixed@1", "--no-save", cwd=kinds_ws.root)
    assert "datetime (Europe/Paris)" in table.stdout and "boolean" in table.stdout
    assert features["stamp"]["verdict"]["drift"] is False


@pytest.fixture
def array_ws(sqlite_ws):  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    (ws.root / "arr.py").write_text(ARRAY_TRAIN)
    r = np.random.default_rng(3)
    a, b = r.normal(size=400), r.normal(size=400) * 10
    ws.data.add(pd.DataFrame({"a": a, "b": b, "y": np.where(a > 0, "p", "n")}), name="arr")
    return ws


def test_a_model_fitted_on_an_array_takes_no_names_from_the_lineage(array_ws) -> None:  # type: ignore[no-untyped-def]
    """The training frame's columns are kept as information only (an array's column order
    cannot be proven, see test_unnamed_models.py); the stated order is used by name."""
    ws = array_ws
    run = ws.run("arr.py:train").id
    v = ws.models.register(str(run), "arr")
    assert v.signature["features"] == [] and v.signature["names"] is None
    assert v.signature["lineage_columns"] == ["a", "b", "y"]
    stated = ws.models.register(str(run), "arr-named", features=["a", "b"])
    assert stated.signature["features"] == ["a", "b"] and stated.signature["names"] == "user"
    holdout = ws.data.get("arr@1").load()
    ws.data.add(holdout[["y", "b", "a"]], name="swapped")  # same rows, columns reordered
    ev = ws.evaluate(stated.ref, ["swapped@1"], label="y")
    assert ev.rows["swapped@1"]["accuracy"] == 1.0
    for target in (v.ref, str(run)):
        with pytest.raises(InvalidInput, match="cannot know their order"):
            ws.evaluate(target, ["swapped@1"], label="y")


def test_a_model_whose_names_nobody_knows_is_refused(array_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = array_ws
    run = ws.run("arr.py:blind").id
    out = rung_cli("model", "register", str(run), "--name", "blind", cwd=ws.root)
    assert out.returncode == 0, out.stderr
    assert "signature of 0 feature(s)" in out.stdout
    assert "warning: blind@1 was fitted without column names on 2 column(s)" in out.stderr
    with pytest.raises(InvalidInput, match="fitted without column names on 2 column"):
        ws.evaluate("blind@1", ["arr@1"], label="y")
    frame = ws.data.get("arr@1").load()
    served = rung_cli("serve", "blind@1", "--port", "1", cwd=ws.root)
    assert served.returncode != 0
    errors = [line for line in served.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "fitted without column names" in errors[0]
    assert "Traceback" not in served.stderr
    frame.to_csv(tmp_path / "in.csv", index=False)
    scored = rung_cli(
        "predict",
        "blind@1",
        "-i",
        str(tmp_path / "in.csv"),
        "-o",
        str(tmp_path / "o.csv"),
        cwd=ws.root,
    )
    assert scored.returncode != 0 and "fitted without column names" in scored.stderr


# -- the model itself, over families of values --------------------------------------------


@pytest.mark.parametrize(
    ("series", "kind", "timezone"),
    [
        (pd.Series([True, False]), "boolean", None),
        (pd.Series([True, None, False], dtype="boolean"), "boolean", None),
        (pd.Series([True, None], dtype=object), "boolean", None),
        (pd.Series([1, None], dtype="Int64"), "integer", None),
        (pd.Series([np.iinfo(np.int64).max, np.iinfo(np.int64).min]), "integer", None),
        (pd.Series([1.5, None]), "numeric", None),
        (pd.Series([None, None]), "text", None),
        (pd.Series(["a", None], dtype="string"), "categorical", None),
        (pd.Series(["x", "y"], dtype="category"), "categorical", None),
        (pd.Series([1, "a", 2.5]), "categorical", None),
        (pd.Series(pd.to_datetime(["2024-01-01", None])), "datetime", None),
        (
            pd.Series(pd.to_datetime(["2024-01-01"]).tz_localize("Asia/Tokyo")),
            "datetime",
            "Asia/Tokyo",
        ),
        (pd.Series(["2024-01-01", "2024-02-01"]), "datetime", None),
        (pd.Series(["2024-01-01T00:00:00+01:00", "2024-01-01T00:00:00-05:00"]), "datetime", "UTC"),
        (pd.Series(["2024-01-01T00:00:00+01:00", "2024-01-01"]), "categorical", None),
        (pd.Series([f"note {i}" for i in range(1500)]), "text", None),
    ],
)
def test_kind_of_a_family_of_columns(series: pd.Series, kind: str, timezone: str | None) -> None:
    got = kind_of(series)
    assert (got.kind, got.timezone) == (kind, timezone)
    assert got.nullable == bool(series.isna().any()) or series.isna().all()
    assert ColumnKind.from_dict(json.loads(json.dumps(got.to_dict()))) == got


@pytest.mark.parametrize(
    ("spec", "value", "ok"),
    [
        (ColumnKind("boolean", "bool", False), True, True),
        (ColumnKind("boolean", "bool", False), "False", False),
        (ColumnKind("integer", "int64", False), 2**63, False),
        (ColumnKind("integer", "int64", False), 3.0, True),
        (ColumnKind("integer", "int64", False), 3.5, False),
        (ColumnKind("integer", "uint8", False), 256, False),
        (ColumnKind("datetime", "datetime64[ns]", True), "2024-01-01T10:00", True),
        (ColumnKind("datetime", "datetime64[ns]", True), "yesterday", False),
        (ColumnKind("datetime", "datetime64[ns]", True), 1704067200, False),
        (ColumnKind("numeric", "float64", False), None, False),
        (ColumnKind("numeric", "float64", True), pd.NA, True),
        (ColumnKind("text", "object", True), "anything", True),
    ],
)
def test_problem_accepts_and_refuses_a_family_of_values(
    spec: ColumnKind, value: Any, ok: bool
) -> None:
    assert (problem(value, spec) is None) == ok


def test_coerce_gives_the_training_dtype() -> None:
    assert str(coerce([True, False], ColumnKind("boolean", "bool", False)).dtype) == "bool"
    assert str(coerce([True, None], ColumnKind("boolean", "boolean")).dtype) == "boolean"
    assert str(coerce([1, None], ColumnKind("integer", "Int64")).dtype) == "Int64"
    assert str(coerce([1, None], ColumnKind("integer", "int64")).dtype) == "float64"
    zoned = coerce(
        ["2024-01-01T00:00:00+01:00"], ColumnKind("datetime", "datetime64[ns, UTC]", timezone="UTC")
    )
    assert str(zoned.iloc[0]) == "2023-12-31 23:00:00+00:00"
    cats = coerce(["b", None], ColumnKind("categorical", "category", categories=("a", "b")))
    assert list(pd.Series(cats).cat.categories) == ["a", "b"]


def test_datetimes_drift_on_epoch_seconds_in_utc() -> None:
    spec = ColumnKind("datetime", "datetime64[ns, UTC]", timezone="UTC")
    same = drift_numbers(["2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00Z", None], spec)
    assert same[0] == same[1] == pd.Timestamp("2024-01-01", tz="UTC").timestamp()
    assert np.isnan(same[2])


def test_a_model_reading_a_boolean_as_a_number_warms_up_and_predicts() -> None:
    """The warm-up row and every request give booleans to the model as booleans (the
    warm-up once gave the category string 'False': `could not convert string to float`)."""
    from sklearn.linear_model import LogisticRegression

    from rung.core.columns import kinds_of
    from rung.serving.payload import parse
    from rung.serving.predictor import compute, ready

    train = kinds_frame(100, 3)
    model = LogisticRegression().fit(train[["a", "flag"]], train["y"])
    signature = {
        "features": ["a", "flag"],
        "columns": {n: k.to_dict() for n, k in kinds_of(train[["a", "flag"]]).items()},
    }
    held = ready("m", 1, model, signature)  # the warm-up prediction
    frame, _ = parse({"records": [{"a": 1.0, "flag": True}, {"a": -1.0, "flag": False}]}, signature)
    assert str(frame["flag"].dtype) == "bool"
    assert len(compute(held, frame)["predictions"]) == 2


@pytest.mark.parametrize(
    ("sent", "said"),
    [
        ("Zu\u0308rich", "another Unicode form"),  # decomposed: looks the same, is not
        ("oslo", "did you mean 'Oslo'?"),
        ("Zürich ", "did you mean 'Zürich'?"),
        ("  BERN", "did you mean 'Bern'?"),
        ("Berm", "did you mean 'Bern'?"),
        ("x" * 5000, "allowed Oslo, Zürich, Bern"),
    ],
)
def test_an_unknown_category_names_the_one_meant(sent: str, said: str) -> None:
    """A category that differs from a known one by Unicode form, case, spaces or one letter
    is answered with that one; the message stays one short line whatever was sent."""
    spec = ColumnKind("categorical", "str", False, categories=("Oslo", "Zürich", "Bern"))
    message = problem(sent, spec)
    assert message is not None and said in message and len(message) < 300, message
