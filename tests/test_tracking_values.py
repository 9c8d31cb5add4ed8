"""Parameters and metrics of every scalar type a user holds: numpy and pandas scalars,
timestamps, Decimals; NaN and ±infinity as metric values, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

import rung
from conftest import RUNG
from rung.core.errors import InvalidInput

SCALARS: list[tuple[Any, Any]] = [
    (np.int64(5), 5),
    (np.int32(-3), -3),
    (np.uint8(7), 7),
    (np.bool_(True), True),
    (np.float32(1.5), 1.5),
    (np.float64(0.25), 0.25),
    (np.str_("adam"), "adam"),
    (pd.Timestamp("2024-05-01 12:00"), "2024-05-01T12:00:00"),
    (pd.Timestamp("2024-05-01 12:00", tz="UTC"), "2024-05-01T12:00:00+00:00"),
    (dt.date(2024, 5, 1), "2024-05-01"),
    (Decimal("0.5"), 0.5),
    (np.datetime64("2024-05-01"), "2024-05-01T00:00:00"),
    (pd.NA, None),
    ([np.int64(1), np.float32(2.0)], [1, 2.0]),
    ({"depth": np.int64(4)}, {"depth": 4}),
    (np.array([1, 2]), [1, 2]),
]


@pytest.mark.parametrize(("value", "stored"), SCALARS, ids=lambda v: type(v).__name__)
def test_params_of_every_scalar_type_are_stored_as_plain_json(ws, value, stored) -> None:  # type: ignore[no-untyped-def]
    with ws.start_run("p", params={"given": value}) as run:
        rung.log_params({"logged": value})
    params = ws.runs.get(run.id)["params"]
    assert params["given"] == stored
    assert params["logged"] == stored


def test_a_param_rung_cannot_store_is_refused_in_one_line(ws) -> None:  # type: ignore[no-untyped-def]
    with ws.start_run("p") as run, pytest.raises(InvalidInput, match="'model' is a object"):
        rung.log_params({"model": object()})
    assert "model" not in ws.runs.get(run.id)["params"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float32("nan"), 1e308])
def test_non_finite_metrics_are_stored_and_read_back(ws, value) -> None:  # type: ignore[no-untyped-def]
    with ws.start_run("m") as run:
        rung.log_metric("loss", value)
        rung.log_metrics({"other": value, "n": np.int64(3)})
    got = ws.runs.get(run.id)["metrics"]
    for key in ("loss", "other"):
        if math.isnan(float(value)):
            assert math.isnan(got[key])
        else:
            assert got[key] == float(value)
    assert got["n"] == 3.0
    history = ws.runs.metric_history(run.id, "loss")
    assert len(history) == 1 and (history[0][1] == value or math.isnan(history[0][1]))
    (listed,) = [r for r in ws.runs.list() if r.id == run.id]  # the runs table: the same floats
    for key in ("loss", "other"):
        assert isinstance(listed.metrics[key], float)
        assert listed.metrics[key] == got[key] or math.isnan(listed.metrics[key])


def test_every_command_spells_non_finite_metrics_alike(ws) -> None:  # type: ignore[no-untyped-def]
    """`rung runs` and `rung show`, table and JSON, on both backends: nan, inf, -inf
    (a peer report, mlflow/mlflow#16555, and `rung runs` once said NaN where show said nan)."""
    with ws.start_run("diverged") as run:
        rung.log_metrics({"loss": math.nan, "grad": math.inf, "low": -math.inf})
    want = {"loss": "nan", "grad": "inf", "low": "-inf"}
    strict = {"parse_constant": lambda c: pytest.fail(f"not strict JSON: {c}")}

    def cli(*args: str) -> str:
        return subprocess.run(
            [RUNG, *args], cwd=ws.root, capture_output=True, text=True, check=True
        ).stdout

    listed = json.loads(cli("runs", "--json"), **strict)
    assert [r["metrics"] for r in listed if r["id"] == run.id] == [want]
    assert json.loads(cli("show", str(run.id), "--json"), **strict)["metrics"] == want
    for text in (cli("runs"), cli("show", str(run.id))):
        assert "NaN" not in text and "nan" in text and "-inf" in text


@pytest.mark.parametrize("value", ["high", None, [1.0], b"1"])
def test_a_metric_that_is_not_a_number_is_refused(ws, value) -> None:  # type: ignore[no-untyped-def]
    with ws.start_run("m") as run, pytest.raises(InvalidInput, match="not a number"):
        rung.log_metric("loss", value)
    assert ws.runs.get(run.id)["metrics"] == {}


def test_show_prints_non_finite_metrics_and_strict_json(sqlite_ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with sqlite_ws.start_run("diverged", params={"n": np.int64(3)}) as run:
        rung.log_metric("loss", float("nan"))
        rung.log_metric("grad", float("inf"))
        rung.log_metric("low", float("-inf"))
    text = subprocess.run(
        [RUNG, "show", str(run.id)], cwd=tmp_path / "ws", capture_output=True, text=True, check=True
    ).stdout
    assert "nan" in text and "inf" in text
    out = subprocess.run(
        [RUNG, "show", str(run.id), "--json"],
        cwd=tmp_path / "ws",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shown = json.loads(out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert shown["metrics"] == {"loss": "nan", "grad": "inf", "low": "-inf"}
    assert shown["params"]["n"] == 3
