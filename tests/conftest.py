"""Shared fixtures: workspaces on every metadata backend (SQLite always, PostgreSQL when set).

PostgreSQL tests use ``RUNG_TEST_PG_URL`` (CI always sets it and ``RUNG_REQUIRE_PG=1``, which
turns a missing server into a failure instead of a skip). Each test gets a database of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# the fixtures of rung ui's tests: a real `rung ui`, Chromium through Playwright
pytest_plugins = ("ui_support",)

PG_URL = os.environ.get("RUNG_TEST_PG_URL")
REQUIRE_PG = os.environ.get("RUNG_REQUIRE_PG") == "1"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("RUNG_STORE_URL", "RUNG_ARTIFACT_ROOT", "RUNG_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)
    # tables as a wide pipe shows them: pytest-xdist's workers set COLUMNS=80, which would
    # truncate the CLI's tables in some runs and not others
    monkeypatch.setenv("COLUMNS", "200")


def _pg_database() -> Iterator[str]:
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("RUNG_REQUIRE_PG=1 but RUNG_TEST_PG_URL is not set")
        pytest.skip("no PostgreSQL: set RUNG_TEST_PG_URL to run the store suite on it")
    from sqlalchemy import create_engine, text

    name = f"rung_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        if REQUIRE_PG:
            raise
        pytest.skip(f"PostgreSQL at RUNG_TEST_PG_URL is not usable: {exc}")
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A metadata store URL: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        yield from _pg_database()


@pytest.fixture
def ws(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A workspace on each backend."""
    from rung import Workspace

    monkeypatch.setenv("RUNG_STORE_URL", store_url)
    root = tmp_path / "ws"
    with Workspace.init(root) as workspace:
        yield workspace


@pytest.fixture
def sqlite_ws(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A workspace with the zero-configuration defaults."""
    from rung import Workspace

    with Workspace.init(tmp_path / "ws") as workspace:
        yield workspace


RUNG = str(Path(sys.executable).with_name("rung"))


class Served(subprocess.Popen[str]):
    """A `rung serve` process whose stderr goes to a file, never a pipe: the access log
    writes a line per request, which would fill a pipe nobody reads and stall the server.
    ``err()`` is what it wrote so far; ``communicate()`` returns it as its stderr."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        import tempfile

        self.err_file = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed with the process)
        super().__init__(args, cwd=cwd, stdout=subprocess.PIPE, stderr=self.err_file, text=True)

    def err(self) -> str:
        self.err_file.flush()
        self.err_file.seek(0)
        return self.err_file.read()

    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[Any, Any]:
        out, _ = super().communicate(input, timeout)
        return out, self.err()


def start_server(root: Path, ref: str, *options: str, timeout: float = 120) -> tuple[Served, str]:
    """`rung serve REF` on a free port of 127.0.0.1, once it answers /v2/health/ready."""
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = Served([RUNG, "serve", ref, "--port", str(port), *options], cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"rung serve did not start: {proc.err()}")


def rung_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``rung`` executable."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [RUNG, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def served_on_each_backend(ws):  # type: ignore[no-untyped-def]
    """`rung serve trend@champion` on a real socket, over a model trained on each backend."""
    from model_project import TRAIN, frame

    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(200, 1), name="train")
    run = ws.run("train.py:train", {"C": 1.0})
    ws.models.register(str(run.id), "trend")
    ws.models.promote("trend", 1, force=True, reason="test")
    proc, url = start_server(ws.root, "trend@champion")
    yield ws, url
    proc.terminate()
    proc.wait(timeout=30)
