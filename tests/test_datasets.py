"""Versioned datasets through the library API, on every backend."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from rung.core.errors import InvalidInput, NotFound


def write_csv(path: Path, rows: int = 50, shift: float = 0.0) -> Path:
    df = pd.DataFrame(
        {
            "x": [i + shift for i in range(rows)],
            "cat": ["a", "b"] * (rows // 2),
        }
    )
    df.to_csv(path, index=False)
    return path


def test_add_file_gets_schema_stats_and_versions(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    csv = write_csv(tmp_path / "d.csv")
    v1 = ws.data.add(csv, name="d")
    assert (v1.version, v1.format, v1.rows) == (1, "csv", 50)
    assert v1.schema["columns"]["x"]["kind"] == "numeric"
    assert v1.stats["columns"]["x"]["mean"] == pytest.approx(24.5)
    assert v1.stats["columns"]["cat"]["unique"] == 2
    again = ws.data.add(csv, name="d")
    assert again.version == 1 and again.hash == v1.hash  # identical content: a no-op
    write_csv(csv, rows=60, shift=1.0)
    v2 = ws.data.add(csv, name="d")
    assert v2.version == 2
    assert ws.data.get("d").version == 2
    assert ws.data.get("d@1").to_pandas()["x"].tolist() == list(range(50))
    assert [v.version for v in ws.data.list("d")] == [2, 1]


def test_diff_reports_rows_columns_types_and_statistics(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "a"], "gone": [1, 2, 3]})
    b = pd.DataFrame(
        {"x": [10.0, 20.0, 30.0, 40.0], "y": ["a", "c", "a", "b"], "new": [1, 1, 1, 1]}
    )
    ws.data.add(a, name="t")
    ws.data.add(b, name="t")
    d = ws.data.diff("t@1", "t@2")
    assert d["rows"] == {"from": 3, "to": 4, "added": 1, "removed": 0}
    assert d["append"] is False and "format" not in d
    assert d["columns_added"] == ["new"] and d["columns_removed"] == ["gone"]
    assert d["stats_changed"]["x"]["mean"] == {"from": 2.0, "to": 25.0}
    assert d["stats_changed"]["y"]["new_categories"]["to"] == ["c"]


def test_folders_are_versioned_file_by_file(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    for i in range(5):
        (folder / f"{i}.bin").write_bytes(os.urandom(100))
    (folder / "sub" / "x.txt").write_text("hello")
    v1 = ws.data.add(folder, name="imgs")
    assert (v1.format, v1.files) == ("tree", 6)
    (folder / "0.bin").write_bytes(b"changed")
    (folder / "new.txt").write_text("new")
    v2 = ws.data.add(folder, name="imgs")
    d = ws.data.diff("imgs@1", "imgs@2")
    assert d["files_added"] == ["new.txt"] and d["files_changed"] == ["0.bin"]
    checkout = v1.path()
    assert (checkout / "sub" / "x.txt").read_text() == "hello"
    assert v2.version == 2


def test_unchanged_files_are_not_rehashed(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Same size, mtime and inode: the stat cache answers, so a silent edit goes unseen.

    This is the documented trade-off (DVC makes the same one); it proves no re-hash happened.
    """
    path = tmp_path / "blob.bin"
    path.write_bytes(b"A" * 1000)
    v1 = ws.data.add(path, name="blob")
    st = path.stat()
    with open(path, "r+b") as f:  # same inode, same size
        f.write(b"B")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert ws.data.add(path, name="blob").hash == v1.hash
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # touched: re-hashed
    assert ws.data.add(path, name="blob").version == 2


def test_dataframes_round_trip(ws) -> None:  # type: ignore[no-untyped-def]
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, None]})
    v = ws.data.add(df, name="frame")
    assert v.format == "parquet" and v.stats["columns"]["b"]["missing"] == 1
    pd.testing.assert_frame_equal(ws.data.get("frame@1").load(), df)


def test_unknown_names_and_versions_say_what_exists(ws) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound, match="unknown dataset 'nope'"):
        ws.data.get("nope")
    ws.data.add(pd.DataFrame({"a": [1]}), name="one")
    with pytest.raises(NotFound, match=r"has no version 7.*versions are 1 to 1"):
        ws.data.get("one@7")
    with pytest.raises(InvalidInput, match="invalid dataset name"):
        ws.data.add(pd.DataFrame({"a": [1]}), name="bad name")
    with pytest.raises(NotFound, match="no such file"):
        ws.data.add("/no/such/file.csv", name="x")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("ragged.csv", b"a,b\n1,2\n1,2,3\n"),
        ("empty.csv", b""),
        ("binary.csv", b"\x89PNG\r\n\x1a\n\x00\xff"),
        ("bad.parquet", b"not parquet"),
    ],
)
def test_a_table_that_does_not_parse_is_refused_and_nothing_is_stored(
    sqlite_ws, tmp_path: Path, name: str, content: bytes
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=rf"cannot read .*{name}.* as (CSV|PARQUET)"):
        sqlite_ws.data.add(path, name="bad")
    assert sqlite_ws.data.list() == []
    assert not list((sqlite_ws.root / ".rung" / "artifacts").rglob("objects/*/*"))
