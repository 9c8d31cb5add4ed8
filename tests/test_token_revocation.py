"""A running `rung serve` follows its token file (issue 12, part 3): a token revoked with the
real `rung token revoke`, or removed from a `--tokens FILE` by hand, is refused within
``REFRESH_SECONDS`` without a restart; a token created after the start is accepted; a token
file that is deleted or broken refuses every token (authentication never turns off).
Against real servers on 127.0.0.1, with one worker and with two."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from conftest import Served, rung_cli, start_server
from model_project import make_champion
from rung.core.tokens import REFRESH_SECONDS

ROW = {"a": 2.0, "color": "red"}
SLACK = 2.0
"""Seconds beyond the bound for a loaded machine: the thread's wake-up, the request's trip."""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("revoke") / "ws"
    make_champion(root)
    yield root


def _create(root: Path, name: str, *file: str) -> str:
    made = rung_cli("token", "create", name, "--scope", "predict", *file, cwd=root)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def _status(url: str, token: str) -> int:
    """The status of one prediction on a new connection (so any worker may answer)."""
    headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
    return httpx.post(f"{url}/predict", json=ROW, headers=headers, timeout=30).status_code


def _until(url: str, token: str, status: int, runs: int = 10) -> float:
    """Seconds until the first of ``runs`` requests in a row with ``token`` that answer
    ``status`` was sent (each worker has its own copy of the tokens); fails when they have
    not all answered so within the bound and its slack."""
    begun = time.monotonic()
    in_row, streak = 0, begun
    while in_row < runs:
        elapsed = time.monotonic() - begun
        assert elapsed < REFRESH_SECONDS + SLACK, f"still not {status} after {elapsed:.1f} s"
        sent = time.monotonic()
        if _status(url, token) == status:
            in_row, streak = in_row + 1, streak if in_row else sent
        else:
            in_row = 0
            time.sleep(0.02)
    return streak - begun


def _serve(root: Path, *options: str) -> tuple[Served, str]:
    return start_server(root, "trend@champion", "--no-access-log", *options)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_revoke_and_create_take_effect_without_a_restart(root: Path, workers: str) -> None:
    kept = _create(root, f"kept-{workers}")
    gone = _create(root, f"gone-{workers}")
    proc, url = _serve(root, "--workers", workers)
    try:
        for _ in range(5):  # the control: accepted before the revocation, by every worker
            assert _status(url, gone) == 200 and _status(url, kept) == 200
        done = rung_cli("token", "revoke", f"gone-{workers}", cwd=root)
        assert done.returncode == 0 and f"within {REFRESH_SECONDS:g} s" in done.stdout
        took = _until(url, gone, 401)
        assert _status(url, kept) == 200  # the others are untouched
        late = _create(root, f"late-{workers}")
        _until(url, late, 200)
        assert _status(url, "rung_" + "x" * 43) == 401
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert f"revoked: gone-{workers}" in err and f"added: late-{workers}" in err, err
    print(f"revocation took effect in {took:.2f} s with {workers} worker(s)")


def _edit(path: Path, text: str) -> None:
    """Rewrite ``path`` in place, as an editor without atomic saves does."""
    with open(path, "r+", encoding="utf-8") as f:
        f.truncate(0)
        f.write(text)


EDITS: list[tuple[str, Callable[[Path, str], None]]] = [
    ("line removed in place", lambda p, line: _edit(p, p.read_text().replace(line, ""))),
    ("file deleted", lambda p, line: p.unlink()),
    ("file emptied", lambda p, line: _edit(p, "")),
    ("a line broken", lambda p, line: _edit(p, p.read_text().replace(line, "x predict"))),
    ("not UTF-8", lambda p, line: p.write_bytes(b"\xff\xfe" + p.read_bytes())),
    ("unreadable", lambda p, line: p.chmod(0)),
]


def test_a_token_file_edited_by_hand_is_followed_and_fails_closed(
    root: Path, tmp_path: Path
) -> None:
    """``--tokens FILE``, one server, each edit in turn: a change that takes the token away
    refuses it within the bound; a file that is gone or cannot be used refuses every token
    (never 200 without one), with a line in the server's log; the file restored, the token
    is accepted again."""
    import os

    path = tmp_path / "tokens"
    secret = _create(root, "hand", "--file", str(path))
    line = next(x for x in path.read_text().splitlines() if x.startswith("hand "))
    good = path.read_text()
    proc, url = _serve(root, "--tokens", str(path))
    try:
        assert _status(url, secret) == 200
        for how, edit in EDITS:
            if how == "unreadable" and os.geteuid() == 0:
                continue  # root reads a file of mode 0
            edit(path, line)
            _until(url, secret, 401)
            assert httpx.post(f"{url}/predict", json=ROW).status_code == 401, how  # closed
            if path.exists():
                path.chmod(0o600)
            path.write_text(good)
            _until(url, secret, 200)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert err.count("every token is refused until it is fixed") >= 2, err  # broken, not UTF-8
    assert "missing, every token is refused" in err and "revoked: hand" in err, err
    assert err.count("added: hand") >= len(EDITS) - 1, err  # each restore


def test_a_server_started_with_tokens_in_the_environment_keeps_them(root: Path) -> None:
    """``RUNG_SERVE_TOKENS`` cannot change under a running process: the tokens given there
    are fixed (docs/security.md says to use a file to revoke without a restart); the
    workspace's token file is not read then."""
    import os

    from rung.core.tokens import make, render

    secret, token = make("env-only", ["predict"])
    os.environ["RUNG_SERVE_TOKENS"] = render([token])
    try:
        proc, url = _serve(root)
    finally:
        del os.environ["RUNG_SERVE_TOKENS"]
    try:
        assert _status(url, secret) == 200
        other = _create(root, "not-from-env")  # in the workspace's file, which is not used
        time.sleep(REFRESH_SECONDS + 0.5)
        assert _status(url, other) == 401 and _status(url, secret) == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
