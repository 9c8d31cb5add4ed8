"""The metadata store suite, run on SQLite and on PostgreSQL."""

from __future__ import annotations

import multiprocessing as mp
import warnings
from pathlib import Path
from typing import Any

import pytest

from rung.core.errors import StoreUnavailable
from rung.store.metadata import HEAD_REVISION, MetadataStore
from rung.store.schema import metadata

WRITERS = 4
PER_WRITER = 60


def test_migrations_reach_head_and_match_the_schema(store_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    store = MetadataStore(store_url)
    try:
        cfg = Config()
        cfg.set_main_option("script_location", "rung.store:migrations")
        assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION
        assert store.current_revision() == HEAD_REVISION
        engine = store.sqlalchemy_engine()
        with engine.connect() as conn, warnings.catch_warnings():
            # run_params' (key, substr(text, 1, 200)) index: SQLAlchemy does not reflect it
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        # which the schema leaves to migration 0018 (PostgreSQL reflects it, SQLite does not)
        diff = [d for d in diff if getattr(d[1], "name", None) != "ix_run_params_key_text"]
        engine.dispose()
        assert diff == []
    finally:
        store.close()


def test_reopening_is_idempotent_and_close_is_final(store_url: str) -> None:
    MetadataStore(store_url).close()
    store = MetadataStore(store_url)
    store.close()
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"), store.read():
        pass


def _open_and_write(url: str, writer: int, barrier: mp.synchronize.Barrier, out: mp.Queue) -> None:
    """One writer process: open the (possibly fresh) store, write runs, metrics and versions."""
    import time

    from rung.data.datasets import Datasets  # noqa: F401 - imports as a real process would

    try:
        barrier.wait(timeout=60)
        store = MetadataStore(url)
        for i in range(PER_WRITER):
            with store.write() as tx:
                run_id = tx.insert(
                    "runs",
                    {
                        "name": f"w{writer}",
                        "kind": "tracking",
                        "status": "running",
                        "trigger": "manual",
                        "params": "{}",
                        "started_at": time.time(),
                    },
                )
            with store.write() as tx:
                tx.insert(
                    "metrics",
                    {
                        "run_id": run_id,
                        "key": "m",
                        "value": float(i),
                        "step": i,
                        "timestamp": time.time(),
                    },
                    returning=None,
                )
        store.close()
        out.put(("ok", writer))
    except BaseException as exc:  # report, so the parent fails with the reason
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def in_parallel(target: Any, *args: Any) -> None:
    """Start WRITERS processes together (a barrier), each ``target(*args, n, barrier, queue)``."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, w, barrier, out)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(r[0] == "ok" for r in results), results


def test_concurrent_writers_on_a_fresh_store_lose_nothing(store_url: str) -> None:
    """Four processes open the same fresh store at once (migrations race) and write."""
    in_parallel(_open_and_write, store_url)
    store = MetadataStore(store_url)
    try:
        with store.read() as tx:
            assert tx.scalar("SELECT COUNT(*) FROM runs") == WRITERS * PER_WRITER
            assert tx.scalar("SELECT COUNT(*) FROM metrics") == WRITERS * PER_WRITER
            per_writer = {
                r["name"]: r["n"]
                for r in tx.all("SELECT name, COUNT(*) AS n FROM runs GROUP BY name")
            }
        assert per_writer == {f"w{w}": PER_WRITER for w in range(WRITERS)}
    finally:
        store.close()


def _add_versions(
    root: str, url: str, writer: int, barrier: mp.synchronize.Barrier, out: mp.Queue
) -> None:
    import os

    import pandas as pd

    os.environ["RUNG_STORE_URL"] = url
    from rung import Workspace

    try:
        barrier.wait(timeout=60)
        with Workspace.open(root) as ws:
            for i in range(10):
                ws.data.add(pd.DataFrame({"w": [writer], "i": [i]}), name="shared")
        out.put(("ok", writer))
    except BaseException as exc:
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def test_concurrent_dataset_versions_are_all_kept_and_numbered_once(ws, store_url: str) -> None:  # type: ignore[no-untyped-def]
    in_parallel(_add_versions, str(ws.root), store_url)
    with ws.store.read() as tx:
        versions = sorted(
            r["version"] for r in tx.all("SELECT version FROM datasets WHERE name = 'shared'")
        )
    assert versions == list(range(1, WRITERS * 10 + 1))


def test_unreachable_postgres_names_the_url_and_the_fix() -> None:
    url = "postgresql+psycopg://someone:secret@127.0.0.1:1/nodb"
    with pytest.raises(StoreUnavailable) as info:
        MetadataStore(url)
    message = str(info.value)
    assert "127.0.0.1:1/nodb" in message
    assert "secret" not in message
    assert "RUNG_STORE_URL" in message


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with store.read() as tx:
            assert tx.scalar("PRAGMA journal_mode") == "wal"
            assert tx.scalar("PRAGMA busy_timeout") >= 30000
    finally:
        store.close()


def test_sqlite_write_transactions_are_durable(tmp_path: Path) -> None:
    """Every write commits with synchronous = FULL (the WAL fsynced at each commit), so a power
    loss cannot roll it back; only writes marked durable=False (metrics during a run) skip
    the fsync, and the next durable write syncs them too."""
    store = MetadataStore(f"sqlite:///{tmp_path / 'x.db'}")
    full, normal = 2, 1
    try:
        with store.write() as tx:
            assert tx.scalar("PRAGMA synchronous") == full
        with store.write(durable=False) as tx:
            assert tx.scalar("PRAGMA synchronous") == normal
        with store.write() as tx:
            assert tx.scalar("PRAGMA synchronous") == full
    finally:
        store.close()


def test_only_metric_logging_opts_out_of_durable_commits() -> None:
    """The kind: a new write path is durable unless it is listed here on purpose."""
    src = Path(__file__).resolve().parents[1] / "src" / "rung"
    opted_out = sorted(
        str(p.relative_to(src))
        for p in src.rglob("*.py")
        if "durable=False" in p.read_text() and p.name != "metadata.py"
    )
    assert opted_out == ["pipelines/tracking.py"]
