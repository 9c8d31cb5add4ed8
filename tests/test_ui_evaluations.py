"""The Evaluations pages of ``rung ui`` (issue 13), against a real ``rung ui``:

* ``/api/evaluations`` and ``/api/evaluations/{id}`` answer what the Workspace recorded (Table
  2 with Total, Mean and Std, the verdict and its failing checks, slices, the bootstrap deltas
  against the baseline), on both backends; an unknown id is a 404;
* each chart of the HTML report is an SVG image that matplotlib drew, served under a policy
  that runs nothing, in which workspace text (a slice value, a class label) is text, never
  markup — a family of script-carrying values;
* the pages in Chromium on a workspace with evaluations (every chart loaded and drawn, no
  dialog opened by any script-carrying value) and on an empty one.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from model_project import TRAIN, frame

pytest_plugins = ["ui_support"]  # its fixtures: ui_server, browser, watched
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

HOSTILE = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "]]><svg onload=alert(1)>",
    "<!--",
    "&lt;b&gt;",
)
"""Values that would be markup if written into a page or an SVG unescaped."""


def hostile(n: int, seed: int, label: str) -> Any:
    """The model project's frame with a hostile colour on some rows (a slice value) and a
    hostile class ``label`` instead of "no" (the confusion matrix's and calibration's)."""
    f = frame(n, seed)
    for i, value in enumerate(HOSTILE):
        f.loc[f.index[i * 10 : i * 10 + 10], "color"] = value
    f["y"] = f["y"].replace({"no": label})
    return f


def evaluated(ws: Any, label: str = HOSTILE[1]) -> tuple[Any, Any, Any]:
    """trend@1 and trend@2 registered; trend@1 evaluated on holdout@1 (passes
    ``accuracy >= 0.6``), trend@2 (regularised to one class) on holdout@1 and train@1 against
    trend@1 as baseline, sliced by colour (fails). The workspace reopened with the criteria."""
    from rung import Workspace

    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(hostile(400, 1, label), name="train")
    ws.data.add(hostile(300, 2, label), name="holdout")
    for c in (1.0, 0.0001):
        ws.models.register(str(ws.run("train.py:train", {"C": c}).id), "trend")
    (ws.root / "rung.toml").write_text(
        '[eval]\nlabel = "y"\ncriteria = ["accuracy >= 0.6 on every dataset"]\n'
    )
    w = Workspace.open(ws.root)
    one = w.evaluate("trend@1", ["holdout@1"], slices=["color"])
    two = w.evaluate("trend@2", ["holdout@1", "train@1"], baseline="trend@1", slices=["color"])
    assert (one.status, two.status) == ("passed", "failed")
    return w, one, two


def plain(value: Any) -> Any:
    """``value`` as the API's JSON has it (non-finite floats as strings)."""
    from rung.core.hashing import ordered_json

    return json.loads(ordered_json(value))


def test_the_api_answers_what_was_recorded(ws, ui_server) -> None:  # type: ignore[no-untyped-def]
    w, one, two = evaluated(ws)
    url = ui_server(w.root)
    listing = httpx.get(f"{url}/api/evaluations").json()["evaluations"]
    assert listing == plain(w.evals.list(100))
    assert [(e["id"], e["verdict"]) for e in listing] == [(two.id, "failed"), (one.id, "passed")]
    assert listing[0]["datasets"] == ["holdout@1", "train@1"]

    got = httpx.get(f"{url}/api/evaluations/{two.id}").json()
    recorded = plain(w.evals.get(two.id).to_dict())
    assert {k: got[k] for k in recorded} == recorded
    assert [r["dataset"] for r in got["table"]] == ["holdout@1", "train@1", "Total", "Mean", "Std"]
    assert [r["aggregate"] for r in got["table"]] == [False, False, True, True, True]
    assert got["table"][3]["row"] == recorded["aggregates"]["Mean"]
    assert got["shown"][:2] == ["examples", "labelled"] and "accuracy" in got["shown"]
    assert got["failing"] and all(not c["passed"] for c in got["failing"])
    assert [c["reason"] for c in got["failing"]] == recorded["verdict"]["reasons"]
    assert {(d["dataset"], d["metric"]) for d in got["deltas"]} >= {
        ("holdout@1", "accuracy"),
        ("train@1", "accuracy"),
    }
    assert got["worst_slices"] and got["worst_slices"][0]["metric"] == "accuracy"
    assert set(got["confusion"]) == {"holdout@1", "train@1"}
    assert [c["key"] for c in got["charts"]] == ["metrics", "calibration", "slices"]
    assert got["version"] == {"name": "trend", "version": 2}
    assert got["gate"] == {
        "ref": "trend@2",
        "counts": True,
        "evaluation_id": two.id,
        "verdict": "failed",
    }

    # evaluated by its alias: linked to the version it was then (by its bytes), not the alias's
    w.models.promote("trend", 1)
    three = w.evaluate("trend@champion", ["holdout@1"])
    w.models.promote("trend", 2, force=True, reason="test")
    got = httpx.get(f"{url}/api/evaluations/{three.id}").json()
    assert (got["model"], got["version"]) == ("trend@champion", {"name": "trend", "version": 1})
    assert got["gate"]["counts"] and got["gate"]["evaluation_id"] == three.id  # the newest
    first = httpx.get(f"{url}/api/evaluations/{one.id}").json()["gate"]
    assert (first["counts"], first["evaluation_id"]) == (False, three.id)  # now informs only

    missing = httpx.get(f"{url}/api/evaluations/99")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "type": "NotFound",
        "message": "unknown evaluation 99",
        "hint": f"ids go from 1 to {three.id}",
        "fields": [],
    }
    assert httpx.get(f"{url}/api/evaluations/0").status_code == 422
    assert httpx.get(f"{url}/evaluations/{two.id}/charts/nope.svg").status_code == 404


@pytest.mark.parametrize("label", HOSTILE)
def test_chart_text_from_the_workspace_is_never_markup(sqlite_ws, label) -> None:  # type: ignore[no-untyped-def]
    """Each chart matplotlib draws, with every hostile value as a slice value and ``label``
    as a class: well-formed XML with no script, no event handler, no foreign element, and
    the value there as text."""
    from rung.evaluation import report

    w, _, two = evaluated(sqlite_ws, label)
    ev = w.evals.get(two.id)
    cols = report.columns(ev)
    texts = []
    for key, _ in report.charts(ev, cols):
        svg = report.chart_svg(ev, key, cols)
        root = ET.fromstring(svg)  # well-formed: nothing broke out of an element
        for el in root.iter():
            tag = el.tag.rpartition("}")[2]
            assert tag not in ("script", "foreignObject", "img", "iframe"), (key, tag)
            assert not [a for a in el.attrib if a.lower().startswith("on")], (key, el.attrib)
            texts.append(el.text or "")
    joined = "\n".join(texts)
    assert "color=<script>alert(1)</script>" in joined  # a slice value, as text
    assert f"P({label})" in joined or "P(yes)" in joined  # the calibration's class


def test_the_pages_in_a_browser(sqlite_ws, ui_server, watched, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rung import Workspace

    empty = Workspace.init(tmp_path / "empty")
    url = ui_server(empty.root)
    assert httpx.get(f"{url}/api/evaluations").json() == {"evaluations": [], "limit": 100}
    watched.visit(f"{url}/evaluations", shot="evaluations-empty")
    assert "No evaluations yet" in watched.page.inner_text("main")
    watched.visit(f"{url}/evaluations/1", shot="evaluation-404", status=404)
    assert "unknown evaluation 1" in watched.page.inner_text("main")

    w, _, two = evaluated(sqlite_ws)
    url = ui_server(w.root)
    page = watched.page
    page.on("dialog", lambda d: pytest.fail(f"a dialog opened: {d.message}"))
    watched.visit(f"{url}/evaluations", shot="evaluations")
    rows = page.locator("#evaluations tbody tr")
    assert rows.count() == 2 and "failed" in rows.first.inner_text()
    assert rows.first.locator("a[href='/models/trend/2']").inner_text() == "trend@2"
    page.click(f"#evaluations a[href='/evaluations/{two.id}']")
    page.wait_for_load_state("networkidle")
    table = [r.split("\t")[0] for r in page.inner_text("#table2 tbody").splitlines()]
    assert table == ["holdout@1", "train@1", "Total", "Mean", "Std"]
    assert "VERDICT: FAILED" in page.inner_text("#verdict").upper()
    assert "This is the verdict of trend@2 for promotion" in page.inner_text("#gate")
    failing = page.inner_text("#failing")
    assert two.verdict["reasons"] and all(r in failing for r in two.verdict["reasons"])
    assert "accuracy" in page.inner_text("#deltas")
    slices = page.inner_text("#slices")
    assert "color=<script>alert(1)</script>" in slices  # shown as text
    assert HOSTILE[1] in page.inner_text("#confusion")  # the class label, as text
    images = page.locator("img.svgchart")
    assert images.count() == 3
    for i in range(3):  # every chart loaded and drawn
        assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 100")
    watched.check("evaluation")
    page.click("dl.facts a[href='/models/trend/2']")
    assert page.url.endswith("/models/trend/2")
