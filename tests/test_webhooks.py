"""Alert webhooks: http(s) only, no redirect followed, "delivered" only on a 2xx.

Against real HTTP servers on 127.0.0.1: one that records every request it gets (where a
redirect would lead), one that answers with a given status (and a ``Location`` to the first).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from rung.core.errors import InvalidInput
from rung.monitoring.alerts import check_webhook, deliver

ALERT = {"kind": "data_drift", "message": "m: 1 of 1 features drifted", "details": {}}


class _Server:
    """A ThreadingHTTPServer answering every method with ``status`` (and ``location``)."""

    def __init__(self, status: int, location: str | None = None) -> None:
        self.requests: list[tuple[str, str]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                owner.requests.append((self.command, self.path))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_HEAD = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def inner() -> Iterator[_Server]:
    """Another local address, where a followed redirect would land."""
    server = _Server(200)
    yield server
    server.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_delivery_and_is_not_followed(inner: _Server, status: int) -> None:
    target = inner.url.replace("/hook", "/admin?x=1")
    hook = _Server(status, location=target)
    try:
        error = deliver(hook.url, ALERT, timeout=5)
    finally:
        hook.close()
    assert error is not None and str(status) in error and target in error
    assert "redirects are not followed" in error and "\n" not in error
    assert hook.requests == [("POST", "/hook")]
    assert inner.requests == []  # nothing reached the other address


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_only_a_2xx_is_delivered(status: int) -> None:
    hook = _Server(status)
    try:
        assert deliver(hook.url, ALERT, timeout=5) is None
    finally:
        hook.close()
    assert hook.requests == [("POST", "/hook")]


@pytest.mark.parametrize("status", [400, 404, 500, 503])
def test_an_error_status_is_a_failed_delivery_naming_it(status: int) -> None:
    hook = _Server(status)
    try:
        error = deliver(hook.url, ALERT, timeout=5)
    finally:
        hook.close()
    assert error is not None and f"answered {status}" in error


NOT_HTTP = [
    "file:///etc/hostname",
    "file://localhost/etc/passwd",
    "ftp://127.0.0.1/alerts",
    "data:text/plain,hello",
    "gopher://127.0.0.1:70/x",
    "javascript:alert(1)",
    "http:///no-host",
    "https://",
    "127.0.0.1:8080/alerts",
    "/etc/hostname",
    "",
]


@pytest.mark.parametrize("url", NOT_HTTP)
def test_anything_but_an_http_url_is_refused_in_one_line(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_webhook(url)
    assert repr(url) in refused.value.message and "http" in str(refused.value.hint)
    error = deliver(url, ALERT, timeout=1)  # even if it got past the configuration
    assert error is not None and "not an http(s) URL" in error and "nothing was sent" in error


@pytest.mark.parametrize("value", [5, ["http://127.0.0.1/"], None, {"url": "x"}])
def test_a_webhook_that_is_not_text_is_refused(value: Any) -> None:
    with pytest.raises(InvalidInput, match="is not an http"):
        check_webhook(value)


def test_http_and_https_urls_are_accepted() -> None:
    for url in ("http://127.0.0.1:9/x", "HTTPS://hooks.example.com/rung", "http://[::1]:80/"):
        assert check_webhook(url) == url


def test_the_configuration_is_refused_when_read(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    from conftest import rung_cli

    ws = sqlite_ws
    config = (ws.root / "rung.toml").read_text()
    (ws.root / "rung.toml").write_text(config + '\n[monitor]\nwebhook = "file:///etc/hostname"\n')
    result = rung_cli("monitor", "alerts", "trend", cwd=ws.root)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'file:///etc/hostname'" in lines[0] and "http" in lines[0]
    with ws.store.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM alerts") == 0
