"""A full disk is one line naming the path and the space free, never ``OSError: [Errno 28]`` or
a SQLAlchemy traceback; the service answers 503 with ``Retry-After``.

For real: the stores live on a small tmpfs mounted for the test (root only; skipped
elsewhere, with the reason), which is then filled up."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import rung_cli, start_server
from model_project import TRAIN, frame


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (in a folder other users can reach: PostgreSQL's server needs to)."""
    mnt = Path(tempfile.mkdtemp(prefix="rung-tiny-"))
    mnt.chmod(0o755)
    out = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        mnt.rmdir()
        pytest.skip(f"cannot mount a tmpfs here ({out.stderr.strip()})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        mnt.rmdir()


def fill(folder: Path) -> None:
    """Write zeros into ``folder`` until its filesystem has no space left."""
    with open(folder / "filler", "wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()


def workspace(tmp_path: Path, store: Path | None, artifacts: Path | None) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    lines = []
    if store is not None:
        lines.append(f'[store]\nurl = "sqlite:///{store / "rung.db"}"')
    if artifacts is not None:
        lines.append(f'[artifacts]\nroot = "{artifacts / "artifacts"}"')
    (root / "rung.toml").write_text("\n".join(lines) + "\n")
    out = rung_cli("init", str(root), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return root


def one_line(out: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert out.returncode == 1, out
    assert "Traceback" not in out.stderr and "Errno" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines and re.match(r"error: (no|not enough) space", lines[-1]), out.stderr
    assert all(not line.startswith("error") for line in lines[:-1]), out.stderr
    for needle in needles:
        assert needle in lines[-1], (needle, lines[-1])
    return lines[-1]


def test_artifact_writes_on_a_full_disk(tmp_path: Path, tiny: Path) -> None:
    root = workspace(tmp_path, store=None, artifacts=tiny)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    line = one_line(rung_cli("data", "add", str(big), "--name", "big", cwd=root), str(tiny))
    assert "6.0 MiB needed" in line and "free" in line  # refused before a byte is written
    folder = tmp_path / "folder"
    folder.mkdir()
    for i in range(4):
        (folder / f"f{i}").write_bytes(os.urandom(1536 * 1024))
    line = one_line(rung_cli("data", "add", str(folder), "--name", "folder", cwd=root), str(tiny))
    assert "6.0 MiB needed" in line
    # what the up-front check cannot see (another writer, a remote store, a step's output)
    # fails while writing: the same line, from the OSError
    (root / "p.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            import rung

            @rung.step
            def make(n: int = 800_000):
                return np.ones(n)

            @rung.pipeline
            def big():
                return make()
            """
        )
    )
    one_line(rung_cli("run", "p.py:big", cwd=root), str(tiny))
    listed = rung_cli("data", "list", "--json", cwd=root)  # the metadata is elsewhere: fine
    assert listed.returncode == 0 and '"big"' not in listed.stdout


def test_metadata_writes_and_reads_on_a_full_disk(tmp_path: Path, tiny: Path) -> None:
    root = workspace(tmp_path, store=tiny, artifacts=None)
    small = tmp_path / "small.csv"
    small.write_text("a,b\n1,2\n")
    assert rung_cli("data", "add", str(small), "--name", "s", cwd=root).returncode == 0
    fill(tiny)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n3,4\n")
    db = str(tiny / "rung.db")
    one_line(rung_cli("data", "add", str(other), "--name", "o", cwd=root), db, "0 B free")
    for command in (["data", "list"], ["runs"]):  # WAL needs space even to read
        out = rung_cli(*command, cwd=root)
        if out.returncode != 0:
            one_line(out, db)
    (tiny / "filler").unlink()
    listed = rung_cli("data", "list", "--json", cwd=root)
    assert listed.returncode == 0 and '"s"' in listed.stdout and '"o"' not in listed.stdout


def test_the_service_answers_503_with_retry_after_when_the_log_cannot_grow(
    tmp_path: Path, tiny: Path
) -> None:
    import httpx

    from rung import Workspace

    root = workspace(tmp_path, store=tiny, artifacts=None)
    with Workspace.open(root) as ws:
        (root / "train.py").write_text(TRAIN)
        ws.data.add(frame(200, 1), name="train")
        ws.models.register(str(ws.run("train.py:train", {}).id), "trend")
        ws.models.promote("trend", 1, force=True, reason="test")
    proc, url = start_server(root, "trend@champion")
    try:
        row = {"a": 1.0, "color": "red"}
        assert httpx.post(f"{url}/predict", json=row, timeout=30).status_code == 200
        fill(tiny)
        full = httpx.post(f"{url}/predict", json=row, timeout=30)
        assert full.status_code == 503, full.text
        assert int(full.headers["retry-after"]) > 0
        body = full.json()["error"]
        rid = full.headers["x-request-id"]
        # a 5xx names its request id, not its error's text (the server's log has that)
        assert body["type"] == "DiskFull" and body["message"] == f"the disk is full (request {rid})"
        assert "space" in body["hint"]  # a 503's hint is rung's own: what to do
        (tiny / "filler").unlink()
        assert httpx.post(f"{url}/predict", json=row, timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.postgres
def test_postgresql_disk_full_for_real(tmp_path: Path, tiny: Path) -> None:
    """Two of rung's tables moved to a tablespace on the tmpfs, which is then filled: an insert
    fails with PostgreSQL's "could not extend file" (DiskFull). Needs a local server and a
    superuser (skipped otherwise)."""
    import uuid

    from conftest import PG_URL

    if not PG_URL:
        pytest.skip("no PostgreSQL: set RUNG_TEST_PG_URL")
    import psycopg

    admin_url = "postgresql://" + PG_URL.split("://", 1)[1]
    name = f"rung_full_{uuid.uuid4().hex[:8]}"
    space = tiny / "ts"
    space.mkdir()
    try:
        shutil.chown(space, "postgres", "postgres")
        space.chmod(0o700)
        admin = psycopg.connect(admin_url, autocommit=True)
        admin.execute(f"CREATE TABLESPACE {name} LOCATION '{space}'")
    except (LookupError, OSError, psycopg.Error) as exc:
        pytest.skip(f"cannot make a tablespace on the tmpfs here ({exc})")
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_URL.rsplit('/', 1)[0]}/{name}"
    try:
        root = tmp_path / "ws"
        root.mkdir()
        (root / "rung.toml").write_text(f'[store]\nurl = "{url}"\n')
        assert rung_cli("init", str(root), cwd=tmp_path).returncode == 0
        with psycopg.connect(admin_url.rsplit("/", 1)[0] + f"/{name}", autocommit=True) as db:
            for table in ("artifacts", "datasets"):
                db.execute(f"ALTER TABLE {table} SET TABLESPACE {name}")
        fill(tiny)
        small = tmp_path / "s.csv"
        small.write_text("a\n1\n")
        line = one_line(rung_cli("data", "add", str(small), "--name", "s", cwd=root))
        assert f"{name} (on the database server's disk)" in line
        assert "DiskFull" not in line and ":rung@" not in line  # no password shown
        listed = rung_cli("data", "list", "--json", cwd=root)  # reads still work
        assert listed.returncode == 0 and listed.stdout.strip() == "[]"
        (tiny / "filler").unlink()
        assert rung_cli("data", "add", str(small), "--name", "s", cwd=root).returncode == 0
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f"DROP TABLESPACE IF EXISTS {name}")
        admin.close()


def test_postgresql_disk_full_is_the_same_error() -> None:
    """PostgreSQL's own errors, as its driver raises them, whatever the message says."""
    psycopg = pytest.importorskip("psycopg")
    from rung.core.errors import DiskFull
    from rung.store.failures import explain

    for exc in (
        psycopg.errors.DiskFull("could not extend file base/16384/2619: No space left on device"),
        psycopg.errors.InternalError('could not extend file "base/1/2": wrote only 4096'),
    ):
        error = explain(exc, "postgresql://u:***@h/db")
        assert isinstance(error, DiskFull) and "postgresql://u:***@h/db" in error.message
    assert explain(psycopg.errors.UndefinedTable("no such table")) is None
