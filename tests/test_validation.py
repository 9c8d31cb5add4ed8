"""Data validation: schemas, schema skew versus value skew, and a step that stops a run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rung
from conftest import rung_cli
from rung.core.errors import InvalidInput
from rung.data.validation import SchemaSkew, check_schema, infer_schema, validate


def reference(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": r.normal(0, 1, n),
            "c": r.choice(["a", "b"], n),
            "k": r.integers(0, 3, n),
            "d": pd.date_range("2020-01-01", periods=n, freq="h").strftime("%Y-%m-%d"),
        }
    )


def test_schema_records_types_ranges_categories_and_nulls() -> None:
    schema = infer_schema(reference(), "ref@1")
    cols = schema["columns"]
    assert cols["x"]["kind"] == "numeric" and cols["x"]["min"] < -3 and not cols["x"]["nullable"]
    assert set(cols["c"]["categories"]) == {"a", "b"}
    assert cols["d"]["kind"] == "datetime" and cols["d"]["min"].startswith("2020-01-01")
    assert json.loads(json.dumps(schema)) == schema


def test_the_same_distribution_has_no_anomaly() -> None:
    assert validate(reference(3000, seed=1), infer_schema(reference())).ok


def test_schema_skew_and_value_skew_are_told_apart() -> None:
    moved = reference(3000, seed=2).drop(columns=["d"])
    moved["x"] = moved["x"] + 1.5
    moved.loc[0, "x"] = None
    moved.loc[:600, "c"] = "z"
    moved["k"] = moved["k"].astype(str)
    moved["extra"] = 1
    report = validate(moved, infer_schema(reference()))
    schema = {(a.column, a.problem) for a in report.schema_skew}
    value = {(a.column, a.problem) for a in report.value_skew}
    assert schema == {
        ("x", "unexpected_nulls"),
        ("c", "new_category"),
        ("d", "missing_column"),
        ("k", "type_change"),
        ("extra", "unexpected_column"),
    }
    assert value == {
        ("x", "out_of_range"),
        ("x", "distribution_moved"),
        ("c", "distribution_moved"),
    }


def test_check_schema_raises_on_schema_skew_only() -> None:
    schema = infer_schema(reference())
    drifted = reference(2000, seed=3).assign(x=lambda f: f["x"] * 3)
    assert check_schema(drifted, schema).value_skew  # value skew is reported, not raised
    with pytest.raises(SchemaSkew, match=r"column is missing.*rung data schema"):
        check_schema(drifted.drop(columns=["c"]), schema, "batch")


def test_a_step_stops_the_run_on_schema_skew(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    ws.data.add(reference(), name="src")
    ws.data.add(reference(500, seed=4).drop(columns=["c"]), name="src")

    @rung.step
    def guarded(frame):  # type: ignore[no-untyped-def]
        rung.check_schema(frame, "src@1", source="incoming data")
        return frame

    @rung.pipeline
    def guarded_pipe(version: str = "src@2"):  # type: ignore[no-untyped-def]
        return guarded(rung.dataset(version))

    with pytest.raises(
        SchemaSkew,
        match=r"step 'guarded' stopped: incoming data does not match schema src@1: c: column is missing",
    ):
        ws.run(guarded_pipe)
    assert ws.runs.list()[0].status == "failed"
    assert ws.run(guarded_pipe, {"version": "src@1"}).executed == 1


def test_cli_schema_and_validate(sqlite_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    ws.data.add(reference(), name="d")
    ws.data.add(reference(1000, seed=5).assign(c="q"), name="d")
    out = tmp_path / "schema.json"
    made = rung_cli("data", "schema", "d@1", "-o", str(out), cwd=ws.root)
    assert made.returncode == 0 and json.loads(out.read_text())["source"] == "d@1"
    checked = rung_cli("data", "validate", "d@2", "--schema", str(out), "--json", cwd=ws.root)
    assert checked.returncode == 1  # schema skew fails, for CI
    report = json.loads(checked.stdout)
    assert [a["problem"] for a in report["schema_skew"]] == ["new_category"]
    default = rung_cli("data", "validate", "d@2", cwd=ws.root)  # against d@1's schema
    assert default.returncode == 1 and "schema skew" in default.stdout
    first = rung_cli("data", "validate", "d@1", cwd=ws.root)
    assert first.returncode == 1 and "first version" in first.stderr
    with pytest.raises(InvalidInput, match="no schema file"):
        ws.data.validate("d@2", tmp_path / "nope.json")
