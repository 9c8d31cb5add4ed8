"""The monitoring and automation pages of ``rung ui`` through a real ``rung ui``: their API
against the Workspace's own answers on both backends, unknown models and jobs as 404s naming
the nearest, and the pages in Chromium — the three charts drawn with the alias moves and
automation decisions marked, every stored or written text shown as text."""

from __future__ import annotations

import html
import json
from typing import Any

import httpx
import pytest

from rung.core.hashing import ordered_json
from ui_story import SCRIPTS, build

pytest.importorskip("sklearn")


def plain(value: Any) -> Any:
    return json.loads(ordered_json(value))


def test_monitoring_and_automation_api_are_the_workspace_s(ws, ui_server) -> None:  # type: ignore[no-untyped-def]
    from rung.automation.jobs import why_parts

    w = build(ws)
    url = ui_server(w.root)
    get = lambda path: httpx.get(url + path, timeout=30)  # noqa: E731

    index = get("/api/monitoring").json()["models"]
    assert [(m["name"], m["windows"], m["alerts"]) for m in index] == [
        ("trend", 2, len(w.monitor.alerts("trend")))
    ]
    windows = w.monitor.windows("trend")
    assert index[0]["latest"]["id"] == windows[-1]["id"]

    series = get("/api/monitoring/trend").json()
    assert [p["id"] for p in series["windows"]] == [x["id"] for x in windows]
    for point, window in zip(series["windows"], windows, strict=True):
        assert point["drifted"] == window["drifted"]
        assert point["at"] == window["at"] and point["served"] == window["model"]
        assert point["performance"]["labelled"] == window["performance"]["labelled"]
        assert point["performance"].get("accuracy") == window["performance"]["accuracy"]
        assert point["health"]["p99_ms"] == window["health"]["latency_ms"]["p99"]
        assert point["drift"] == plain({n: f["verdict"] for n, f in window["features"].items()})
    assert series["windows"][0]["performance"]["labelled"] == 300  # the labels came back
    assert series["windows"][1]["drifted"] == ["a"]
    assert series["alerts"] == plain(w.monitor.alerts("trend", 200))
    assert series["moves"] == plain(w.models.history("trend"))
    jobs = w.automation.history()
    assert [(j["id"], j["decision"]) for j in series["jobs"]] == [
        (j["id"], j["decision"]) for j in jobs
    ]
    assert series["served"] == ["trend@1"]
    assert len(get("/api/monitoring/trend?limit=1").json()["windows"]) == 1

    listed = get("/api/automation").json()
    assert [j["id"] for j in listed["jobs"]] == [j["id"] for j in reversed(jobs)]
    assert [lp["model"] for lp in listed["loops"]] == ["trend"]
    assert listed["loops"][0]["status"]["triggers"][0]["trigger"] == "dataset"
    assert [j["id"] for j in get("/api/automation?model=trend&limit=1").json()["jobs"]] == [
        jobs[-1]["id"]
    ]
    one = get(f"/api/automation/{jobs[-1]['id']}").json()
    assert one["evidence"] == plain(jobs[-1]["evidence"])
    assert one["why"] == why_parts(jobs[-1])
    assert (one["trigger"], one["run_id"], one["challenger"]) == (
        "dataset",
        jobs[-1]["run_id"],
        2,
    )

    from rung.automation.jobs import job_by_id, recent_jobs
    from rung.core.errors import NotFound

    with w.store.read() as tx:  # the queries behind the pages, on this backend
        assert [j["id"] for j in recent_jobs(tx)] == [j["id"] for j in jobs]
        assert recent_jobs(tx, "trend", 1)[0]["evidence"] == jobs[-1]["evidence"]
        assert recent_jobs(tx, "other") == []
        assert job_by_id(tx, jobs[0]["id"])["reason"] == jobs[0]["reason"]
        with pytest.raises(NotFound, match="no automation job 5"):
            job_by_id(tx, 5)
    assert w.monitor.counts() == {
        "trend": {
            "windows": len(windows),
            "alerts": len(w.monitor.alerts("trend")),
            "last_at": windows[-1]["at"],
        }
    }

    for path, said in (
        ("/api/monitoring/trnd", "did you mean 'trend'"),
        ("/api/monitoring/" + SCRIPTS[1].replace("/", ""), "see `rung model list`"),
        ("/api/automation/99", "the nearest: 1"),
        ("/api/automation/abc", "a job is named by its number"),
        ("/api/automation/1e3", "a job is named by its number"),
        ("/api/automation/-1", "a job is named by its number"),
        ("/api/automation/" + "9" * 40, "a job is named by its number"),
        ("/api/automation/0", "the nearest: 1"),
        ("/api/monitoring/" + "m" * 2000, "see `rung model list`"),
        ("/api/automation?model=trnd", "did you mean 'trend'"),
    ):
        answer = get(path)
        assert answer.status_code == 404, path
        error = answer.json()["error"]
        assert error["type"] == "NotFound" and said in error["hint"], (path, error)


def test_monitoring_pages_draw_the_series_with_moves_and_decisions(
    sqlite_ws, ui_server, watched
) -> None:  # type: ignore[no-untyped-def]
    w = build(sqlite_ws)
    url = ui_server(w.root)
    page = watched.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    watched.visit(url + "/monitoring", shot="monitoring")
    assert "trend" in page.inner_text("#models")

    watched.visit(url + "/monitoring/trend", shot="monitoring-model")
    for chart in ("chart-drift", "chart-features", "chart-performance", "chart-health"):
        page.wait_for_selector(f"#{chart} canvas")
    heat = page.evaluate(
        """() => echarts.getInstanceByDom(document.getElementById('chart-features'))
                   .getOption().series[0].data"""
    )
    verdicts = [  # window by window, feature by feature: drifted or not
        [i, j, int(x["features"][name]["verdict"]["drift"])]
        for i, x in enumerate(w.monitor.windows("trend"))
        for j, name in enumerate(x["features"])
    ]
    assert sorted(heat) == sorted(verdicts) and [1, 0, 1] in heat  # window 2 drifted in a
    drawn = page.evaluate(
        """() => ['chart-drift', 'chart-performance', 'chart-health'].map(id => {
             const c = echarts.getInstanceByDom(document.getElementById(id));
             const o = c.getOption();
             return {series: o.series.map(s => s.data.filter(p => p[1] !== null).length),
                     marks: o.series[0].markLine.data.length};
           })"""
    )
    moves, jobs = len(w.models.history("trend")), len(w.automation.history())
    for chart in drawn:  # every window is a point; every move and decision a line
        assert max(chart["series"]) == 2 and chart["marks"] == moves + jobs, drawn
    watched.check("monitoring-model-drawn")
    text = page.inner_text("main")
    for script in SCRIPTS:  # the alert's text, its delivery, a promotion's reason
        assert script in text
    assert page.locator('img[src="x"]').count() == 0

    job = w.automation.history()[-1]
    watched.visit(url + "/automation", shot="automation")
    assert "approved" in page.inner_text("#jobs")
    watched.visit(url + f"/automation/{job['id']}", shot="automation-job")
    why = page.inner_text("#why")
    assert SCRIPTS[1] in why and "approved by" in why
    evidence = json.loads(page.inner_text("#evidence"))
    assert evidence == plain(job["evidence"])
    assert page.locator('img[src="x"]').count() == 0

    for path, said in (
        ("/monitoring/trnd", "did you mean 'trend'"),
        ("/automation/99", "the nearest: 1"),
        ("/monitoring/" + SCRIPTS[0], "Not Found"),
    ):
        watched.visit(url + path, shot=None, status=404)
        assert said in page.inner_text("main")
        assert page.locator("a.back").get_attribute("href") == "/"
    assert page.locator("script", has_text="alert(1)").count() == 0
    assert dialogs == []


def test_a_model_with_nothing_yet_and_a_failed_job_render(sqlite_ws, ui_server) -> None:  # type: ignore[no-untyped-def]
    """The other states each page shows: a version no alias points at, no window stored,
    a job whose run failed (its error shown, nothing decided) — every page answers."""
    from model_project import TRAIN, frame
    from rung import Workspace

    (sqlite_ws.root / "train.py").write_text(TRAIN)
    sqlite_ws.data.add(frame(300, 1), name="train")
    sqlite_ws.models.register(str(sqlite_ws.run("train.py:train", {"C": 1.0}).id), "trend")
    sqlite_ws.models.register(str(sqlite_ws.run("train.py:train", {"C": 0.5}).id), "other")
    (sqlite_ws.root / "rung.toml").write_text(
        '[eval]\nlabel = "y"\ncriteria = ["accuracy >= 0.99 on every dataset"]\n'
        '[automate]\nmodel = "trend"\nlabel = "y"\npipeline = "train.py:train"\nparams = { C = -1.0 }\n'
        '[[automate.triggers]]\nkind = "dataset"\ndataset = "train"\n'
    )
    w = Workspace.open(sqlite_ws.root)
    w.data.add(frame(300, 2), name="train")
    job = w.automation.tick()["job"]
    assert job["state"] == "failed" and job["error"]
    before = w.evaluate("other@1", ["train@1"])  # under the criteria of then
    w.models.promote("other", 1, alias="old", force=True, reason="over the failed evaluation")
    config = (w.root / "rung.toml").read_text()
    (w.root / "rung.toml").write_text(config.replace("0.99 on", "0.995 on"))
    w = Workspace.open(w.root)
    failed = w.evaluate("other@1", ["train@1"])
    assert before.verdict["status"] == failed.verdict["status"] == "failed"
    w.models.promote("other", 1, force=True, reason="over the failed evaluation")
    url = ui_server(w.root)
    get = lambda path: httpx.get(url + path, timeout=30)  # noqa: E731

    models = {m["name"]: m for m in get("/api/home").json()["models"]}
    forced, old = models["other"]["aliases"]  # forced over a failed evaluation: said why
    assert (forced["verdict"], forced["evaluation_id"]) == ("failed", failed.id)
    assert forced["failing"] == failed.verdict["reasons"][:3] and forced["failing"]
    assert forced["move_verdict"] is None  # its move named the gate's evaluation
    assert old["alias"] == "old" and old["last_move"]["evaluation_id"] == before.id
    assert old["move_verdict"] == {"status": "failed", "reasons": before.verdict["reasons"][:3]}
    assert old["links"]["move_evaluation"] == f"/evaluations/{before.id}"
    home = models["trend"]
    assert home["aliases"] == [] and home["monitoring"] is None
    assert home["automation"]["state"] == "failed" and home["automation"]["why"] == []
    for path, said in (
        ("/", "No alias points at a version of trend"),
        ("/", failed.verdict["reasons"][0]),
        ("/monitoring", "no window stored"),
        ("/monitoring/trend", "No monitoring window of trend"),
        ("/automation", job["error"][:40]),
        (f"/automation/{job['id']}", job["error"][:40]),
    ):
        answer = get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
        assert said in html.unescape(answer.text), path
    series = get("/api/monitoring/trend").json()
    assert series["windows"] == [] and series["jobs"][0]["state"] == "failed"
