"""The datasets pages of ``rung ui`` and their API, checked against the workspace's own
records on both backends; the first rows of a version (``DatasetVersion.head``) and the runs
that read it (``Runs.read_by``); the pages in Chromium, with script-carrying column names and
values shown as text."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd
import pytest

from rung.core.errors import InvalidInput, NotFound
from rung.web.datasets import MAX_CELL, _cell

XSS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')

PIPE = textwrap.dedent(
    """
    import rung

    @rung.step
    def total(frame):
        return frame.assign(b=frame["a"] * 2)

    @rung.step
    def read_inside(name: str):
        return rung.dataset(name).load().assign(b=1.0)

    @rung.pipeline
    def given(name: str = "prices"):
        return total(rung.dataset(name))

    @rung.pipeline
    def inside(name: str = "prices"):
        return read_inside(name)
    """
)


def awkward(n: int, seed: int = 0) -> pd.DataFrame:
    """Integers, floats with NaN and inf, texts with markup, booleans, times with a zone."""
    r = np.random.default_rng(seed)
    x = r.normal(0, 1, n)
    x[::4] = np.nan
    if n > 2:
        x[2] = np.inf
    return pd.DataFrame(
        {
            "a": np.arange(n, dtype="int64"),
            "x": x,
            XSS[0]: [XSS[i % 2] for i in range(n)],
            "flag": [bool(i % 3) for i in range(n)],
            "at": pd.date_range("2008-09-15", periods=n, freq="h", tz="America/New_York"),
        }
    )


def preview_of(frame: pd.DataFrame) -> list[list[Any]]:
    return [[_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_head_is_the_first_rows_of_the_whole_table(ws, tmp_path, fmt) -> None:  # type: ignore[no-untyped-def]
    rows = 37
    frame = awkward(rows)
    path = tmp_path / f"t.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    v = ws.data.add(path, name=f"t{fmt}")
    whole = v.to_pandas()
    for n in (0, 1, 5, rows - 1, rows, rows + 10):
        head = v.head(n)
        assert list(head.columns) == list(whole.columns)
        assert len(head) == min(n, rows)
        # the same values (a CSV's first rows may infer a narrower dtype: 1 and 1.0 agree)
        assert preview_of(head) == preview_of(whole.head(n)), n
    with pytest.raises(InvalidInput):
        v.head(-1)


def test_head_of_a_file_is_refused_in_one_line(ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "notes.txt").write_text("hello")
    v = ws.data.add(tmp_path / "notes.txt", name="notes")
    with pytest.raises(InvalidInput, match="not a table"):
        v.head(3)


def test_cells_are_json_values(ws) -> None:  # type: ignore[no-untyped-def]
    assert _cell(np.int64(3)) == 3 and _cell(np.float64(1.5)) == 1.5
    assert _cell(float("nan")) is None and _cell(pd.NA) is None and _cell(pd.NaT) is None
    assert _cell(float("inf")) == "inf" and _cell(-math.inf) == "-inf"
    assert _cell(pd.Timestamp("2008-09-15", tz="UTC")) == "2008-09-15T00:00:00+00:00"
    assert _cell(b"x") == "b'x'" and _cell(XSS[0]) == XSS[0]
    for n in (MAX_CELL - 1, MAX_CELL, MAX_CELL + 1, 10 * MAX_CELL):
        cut = _cell("é" * n)
        assert len(cut) == min(n, MAX_CELL) and cut.endswith("…") == (n > MAX_CELL)


def test_read_by_names_every_way_a_run_read_a_version(ws) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "pipe.py").write_text(PIPE)
    ws.data.add(pd.DataFrame({"a": [1.0, 2.0]}), name="prices")
    given = ws.run("pipe.py:given")
    inside = ws.run("pipe.py:inside")
    ws.data.add(pd.DataFrame({"a": [1.0, 2.0, 3.0]}), name="prices")
    later = ws.run("pipe.py:given")
    ws.data.add(pd.DataFrame({"a": [1.0]}), name="prices_")  # a LIKE's '_' must not match
    readers = ws.runs.read_by("prices@1")
    assert [r["id"] for r in readers] == [inside.id, given.id]
    how = {r["id"]: (r["how"], r["steps"]) for r in readers}
    assert how[given.id] == (["input", "pipeline"], ["total"])
    assert how[inside.id] == (["inside"], ["read_inside"])
    assert [r["id"] for r in ws.runs.read_by("prices")] == [later.id]  # the latest: @2
    assert ws.runs.read_by("prices_@1") == []
    assert ws.runs.read_by("prices@1", limit=1)[0]["id"] == inside.id
    with pytest.raises(NotFound):
        ws.runs.read_by("prices@9")


def populate(ws: Any) -> None:
    (ws.root / "pipe.py").write_text(PIPE)
    ws.data.add(awkward(30, 1), name="prices")
    ws.data.add(pd.concat([awkward(30, 1), awkward(10, 2)], ignore_index=True), name="prices")
    third = awkward(40, 3).drop(columns=["flag"]).assign(extra=1)
    ws.data.add(third, name="prices")
    ws.data.add(pd.DataFrame({"k": [1, 2]}), name="small")
    folder = ws.root / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("one")
    (folder / "b.txt").write_text(XSS[1])
    ws.data.add(folder, name="folder")
    (folder / "a.txt").write_text("two")
    (folder / "c.txt").write_text("three")
    ws.data.add(folder, name="folder")


def test_api_answers_what_the_workspace_records(ws, ui_server) -> None:  # type: ignore[no-untyped-def]
    populate(ws)
    url = ui_server(ws.root)

    def get(path: str, **params: Any) -> Any:
        answer = httpx.get(url + path, params=params, timeout=30)
        assert answer.status_code == 200, (path, answer.text)
        return answer.json()

    listing = get("/api/datasets")["datasets"]
    assert [d["name"] for d in listing] == ["folder", "prices", "small"]
    prices = listing[1]
    latest = ws.data.get("prices")
    assert prices["versions"] == 3 and prices["latest"]["ref"] == latest.ref == "prices@3"
    assert prices["latest"]["rows"] == latest.rows == 40
    assert prices["latest"]["size"] == latest.size and prices["latest"]["hash"] == latest.hash
    assert prices["first_created_at"] == ws.data.get("prices@1").created_at

    versions = get("/api/datasets/prices")["versions"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert [v["hash"] for v in versions] == [v.hash for v in ws.data.list("prices")]

    for path in ("/api/datasets/prices/2", "/api/datasets/prices/02"):
        one = get(path, rows=5)
        v = ws.data.get("prices@2")
        assert one["ref"] == "prices@2" and one["schema"] == v.schema and one["stats"] == v.stats
        assert [c["name"] for c in one["columns"]] == list(v.schema["columns"])
        assert one["columns"][1]["mean"] == pytest.approx(v.stats["columns"]["x"]["mean"])
        assert one["preview"]["columns"] == [str(c) for c in v.to_pandas().columns]
        assert one["preview"]["rows"] == preview_of(v.to_pandas().head(5))
        assert one["read_by"] == [] and one["versions"] == [3, 2, 1]

    diff = get("/api/datasets/prices/diff", a=1, b=3)
    expected = ws.data.diff("prices@1", "prices@3")
    assert {k: diff[k] for k in expected} == expected
    assert diff["columns_removed"] == ["flag"] and diff["columns_added"] == ["extra"]
    assert get("/api/datasets/prices/diff")["from"] == "prices@2"  # default: previous → latest
    assert get("/api/datasets/small/diff")["same_content"] is True  # one version: itself
    folders = get("/api/datasets/folder/diff", a=1, b=2)
    assert folders["files_changed"] == ["a.txt"] and folders["files_added"] == ["c.txt"]
    assert get("/api/datasets/folder/2")["preview"] is None
    # the stored bytes gone: the version's record, schema and statistics still show
    small = ws.data.get("small@1")
    Path(ws.artifacts.path(small.hash)).unlink()
    gone = get("/api/datasets/small/1")
    assert gone["preview"] is None and "missing" in gone["preview_error"]
    assert gone["stats"] == small.stats
    shown = httpx.get(f"{url}/datasets/small@1", timeout=30)
    assert shown.status_code == 200 and "No preview" in shown.text


BAD = [
    ("/api/datasets/prics", 404, "prices"),
    ("/api/datasets/prics/1", 404, "prices"),
    ("/api/datasets/prices/9", 404, "1 to 3"),
    ("/api/datasets/prices/diff?a=1&b=9", 404, "1 to 3"),
    ("/api/datasets/prices/x", 400, "prices@N"),
    ("/api/datasets/prices/diff?a=x", 400, "prices@N"),
    ("/api/datasets/prices/1?rows=-1", 422, "rows greater than or equal 0"),
]


def test_unknown_and_malformed_are_the_canonical_errors(sqlite_ws, ui_server) -> None:  # type: ignore[no-untyped-def]
    populate(sqlite_ws)
    url = ui_server(sqlite_ws.root)
    for path, status, hint in BAD:
        answer = httpx.get(url + path, timeout=30)
        assert answer.status_code == status, (path, answer.text)
        error = answer.json()["error"]
        assert error["message"] and hint in error["hint"], (path, error)


def test_the_pages_in_a_browser(sqlite_ws, ui_server, watched) -> None:  # type: ignore[no-untyped-def]
    populate(sqlite_ws)
    run = sqlite_ws.run("pipe.py:given")
    url = ui_server(sqlite_ws.root)
    page = watched.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    watched.visit(f"{url}/datasets", shot="datasets-list")
    cells = page.locator("#datasets tbody tr").nth(1).locator("td").all_inner_texts()
    assert cells[:5] == ["prices", "3", "prices@3", "parquet", "40"]

    watched.visit(f"{url}/datasets/prices", shot="datasets-versions")
    assert page.locator("#versions tbody tr").count() == 3

    watched.visit(f"{url}/datasets/prices@3", shot="datasets-version")
    names = page.locator("#columns tbody tr td:first-child").all_inner_texts()
    assert names == [str(c) for c in sqlite_ws.data.get("prices@3").schema["columns"]]
    assert XSS[0] in names  # the script-carrying column name, as text
    header = page.locator("#preview thead th").all_inner_texts()
    assert XSS[0] in header
    values = page.locator("#preview tbody").inner_text()
    assert XSS[0] in values and XSS[1] in values  # the script-carrying values, as text
    readers = page.locator("#readers tbody tr td:first-child").all_inner_texts()
    assert readers == [str(run.id)]
    page.locator("#lineage-link").click()
    page.wait_for_url(lambda u: u.endswith("/lineage?from=dataset%3Aprices%403"))
    page.locator("#lineage-chart svg").first.wait_for()
    watched.check("datasets-lineage")

    watched.visit(f"{url}/datasets/prices/3", shot="datasets-version-path")
    watched.visit(f"{url}/datasets/prices/diff?a=1&b=3", shot="datasets-diff")
    assert page.locator("#removed").inner_text() == "flag"
    assert page.locator("#added").inner_text() == "extra"
    assert "30 → 40" in page.locator("#rows").inner_text()
    stats = page.locator("#stats tbody").inner_text()
    assert "x" in stats and "mean" in stats
    page.locator("#diff-form select[name=a]").select_option("2")
    page.locator("#diff-form button").click()
    page.wait_for_url(lambda u: u.endswith("/datasets/prices/diff?a=2&b=3"))
    watched.check()

    watched.visit(f"{url}/datasets/folder@2", shot="datasets-folder")
    assert "no table to preview" in page.locator("main").inner_text()
    watched.visit(f"{url}/datasets/folder/diff", shot="datasets-folder-diff")
    assert "c.txt" in page.locator("main").inner_text()

    watched.visit(f"{url}/datasets/prics", status=404, shot="datasets-404")
    assert "prices" in page.locator(".hint").first.inner_text()  # the nearest name
    assert page.locator("a.back").count() == 1
    watched.visit(f"{url}/datasets/prices@9", status=404)
    for text in XSS:
        answer = watched.visit(f"{url}/datasets/{quote(text, safe='')}", status=400)
        body = answer.text()
        assert "<script>alert" not in body and "<img src=x" not in body
        assert "alert(1)" in page.locator(".error").inner_text()
    assert not dialogs


def test_an_empty_workspace(tmp_path, ui_server, watched) -> None:  # type: ignore[no-untyped-def]
    from rung import Workspace

    Workspace.init(tmp_path / "empty").close()
    url = ui_server(tmp_path / "empty")
    assert httpx.get(f"{url}/api/datasets").json() == {"datasets": []}
    watched.visit(f"{url}/datasets", shot="datasets-empty")
    assert "No datasets yet" in watched.page.locator("#empty").inner_text()
    watched.visit(f"{url}/datasets/anything", status=404)
    assert "rung data list" in watched.page.locator(".hint").first.inner_text()
