"""`rung serve` secure by default (issue 12, part 3), each item against a real server on
127.0.0.1: tokens with scopes, loopback-only without tokens, the JSON content type on every
POST (and the Open Inference Protocol clients' bodies still accepted), the ``Host``
allowlist, CORS only for listed origins, server-side request ids, the streamed body limit,
the header and body timeouts, the head size limit, one Host header and a 500 without
the exception's text.

Two servers per module: ``secured`` (tokens, ``[serve]`` with an extra host and a CORS
origin, 2 s header and body timeouts) and ``open_local`` (no tokens, the defaults).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import rung_cli, start_server
from model_project import TRAIN, frame

ROW = {"a": 2.0, "color": "red"}
ERROR_KEYS = {"type", "message", "hint", "fields"}


def _workspace(root: Path, serve_section: str = "") -> Any:
    from rung import Workspace

    ws = Workspace.init(root)
    if serve_section:
        with open(root / "rung.toml", "a") as f:
            f.write("\n" + serve_section)
        ws.close()
        ws = Workspace.open(root)
    (root / "train.py").write_text(TRAIN)
    ws.data.add(frame(200, 1), name="train")
    ws.models.register(str(ws.run("train.py:train", {"C": 1.0}).id), "trend")
    ws.models.promote("trend", 1, force=True, reason="test")
    return ws


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.terminate()
    _, err = proc.communicate(timeout=30)
    return err


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("secured") / "ws"
    ws = _workspace(
        root,
        '[serve]\nallowed_hosts = ["models.internal"]\ncors_origins = ["https://app.example"]\n',
    )
    tokens = {}
    for name, scopes in (("pred", ["predict"]), ("fb", ["feedback"]), ("root", ["admin"])):
        made = rung_cli("token", "create", name, *[f"--scope={s}" for s in scopes], cwd=root)
        assert made.returncode == 0, made.stderr
        tokens[name] = made.stdout.strip()
    proc, url = start_server(root, "trend@champion", "--header-timeout", "2", "--body-timeout", "2")
    yield ws, url, proc, tokens
    _stop(proc)
    ws.close()


@pytest.fixture(scope="module")
def open_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("open") / "ws"
    ws = _workspace(root)
    proc, url = start_server(root, "trend@champion")
    yield ws, url, proc
    _stop(proc)
    ws.close()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _refused(r: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    if isinstance(body["error"], str):  # /v2: the protocol's shape, rung's body in "detail"
        assert body["error"].startswith(body["detail"]["message"]), body
    error: dict[str, Any] = body["detail"] if isinstance(body["error"], str) else body["error"]
    assert set(error) == ERROR_KEYS and error["type"] == kind, error
    assert "\n" not in error["message"]
    return error


# -- 1. tokens and scopes -------------------------------------------------------------------

# (method, path, body, the scope it needs: None open, "any" any valid token)
ROUTES: list[tuple[str, str, Any, str | None]] = [
    ("GET", "/v2/health/live", None, None),
    ("GET", "/v2/health/ready", None, None),
    ("GET", "/v2/models/trend/ready", None, None),
    ("POST", "/predict", ROW, "predict"),
    ("GET", "/v2/models/trend", None, "predict"),
    ("POST", "/feedback", {"request_id": "nope", "label": "yes"}, "feedback"),
    ("GET", "/metrics", None, "admin"),
    ("GET", "/openapi.json", None, "any"),
    ("GET", "/docs", None, "any"),
    ("GET", "/nowhere", None, "predict"),  # closed until given a scope
]


def test_every_route_needs_its_scope(secured) -> None:  # type: ignore[no-untyped-def]
    _, url, _, tokens = secured
    scopes = {"pred": {"predict"}, "fb": {"feedback"}, "root": {"predict", "feedback", "admin"}}
    with httpx.Client(base_url=url, timeout=30) as http:
        for method, path, body, need in ROUTES:
            bare = http.request(method, path, json=body)
            if need is None:
                assert bare.status_code == 200, (path, bare.text)
                continue
            error = _refused(bare, 401, "Unauthorized")
            assert bare.headers["www-authenticate"] == 'Bearer realm="rung"', path
            assert path in error["message"] and "Authorization: Bearer" in error["hint"]
            for header in ("Bearer rung_not-a-token", "Bearer " + tokens["pred"] + "x"):
                wrong = http.request(method, path, json=body, headers={"Authorization": header})
                _refused(wrong, 401, "Unauthorized")
                assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
            for header in (f"Basic {tokens['root']}", "Bearer", f"Bearer {tokens['root']} x"):
                odd = http.request(method, path, json=body, headers={"Authorization": header})
                _refused(odd, 401, "Unauthorized")
            for name, has in scopes.items():
                r = http.request(method, path, json=body, headers=_auth(tokens[name]))
                if need == "any" or need in has:
                    assert r.status_code not in (401, 403), (path, name, r.text)
                else:
                    error = _refused(r, 403, "Forbidden")
                    assert f"token {name!r} lacks the scope {need!r}" in error["message"]
                    assert f'scope="{need}"' in r.headers["www-authenticate"]
        # the scheme's name is case-insensitive (RFC 7235)
        r = http.post("/predict", json=ROW, headers={"Authorization": f"bearer {tokens['pred']}"})
        assert r.status_code == 200
        # two Authorization headers, in either order, valid or not: refused (which one a
        # proxy or a server reads differs)
        good, bad = f"Bearer {tokens['pred']}", "Bearer rung_not-a-token"
        for pair in ((good, bad), (bad, good), (good, good)):
            r = http.post("/predict", json=ROW, headers=[("Authorization", h) for h in pair])
            assert r.status_code == 401, (pair, r.status_code)
            assert "2 Authorization headers" in r.json()["error"]["message"]
        metrics = http.get("/metrics", headers=_auth(tokens["root"])).text
        assert 'rung_errors_total{path="/predict",type="Unauthorized"}' in metrics
        assert 'rung_errors_total{path="/feedback",type="Forbidden"}' in metrics


def test_the_client_sends_its_token(secured, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import rung
    from rung.serving.client import ServiceError

    _, url, _, tokens = secured
    with rung.Client(url) as anonymous:
        assert anonymous.ready()  # health is open
        with pytest.raises(ServiceError, match="needs a token") as refused:
            anonymous.predict(ROW)
        assert refused.value.status == 401
    with rung.Client(url, token=tokens["pred"]) as client:
        answer = client.predict(ROW)
        with pytest.raises(ServiceError, match="lacks the scope 'feedback'"):
            client.feedback(answer["request_id"], label="yes")
    monkeypatch.setenv("RUNG_TOKEN", tokens["fb"])
    with rung.Client(url) as client:
        assert client.feedback(answer["request_id"], label="yes")["accepted"] == 1


def test_tokens_are_stored_hashed_and_can_be_revoked(tmp_path: Path) -> None:
    from rung import Workspace
    from rung.core.tokens import digest

    root = tmp_path / "ws"
    Workspace.init(root).close()
    made = rung_cli("token", "create", "ci", "--scope", "predict", "--scope", "feedback", cwd=root)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("rung_") and len(secret) == 48 and "shown only now" in made.stderr
    file = root / ".rung" / "tokens"
    text = file.read_text()
    assert secret not in text and f"ci predict,feedback {digest(secret)}" in text
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    listed = rung_cli("token", "list", cwd=root)
    assert listed.stdout.split() == ["ci", "predict,feedback"] and secret not in listed.stdout
    for args, message in (
        (["create", "ci", "--scope", "predict"], "a token named 'ci' exists"),
        (["create", "x", "--scope", "root"], "unknown token scope 'root'"),
        (["create", "bad name", "--scope", "predict"], "is not 1-64 characters"),
        (["revoke", "nobody"], "no token named 'nobody'"),
    ):
        bad = rung_cli("token", *args, cwd=root)
        assert bad.returncode != 0 and message in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
    assert rung_cli("token", "revoke", "ci", cwd=root).returncode == 0
    assert "ci" not in file.read_text()


BAD_FILES = [
    ("ci predict", "has 2 fields, not 3"),
    ("ci predict rung_abc", "not sha256: and 64 hex digits"),
    ("ci root sha256:" + "0" * 64, "unknown token scope 'root'"),
    ("c i predict sha256:" + "0" * 64, "has 4 fields"),
    ("ci predict sha256:" + "0" * 64 + "\nci admin sha256:" + "1" * 64, "listed twice"),
]


def test_a_malformed_token_source_is_one_line_before_serving(tmp_path: Path) -> None:
    """The token file of --tokens and RUNG_SERVE_TOKENS have one format, each fault named."""
    from rung import Workspace

    root = tmp_path / "ws"
    Workspace.init(root).close()
    for text, message in BAD_FILES:
        (tmp_path / "tokens").write_text(text + "\n")
        for how in ("file", "env"):
            args = ["--tokens", str(tmp_path / "tokens")] if how == "file" else []
            env = {"RUNG_SERVE_TOKENS": text} if how == "env" else {}
            done = rung_cli("serve", "m@champion", *args, cwd=root, env=env)
            assert done.returncode != 0 and message in done.stderr, (how, text, done.stderr)
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_tokens_from_the_environment(open_local, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """RUNG_SERVE_TOKENS holds the token file's text; the server accepts those tokens."""
    from rung.core.tokens import make, render

    ws, _, _ = open_local
    secret, token = make("env-bot", ["predict"])
    env = {"RUNG_SERVE_TOKENS": render([token])}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        proc, url = start_server(ws.root, "trend@champion")
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    try:
        assert httpx.post(f"{url}/predict", json=ROW).status_code == 401
        assert httpx.post(f"{url}/predict", json=ROW, headers=_auth(secret)).status_code == 200
    finally:
        _stop(proc)


# -- 2. loopback only without tokens -------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "example.com"])
def test_a_non_loopback_host_without_tokens_is_refused(open_local, host: str) -> None:  # type: ignore[no-untyped-def]
    ws, _, _ = open_local
    done = rung_cli("serve", "trend@champion", "--host", host, "--port", "0", cwd=ws.root)
    assert done.returncode != 0
    assert f"--host {host} without tokens" in done.stderr and "--insecure" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "serving" not in done.stderr


def test_insecure_says_so_explicitly(open_local) -> None:  # type: ignore[no-untyped-def]
    """--insecure passes the check: 192.0.2.7 (TEST-NET-1, never this machine's) then fails
    to bind, so nothing listens beyond loopback in the test."""
    ws, _, _ = open_local
    done = rung_cli(
        "serve", "trend@champion", "--host", "192.0.2.7", "--port", "0", "--insecure", cwd=ws.root
    )
    assert done.returncode != 0 and "without tokens" not in done.stderr, done.stderr


# -- 3. CSRF: JSON content type; the OIP clients' bodies; CORS ------------------------------

NOT_JSON = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"]
NOT_JSON += ["application/jsonx", "text/json", "application/json-seq"]


def test_every_post_needs_a_json_content_type(open_local) -> None:  # type: ignore[no-untyped-def]
    _, url, _ = open_local
    body = b'{"a": 2.0, "color": "red"}'
    with httpx.Client(base_url=url, timeout=30) as http:
        for path in ("/predict", "/feedback", "/v2/models/trend/infer"):
            for kind in NOT_JSON:
                r = http.post(
                    path,
                    content=body,
                    headers={"Content-Type": kind, "Origin": "https://attacker.example"},
                )
                error = _refused(r, 415, "UnsupportedMediaType")
                assert "application/json" in error["message"], error
                assert "access-control-allow-origin" not in r.headers
        for path in ("/predict", "/feedback"):  # no type at all
            error = _refused(http.post(path, content=body), 415, "UnsupportedMediaType")
            assert "none was given" in error["message"]
        # a browser's cross-origin POST always carries Origin: not the OIP clients' shape
        r = http.post(
            "/v2/models/trend/infer", content=body, headers={"Origin": "https://a.example"}
        )
        _refused(r, 415, "UnsupportedMediaType")
        for kind in ("application/json", "Application/JSON; charset=utf-8"):
            r = http.post("/predict", content=body, headers={"Content-Type": kind})
            assert r.status_code == 200, (kind, r.text)
        # no CORS unless configured: a preflight gets no Access-Control-Allow-Origin
        pre = http.options(
            "/predict",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in pre.headers


def test_the_inference_protocol_clients_are_not_refused_as_forgeries(open_local) -> None:  # type: ignore[no-untyped-def]
    """tritonclient[http] sends no Content-Type: its JSON infer sends no custom header either,
    its binary tensors `Inference-Header-Content-Length` (which a page cannot send without
    a CORS preflight). Neither is refused as a forgery (415) nor by the Host check."""
    import numpy as np
    import tritonclient.http as triton

    _, url, _ = open_local
    client = triton.InferenceServerClient(url.removeprefix("http://"))

    def inputs(binary: bool) -> list[Any]:
        a = triton.InferInput("a", [2], "FP64")
        a.set_data_from_numpy(np.array([2.0, -2.0]), binary_data=binary)
        color = triton.InferInput("color", [2], "BYTES")
        color.set_data_from_numpy(np.array([b"red", b"blue"], dtype=object), binary_data=binary)
        return [a, color]

    for binary in (False, True):
        assert client.infer("trend", inputs(binary)).as_numpy("predict").shape == (2,)

    async def with_aio() -> None:  # its aio client declares application/octet-stream
        import tritonclient.http.aio as triton_aio

        aio = triton_aio.InferenceServerClient(url.removeprefix("http://"))
        try:
            for binary in (False, True):
                answered = await aio.infer("trend", inputs(binary))
                assert answered.as_numpy("predict").shape == (2,)
        finally:
            await aio.close()

    asyncio.run(with_aio())
    # the protocol's binary type is taken on the infer routes only, never on rung's own
    r = httpx.post(
        f"{url}/predict", content=b"{}", headers={"Content-Type": "application/octet-stream"}
    )
    _refused(r, 415, "UnsupportedMediaType")


def test_cors_only_for_listed_origins(secured) -> None:  # type: ignore[no-untyped-def]
    _, url, _, tokens = secured
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    with httpx.Client(base_url=url, timeout=30) as http:
        ok = http.options("/predict", headers={"Origin": "https://app.example", **ask})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        evil = http.options("/predict", headers={"Origin": "https://evil.example", **ask})
        assert evil.headers.get("access-control-allow-origin") != "https://evil.example"
        assert "access-control-allow-origin" not in evil.headers
        error = _refused(evil, 400, "CorsRefused")  # rung's one body, not Starlette's text
        assert "'https://evil.example'" in error["message"] and "cors_origins" in error["hint"]
        r = http.post(
            "/predict", json=ROW, headers={"Origin": "https://app.example", **_auth(tokens["pred"])}
        )
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        exposed = r.headers["access-control-expose-headers"].lower()
        assert {"x-request-id", "x-correlation-id", "x-model-version"} <= set(
            h.strip() for h in exposed.split(",")
        )


# -- 4. DNS rebinding: the Host allowlist --------------------------------------------------


def test_the_host_header_must_name_this_server(secured, open_local) -> None:  # type: ignore[no-untyped-def]
    _, url, _, tokens = secured
    port = url.rsplit(":", 1)[1]
    for base, extra in ((url, ["models.internal", "MODELS.internal."]), (open_local[1], [])):
        with httpx.Client(base_url=base, timeout=30, headers=_auth(tokens["pred"])) as http:
            for host in [
                "attacker.example",
                f"attacker.example:{port}",
                "127.0.0.1.attacker.example",
                "localhost.attacker.example",
                "models.internal.attacker.example",
                "[::2]",
                "",
            ]:
                r = http.post("/predict", json=ROW, headers={"Host": host})
                error = _refused(r, 400, "UnknownHost")
                assert "--allow-host" in error["hint"]
                # the health routes too: a rebinding page must learn nothing
                _refused(http.get("/v2/health/ready", headers={"Host": host}), 400, "UnknownHost")
            for host in ["localhost", f"localhost:{port}", "127.0.0.1", f"[::1]:{port}", *extra]:
                r = http.post("/predict", json=ROW, headers={"Host": host})
                assert r.status_code == 200, (host, r.text)


# -- 5. request ids are the server's ------------------------------------------------------


def test_request_ids_are_the_servers_and_the_clients_is_a_correlation_id(secured) -> None:  # type: ignore[no-untyped-def]
    ws, url, _, tokens = secured
    with httpx.Client(base_url=url, timeout=30) as http:
        ids = []
        for _ in range(2):  # the same client id twice: two requests, two ids
            r = http.post(
                "/predict", json=ROW, headers={"X-Request-ID": "mine-1", **_auth(tokens["root"])}
            )
            assert r.status_code == 200
            rid = r.json()["request_id"]
            assert rid != "mine-1" and len(rid) == 32 and r.headers["x-request-id"] == rid
            assert r.headers["x-correlation-id"] == "mine-1"
            ids.append(rid)
        assert ids[0] != ids[1]
        for rid in ids:  # feedback keys on the server's id, never ambiguous
            fb = http.post(
                "/feedback", json={"request_id": rid, "label": "yes"}, headers=_auth(tokens["fb"])
            )
            assert fb.json() == {"accepted": 1, "replaced": 0}
        fb = http.post(
            "/feedback", json={"request_id": "mine-1", "label": "yes"}, headers=_auth(tokens["fb"])
        )
        assert fb.status_code == 404
        # every answer carries the server's id, refusals included
        assert len(http.post("/predict", json=ROW).headers["x-request-id"]) == 32
        # an id refused as a correlation id (422) is never echoed back as one
        for bad in ("a\x01b", "x" * 65, "tab\there"):
            r = http.post(
                "/predict", json=ROW, headers={"X-Request-ID": bad, **_auth(tokens["root"])}
            )
            # a control character is refused by the HTTP parser itself (400), before rung
            assert r.status_code in (400, 422) and "x-correlation-id" not in r.headers, bad
    with ws.store.read() as tx:
        rows = tx.all(
            "SELECT request_id, correlation_id FROM predictions WHERE correlation_id = 'mine-1'"
        )
    assert sorted(r["request_id"] for r in rows) == sorted(ids)


# -- 6. bodies are counted while they stream ------------------------------------------------


def _rss_peak(pid: int) -> int:
    """The server's peak resident memory so far (VmHWM of /proc), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_huge_chunked_body_is_refused_while_it_streams(secured) -> None:  # type: ignore[no-untyped-def]
    _, url, proc, tokens = secured
    host, port = url.removeprefix("http://").split(":")
    before = _rss_peak(proc.pid)
    chunk = b"x" * (1024 * 1024)
    framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    sent = 0
    answer = b""
    stop = threading.Event()
    started = time.monotonic()

    def upload(s: socket.socket) -> None:
        nonlocal sent
        try:
            while sent < 300 * len(chunk) and not stop.is_set():
                s.sendall(framed)
                sent += len(chunk)
        except OSError:  # the server closed the connection after its 413
            pass

    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(
            b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + tokens["pred"].encode() + b"\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sender = threading.Thread(target=upload, args=(s,))
        sender.start()
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            try:
                more = s.recv(65536)
            except OSError:
                break
            if not more:
                break
            answer += more
        stop.set()
        sender.join(timeout=60)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"PayloadTooLarge" in answer
    assert sent < 300 * len(chunk)  # stopped long before the whole body
    assert time.monotonic() - started < 60
    grown = _rss_peak(proc.pid) - before
    assert grown < 12 * 1024 * 1024, f"the server's peak memory grew by {grown / 2**20:.1f} MiB"
    r = httpx.post(f"{url}/predict", json=ROW, headers=_auth(tokens["pred"]))
    assert r.status_code == 200  # still serving


# -- 7. the header timeout -------------------------------------------------------------------


def test_connections_that_never_finish_their_headers_are_closed(secured) -> None:  # type: ignore[no-untyped-def]
    """200 connections each send part of a request head (one nothing at all) and stall; the
    server (--header-timeout 2) closes every one within a bound, and serves others meanwhile."""
    _, url, _, tokens = secured
    host, port = url.removeprefix("http://").split(":")
    partial = [b"", b"POST /predict HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: "]
    sockets = []
    for i in range(200):
        s = socket.create_connection((host, int(port)), timeout=30)
        s.sendall(partial[i % len(partial)])
        sockets.append(s)
    started = time.monotonic()
    r = httpx.get(f"{url}/v2/health/ready")
    assert r.status_code == 200  # the stalled connections do not stop the server
    closed = 0
    for s in sockets:
        s.settimeout(max(0.1, started + 8 - time.monotonic()))
        try:
            if s.recv(1024) == b"":
                closed += 1
        except ConnectionResetError:
            closed += 1
        except TimeoutError:
            pass
        finally:
            s.close()
    assert closed == len(sockets)
    assert time.monotonic() - started < 9
    # and a connection that trickles its head a byte at a time is closed too
    with socket.create_connection((host, int(port)), timeout=30) as s:
        begun = time.monotonic()
        try:
            for byte in b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n":
                s.sendall(bytes([byte]))
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(10)
        try:
            rest = s.recv(1024)
        except ConnectionResetError:
            rest = b""
        assert rest == b"" and time.monotonic() - begun < 12
    # a normal keep-alive client is unaffected
    with httpx.Client(base_url=url, headers=_auth(tokens["pred"])) as http:
        for _ in range(3):
            assert http.post("/predict", json=ROW).status_code == 200


# -- 7b. the body timeout, the head size limit and one Host ---------------------------------


def _read_all(s: socket.socket, limit: float) -> bytes:
    """What the server sends until it closes the connection (or ``limit`` seconds pass)."""
    s.settimeout(limit)
    answer = b""
    try:
        while more := s.recv(65536):
            answer += more
    except (TimeoutError, ConnectionResetError):
        pass
    return answer


def _slow_body(host: str, port: int, token: str, shape: str) -> tuple[bytes, float]:
    """A POST /predict whose body stalls or trickles (``shape``); the answer and its time."""
    body = b'{"a": 2.0, "color": "red"}'
    chunked = shape == "chunked trickle"
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % len(body)
    with socket.create_connection((host, port), timeout=30) as s:
        begun = time.monotonic()
        s.sendall(
            b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n" + framing + b"\r\n\r\n"
        )
        if shape == "part then nothing":
            s.sendall(body[:5])
        elif shape in ("byte trickle", "chunked trickle"):  # a byte every 0.3 s: 3 B/s
            try:
                for byte in body[:-1]:
                    s.sendall(b"1\r\n%c\r\n" % byte if chunked else bytes([byte]))
                    time.sleep(0.3)
                    if time.monotonic() - begun > 6:
                        break
            except (BrokenPipeError, ConnectionResetError):
                pass
        return _read_all(s, 8), time.monotonic() - begun


@pytest.mark.parametrize(
    "shape", ["nothing", "part then nothing", "byte trickle", "chunked trickle"]
)
def test_a_body_that_stalls_or_trickles_gets_408_and_is_closed(secured, shape: str) -> None:  # type: ignore[no-untyped-def]
    """--body-timeout 2: a body that sends nothing for 2 s, or that averages under 500 B/s
    (Apache mod_reqtimeout's MinRate) past its first 2 s, is answered 408 and closed."""
    _, url, _, tokens = secured
    host, port = url.removeprefix("http://").split(":")
    answer, took = _slow_body(host, int(port), tokens["pred"], shape)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
    _, _, body = answer.partition(b"\r\n\r\n")
    error = json.loads(body)["error"]
    assert set(error) == ERROR_KEYS and error["type"] == "RequestTimeout", error
    assert 1.5 < took < 5, took
    r = httpx.post(f"{url}/predict", json=ROW, headers=_auth(tokens["pred"]))
    assert r.status_code == 200  # still serving; a whole body in time is unaffected


def _big_head(kind: str, size: int) -> Iterator[bytes]:
    """A request head of about ``size`` bytes, in pieces of up to 64 KiB, shaped by ``kind``."""
    piece = min(65536, size)
    if kind == "one long header":
        yield b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: "
        for _ in range(size // piece):
            yield b"a" * piece
        yield b"\r\n\r\n"
    elif kind == "many headers":
        yield b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        line = b"X-Pad: " + b"b" * 90 + b"\r\n"
        for _ in range(size // (len(line) * 600)):
            yield line * 600
        yield b"\r\n"
    else:  # a long request target
        yield b"GET /v2/health/live?q="
        for _ in range(size // piece):
            yield b"c" * piece
        yield b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("kind", ["one long header", "many headers", "long target"])
def test_a_head_over_64_kib_gets_431_without_growing_memory(open_local, kind: str) -> None:  # type: ignore[no-untyped-def]
    """A 40 MiB head (one header, many, or the request line) is refused with 431 (RFC 6585)
    and closed before it is buffered; a head just under 64 KiB is still served."""
    _, url, proc = open_local
    host, port = url.removeprefix("http://").split(":")
    before = _rss_peak(proc.pid)
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as s:
        try:
            for piece in _big_head(kind, 40 * 2**20):
                s.sendall(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _read_all(s, 5)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:300]
    if answer:
        body = json.loads(answer.partition(b"\r\n\r\n")[2])
        assert body["error"]["type"] == "RequestHeaderFieldsTooLarge"
    assert sent < 40 * 2**20  # refused long before the whole head was taken
    grown = _rss_peak(proc.pid) - before
    assert grown < 8 * 2**20, f"the server's peak memory grew by {grown / 2**20:.1f} MiB"
    near = b"".join(_big_head(kind, 60 * 1024))
    assert 55 * 1024 < len(near) < 64 * 1024
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(near.replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nConnection: close\r\n", 1))
        assert _read_all(s, 5).startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize(
    "hosts",
    [
        ("127.0.0.1", "evil.example"),
        ("evil.example", "127.0.0.1"),
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "127.0.0.1", "evil.example"),
    ],
)
def test_a_request_with_several_host_headers_is_400(open_local, hosts: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    """RFC 9112 §3.2: a server MUST answer 400 to a request with more than one Host field."""
    _, url, _ = open_local
    host, port = url.removeprefix("http://").split(":")
    fields = b"".join(b"Host: " + h.encode() + b"\r\n" for h in hosts)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"GET /v2/health/ready HTTP/1.1\r\n" + fields + b"Connection: close\r\n\r\n")
        answer = _read_all(s, 5)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    error = body["detail"]  # a /v2 route: the protocol's {"error": "..."}, rung's in detail
    assert error["type"] == "UnknownHost" and "Host headers" in error["message"], error


@pytest.mark.parametrize(
    ("target", "host", "status"),
    [
        ("http://evil.example/v2/health/ready", "127.0.0.1", 400),
        ("http://evil.example:8080/v2/health/ready", "127.0.0.1", 400),
        ("HTTP://user@evil.example/v2/health/ready", "127.0.0.1", 400),
        ("http://127.0.0.1/v2/health/ready", "evil.example", 200),  # the target wins
        ("http://localhost:1/v2/health/ready", "127.0.0.1", 200),
    ],
)
def test_an_absolute_form_target_is_checked_as_the_host(  # type: ignore[no-untyped-def]
    open_local, target: str, host: str, status: int
) -> None:
    """RFC 9112 §3.2.2: the authority of an absolute-form target replaces Host."""
    _, url, _ = open_local
    address, port = url.removeprefix("http://").split(":")
    with socket.create_connection((address, int(port)), timeout=30) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = _read_all(s, 5)
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:300]


H11_SERVER = """
import sys
import uvicorn
from rung.serving.app import create_app
from rung.serving.connections import H11_LIMIT
from rung.workspace import Workspace

uvicorn.run(
    create_app(Workspace.open(sys.argv[1]), "trend@champion"),
    host="127.0.0.1",
    port=int(sys.argv[2]),
    log_level="warning",
    http="rung.serving.connections:HeaderTimeoutH11",
    h11_max_incomplete_event_size=H11_LIMIT,
)
"""


def test_the_h11_protocol_has_the_same_bounds(open_local, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """uvicorn's h11 protocol (used when httptools is not installed): the same 431 for a
    large head, 408 for a stalled body, under the real app on 127.0.0.1."""
    ws, _, _ = open_local
    script = tmp_path / "h11_server.py"
    script.write_text(H11_SERVER)
    proc, port = _run_app(script, ws.root, {**os.environ, "RUNG_SERVE_BODY_TIMEOUT": "2"})
    try:
        url = f"http://127.0.0.1:{port}"
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            try:
                for piece in _big_head("one long header", 4 * 2**20):
                    s.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                pass
            answer = _read_all(s, 5)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:300]
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            begun = time.monotonic()
            s.sendall(
                b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{"
            )
            answer = _read_all(s, 8)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
        assert time.monotonic() - begun < 5
        assert httpx.post(f"{url}/predict", json=ROW).status_code == 200
    finally:
        _stop(proc)


# -- 8. a 500 carries the request id, not the exception's text -------------------------------

BUGGY = """
import sys
import uvicorn
from rung.serving.app import create_app
from rung.workspace import Workspace

app = create_app(Workspace.open(sys.argv[1]), "trend@champion")


@app.get("/v2/boom")
def boom() -> None:
    raise RuntimeError("secret-value-7 /home/someone/.aws/credentials")


@app.get("/boom/{kind}")
def boom_as(kind: str) -> None:  # rung's own 5xx errors, whose text may hold data too
    from rung.core import errors

    raise getattr(errors, kind)("secret-value-7 in /srv/db.sqlite password=hunter2", "hint")


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def test_a_500_carries_the_request_id_and_the_traceback_goes_to_the_log(  # type: ignore[no-untyped-def]
    open_local, tmp_path: Path
) -> None:
    """Any exception a route does not expect: the real app (its error handlers) with one
    route that raises, under uvicorn on 127.0.0.1."""
    ws, _, _ = open_local
    script = tmp_path / "buggy.py"
    script.write_text(BUGGY)
    proc, port = _run_app(script, ws.root)
    try:
        url = f"http://127.0.0.1:{port}"
        r = httpx.get(f"{url}/v2/boom")
        error = _refused(r, 500, "InternalError")
        rid = r.headers["x-request-id"]
        assert len(rid) == 32 and rid in error["message"] and rid in error["hint"]
        assert "secret-value-7" not in r.text and "RuntimeError" not in r.text
        ids = {}
        for kind in ("ModelFailed", "IntegrityError", "StoreUnavailable", "DiskFull"):
            r = httpx.get(f"{url}/boom/{kind}")
            assert r.status_code >= 500 and "secret-value-7" not in r.text, r.text
            assert "hunter2" not in str(r.headers)
            error = r.json()["error"]
            ids[kind] = r.headers["x-request-id"]
            assert error["type"] == kind and ids[kind] in error["message"]
            assert r.headers.get_list("x-request-id") == [ids[kind]]  # one id, not two
    finally:
        err = _stop(proc)
    assert f"request {rid}: GET /v2/boom failed" in err
    assert "Traceback" in err and "secret-value-7" in err
    for kind, each in ids.items():  # the log has each error's text under its request id
        assert f"request {each}: GET /boom/{kind} failed: secret-value-7" in err, kind


@pytest.mark.parametrize("value", ["a:80", "ü.example", "http://x", "", "a b"])
def test_a_bad_allowed_host_is_one_line(tmp_path: Path, value: str) -> None:
    from rung import Workspace

    root = tmp_path / "ws"
    Workspace.init(root).close()
    done = rung_cli("serve", "m@champion", "--allow-host", value, cwd=root)
    assert done.returncode != 0 and "--allow-host" in done.stderr, done.stderr
    assert "is not a host name without a port" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    (root / "rung.toml").write_text(f"[serve]\nallowed_hosts = [{value!r}]\n".replace("'", '"'))
    done = rung_cli("serve", "m@champion", cwd=root)
    assert done.returncode != 0 and "serve.allowed_hosts[0]" in done.stderr, done.stderr


def _run_app(
    script: Path, root: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], int]:
    """``script`` (an app under uvicorn, taking the workspace and a port) started on a free
    port of 127.0.0.1 and waited for (its /v2/health/live) up to 60 s: the process and port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, str(script), str(root), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v2/health/live", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, port
