"""`rung data diff` between versions whose columns changed dtype: the append and same-values
checks compare values whatever their dtypes (datasets._same_values), never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings

from conftest import rung_cli
from strategies import awkward_frames

NA = pd.NA
DAYS = ["2020-01-01", "2020-01-02"]

# (old column, new column, whether new's first rows hold old's values)
CHANGES: dict[str, tuple[Any, Any, bool]] = {
    "int to Int64 with NA": (pd.Series([1, 2]), pd.Series([1, 2, NA], dtype="Int64"), True),
    "int to float": (pd.Series([1, 2]), pd.Series([1.0, 2.0, 2.5]), True),
    "int to float with NaN": (pd.Series([1, 2]), pd.Series([1.0, 2.0, None]), True),
    "int to float, a value changed": (pd.Series([1, 2]), pd.Series([1.0, 2.5, 3.0]), False),
    "str to int": (pd.Series(["1", "2"]), pd.Series([1, 2, 3]), False),
    "bool to str": (pd.Series([True, False]), pd.Series(["True", "False", "x"]), False),
    "bool to boolean with NA": (
        pd.Series([True, False]),
        pd.Series([True, False, NA], dtype="boolean"),
        True,
    ),
    "naive to UTC": (
        pd.Series(pd.to_datetime(DAYS)),
        pd.Series(pd.to_datetime([*DAYS, "2020-01-03"], utc=True)),
        False,
    ),
    "UTC to Paris, same instants": (
        pd.Series(pd.to_datetime(DAYS, utc=True)),
        pd.Series(pd.to_datetime([*DAYS, "2020-01-03"], utc=True)).dt.tz_convert("Europe/Paris"),
        True,
    ),
    "datetime to str": (
        pd.Series(pd.to_datetime(DAYS)),
        pd.Series([*DAYS, "2020-01-03"]),
        False,
    ),
    "float to str": (pd.Series([1.5, 2.0]), pd.Series(["1.5", "2.0", "x"]), False),
}


def _diff(root: Path, name: str, text: bool = False) -> dict[str, Any]:
    done = rung_cli("data", "diff", f"{name}@1", f"{name}@2", "--json", cwd=root)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    if text:  # what a person reads
        shown = rung_cli("data", "diff", f"{name}@1", f"{name}@2", cwd=root)
        assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    return dict(json.loads(done.stdout))


def test_diff_judges_appends_and_same_values_across_dtype_changes(
    sqlite_ws, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    for i, (case, (old, new, same)) in enumerate(CHANGES.items()):
        name = f"t{i}"
        first, grown = tmp_path / f"{name}-1.parquet", tmp_path / f"{name}-2.parquet"
        pd.DataFrame({"c": old, "k": range(len(old))}).to_parquet(first)
        pd.DataFrame({"c": new, "k": range(len(new))}).to_parquet(grown)
        ws.data.add(first, name=name)
        ws.data.add(grown, name=name)
        diff = _diff(ws.root, name)
        assert diff["rows"]["added"] == 1, case
        assert diff["append"] is same, case
        # the same count of rows: the same values, or not
        same_count = tmp_path / f"{name}-3.parquet"
        pd.DataFrame({"c": new.iloc[: len(old)], "k": range(len(old))}).to_parquet(same_count)
        ws.data.add(same_count, name=f"{name}s")
        ws.data.add(first, name=f"{name}s")
        diff = _diff(ws.root, f"{name}s")
        assert diff["same_rows"] is same, case


@pytest.mark.parametrize(
    ("v1", "v2", "key", "expected"),
    [
        ("a,y\n1,0\n2,1\n", "a,y\n1,0\n2,\n", "same_rows", False),  # the tester's example
        ("a,y\n1,0\n2,1\n", "a,y\r\n1,0.0\r\n2,1.0\r\n3,\r\n", "append", True),
        ("a,y\n1,0\n2,1\n", "a,y\r\n1,0.0\r\n2,1.0\r\n", "same_rows", True),
        ("a,y\n1,x\n2,y\n", "a,y\r\n1,1\r\n2,2\r\n3,3\r\n", "append", False),
    ],
)
def test_diff_of_csv_versions_whose_integers_gain_a_missing_value(
    sqlite_ws, tmp_path: Path, v1: str, v2: str, key: str, expected: bool
) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    for i, text in enumerate((v1, v2), 1):
        (tmp_path / f"v{i}.csv").write_bytes(text.encode())
        added = rung_cli("data", "add", str(tmp_path / f"v{i}.csv"), "--name", "t", cwd=ws.root)
        assert added.returncode == 0, added.stderr
    assert _diff(ws.root, "t", text=True)[key] is expected


@settings(max_examples=60, deadline=None)
@given(frame=awkward_frames(max_rows=5, max_columns=4))
def test_values_compare_equal_whatever_the_dtype_they_are_held_in(frame: pd.DataFrame) -> None:
    """Every awkward frame holds the same values as itself and as the same frame with every
    column an object column (its dtype dropped); one changed cell makes it differ."""
    from rung.data.datasets import _same_values

    assert _same_values(frame, frame)
    assert _same_values(frame, frame.astype(object))
    if frame.shape[0] and frame.shape[1]:
        changed = frame.astype(object)
        changed.iloc[0, 0] = "a value no column holds"
        assert not _same_values(frame, changed)
