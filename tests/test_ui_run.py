"""``rung ui``'s run page and compare view (rung.web.run, rung.web.compare): the API's answers
against the Workspace's own records on both backends, the download of a stored artifact
(verified: a corrupted object is never sent), bad input as the canonical 4xx, and the pages
in Chromium — the step graph and the charts drawn, previews, a failed run's traceback, the
"only differences" toggle, script-carrying names shown as text, an empty workspace."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rung
from rung import pipeline, step
from rung.core.errors import InvalidInput, NotFound, StepFailed
from rung.core.hashing import ordered_json
from rung.web.compare import _cell, parallel
from rung.web.run import HISTORY_POINTS, _thin, step_graph

SCRIPTS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
"""Names that run script if a page writes them unescaped."""
FAIL = {"on": True}


@step
def make(n: int = 5):
    return pd.DataFrame({"x": np.arange(n, dtype="float64"), "tag": [SCRIPTS[0]] * n})


@step
def double(frame: pd.DataFrame):
    return frame.assign(y=frame["x"] * 2)


@step
def total(frame: pd.DataFrame):
    for i in range(12):
        rung.log_metric("loss", 1.0 / (i + 1))
    value = float(frame["y"].sum())
    rung.log_metric("total", value)
    return {"total": value, "note": SCRIPTS[1]}


@step
def column(frame: pd.DataFrame):
    return frame["x"].to_numpy()


@pipeline
def sweep(n: int = 5):
    frame = double(make(n))
    return total(frame), column(frame)


@step
def fragile(frame: pd.DataFrame):
    if FAIL["on"]:
        raise ValueError("bad <b>luck</b>")
    return frame


@pipeline
def reads_data():
    return double(rung.dataset("prices"))


@pipeline
def breaks():
    return fragile(make())


def _record(ws: Any) -> dict[str, int]:
    """Two pipeline runs (a sweep over n), a failed one, and a tracking run whose name,
    parameter and metric carry script."""
    ids = {"first": ws.run(sweep).id, "second": ws.run(sweep, {"n": 8}).id}
    FAIL["on"] = True
    with pytest.raises(StepFailed):
        ws.run(breaks)
    ids["failed"] = ws.runs.list(1)[0].id
    with ws.start_run(SCRIPTS[0], params={SCRIPTS[1]: SCRIPTS[0], "n": 3}) as run:
        rung.log_metric(SCRIPTS[1], 0.5)
        rung.log_metric(SCRIPTS[1], 0.25)
        rung.log_metric("total", math.nan)
    ids["tracked"] = run.id
    return ids


def _json(value: Any) -> Any:
    """``value`` as the API encodes it (ordered JSON, non-finite floats as strings)."""
    return json.loads(ordered_json(value))


# -- the feature module's query ------------------------------------------------------------


def test_an_artifact_is_found_by_its_full_hash_and_anything_else_is_refused(ws) -> None:  # type: ignore[no-untyped-def]
    rid = ws.run(sweep).id
    out = ws.runs.get(rid)["steps"][0]["outputs"][0]
    got = ws.runs.artifact(out["hash"])
    assert got == {
        "hash": out["hash"],
        "kind": "parquet",
        "size": out["size"],
        "media_type": "application/vnd.apache.parquet",
    }
    assert ws.runs.artifact(out["hash"].upper()) == got
    for bad in ("", "abc", out["hash"][:-1], out["hash"] + "0", "g" * 64, " " * 64):
        with pytest.raises(InvalidInput, match="not 64 hex digits"):
            ws.runs.artifact(bad)
    with pytest.raises(NotFound, match="unknown artifact 000000000000"):
        ws.runs.artifact("0" * 64)


def test_all_histories_at_once_are_each_metrics_history(ws) -> None:  # type: ignore[no-untyped-def]
    ids = []
    for r in range(3):
        with ws.start_run("sweep", params={"r": r}) as run:
            for s in range(r * 3):
                rung.log_metrics({"a": s / (r + 1), "b": math.nan if s == 1 else -s}, step=s)
            if r == 2:
                rung.log_metric("a", math.inf, step=0)  # logged again at an earlier step
        ids.append(run.id)
    got = ws.runs.metric_histories([*ids, ids[0]])
    assert set(got) == set(ids) and got[ids[0]] == {}
    for rid in ids:
        for key in ("a", "b"):
            one = ws.runs.metric_history(rid, key)
            assert _json(got[rid].get(key, [])) == _json(one)


# -- the pure parts: graph layers, thinned histories, parallel axes ------------------------


@given(st.lists(st.lists(st.integers(0, 30), max_size=3), min_size=1, max_size=12))
def test_each_step_sits_one_layer_after_the_deepest_step_it_reads_from(
    reads: list[list[int]],
) -> None:
    steps = [
        {
            "id": i + 1,
            "name": f"s{i}",
            "status": "succeeded",
            "cache_hit": False,
            "seconds": 0.1,
            # a step reads outputs of earlier steps only (a run's order), or unknown hashes
            "inputs": [{"name": f"in{j}", "hash": f"h{j}"} for j in r if j < i or j > 20],
            "outputs": [{"name": "output", "hash": f"h{i}"}],
        }
        for i, r in enumerate(reads)
    ]
    graph = step_graph(steps)
    layer = {n["id"]: n["layer"] for n in graph["nodes"]}
    assert len(graph["nodes"]) == len(steps)
    for n in graph["nodes"]:
        sources = [layer[e["source"]] for e in graph["edges"] if e["target"] == n["id"]]
        assert n["layer"] == (1 + max(sources) if sources else 0)
    places = [(n["layer"], n["row"]) for n in graph["nodes"]]
    assert len(set(places)) == len(places)
    expected = {(f"step:{j + 1}", f"step:{i + 1}") for i, r in enumerate(reads) for j in r if j < i}
    assert {(e["source"], e["target"]) for e in graph["edges"]} == expected


def test_a_long_chain_of_steps_is_laid_out_without_recursion() -> None:
    n = 5000
    steps = [
        {
            "id": i,
            "name": f"s{i}",
            "status": "succeeded",
            "cache_hit": True,
            "seconds": None,
            "inputs": [{"name": "x", "hash": f"h{i - 1}"}] if i else [],
            "outputs": [{"name": "output", "hash": f"h{i}"}],
        }
        for i in range(n)
    ]
    graph = step_graph(steps)
    assert [node["layer"] for node in graph["nodes"]] == list(range(n))


@given(
    st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5)),
        max_size=3 * HISTORY_POINTS,
    ),
    st.sampled_from([1, 7, 100, HISTORY_POINTS]),
)
def test_a_history_keeps_at_most_its_limit_the_last_point_and_gaps_for_non_finite(
    values: list[float], limit: int
) -> None:
    points = [(i, v) for i, v in enumerate(values)]
    thin = _thin(points, limit)
    assert len(thin) <= limit + 1
    if len(points) <= limit:
        assert len(thin) == len(points)
    if points:
        assert thin[-1][0] == points[-1][0]
    for step_, value in thin:
        original = values[step_]
        assert value == (original if math.isfinite(original) else None)
    finite = [v for v in values if math.isfinite(v)]
    kept = [v for _, v in thin if v is not None]
    if finite and limit >= 3:  # a spike or a dip survives thinning (peer report aim#3241)
        assert max(kept) == max(finite) and min(kept) == min(finite)
    assert [s for s, _ in thin] == sorted(s for s, _ in thin)


def test_parallel_axes_are_numeric_only_when_every_value_is_a_number() -> None:
    runs = [
        {"id": 1, "params": {"C": 0.1, "kind": "a", "flag": True, "seed": 7}, "metrics": {"acc": 0.9}},
        {"id": 2, "params": {"C": 1, "kind": "b", "flag": False, "seed": 7}, "metrics": {"acc": math.nan}},
        {"id": 3, "params": {"C": 10, "kind": 3, "seed": 7}, "metrics": {}},
    ]  # fmt: skip
    got = parallel(runs)
    axes = {a["name"]: a for a in got["axes"]}
    assert list(axes) == ["params.C", "params.kind", "params.flag", "metrics.acc"]  # seed same
    assert axes["params.C"]["type"] == "value" and axes["metrics.acc"]["type"] == "value"
    assert axes["params.kind"] == {
        **axes["params.kind"],
        "type": "category",
        "data": ["a", "b", "3"],
    }
    assert axes["params.flag"]["data"] == ["true", "false"]
    assert [line["values"] for line in got["lines"]] == [
        [0.1, "a", "true", 0.9],
        [1, "b", "false", None],
        [10, "3", None, None],
    ]


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("C", None, "—"),
        ("C", 0.1234567891, "0.123457"),
        ("C", math.nan, "nan"),
        ("C", True, "true"),
        ("C", 3, "3"),
        ("C", SCRIPTS[0], SCRIPTS[0]),  # as text: the template escapes it
        ("C", [1, "a"], '[1, "a"]'),
        ("C", {"k": SCRIPTS[1]}, '{"k": "' + SCRIPTS[1].replace('"', '\\"') + '"}'),
        ("started_at", 0.0, "1970-01-01 00:00:00"),
        ("hash", "ab" * 32, "ab" * 6),
    ],
)
def test_a_compared_value_is_shown_as_rung_compare_shows_it(
    key: str, value: Any, shown: str
) -> None:
    assert _cell(key, value) == shown


@step(pickle=True)
def opaque(frame: pd.DataFrame):
    return Opaque()


class Opaque:
    pass


@pipeline
def with_pickle():
    frame = make()
    return opaque(frame), total(double(frame))


def test_previews_stop_at_their_limits_and_never_load_a_pickle(ws, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from rung.web import run as page

    rid = ws.run(with_pickle).id
    outputs = page.run_view(ws, rid)["outputs"]
    kinds = {o["kind"]: o["hash"] for o in outputs}
    assert set(kinds) == {"parquet", "json", "pickle"}, outputs
    previews = page.run_view(ws, rid)["previews"]
    assert previews[kinds["pickle"]] == {
        "type": "none",
        "reason": "a pickle object: loading it can run code",
    }
    assert (
        previews[kinds["parquet"]]["type"] == "table" and previews[kinds["json"]]["type"] == "text"
    )
    smallest = min(o["size"] for o in outputs if o["kind"] != "pickle")
    monkeypatch.setattr(page, "PREVIEW_MAX_BYTES", smallest - 1)
    assert {
        p["reason"] for h, p in page.run_view(ws, rid)["previews"].items() if h != kinds["pickle"]
    } == {"too large to preview"}
    monkeypatch.undo()
    first = next(o for o in outputs if o["kind"] != "pickle")
    monkeypatch.setattr(page, "PREVIEW_BUDGET", first["size"])  # room for the first only
    capped = page.run_view(ws, rid)["previews"]
    assert capped[first["hash"]]["type"] in ("table", "text")
    rest = [o["hash"] for o in outputs if o["kind"] != "pickle" and o["hash"] != first["hash"]]
    assert rest and all("MB at most" in capped[h]["reason"] for h in rest)
    monkeypatch.setattr(page, "PREVIEW_MAX_OUTPUTS", 1)
    assert len(page.run_view(ws, rid)["previews"]) == 1
    assert page.run_view(ws, rid, previews=False)["previews"] == {}


# -- the API against the Workspace, on both backends --------------------------------------


def test_the_api_answers_what_the_workspace_recorded(ws, ui_server) -> None:  # type: ignore[no-untyped-def]
    ids = _record(ws)
    data = ws.data.add(pd.DataFrame({"x": [1.0, 2.0]}), name="prices")
    ids["reads"] = ws.run(reads_data).id
    url = ui_server(ws.root)
    with httpx.Client(base_url=url, timeout=30) as http:
        for rid in ids.values():
            got = http.get(f"/api/runs/{rid}").json()
            run = ws.runs.get(rid)
            assert got["run"] == _json(run)
            assert got["lineage"] == f"/lineage?from=run:{rid}"
            for key in run["metrics"]:
                expected = [
                    [s, v if math.isfinite(v) else None]
                    for s, v in ws.runs.metric_history(rid, key)
                ]
                assert got["metric_history"][key] == expected
        reads = http.get(f"/api/runs/{ids['reads']}").json()
        assert reads["datasets"] == ["prices@1"]
        assert {(e["source"], e["name"]) for e in reads["graph"]["edges"]} == {
            ("dataset:prices@1", "frame")
        }
        stored = http.get(f"/api/artifacts/{data.hash}")  # a dataset version's bytes
        assert stored.content == ws.artifacts.get_bytes(data.hash)
        assert stored.headers["content-type"].startswith(ws.runs.artifact(data.hash)["media_type"])
        first = http.get(f"/api/runs/{ids['first']}").json()
        names = {n["name"]: n for n in first["graph"]["nodes"]}
        assert {n: names[n]["layer"] for n in names} == {
            "make": 0,
            "double": 1,
            "total": 2,
            "column": 2,
        }
        table = next(p for p in first["previews"].values() if p["type"] == "table")
        assert table["columns"] == ["x", "tag"] and table["rows"][0] == [0.0, SCRIPTS[0]]
        texts = [p["text"] for p in first["previews"].values() if p["type"] == "text"]
        assert any(json.loads(t) == {"total": 20.0, "note": SCRIPTS[1]} for t in texts)
        assert any(t.startswith("shape (5,), dtype float64") for t in texts)

        pair = [str(ids["first"]), str(ids["second"]), str(ids["tracked"])]
        for everything in (False, True):
            got = http.get("/api/compare", params={"run": pair, "all": everything}).json()
            want = ws.runs.compare(pair, only_differences=not everything)
            assert got["runs"] == want["runs"] and got["rows"] == _json(want["rows"])
            assert got["all"] is everything
        assert got["metric_history"]["loss"].keys() == {str(ids["first"]), str(ids["second"])}
        for rid in (ids["first"], ids["second"]):
            logged = ws.runs.metric_history(rid, "loss")
            assert got["metric_history"]["loss"][str(rid)] == [[s, v] for s, v in logged]
        axes = [a["name"] for a in got["parallel"]["axes"]]
        assert axes[:2] == ["params.n", f"params.{SCRIPTS[1]}"] and "metrics.loss" in axes

        # the download: the stored bytes, verified, as an attachment of its media type
        out = ws.runs.get(ids["first"])["steps"][0]["outputs"][0]
        got_bytes = http.get(f"/api/artifacts/{out['hash']}")
        assert got_bytes.status_code == 200
        assert got_bytes.content == ws.artifacts.get_bytes(out["hash"])
        assert got_bytes.headers["content-type"] == "application/vnd.apache.parquet"
        assert got_bytes.headers["x-content-type-options"] == "nosniff"
        disposition = got_bytes.headers["content-disposition"]
        assert (
            disposition.startswith("attachment;") and f"{out['hash'][:12]}.parquet" in disposition
        )

        # bad input: the canonical error, at the status the kind of mistake has
        for path, params, status, says in (
            ("/api/compare", {"run": [pair[0]]}, 422, "compare needs two runs or more, got 1"),
            ("/api/compare", {}, 422, "compare needs two runs or more, got 0"),
            ("/api/compare", {"run": [pair[0], pair[0]]}, 422, f"run {pair[0]} is named twice"),
            ("/api/compare", {"run": [pair[0], "x"]}, 422, "run id 'x' is not a whole number"),
            ("/api/compare", {"run": [pair[0], "999"]}, 404, "unknown run 999"),
            ("/api/compare", {"run": [pair[0]] * 60}, 422, "60 runs to compare: at most 50"),
            ("/api/runs/999", {}, 404, "unknown run '999'"),
            ("/api/runs/abc", {}, 422, "run id 'abc' is not a whole number"),
            ("/api/runs/-1", {}, 422, "run id '-1' is not a whole number"),
            ("/api/artifacts/xyz", {}, 422, "'xyz' is not 64 hex digits"),
            ("/api/artifacts/" + "0" * 64, {}, 404, "unknown artifact 000000000000"),
        ):
            answer = http.get(path, params=params)
            assert answer.status_code == status, (path, params, answer.text)
            error = answer.json()["error"]
            assert says in error["message"] and error["hint"], (path, error)
        for path, status in (
            ("/runs/999", 404),
            ("/runs/abc", 422),
            (f"/compare?run={pair[0]}", 422),
        ):
            answer = http.get(path)
            assert answer.status_code == status and "text/html" in answer.headers["content-type"]
            assert 'href="/"' in answer.text  # a way back


def test_a_corrupted_artifact_is_previewed_as_such_and_never_sent(sqlite_ws, ui_server) -> None:  # type: ignore[no-untyped-def]
    rid = sqlite_ws.run(sweep).id
    out = sqlite_ws.runs.get(rid)["steps"][0]["outputs"][0]
    path = Path(sqlite_ws.artifacts.path(out["hash"]))
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    url = ui_server(sqlite_ws.root)
    got = httpx.get(f"{url}/api/runs/{rid}", timeout=30).json()
    assert got["previews"][out["hash"]]["type"] == "error"
    assert "corrupted" in got["previews"][out["hash"]]["message"]
    sent = httpx.get(f"{url}/api/artifacts/{out['hash']}", timeout=30)
    assert sent.status_code == 500 and sent.content != path.read_bytes()
    assert "request" in sent.json()["error"]["message"]
    page = httpx.get(f"{url}/runs/{rid}", timeout=30)  # the page still shows, with the error
    assert page.status_code == 200 and "corrupted" in page.text


# -- the pages in Chromium -----------------------------------------------------------------

_DRAWN = """(selector) => {
  const canvas = document.querySelector(selector + ' canvas');
  if (!canvas || !canvas.width || !canvas.height) return false;
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i]) return true; }
  return false;
}"""


def _drawn(page: Any, selector: str) -> None:
    page.wait_for_selector(f"{selector} canvas")
    page.wait_for_function(_DRAWN, arg=selector)


def test_the_pages_in_a_browser(sqlite_ws, ui_server, watched, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ids = _record(sqlite_ws)
    url = ui_server(sqlite_ws.root)
    page = watched.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    # a pipeline run: facts, graph, charts, previews, a working download
    watched.visit(f"{url}/runs/{ids['first']}")
    _drawn(page, "#step-graph")
    for chart in page.query_selector_all(".metric-chart"):
        assert chart.query_selector("canvas") is not None
    _drawn(page, ".metric-chart[data-metric='loss']")
    assert page.locator(".metric-chart[data-metric='total']").count() == 0  # logged once
    assert page.locator(f"a[href='/lineage?from=run:{ids['first']}']").count() == 1
    preview = page.locator("table.preview").first
    assert preview.locator("td", has_text=SCRIPTS[0]).count() == 5  # the cells, as text
    assert page.locator("pre.preview", has_text='"note"').count() == 1
    first_out = sqlite_ws.runs.get(ids["first"])["steps"][0]["outputs"][0]["hash"]
    with page.expect_download() as download:
        page.locator(f"#out-{first_out[:12]} a.download").click()
    assert Path(download.value.path()).read_bytes() == sqlite_ws.artifacts.get_bytes(first_out)
    watched.check("run-pipeline")

    # a failed run: its error and its step's traceback
    watched.visit(f"{url}/runs/{ids['failed']}")
    traceback = page.locator("pre.traceback").inner_text()
    assert "Traceback (most recent call last)" in traceback
    assert "ValueError: bad <b>luck</b>" in traceback
    assert page.locator("#run-error").inner_text().startswith("step 'fragile' failed")
    watched.check("run-failed")

    # script-carrying run name, parameter key and value, metric name: text, never run
    watched.visit(f"{url}/runs/{ids['tracked']}")
    _drawn(page, ".metric-chart")
    assert page.locator("#metric-charts h3").inner_text() == SCRIPTS[1]
    assert page.locator("h1").inner_text().count(SCRIPTS[0]) == 1
    assert page.locator("#params th", has_text=SCRIPTS[1]).count() == 1
    assert page.locator("#params td", has_text=SCRIPTS[0]).count() == 1
    assert page.locator("#metrics td", has_text=SCRIPTS[1]).count() == 1
    watched.check("run-script-names")
    with page.expect_navigation():
        page.locator("a", has_text="other runs named").click()
    assert page.locator("#runs tbody tr").count() == 1  # the name, quoted in the filter
    assert page.locator(f"#runs a[href='/runs/{ids['tracked']}']").count() == 1
    watched.check()

    # compare: only differences by default, then every field; charts drawn
    runs = f"run={ids['first']}&run={ids['second']}&run={ids['tracked']}"
    watched.visit(f"{url}/compare?{runs}")
    assert page.locator("#only-differences").is_checked()
    assert page.locator("#compare tr.same").count() == 0
    differing = page.locator("#compare tr.differs").count()
    _drawn(page, "#parallel")
    _drawn(page, ".metric-chart[data-metric='loss']")
    watched.check("compare-differences")
    with page.expect_navigation():
        page.locator("#only-differences").uncheck()
    assert "all=true" in page.url and not page.locator("#only-differences").is_checked()
    assert page.locator("#compare tr.same").count() > 0
    assert page.locator("#compare tr.differs").count() == differing
    assert page.locator("#compare td", has_text=SCRIPTS[0]).count() >= 1
    _drawn(page, "#parallel")
    watched.check("compare-all")

    # the runs table's compare button leads here
    watched.visit(f"{url}/runs")
    page.locator(f"input[name=run][value='{ids['first']}']").check()
    page.locator(f"input[name=run][value='{ids['second']}']").check()
    with page.expect_navigation():
        page.locator("#compare-form button[type=submit]").click()
    assert page.locator("#compare th a", has_text=f"run {ids['second']}").count() == 1
    watched.check()

    # bad input: the error page with a way back
    watched.visit(f"{url}/compare?run={ids['first']}", status=422)
    assert "compare needs two runs or more" in page.locator("p.error").inner_text()
    assert page.locator("a.back").count() == 1
    watched.visit(f"{url}/runs/999", status=404)
    assert "unknown run '999'" in page.locator("p.error").inner_text()
    watched.check("run-unknown")
    assert dialogs == []


def test_an_empty_workspace_in_a_browser(sqlite_ws, ui_server, watched) -> None:  # type: ignore[no-untyped-def]
    url = ui_server(sqlite_ws.root)
    watched.visit(f"{url}/runs", shot="runs-empty")
    assert "No runs yet" in watched.page.locator("main").inner_text()
    watched.visit(f"{url}/runs/1", status=404)
    assert "no runs yet" in watched.page.locator("main").inner_text()
    watched.visit(f"{url}/compare", status=422)
    assert "got 0" in watched.page.locator("p.error").inner_text()
