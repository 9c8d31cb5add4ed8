"""`rung data show/schema/diff/get` as a person reads them: the file's column order, a diff
that leads with rows, columns and format, and versions copied back out verified."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import rung_cli


@pytest.fixture
def cli(ws, store_url: str):  # type: ignore[no-untyped-def]
    """Run the real CLI in ``ws`` (both backends); returns (stdout, stderr, code)."""

    def run(*args: str) -> tuple[str, str, int]:
        r = rung_cli(*args, cwd=ws.root, env={"RUNG_STORE_URL": store_url})
        assert "Traceback" not in r.stderr
        return r.stdout, r.stderr, r.returncode

    return run


COLUMN_NAMES = ["zeta", "Alpha", "mid", "b", "a b", "x.y", "émoji", "10"]


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(order=st.permutations(COLUMN_NAMES), n=st.integers(1, 5))
def test_columns_keep_the_files_order_everywhere(ws, tmp_path: Path, order, n) -> None:  # type: ignore[no-untyped-def]
    names = order[: n + 2]
    df = pd.DataFrame({c: [i, i + 1, i + 2] for i, c in enumerate(names)})
    df["Alpha" if "Alpha" not in names else "tail"] = ["p", "q", "p"]
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    v = ws.data.add(path, name="t")
    again = ws.data.get(v.ref)
    assert list(again.schema["columns"]) == list(df.columns)
    assert list(again.stats["columns"]) == list(df.columns)
    assert list(ws.data.schema(v.ref)["columns"]) == list(df.columns)


def test_show_schema_and_json_list_columns_in_file_order(cli, ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cols = ["zeta", "alpha", "mid", "label"]
    pd.DataFrame({c: [1, 2, 3] for c in cols}).to_csv(tmp_path / "d.csv", index=False)
    assert cli("data", "add", str(tmp_path / "d.csv"), "--name", "d")[2] == 0
    out, _, _ = cli("data", "show", "d@1")
    positions = [out.index(f" {c} ") for c in cols]
    assert positions == sorted(positions), out
    out, _, _ = cli("data", "schema", "d@1")
    positions = [out.index(f" {c} ") for c in cols]
    assert positions == sorted(positions), out
    shown = json.loads(cli("data", "show", "d@1", "--json")[0])
    assert list(shown["schema"]["columns"]) == cols


def _rows(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(start, start + n),
            "value": [i * 0.5 for i in range(start, start + n)],
            "group": [("a", "b", "c")[i % 3] for i in range(start, start + n)],
        }
    )


def test_an_append_is_said_first_and_statistics_wait_for_stats(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _rows(100).to_csv(tmp_path / "v1.csv", index=False)
    pd.concat([_rows(100), _rows(20, 100)]).to_csv(tmp_path / "v2.csv", index=False)
    cli("data", "add", str(tmp_path / "v1.csv"), "--name", "d")
    cli("data", "add", str(tmp_path / "v2.csv"), "--name", "d")
    out, _, code = cli("data", "diff", "d@1", "d@2")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[1].strip() == "rows: 100 → 120 (+20, an append: the first 100 rows are unchanged)"
    assert "columns: same names and types" in out
    assert "(details: --stats)" in out and "statistic " not in out
    assert len(lines) <= 5, out
    detailed, _, _ = cli("data", "diff", "d@1", "d@2", "--stats")
    assert "statistics that changed" in detailed and "mean" in detailed
    d = json.loads(cli("data", "diff", "d@1", "d@2", "--json")[0])
    assert d["append"] is True and d["rows"]["added"] == 20 and d["stats_changed"]


def test_edited_rows_are_not_an_append(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _rows(10).to_csv(tmp_path / "v1.csv", index=False)
    changed = pd.concat([_rows(10), _rows(2, 10)])
    changed.loc[3, "value"] = -1.0
    changed.to_csv(tmp_path / "v2.csv", index=False)
    cli("data", "add", str(tmp_path / "v1.csv"), "--name", "d")
    cli("data", "add", str(tmp_path / "v2.csv"), "--name", "d")
    d = json.loads(cli("data", "diff", "d@1", "d@2", "--json")[0])
    assert d["append"] is False and d["rows"] == {"from": 10, "to": 12, "added": 2, "removed": 0}
    assert "append" not in cli("data", "diff", "d@1", "d@2")[0]


def test_a_format_change_removed_rows_and_columns_lead(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _rows(30).to_csv(tmp_path / "v1.csv", index=False)
    v2 = _rows(25).drop(columns=["group"]).assign(id=lambda f: f["id"].astype(float), extra=1)
    v2.to_parquet(tmp_path / "v2.parquet", index=False)
    cli("data", "add", str(tmp_path / "v1.csv"), "--name", "d")
    cli("data", "add", str(tmp_path / "v2.parquet"), "--name", "d")
    out, _, _ = cli("data", "diff", "d@1", "d@2")
    lines = [line.strip() for line in out.strip().splitlines()]
    assert lines[1:6] == [
        "format: csv → parquet",
        "rows: 30 → 25 (-5)",
        "columns added: extra",
        "columns removed: group",
        "type of id: int64 → float64",
    ], out


def test_the_same_table_as_parquet_says_so(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _rows(30).to_csv(tmp_path / "v1.csv", index=False)
    _rows(30).to_parquet(tmp_path / "v1.parquet", index=False)
    cli("data", "add", str(tmp_path / "v1.csv"), "--name", "d")
    cli("data", "add", str(tmp_path / "v1.parquet"), "--name", "d")
    out, _, _ = cli("data", "diff", "d@1", "d@2")
    lines = [line.strip() for line in out.strip().splitlines()]
    assert lines[1:4] == [
        "format: csv → parquet",
        "rows: 30 → 30 (same count, the same values)",
        "columns: same names and types",
    ], out


def test_a_parquet_append_is_found_by_comparing_frames(ws) -> None:  # type: ignore[no-untyped-def]
    ws.data.add(_rows(40), name="p")
    ws.data.add(pd.concat([_rows(40), _rows(5, 40)]), name="p")
    d = ws.data.diff("p@1", "p@2")
    assert d["append"] is True and "format" not in d


# -- rung data get -------------------------------------------------------------------------


def test_get_copies_a_file_version_out_and_refuses_to_overwrite(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _rows(10).to_csv(tmp_path / "v1.csv", index=False)
    _rows(12).to_csv(tmp_path / "v2.csv", index=False)
    cli("data", "add", str(tmp_path / "v1.csv"), "--name", "d")
    cli("data", "add", str(tmp_path / "v2.csv"), "--name", "d")
    dest = tmp_path / "out.csv"
    out, _, code = cli("data", "get", "d@1", "-o", str(dest))
    assert code == 0 and "verified" in out
    assert dest.read_bytes() == (tmp_path / "v1.csv").read_bytes()
    _, err, code = cli("data", "get", "d@2", "-o", str(dest))
    assert code == 1
    assert (
        err
        == f"error: '{dest}' already exists — pass --force to replace it, or choose another path with -o\n"
    )
    assert dest.read_bytes() == (tmp_path / "v1.csv").read_bytes()  # untouched
    assert cli("data", "get", "d@2", "-o", str(dest), "--force")[2] == 0
    assert dest.read_bytes() == (tmp_path / "v2.csv").read_bytes()
    folder = tmp_path / "into"
    folder.mkdir()
    assert cli("data", "get", "d", "-o", str(folder))[2] == 0  # latest, under its own name
    assert (folder / "v2.csv").read_bytes() == (tmp_path / "v2.csv").read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rung-get")]


def test_get_copies_a_folder_version_out(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "imgs"
    (src / "sub").mkdir(parents=True)
    (src / "a.bin").write_bytes(os.urandom(300))
    (src / "sub" / "b.txt").write_text("hello")
    cli("data", "add", str(src), "--name", "imgs")
    dest = tmp_path / "back"
    assert cli("data", "get", "imgs@1", "-o", str(dest))[2] == 0
    assert (dest / "a.bin").read_bytes() == (src / "a.bin").read_bytes()
    assert (dest / "sub" / "b.txt").read_text() == "hello"
    assert cli("data", "get", "imgs@1", "-o", str(dest))[2] == 1  # exists
    (dest / "stale.txt").write_text("old")
    assert cli("data", "get", "imgs@1", "-o", str(dest), "--force")[2] == 0
    assert sorted(p.name for p in dest.rglob("*")) == ["a.bin", "b.txt", "sub"]


def test_get_never_replaces_the_workspace_or_the_current_folder(cli, ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "x").write_text("x")
    cli("data", "add", str(tmp_path / "f"), "--name", "f")
    for dest in (".", str(ws.root)):
        _, err, code = cli("data", "get", "f@1", "-o", dest, "--force")
        assert code == 1 and err.startswith("error: refusing to replace"), err
    assert (ws.root / "rung.toml").exists()


def test_get_of_a_corrupted_object_writes_nothing(cli, ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _rows(10).to_csv(tmp_path / "v1.csv", index=False)
    cli("data", "add", str(tmp_path / "v1.csv"), "--name", "d")
    obj = Path(ws.artifacts.path(ws.data.get("d@1").hash))
    os.chmod(obj, 0o644)
    obj.write_bytes(obj.read_bytes().replace(b"0.5", b"9.5"))
    _, err, code = cli("data", "get", "d@1", "-o", str(tmp_path / "out.csv"))
    assert code != 0 and err.startswith("error: ") and "corrupted" in err, err
    assert not (tmp_path / "out.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rung-get")]


def test_get_of_unknown_names_and_missing_folders_is_one_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _rows(3).to_csv(tmp_path / "v1.csv", index=False)
    cli("data", "add", str(tmp_path / "v1.csv"), "--name", "cancer")
    _, err, code = cli("data", "get", "cancr@1")
    assert code == 1 and "did you mean 'cancer'?" in err
    _, err, code = cli("data", "get", "cancer@1", "-o", str(tmp_path / "no" / "x.csv"))
    assert code == 1 and err.count("\n") == 1 and "does not exist" in err
