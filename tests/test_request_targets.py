"""Request targets against real servers on 127.0.0.1 (issue 12, part 3): an absolute-form
target names the host the request is for, and RFC 9112 §3.2.2 says the server MUST use it and
ignore ``Host``. So ``GET http://evil.example/… HTTP/1.1`` with ``Host: 127.0.0.1`` is the
DNS-rebinding request the ``Host`` allowlist refuses, and ``GET http://127.0.0.1/…`` with any
``Host`` is an ordinary request for this server. Sent over raw sockets (no client rewrites
them) to `rung serve` (uvicorn's httptools parser, its default) and to the same app under
uvicorn's h11 parser (used when httptools is not installed): both must answer alike.

Before: under httptools an ``ftp://evil.example/…`` target was served as if for this host
(only ``http``/``https`` authorities were checked), and under h11 every absolute-form target
was a 404 (its whole URL taken as the path) and ``http://127.0.0.1/…`` with another ``Host``
a 400.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import start_server
from model_project import make_champion

H11_SERVER = """
import sys
import uvicorn
from rung.serving.app import create_app
from rung.serving.connections import H11_LIMIT
from rung.workspace import Workspace

uvicorn.run(
    create_app(Workspace.open(sys.argv[1]), "trend@champion", access_log=False),
    host="127.0.0.1",
    port=int(sys.argv[2]),
    log_level="warning",
    http="rung.serving.connections:HeaderTimeoutH11",
    h11_max_incomplete_event_size=H11_LIMIT,
)
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("targets") / "ws"
    make_champion(root)
    yield root


def _h11(root: Path) -> tuple[subprocess.Popen[str], int]:
    script = root.parent / "h11_server.py"
    script.write_text(H11_SERVER)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, str(script), str(root), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).is_success:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the h11 server did not start")


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(request: pytest.FixtureRequest, root: Path) -> Iterator[tuple[str, int]]:
    """(the parser, the port) of a server without tokens (the defaults: loopback names)."""
    if request.param == "httptools":
        proc: Any
        proc, url = start_server(root, "trend@champion", "--no-access-log")
        port = int(url.rsplit(":", 1)[1])
    else:
        proc, port = _h11(root)
    yield request.param, port
    proc.terminate()
    proc.communicate(timeout=30)


def _send(port: int, head: str, body: bytes = b"") -> tuple[int, bytes, bytes]:
    """The status, head and body of the answer to ``head`` (and ``body``) sent as they are."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head.encode("latin-1") + body)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    top, _, rest = answer.partition(b"\r\n\r\n")
    return int(top.split(b" ", 2)[1]), top, rest


HEALTH = "/v2/health/ready"
# (method, target, Host or None for none, the status, the error type or None); {port}: the
# server's. 200s: the target names this server, whatever Host says.
CASES: list[tuple[str, str, str | None, int, str | None]] = [
    ("GET", HEALTH, "127.0.0.1", 200, None),  # the control: origin-form
    ("GET", HEALTH, "localhost:", 200, None),  # an empty port is valid (RFC 3986 §3.2.3)
    ("GET", f"http://127.0.0.1{HEALTH}", "127.0.0.1", 200, None),
    ("GET", f"http://127.0.0.1:{{port}}{HEALTH}", "evil.example", 200, None),  # target wins
    ("GET", f"HTTPS://LOCALHOST{HEALTH}", "evil.example", 200, None),
    ("GET", f"http://localhost.:{{port}}{HEALTH}", "127.0.0.1", 200, None),
    ("GET", f"http://[::1]:{{port}}{HEALTH}", "127.0.0.1", 200, None),
    ("GET", f"http://[::1]{HEALTH}?x=1", "[::1]", 200, None),
    ("GET", f"http://127.0.0.1:{HEALTH}", "127.0.0.1", 200, None),  # an empty port is valid
    ("GET", "http://127.0.0.1/v2/models/trend", "evil.example", 200, None),
    ("POST", "http://localhost:{port}/predict", "127.0.0.1", 200, None),
    # another host: the DNS-rebinding request, whatever Host says
    ("GET", f"http://evil.example{HEALTH}", "127.0.0.1", 400, "UnknownHost"),
    ("GET", f"http://evil.example:{{port}}{HEALTH}", "localhost", 400, "UnknownHost"),
    ("GET", f"https://evil.example{HEALTH}", "127.0.0.1", 400, "UnknownHost"),
    ("GET", f"http://EVIL.example{HEALTH}?to=http://127.0.0.1/", "127.0.0.1", 400, "UnknownHost"),
    ("GET", f"http://127.0.0.1.evil.example{HEALTH}", "127.0.0.1", 400, "UnknownHost"),
    ("GET", f"http://localhost.evil.example:80{HEALTH}", "localhost", 400, "UnknownHost"),
    ("GET", f"http://127.0.0.1%2eevil.example{HEALTH}", "127.0.0.1", 400, "UnknownHost"),
    ("GET", f"http://[::ffff:127.0.0.1]{HEALTH}", "127.0.0.1", 400, "UnknownHost"),
    ("GET", f"http://[::2]:{{port}}{HEALTH}", "[::1]", 400, "UnknownHost"),
    ("GET", f"http://0x7f000001{HEALTH}", "127.0.0.1", 400, "UnknownHost"),
    ("GET", f"http://2130706433{HEALTH}", "127.0.0.1", 400, "UnknownHost"),
    ("GET", f"http://127.1{HEALTH}", "127.0.0.1", 400, "UnknownHost"),
    ("GET", f"http://evil.example/x/..{HEALTH}", "127.0.0.1", 400, "UnknownHost"),
    ("POST", "http://evil.example/predict", "127.0.0.1", 400, "UnknownHost"),
    ("POST", "http://evil.example/feedback", "127.0.0.1", 400, "UnknownHost"),
    ("GET", f"http://127.0.0.1{HEALTH}", None, 400, "UnknownHost"),  # HTTP/1.1 needs Host
    # another scheme, user information, no valid host, no form at all
    ("GET", f"ftp://evil.example{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", f"ftp://127.0.0.1{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", f"ws://localhost:{{port}}{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", f"file://{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", f"http://127.0.0.1@evil.example{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", f"http://evil.example@127.0.0.1{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", f"http://user:pw@127.0.0.1:{{port}}{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", f"http://evil.example;@127.0.0.1{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", f"http://evil.example%2f@localhost{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", f"http://{HEALTH}", "127.0.0.1", 400, "BadTarget"),  # http:///v2/…: no host
    ("GET", f"http://[::1{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", f"http://::1{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", f"http://[127.0.0.1]{HEALTH}", "127.0.0.1", 400, "BadTarget"),  # IPv6 only
    ("GET", f"http://[fe80::1%25lo]{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", f"http://.{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", f"http://127.0.0.1:80:80{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", f"http://127.0.0.1:x{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", "*", "127.0.0.1", 400, "BadTarget"),  # the asterisk is OPTIONS' only
    ("GET", HEALTH[1:], "127.0.0.1", 400, "BadTarget"),
    ("GET", f"127.0.0.1:{{port}}{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", f"http:{HEALTH}", "127.0.0.1", 400, "BadTarget"),
    ("GET", f"http://evil.example#@127.0.0.1{HEALTH}", "127.0.0.1", 400, "BadTarget"),
]
ROW = json.dumps({"a": 2.0, "color": "red"}).encode()


@pytest.mark.parametrize(
    ("method", "target", "host", "status", "kind"),
    CASES,
    ids=[f"{m} {t} Host={h}" for m, t, h, _, _ in CASES],
)
def test_the_target_names_the_host_under_both_parsers(  # type: ignore[no-untyped-def]
    server, method: str, target: str, host: str | None, status: int, kind: str | None
) -> None:
    parser, port = server
    target = target.replace("{port}", str(port))
    fields = f"Host: {host}\r\n" if host is not None else ""
    body = ROW if method == "POST" else b""
    if body:
        fields += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    got, head, rest = _send(
        port, f"{method} {target} HTTP/1.1\r\n{fields}Connection: close\r\n\r\n", body
    )
    assert got == status, (parser, got, head, rest[:300])
    if status == 200:
        return
    if b"application/json" not in head.lower():
        # the parser itself refuses some requests before any application runs (httptools
        # some malformed targets, h11 a request without Host): 400 all the same, in
        # uvicorn's words
        assert rest == b"Invalid HTTP request received.", (parser, rest)
        return
    answer = json.loads(rest)
    error = answer["detail"] if isinstance(answer["error"], str) else answer["error"]
    assert error["type"] == kind, (parser, error)
    assert "\n" not in error["message"] and error["hint"], error
    if kind == "BadTarget":
        assert repr(target[:100]) in error["message"], error  # names what was sent


def test_options_asterisk_is_not_refused_as_a_target(server) -> None:  # type: ignore[no-untyped-def]
    _, port = server
    got, head, _ = _send(port, "OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert got != 400 and got < 500, head
    got, _, rest = _send(
        port, "OPTIONS * HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    )
    assert got == 400 and b"UnknownHost" in rest


def test_a_served_absolute_target_is_an_ordinary_request(root: Path) -> None:
    """With tokens, ``http://127.0.0.1/predict`` needs its token as ``/predict`` does (the
    rewritten path is what the token check reads), and the access log names the route."""
    from conftest import rung_cli

    made = rung_cli("token", "create", "t", "--scope", "predict", cwd=root)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    proc, url = start_server(root, "trend@champion")
    port = int(url.rsplit(":", 1)[1])
    try:
        head = (
            f"POST http://127.0.0.1:{port}/predict HTTP/1.1\r\nHost: evil.example\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(ROW)}\r\n"
            "Connection: close\r\n"
        )
        assert _send(port, head + "\r\n", ROW)[0] == 401
        got, _, rest = _send(port, head + f"Authorization: Bearer {token}\r\n\r\n", ROW)
        assert got == 200 and b"predict" in rest, rest
        health = f"GET http://localhost{HEALTH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        assert _send(port, health)[0] == 200  # open, as /v2/health/ready is
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
        os.remove(root / ".rung" / "tokens")
    assert " POST /predict 200 " in err and " POST /predict 401 " in err, err
