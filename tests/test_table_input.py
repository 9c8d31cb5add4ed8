"""What enters as a table is read as the file has it, or refused in one line.

* duplicate header names (pandas renamed ``a,a`` to ``a``, ``a.1``), CSV and Parquet;
* ragged CSV rows (a longer first row made the first column the index, a shorter one was
  padded): refused naming the line and both counts;
* columns Parquet cannot keep as they are (dicts, lists, sets, complex, bytes beside text,
  objects; Arrow turned ``[{'a': 1}, {'b': 2}]`` into ``{'a': 1.0, 'b': None}``): refused
  naming the column, nothing stored;
* ``rung data add .`` from the workspace root skips the workspace's own ``.rung/``.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import rung_cli
from rung.core.errors import InvalidInput
from rung.data.tables import parquet_bytes, read_table

HEADERS = [
    "a,a,target",
    "0,0",
    "a,a.1,a",
    "a.1,a,a",
    "x,y,x.1,x",
    '"a","a"',
    "a, a",  # a space makes them differ: accepted (see below)
]


@pytest.mark.parametrize("header", HEADERS)
def test_duplicate_csv_headers_are_refused_everywhere_tables_enter(
    header: str, tmp_path: Path
) -> None:
    names = next(csv.reader([header]))
    width = len(names)
    path = tmp_path / "dup.csv"
    path.write_text(header + "\n" + ",".join(str(i) for i in range(width)) + "\n")
    if len(set(names)) == width:
        assert list(read_table(path, "csv").columns) == names
        return
    with pytest.raises(InvalidInput, match=r"has duplicate column name\(s\)"):
        read_table(path, "csv")


def test_suffixes_pandas_would_add_are_kept_as_written(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("a,a.1,a.2\n1,2,3\n")
    assert list(read_table(path, "csv").columns) == ["a", "a.1", "a.2"]


def test_a_parquet_file_with_duplicate_names_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.table([pa.array([1]), pa.array([2])], names=["a", "a"]), path)
    with pytest.raises(InvalidInput, match=r"duplicate column name\(s\) \['a'\]"):
        read_table(path, "parquet")


@settings(max_examples=80, deadline=None)
@given(
    width=st.integers(1, 4),
    lengths=st.lists(st.integers(1, 6), min_size=1, max_size=6),
)
def test_rows_longer_or_shorter_than_the_header_are_refused_with_their_line(
    width: int, lengths: list[int]
) -> None:
    import tempfile

    header = ",".join(f"c{i}" for i in range(width))
    lines = [header] + [",".join(str(j) for j in range(n)) for n in lengths]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.csv"
        path.write_text("\n".join(lines) + "\n")
        bad = [k for k, n in enumerate(lengths) if n != width]
        if not bad:
            frame = read_table(path, "csv")
            assert frame.shape == (len(lengths), width)
            return
        line = bad[0] + 2
        with pytest.raises(
            InvalidInput,
            match=rf"line {line} has {lengths[bad[0]]} field\(s\), the header has {width}",
        ):
            read_table(path, "csv")


def test_quoted_commas_and_line_breaks_are_not_ragged(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('a,b\n"1,5","two\nlines"\n\n3,4\n')
    frame = read_table(path, "csv")
    assert frame.shape == (2, 2) and frame["b"].tolist() == ["two\nlines", "4"]


def test_the_testers_ragged_and_duplicate_files_through_the_cli(sqlite_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    cases = {
        "ragged.csv": ("a,b\n1,2,3\n4\n", "line 2 has 3 field(s), the header has 2"),
        "short.csv": ("a,b\n1,2\n4\n", "line 3 has 1 field(s), the header has 2"),
        "dup.csv": ("a,a,target\n0,0,1\n", "duplicate column name(s) ['a']"),
        "zeros.csv": ("0,0\n1,2\n", "duplicate column name(s) ['0']"),
    }
    for name, (text, says) in cases.items():
        (tmp_path / name).write_text(text)
        out = rung_cli("data", "add", str(tmp_path / name), "--name", "t", cwd=ws.root)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert out.stderr.startswith("error: ") and says in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    assert ws.data.list() == []
    # the same loader reads predict -i and feedback files: predict refuses before any model
    out = rung_cli(
        "predict", "nosuch@1", "-i", str(tmp_path / "ragged.csv"), "-o", "o.csv", cwd=ws.root
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr


class _Thing:
    def __repr__(self) -> str:
        return "<thing>"


UNSTORABLE = st.one_of(
    st.dictionaries(st.sampled_from("ab"), st.integers(0, 3), min_size=1).map(lambda d: [d]),
    st.lists(st.integers(0, 3), min_size=0, max_size=3).map(lambda v: [v]),
    st.frozensets(st.integers(0, 3), min_size=1).map(lambda v: [set(v)]),
    st.tuples(st.integers(0, 3)).map(lambda v: [v]),
    st.complex_numbers(allow_nan=False, allow_infinity=False).map(lambda v: [v]),
    st.binary(min_size=1, max_size=4).map(lambda b: [b, "text"]),
    st.just([_Thing()]),
    st.just(["text", 1]),
    st.just([True, 1]),
    st.just([2**64 + 1]),
    st.just([2**63 + 5, 0]),
    st.just([-(2**63) - 1]),
    st.just([2**60 + 1, 0.5]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=UNSTORABLE, filler=st.lists(st.none(), max_size=2))
def test_columns_parquet_would_change_are_refused_naming_the_column(
    sqlite_ws, values: list[Any], filler: list[None]
) -> None:  # type: ignore[no-untyped-def]
    column = pd.Series([*values, *filler], dtype=object)
    if all(isinstance(v, complex) for v in values) and not filler:
        column = pd.Series(values, dtype=complex)
    frame = pd.DataFrame({"ok": range(len(column)), "bad col": column})
    with pytest.raises(InvalidInput, match=r"cannot be stored as Parquet: column 'bad col' "):
        sqlite_ws.data.add(frame, name="odd")
    assert sqlite_ws.data.list() == []


STORABLE = [
    ["a", None, "ß"],
    [1, 2, None],
    [1, 2.5, None],
    [True, False, None],
    [b"x", b"y", None],
    [decimal.Decimal("1.25"), None, decimal.Decimal("2")],
    [dt.date(2020, 1, 1), None, dt.date(2021, 2, 3)],
]


@pytest.mark.parametrize("values", STORABLE, ids=lambda v: type(v[0]).__name__)
def test_object_columns_of_one_kind_are_stored_as_they_are(values: list[Any]) -> None:
    frame = pd.DataFrame({"v": pd.Series(values, dtype=object)})
    back = pd.read_parquet(io.BytesIO(parquet_bytes(frame, "t", index=False)))
    assert [None if pd.isna(v) else v for v in back["v"]] == values


def test_the_testers_dict_and_complex_frames_through_the_api(ws) -> None:  # type: ignore[no-untyped-def]
    for frame, says in (
        (pd.DataFrame({"n": [{"a": 1}, {"b": 2}]}), "column 'n' holds dict values"),
        (pd.DataFrame({"c": [1 + 2j, 3j]}), "column 'c' holds complex numbers"),
    ):
        with pytest.raises(InvalidInput, match=says):
            ws.data.add(frame, name="dicts")
    assert ws.data.list() == []


def test_adding_the_workspace_root_skips_its_own_store(ws) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "data.csv").write_text("a\n1\n")
    (ws.root / "sub").mkdir()
    (ws.root / "sub" / "x.txt").write_text("x")
    ws.data.add(pd.DataFrame({"a": range(50)}), name="df")  # objects exist in .rung/
    out = rung_cli("data", "add", ".", "--name", "root", cwd=ws.root)
    assert out.returncode == 0, out.stderr
    listed = rung_cli("data", "show", "root@1", "--json", cwd=ws.root)
    assert ".rung" not in listed.stdout, listed.stdout
    manifest = json.loads(ws.artifacts.get_bytes(ws.data.get("root@1").hash))
    paths = sorted(f["path"] for f in manifest["files"])
    assert paths == ["data.csv", "rung.toml", "sub/x.txt"], paths
    again = rung_cli("data", "add", ".rung", "--name", "inside", cwd=ws.root)
    assert again.returncode == 1 and "inside the workspace's own store" in again.stderr
    assert "Traceback" not in again.stderr
