"""Table 2 aggregates: the thesis's own numbers, and properties of any table."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rung.core.aggregate import DASH, aggregate_rows

THESIS = {
    "A": {"examples": 100, "m1": 0.25, "m2": 0.7, "m3": "X"},
    "B": {"examples": 200, "m1": 0.25, "m2": 0.8, "m3": "Y"},
    "C": {"examples": 300, "m1": 0.1, "m2": 0.96, "m3": "X"},
}
COLUMNS = ["examples", "m1", "m2", "m3"]


def test_the_thesis_table_2_aggregates() -> None:
    agg = aggregate_rows(THESIS, COLUMNS)
    assert agg["Total"]["examples"] == 600
    assert agg["Total"]["m1"] == pytest.approx(0.6)
    assert agg["Total"]["m2"] == pytest.approx(2.46)
    assert agg["Mean"]["examples"] == 200
    assert agg["Mean"]["m1"] == pytest.approx(0.2)
    assert agg["Mean"]["m2"] == pytest.approx(0.82)
    assert agg["Std"]["examples"] == pytest.approx(100)
    assert round(agg["Std"]["m1"], 4) == 0.0866
    assert round(agg["Std"]["m2"], 4) == 0.1311
    assert agg["Total"]["m3"] == agg["Mean"]["m3"] == agg["Std"]["m3"] == DASH


numbers = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(st.lists(numbers, min_size=2, max_size=30))
def test_aggregates_match_the_statistics_module(values: list[float]) -> None:
    rows = {f"d{i}": {"m": v} for i, v in enumerate(values)}
    agg = aggregate_rows(rows, ["m"])
    assert agg["Total"]["m"] == pytest.approx(sum(values), abs=1e-6)
    assert agg["Mean"]["m"] == pytest.approx(statistics.fmean(values), abs=1e-6)
    assert agg["Std"]["m"] == pytest.approx(statistics.stdev(values), rel=1e-6, abs=1e-6)


@given(st.lists(numbers, min_size=1, max_size=10), st.integers(0, 9), st.text(min_size=1))
def test_one_non_numeric_value_makes_the_column_a_dash(
    values: list[float], at: int, label: str
) -> None:
    rows: dict[str, dict[str, object]] = {f"d{i}": {"m": v} for i, v in enumerate(values)}
    rows[f"d{at % len(values)}"]["m"] = label
    agg = aggregate_rows(rows, ["m"])
    assert all(agg[name]["m"] == DASH for name in ("Total", "Mean", "Std"))


def test_one_dataset_has_no_sample_std() -> None:
    agg = aggregate_rows({"only": {"m": 0.5}}, ["m"])
    assert agg["Mean"]["m"] == 0.5 and agg["Std"]["m"] == DASH
