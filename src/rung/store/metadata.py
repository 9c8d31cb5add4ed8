"""The metadata store: one gateway that owns every connection to the database.

SQLAlchemy holds the schema (:mod:`rung.store.schema`) and Alembic its migrations; queries
run as plain SQL through the database's own DB-API driver — ``sqlite3`` for the default
SQLite file, psycopg 3 for PostgreSQL. The reason is start-up time: importing SQLAlchemy
costs about 0.3 s on a small machine, more than a whole cached pipeline run or a CLI listing
needs, so it is imported only when migrations must run. The SQL is written once, with
``:name`` parameters, in the dialect both databases share.

SQLite runs in WAL mode with a busy timeout; writes open with ``BEGIN IMMEDIATE`` so that
concurrent writers queue for the lock instead of failing halfway through, and every
transaction is short. PostgreSQL uses its own MVCC. Migrations run when the store opens,
under a lock (a file lock for SQLite, an advisory lock for PostgreSQL), so several processes
opening a fresh store at once do not race.
"""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rung.core.errors import StoreUnavailable

HEAD_REVISION = "0007"
_MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x72756E67  # "rung"
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")

Row = dict[str, Any]


class Conflict(Exception):
    """A unique constraint refused a row (another process took the same key first)."""


def redact(url: str) -> str:
    """The URL with its password hidden, for messages."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


class Tx:
    """One transaction: run SQL with ``:name`` parameters, get rows as dicts."""

    def __init__(self, cursor: Any, dialect: str) -> None:
        self._cur = cursor
        self._pg = dialect == "postgresql"

    def _sql(self, sql: str) -> str:
        return _PARAM.sub(r"%(\1)s", sql) if self._pg else sql

    def real(self, value: float) -> Any:
        """``value`` as a parameter for a ``REAL``/``DOUBLE PRECISION`` column: NaN, which
        Python's sqlite3 would bind as NULL, is bound as the text ``'NaN'`` on SQLite (kept
        as text by the column's affinity; ``float()`` reads it back); PostgreSQL stores NaN
        and ±infinity natively, SQLite ±infinity too."""
        if not self._pg and value != value:
            return "NaN"
        return value

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        try:
            self._cur.execute(self._sql(sql), params or {})
        except Exception as exc:
            _raise_conflict(exc)
            raise

    def all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        self.execute(sql, params)
        return list(self._cur.fetchall())

    def one(self, sql: str, params: Mapping[str, Any] | None = None) -> Row | None:
        self.execute(sql, params)
        row = self._cur.fetchone()
        return dict(row) if row is not None else None

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        row = self.one(sql, params)
        return None if row is None else next(iter(row.values()))

    def insert(self, table: str, values: Mapping[str, Any], returning: str | None = "id") -> Any:
        """Insert one row; return its ``returning`` column (the new id by default)."""
        cols = list(values)
        sql = (
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
            + (f" RETURNING {returning}" if returning else "")
        )
        if returning is None:
            self.execute(sql, values)
            return None
        return self.scalar(sql, values)

    def insert_many(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        cols = list(rows[0])
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
        try:
            self._cur.executemany(self._sql(sql), rows)
        except Exception as exc:
            _raise_conflict(exc)
            raise


def _raise_conflict(exc: Exception) -> None:
    name = type(exc).__name__
    if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc):
        raise Conflict(str(exc)) from exc
    if name == "UniqueViolation":
        raise Conflict(str(exc)) from exc


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {d[0]: v for d, v in zip(cursor.description, row, strict=True)}


class MetadataStore:
    """Connections, transactions and migrations of the metadata database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        if self.dialect not in ("sqlite", "postgresql"):
            raise StoreUnavailable(
                f"unsupported metadata store URL {redact(url)}",
                "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
            )
        self._closed = False
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._migrate()

    # -- connections -------------------------------------------------------------------

    def _connection(self) -> Any:
        if self._closed:
            raise StoreUnavailable("the metadata store is closed", "open the workspace again")
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = self._open()
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                self._all.append(conn)
        return conn

    def _open(self) -> Any:
        if self.dialect == "sqlite":
            path = _sqlite_path(self.url) or ":memory:"
            conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
            conn.row_factory = _dict_row
            conn.execute("PRAGMA busy_timeout = 60000")
            _set_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            return conn
        try:
            import psycopg
            from psycopg.rows import dict_row
        except ModuleNotFoundError as exc:
            raise StoreUnavailable(
                f"no PostgreSQL driver for {redact(self.url)}",
                "install the extra: pip install 'rung[postgres]'",
            ) from exc
        try:
            return psycopg.connect(
                _libpq_url(self.url), connect_timeout=5, row_factory=dict_row, autocommit=True
            )
        except psycopg.Error as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return StoreUnavailable(
            f"cannot reach the metadata store at {redact(self.url)} ({reason})",
            "start the database server or fix store_url in rung.toml / RUNG_STORE_URL",
        )

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A short read transaction."""
        with self._transaction(write=False) as tx:
            yield tx

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A short write transaction; on SQLite it takes the write lock at BEGIN."""
        with self._transaction(write=True) as tx:
            yield tx

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Tx]:
        conn = self._connection()
        if self.dialect == "sqlite":
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Tx(conn.cursor(), "sqlite")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return
        import psycopg

        try:
            with conn.transaction(), conn.cursor() as cur:
                yield Tx(cur, "postgresql")
        except psycopg.OperationalError as exc:
            self._local.conn = None  # a broken connection is not reused
            raise self._unavailable(exc) from exc

    def close(self) -> None:
        """Release every connection; later calls raise. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except Exception:  # closing is best effort
                    continue
            self._all.clear()

    # -- migrations --------------------------------------------------------------------

    def current_revision(self) -> str | None:
        try:
            with self.read() as tx:
                version: str | None = tx.scalar("SELECT version_num FROM alembic_version")
                return version
        except StoreUnavailable:
            raise
        except Exception:  # no such table yet
            return None

    def _migrate(self) -> None:
        if self.current_revision() == HEAD_REVISION:
            return  # the fast path: no SQLAlchemy, no Alembic, no lock
        with self._migration_lock():
            if self.current_revision() == HEAD_REVISION:
                return
            from alembic import command
            from alembic.config import Config

            engine = self.sqlalchemy_engine()
            try:
                with engine.begin() as conn:
                    cfg = Config()
                    cfg.set_main_option("script_location", str(_MIGRATIONS))
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
            finally:
                engine.dispose()

    def sqlalchemy_engine(self) -> Any:
        """A SQLAlchemy engine on the same database, for migrations and schema checks."""
        from sqlalchemy import create_engine

        if self.dialect == "sqlite":
            return create_engine(self.url, connect_args={"timeout": 60})
        return create_engine(self.url, connect_args={"connect_timeout": 5})

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.dialect == "postgresql":
            conn = self._connection()
            conn.execute("SELECT pg_advisory_lock(%s)", (_PG_LOCK_KEY,))  # autocommit: held now
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_PG_LOCK_KEY,))
            return
        path = _sqlite_path(self.url)
        if path is None:
            yield
            return
        fd = os.open(path + ".migrate.lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _sqlite_path(url: str) -> str | None:
    path = url.split("///", 1)[1] if "///" in url else ""
    return path if path and path != ":memory:" else None


def _libpq_url(url: str) -> str:
    """postgresql+psycopg://… → postgresql://… (what libpq accepts)."""
    _, rest = url.split("://", 1)
    return f"postgresql://{rest}"


def _set_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, waiting for a moment without other writers if needed."""
    import time

    for _ in range(100):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            time.sleep(0.05)
    conn.execute("PRAGMA journal_mode = WAL")
