"""`rung monitor report`: the HTML page of drift and live performance over time, with the
continuous-training decisions marked — built from a real workspace through the real CLI,
and from hand-made windows for the awkward cases (infinities, no labels, no jobs)."""

from __future__ import annotations

import base64
import io
import math
from html.parser import HTMLParser
from typing import Any

import pytest

from conftest import rung_cli
from model_project import TRAIN, frame, in_fifties, log_served

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"

CONFIG = """
[eval]
label = "y"
criteria = ["accuracy >= 0.6 on every dataset"]

[automate]
model = "trend"
alias = "champion"
pipeline = "train.py:train"
datasets = ["holdout@1"]

[[automate.triggers]]
kind = "dataset"
dataset = "train"
"""


class Page(HTMLParser):
    """The parts of the report a test reads: images, and each table's rows of cell texts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src") or "")
        elif tag == "table":
            self._table = a.get("class") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def rows(self, table: str) -> list[dict[str, str]]:
        """A table's body rows as {header: cell}."""
        head, *body = self.tables[table]
        return [dict(zip(head, row, strict=True)) for row in body]


def _pngs(page: Page) -> list[Any]:
    """Every image decoded: a PNG by its signature, and readable as pixels."""
    import matplotlib.image

    out = []
    for src in page.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        data = base64.b64decode(src[len(prefix) :], validate=True)
        assert data.startswith(PNG)
        pixels = matplotlib.image.imread(io.BytesIO(data), format="png")
        assert pixels.shape[0] > 300 and pixels.shape[1] > 600
        out.append(pixels)
    return out


def _log(ws: Any, rows: Any, version: int, labelled: int = 0) -> None:
    """Serve ``rows`` as version ``version`` in requests of 50; the true labels of the first
    ``labelled`` requests come back. The model is logged as saying "yes" to every row."""
    from rung.serving.feedback import record

    served = log_served(ws.store, in_fifties(rows), version, latency_ms=3.0)
    if labelled:
        feedback = [{"request_id": r, "labels": p["y"].tolist()} for r, p in served[:labelled]]
        record(ws.store, {"feedback": feedback})


def _champion(ws: Any) -> None:
    """trend@1, so regularised that it predicts one class: a retrained challenger is clearly
    better (the promotion policy keeps a champion that a challenger merely ties)."""
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(1500, 1), name="train")
    ws.data.add(frame(600, 9), name="holdout")
    ws.models.register(str(ws.run("train.py:train", {"C": 0.0001}).id), "trend")
    ws.models.promote("trend", 1, force=True, reason="first version")


def _moved(n: int, seed: int) -> Any:
    rows = frame(n, seed)
    rows["a"] += 1.5
    rows["color"] = "red"
    return rows


def test_the_report_shows_windows_and_the_decision_between_them(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    from rung import Workspace

    _champion(sqlite_ws)
    (sqlite_ws.root / "rung.toml").write_text(CONFIG)
    ws = Workspace.open(sqlite_ws.root)
    _log(ws, frame(300, 2), version=1, labelled=3)  # half its labels back
    ws.monitor.check("trend@champion", "300")
    _log(ws, _moved(300, 3), version=1)  # moved, no labels yet
    ws.monitor.check("trend@champion", "300")
    ws.data.add(frame(3000, 5), name="train")
    job = ws.automation.tick()["job"]
    assert (job["state"], job["decision"]) == ("done", "promote")
    _log(ws, frame(300, 4), version=2, labelled=6)
    ws.monitor.check("trend@champion", "300")
    windows = ws.monitor.windows("trend")
    assert [len(w["drifted"]) for w in windows][1] == 2

    out = rung_cli("monitor", "report", "trend", "-o", "report.html", cwd=ws.root)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "wrote report.html"
    text = (ws.root / "report.html").read_text(encoding="utf-8")
    page = Page(text)
    assert len(_pngs(page)) == 2
    assert "3 monitoring window(s) of trend" in text and "1 automation job(s): 1 promoted" in text

    rows = page.rows("windows")
    assert [r["window"] for r in rows] == [str(w["id"]) for w in windows]
    assert [r["drifted"].split()[0] for r in rows] == [
        f"{len(w['drifted'])}/{len(w['features'])}" for w in windows
    ]
    assert rows[1]["drifted"] == "2/2 a, color"
    assert [r["served"] for r in rows] == ["trend@1", "trend@1", "trend@2"]
    assert [r["labelled"] for r in rows] == ["150/300", "0/300", "300/300"]
    assert rows[1]["accuracy"] == "-"  # no labels: no accuracy, a gap on the chart
    assert "data_drift" in rows[1]["alerts"]

    (decision,) = page.rows("jobs")
    assert decision["job"] == str(job["id"]) and decision["decision"] == "promoted"
    assert decision["champion → challenger"] == "v1 → v2"
    assert decision["evaluation"] == str(job["evaluation_id"])
    assert decision["why"].startswith("passed")
    assert "new dataset version train@2" in decision["why it fired"]

    # the defaults: monitoring.html in the working folder; --last limits the windows
    short = rung_cli("monitor", "report", "trend", "--last", "2", cwd=ws.root)
    assert short.returncode == 0 and short.stdout.strip() == "wrote monitoring.html"
    assert len(Page((ws.root / "monitoring.html").read_text()).rows("windows")) == 2


def test_a_model_without_jobs_and_an_unknown_model(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws  # no [automate] section at all
    _champion(ws)
    _log(ws, frame(300, 2), version=1)
    ws.monitor.check("trend@1", "300")
    _log(ws, _moved(300, 3), version=1)
    ws.monitor.check("trend@1", "300")

    out = rung_cli("monitor", "report", "trend", "-o", "empty.html", cwd=ws.root)
    assert out.returncode == 0, out.stderr
    text = (ws.root / "empty.html").read_text(encoding="utf-8")
    page = Page(text)
    assert len(_pngs(page)) == 2
    assert "jobs" not in page.tables and "No automation jobs for this model." in text
    assert [r["accuracy"] for r in page.rows("windows")] == ["-", "-"]
    assert [r["drifted"] for r in page.rows("windows")][1] == "2/2 a, color"

    unknown = rung_cli("monitor", "report", "nope", "-o", "nope.html", cwd=ws.root)
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines() == [
        "error: unknown model 'nope' — see `rung model list`"
    ]
    assert not (ws.root / "nope.html").exists()

    config = (ws.root / "rung.toml").read_text()
    (ws.root / "rung.toml").write_text(config + '\n[automate]\nmodle = "trend"\n')
    bad = rung_cli("monitor", "report", "trend", cwd=ws.root)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert "unknown key 'automate.modle' — did you mean 'model'?" in bad.stderr


def _window(i: int, at: float, **changes: Any) -> dict[str, Any]:
    """A stored window as ``Monitor.windows`` returns it, JSON's quirks included."""
    feature = {
        "kind": "numeric",
        "rows": 100,
        "nulls": 0,
        "stats": {"ks_pvalue": 0.5},
        "verdict": {"statistic": "ks_pvalue", "value": 0.5, "threshold": 0.05, "drift": False},
    }
    window = {
        "id": i,
        "model": "m@1",
        "ref": "m@champion",
        "window": "100",
        "at": at,
        "first_id": i,
        "last_id": i,
        "rows": 100,
        "reference": "training data",
        "features": {"x": feature, "y": {**feature, "kind": "categorical"}},
        "drifted": [],
        "prediction": None,
        "performance": {"rows": 100, "labelled": 0, "missing": 100, "accuracy": None, "mae": None},
        "health": {
            "requests": 1,
            "errors": 0,
            "error_rate": 0.0,
            "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": "inf"},
        },
        "alerts": [],
    }
    return {**window, **changes}


@pytest.mark.parametrize(
    "offsets",
    [(0, 3600, 7200), (0, 0.5, 3600), (0, 0, 0)],
    ids=["time-axis", "index-axis", "same-time"],
)
def test_awkward_windows_render_without_crashing(offsets: tuple[float, ...]) -> None:
    from rung.monitoring.report import _severity, monitoring_html

    t0 = 1_800_000_000.0
    inf = {
        "statistic": "wasserstein",
        "value": "inf",
        "threshold": 0.1,
        "drift": True,
    }
    windows = [
        _window(1, t0 + offsets[0]),
        _window(
            2,
            t0 + offsets[1],
            drifted=["x", "<y>"],
            features={
                "x": {"kind": "numeric", "verdict": inf},
                "<y>": {"kind": "categorical", "verdict": {"statistic": "chi2_pvalue"}},
            },
            prediction={"kind": "categorical", "verdict": {"value": "nan", "drift": True}},
            notes=["<y>: no value in the window (all null): only the null rate is compared"],
            skipped={"records": 2, "ids": [4, 9], "first": "prediction log record 4 is malformed"},
        ),
        _window(
            3,
            t0 + offsets[2],
            model="m@2",
            features={},
            performance={"rows": 10, "labelled": 10, "missing": 0, "accuracy": 0.9, "mae": "inf"},
            health={},
        ),
    ]
    jobs = [
        {"id": 7, "state": "failed", "error": "run <failed>", "updated_at": t0 + offsets[1] + 1},
        {"id": 8, "state": "trained", "decision": None, "updated_at": t0 - 30 * 86400},
    ]
    alerts = [
        {"window_id": 2, "kind": "data_drift", "delivery": "the webhook refused"},
        {"window_id": 1, "kind": "data_drift", "delivery": None},
    ]
    page_text = monitoring_html("m", windows, jobs, alerts)
    assert page_text.startswith("<!doctype html>") and page_text.endswith("</html>")
    page = Page(page_text)
    assert len(_pngs(page)) == 2
    assert "<y>" not in page_text and "&lt;y&gt;" in page_text
    rows = page.rows("windows")
    assert [r["drifted"] for r in rows] == ["0/2", "2/2 x, <y>", "0/0"]
    assert rows[0]["p99 ms"] == "∞" and rows[2]["p99 ms"] == "-"
    assert rows[1]["predictions"] == "DRIFT (? -)"
    assert rows[1]["alerts"] == "(webhook failed)" and rows[0]["alerts"] == "-"
    assert rows[1]["notes"].startswith("<y>: no value in the window (all null)")
    assert "2 malformed log record(s) left out: prediction log record 4" in rows[1]["notes"]
    assert rows[0]["notes"] == "-"
    assert [r["decision"] for r in page.rows("jobs")] == ["failed", "in progress"]
    assert page.rows("jobs")[0]["why"] == "run <failed>"
    assert "1 decision(s) outside these windows' time span are in the table only" in page_text
    assert _severity(inf) == math.inf
    assert _severity({"statistic": "ks_pvalue", "value": 0.0025, "threshold": 0.05}) == (
        pytest.approx(2.0)
    )

    empty = Page(monitoring_html("m", [], []))
    assert empty.images == [] and "windows" not in empty.tables


def test_the_report_renders_in_a_real_browser(tmp_path: Any) -> None:
    """Headless Chromium opens the page: both charts decode and the tables lay out."""
    import os
    import re
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("RUNG_REQUIRE_BROWSER"):
            pytest.fail("RUNG_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
        pytest.skip("no chromium: apt-get install chromium (CI installs it)")
    from rung.monitoring.report import monitoring_html

    t0 = 1_800_000_000.0
    windows = [_window(i, t0 + 3600 * i) for i in range(1, 6)]
    jobs = [
        {
            "id": 1,
            "state": "done",
            "decision": "promote",
            "challenger": 2,
            "champion": 1,
            "updated_at": t0 + 3600 * 3 + 60,
            "trigger": "drift",
            "reason": "drift",
        },
    ]
    probe = (
        "<script>window.addEventListener('load', () => {"
        " const imgs = [...document.images];"
        " const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;"
        " const rows = document.querySelectorAll('table tr').length;"
        " document.body.insertAdjacentHTML('beforeend',"
        " `<p id=probe>images ${ok}/${imgs.length} rows ${rows}</p>`); });</script>"
    )
    page = tmp_path / "report.html"
    page.write_text(monitoring_html("m", windows, jobs).replace("</body>", probe + "</body>"))
    out = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<p id="probe">images (\d+)/(\d+) rows (\d+)</p>', out.stdout)
    assert found, (out.returncode, out.stderr[-2000:])
    ok, total, rows = map(int, found.groups())
    assert ok == total == 2
    assert rows >= 5 + 1  # the windows' table at least: a header and one row per window
