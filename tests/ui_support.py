"""What the tests of ``rung ui`` share: a real ``rung ui`` process on 127.0.0.1, and a real
browser (Playwright driving Debian's Chromium) that fails a test on any console error or
failed request and keeps a screenshot of every page it checks.

Screenshots go to ``$RUNG_SCREENSHOTS`` (default ``test-artifacts/screenshots`` in the
repository; CI keeps that folder as an artefact).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import RUNG, Served, answering

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = Path(os.environ.get("RUNG_SCREENSHOTS", ROOT / "test-artifacts" / "screenshots"))
CHROMIUM = os.environ.get("RUNG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_ui(
    root: Path, *options: str, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[Served, str]:
    """``rung ui`` for the workspace at ``root`` on a free port of 127.0.0.1, once it answers
    ``/healthz``: the process and its base URL. Stop it with ``proc.terminate()``."""
    port = free_port()
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        proc = Served([RUNG, "ui", "--port", str(port), *options], cwd=root)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return proc, answering(proc, f"http://127.0.0.1:{port}", "/healthz", timeout)


@pytest.fixture
def ui_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory: ``ui_server(root, *options, env=...)`` starts ``rung ui`` (stopped at the
    end of the test) and returns its base URL."""
    started: list[Served] = []

    def start(root: Path, *options: str, env: dict[str, str] | None = None) -> str:
        proc, url = start_ui(root, *options, env=env)
        started.append(proc)
        return url

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except Exception:
            proc.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium (Debian's, not Playwright's download) for the session; skipped
    when it is missing unless ``RUNG_REQUIRE_BROWSER=1`` (CI), where it fails."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        if os.environ.get("RUNG_REQUIRE_BROWSER") == "1":
            pytest.fail(f"no Chromium at {CHROMIUM} (CI installs Debian's chromium)")
        pytest.skip("no Chromium")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Watched:
    """A browser page that records every console error, uncaught exception and failed
    request (HTTP >= 400 or not answered): :meth:`visit` fails on any of them."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        self.expected: set[int] = set()
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"uncaught: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            text = message.text
            # the browser's own line for an answer the test expects to be an error
            if any(f"status of {s}" in text for s in self.expected):
                return
            self.problems.append(f"console: {text}")

    def _failed(self, request: Any) -> None:
        # a request the page left before it finished (the runs table reopened with its
        # remembered columns, a favicon still loading when a link was followed) is a
        # navigation, not a failure: a server's failure is an HTTP status (_response)
        if request.failure == "net::ERR_ABORTED":
            return
        self.problems.append(f"failed: {request.url} {request.failure}")

    def _response(self, response: Any) -> None:
        if response.status >= 400 and response.status not in self.expected:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def visit(self, url: str, shot: str | None = None, status: int = 200) -> Any:
        """Open ``url``; assert it answered ``status`` and nothing went wrong on the page;
        save a screenshot ``shot``.png (full page) when named."""
        self.expected = {status} if status >= 400 else set()
        response = self.page.goto(url, wait_until="networkidle")
        assert response is not None and response.status == status, (
            url,
            response and response.status,
        )
        self.check(shot)
        return response

    def check(self, shot: str | None = None) -> None:
        """Assert nothing went wrong so far (charts drawn asynchronously included: call it
        after waiting for them); save the screenshot ``shot``."""
        if shot:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", shot)
            self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        problems, self.problems = self.problems, []
        assert not problems, problems


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    """A fresh browser context and page, watched (:class:`Watched`)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield Watched(page)
    context.close()
