"""The metadata store: one gateway that owns every connection to the database.

SQLite (the default) runs in WAL mode with a busy timeout; writes open with ``BEGIN
IMMEDIATE`` so that concurrent writers queue for the lock instead of failing halfway through a
transaction, and every transaction is short. PostgreSQL uses its own MVCC. Migrations are
applied when the store opens, under a lock (a file lock for SQLite, an advisory lock for
PostgreSQL) so that several processes opening a fresh store at once do not race.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from rung.core.errors import StoreUnavailable

HEAD_REVISION = "0001"
_MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x72756E67  # "rung"


def redact(url: str) -> str:
    """The URL with its password hidden, for messages."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


class MetadataStore:
    """Connections, transactions and migrations of the metadata database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        self._closed = False
        self.engine = self._create_engine(url)
        self._migrate()

    # -- connections -------------------------------------------------------------------

    def _create_engine(self, url: str) -> Engine:
        if self.dialect == "sqlite":
            engine = create_engine(url, connect_args={"timeout": 60})
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
            return engine
        if self.dialect == "postgresql":
            try:
                return create_engine(url, connect_args={"connect_timeout": 5}, pool_pre_ping=True)
            except ModuleNotFoundError as exc:
                raise StoreUnavailable(
                    f"no PostgreSQL driver for {redact(url)}",
                    "install the extra: pip install 'rung[postgres]'",
                ) from exc
        raise StoreUnavailable(
            f"unsupported metadata store URL {redact(url)}",
            "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
        )

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A short read transaction."""
        with self._connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A short write transaction; on SQLite it takes the write lock at BEGIN."""
        with self._connect() as conn:
            conn = conn.execution_options(rung_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        if self._closed:
            raise StoreUnavailable("the metadata store is closed", "open the workspace again")
        try:
            conn = self.engine.connect()
        except (OperationalError, DBAPIError) as exc:
            raise self._unavailable(exc) from exc
        with conn:
            yield conn

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return StoreUnavailable(
            f"cannot reach the metadata store at {redact(self.url)} ({reason})",
            "start the database server or fix store_url in rung.toml / RUNG_STORE_URL",
        )

    def close(self) -> None:
        """Release every connection; later calls raise. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self.engine.dispose()

    # -- migrations --------------------------------------------------------------------

    def current_revision(self) -> str | None:
        with self.read() as conn:
            try:
                with conn.begin_nested():
                    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
            except (OperationalError, DBAPIError):
                return None
        return row[0] if row else None

    def _migrate(self) -> None:
        if self.current_revision() == HEAD_REVISION:
            return  # the fast path: no Alembic import, no lock
        with self._migration_lock() as conn:
            from alembic import command
            from alembic.config import Config

            cfg = Config()
            cfg.set_main_option("script_location", str(_MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextmanager
    def _migration_lock(self) -> Iterator[Connection]:
        if self.dialect == "postgresql":
            with self._connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
                try:
                    yield conn
                    conn.commit()
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                    conn.commit()
            return
        lock_path = _sqlite_path(self.url)
        lock_path = lock_path + ".migrate.lock" if lock_path else None
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644) if lock_path else None
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            with self._connect() as conn:
                conn = conn.execution_options(rung_write=True)
                yield conn
                conn.commit()
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


def _sqlite_path(url: str) -> str | None:
    path = url.split("///", 1)[1] if "///" in url else ""
    return path if path and path != ":memory:" else None


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event issue BEGIN itself
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout = 60000")
    for _ in range(50):  # switching to WAL needs a moment without other writers
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            break
        except Exception:  # sqlite3.OperationalError: database is locked
            time.sleep(0.05)
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("rung_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
