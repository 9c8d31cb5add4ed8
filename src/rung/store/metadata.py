"""The metadata store: one gateway that owns every connection to the database.

SQLAlchemy holds the schema (:mod:`rung.store.schema`) and Alembic its migrations; queries
run as plain SQL through the database's own DB-API driver — ``sqlite3`` for the default
SQLite file, psycopg 3 for PostgreSQL. The reason is start-up time: importing SQLAlchemy
costs about 0.3 s on a small machine, more than a whole cached pipeline run or a CLI listing
needs, so it is imported only when migrations must run. The SQL is written once, with
``:name`` parameters, in the dialect both databases share.

SQLite runs in WAL mode with a busy timeout; writes open with ``BEGIN IMMEDIATE`` so that
concurrent writers queue for the lock instead of failing halfway through, polling for it
every millisecond at most (:func:`_begin_immediate`: SQLite's own backoff slept up to 100 ms
past the lock's release), and every transaction is short; many rows go in one statement
(:meth:`Tx.insert_many`). Writes run with ``synchronous = FULL`` (:data:`SQLITE_SYNCHRONOUS`):
each commit fsyncs the write-ahead log before it returns, so a committed prediction, alias
move or dataset version survives a power loss (with ``NORMAL`` the last commits before the
loss can be rolled back). Only writes marked ``durable=False`` (metrics logged during a run)
skip the fsync. The cost is one fsync per commit, measured by ``make bench`` (``--only sync``,
``benchmarks/scripts/sync_rung.py``). PostgreSQL uses its own MVCC. Migrations run when the store opens,
under a lock (a file lock for SQLite, an advisory lock for PostgreSQL), so several processes
opening a fresh store at once do not race.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from rung.core.errors import DiskFull, StoreUnavailable
from rung.core.limits import MAX_ID, check_column, check_int
from rung.store.sqlite import set_wal

HEAD_REVISION = "0018"
# Every commit is durable once it returns, power loss included: the WAL is fsynced at each
# commit. "NORMAL" only fsyncs at checkpoints (the benchmark flips this to compare).
SQLITE_SYNCHRONOUS = "FULL"
# host parameters in one statement: 32766 since SQLite 3.32, 999 before
SQLITE_MAX_VARIABLES = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
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

    @staticmethod
    def read_real(value: Any) -> float:
        """A non-null ``REAL`` column's value as written by :meth:`real`: the float, NaN for
        SQLite's text ``'NaN'``. Every reader of such a column goes through it, so NaN
        reads the same on both backends and in every command."""
        return float(value)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run one statement; an integer parameter past 64 bits raises
        :class:`rung.core.errors.InvalidInput` (both databases would refuse it, differently),
        and a NUL character in a text parameter is stored as U+FFFD on both (PostgreSQL cannot
        hold NUL in text; SQLite would keep it)."""
        if params:
            params = _checked(params)
        try:
            self._cur.execute(self._sql(sql), params or {})
        except Exception as exc:
            _raise_conflict(exc)
            raise

    def count(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run one ``UPDATE`` or ``DELETE``; the number of rows it matched (an ``UPDATE`` that
        sets a column to its own value counts its rows too, on SQLite as on PostgreSQL)."""
        self.execute(sql, params)
        return int(self._cur.rowcount)

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
        """Insert one row; return its ``returning`` column (the new id by default).

        Raises :class:`rung.core.errors.InvalidInput` before writing anything when a text
        value is over its column's limit (:mod:`rung.core.limits`), on SQLite as on PostgreSQL.
        """
        _check_row(table, values)
        cols = list(values)
        sql = (
            f"INSERT INTO {table} ({_names(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
            + (f" RETURNING {returning}" if returning else "")
        )
        if returning is None:
            self.execute(sql, values)
            return None
        return self.scalar(sql, values)

    def lock(self, key: str) -> None:
        """Serialise the transactions that lock ``key`` until this one ends.

        For a read-then-write on a name (the next version number of a dataset or model, after
        checking that the same content is not already a version): on PostgreSQL, where each
        statement sees the commits made before it started, two transactions could otherwise
        both find nothing and both insert. A transaction-scoped advisory lock there; a no-op
        on SQLite, whose write transactions already run one at a time (``BEGIN IMMEDIATE``).
        """
        if self._pg:
            self.execute("SELECT pg_advisory_xact_lock(hashtext(:k))", {"k": key})

    def insert_if_absent(self, table: str, values: Mapping[str, Any], key: Sequence[str]) -> bool:
        """Insert one row unless a row with the same ``key`` columns exists; True if inserted.

        ``INSERT … ON CONFLICT (key) DO NOTHING`` — the same SQL on SQLite (3.24+) and
        PostgreSQL. Unlike a ``SELECT`` then ``INSERT``, it cannot fail when another
        transaction inserts the same key at the same moment: on PostgreSQL it waits for that
        transaction and then does nothing (a unique violation would abort the whole
        transaction there).
        """
        cols = list(values)
        self.execute(
            f"INSERT INTO {table} ({_names(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
            f" ON CONFLICT ({', '.join(key)}) DO NOTHING",
            values,
        )
        return bool(self._cur.rowcount == 1)

    def upsert(self, table: str, values: Mapping[str, Any], key: Sequence[str]) -> None:
        """Insert one row, or update the row with the same ``key`` columns to ``values``.

        ``INSERT … ON CONFLICT (key) DO UPDATE``: atomic on both backends, where a ``DELETE``
        then ``INSERT`` fails when two transactions do it at once on PostgreSQL.
        """
        cols = list(values)
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in key)
        self.execute(
            f"INSERT INTO {table} ({_names(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
            f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}",
            values,
        )

    def insert_many(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert rows of the same columns; the limits are checked as by :meth:`insert`."""
        if not rows:
            return
        for row in rows:
            _check_row(table, row)
        rows = [_checked(row) for row in rows]
        cols = list(rows[0])
        into = f"INSERT INTO {table} ({_names(cols)}) VALUES "
        try:
            if self._pg:  # psycopg pipelines executemany: one round trip
                self._cur.executemany(
                    self._sql(into + f"({', '.join(':' + c for c in cols)})"), rows
                )
                return
            # SQLite: one statement of many rows, one step (executemany steps once per row,
            # and Python's sqlite3 lets go of the GIL at every step: under load each took
            # back up to a switch interval, 5 ms, while the writer held the write lock)
            per = max(1, SQLITE_MAX_VARIABLES // len(cols))
            one = "(" + ", ".join(["?"] * len(cols)) + ")"
            for start in range(0, len(rows), per):
                chunk = rows[start : start + per]
                self._cur.execute(
                    into + ", ".join([one] * len(chunk)),
                    [row[c] for row in chunk for c in cols],
                )
        except Exception as exc:
            _raise_conflict(exc)
            raise


def _names(columns: Sequence[str]) -> str:
    """Column names quoted, so that a name that is a keyword (``window`` on PostgreSQL)
    works on both databases."""
    return ", ".join(f'"{c}"' for c in columns)


def _check_row(table: str, values: Mapping[str, Any]) -> None:
    for column, value in values.items():
        if isinstance(value, str):
            check_column(table, column, value)


def _checked(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """``params`` with ints range-checked and NUL characters replaced (a copy only if any)."""
    fixed: dict[str, Any] | None = None
    for name, value in params.items():
        if type(value) is int and not -MAX_ID - 1 <= value <= MAX_ID:
            check_int(value, f"value of {name}", -MAX_ID - 1, MAX_ID)
        elif type(value) is str and "\x00" in value:
            fixed = fixed if fixed is not None else dict(params)
            fixed[name] = value.replace("\x00", "\ufffd")
    return params if fixed is None else fixed


def _raise_conflict(exc: Exception) -> None:
    name = type(exc).__name__
    if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc):
        raise Conflict(str(exc)) from exc
    if name == "UniqueViolation":
        raise Conflict(str(exc)) from exc


class _SqliteConnection(sqlite3.Connection):
    """A connection that remembers its ``synchronous`` setting (to set it only on change)."""

    rung_sync = ""


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {d[0]: v for d, v in zip(cursor.description, row, strict=True)}


BUSY_TIMEOUT_MS = 60000  # how long a statement waits for another writer's lock


def _begin_immediate(conn: sqlite3.Connection) -> None:
    """Take SQLite's write lock (``BEGIN IMMEDIATE``), polling every 0.05–1 ms for up to
    :data:`BUSY_TIMEOUT_MS`.

    SQLite's own busy handler sleeps 1, 2, 5, 10, … up to 100 ms between tries
    (``sqliteDefaultBusyCallback``): while one process commits back to back (the prediction
    log of one of several serving workers), a second one asleep in that backoff waited up to
    330 ms for a lock that was free most of the time. Polling finely takes the lock within a
    millisecond of its release.

    Raises:
        sqlite3.OperationalError: the lock was not free within the timeout ("database is
            locked"), or any other failure of ``BEGIN``.
    """
    try:  # the common case: the lock is free (the connection's busy timeout is off here)
        conn.execute("PRAGMA busy_timeout = 0")
        deadline = 0.0
        pause = 0.00005
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                now = time.monotonic()
                if not deadline:
                    deadline = now + BUSY_TIMEOUT_MS / 1000
                elif now > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.001)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


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
            try:
                conn = self._open()
            except sqlite3.Error as exc:  # not a database, no space, no folder: one line
                self._reraise(exc)
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                self._all.append(conn)
        return conn

    def close_thread(self) -> None:
        """Close the calling thread's connection: a worker thread calls it before it ends,
        or each thread started per run or per tick would keep a connection open."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            return
        self._local.conn = None
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        try:
            conn.close()
        except Exception:  # closing is best effort
            return

    def _explain(self, exc: BaseException) -> BaseException:
        """A database failure as one line (a full disk, not a database, …) or itself."""
        from rung.store.failures import explain

        return explain(exc, _sqlite_path(self.url) or redact(self.url)) or exc

    def _reraise(self, exc: BaseException) -> NoReturn:
        """Raise ``exc`` as its one-line RungError, or unchanged (a bug keeps its traceback)."""
        explained = self._explain(exc)
        if explained is exc:
            raise exc
        raise explained from exc

    def _open(self) -> Any:
        if self.dialect == "sqlite":
            path = _sqlite_path(self.url) or ":memory:"
            conn = sqlite3.connect(
                path,
                timeout=60,
                isolation_level=None,
                check_same_thread=False,
                factory=_SqliteConnection,
            )
            conn.row_factory = _dict_row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            set_wal(conn)
            conn.execute(f"PRAGMA synchronous = {SQLITE_SYNCHRONOUS}")
            conn.rung_sync = SQLITE_SYNCHRONOUS
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
            "start the database server, or fix its address and credentials in store.url of rung.toml / RUNG_STORE_URL",
        )

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A short read transaction."""
        with self._transaction(write=False) as tx:
            yield tx

    @contextmanager
    def write(self, *, durable: bool = True) -> Iterator[Tx]:
        """A short write transaction; on SQLite it takes the write lock at BEGIN.

        Its commit is durable once ``write`` returns, power loss included. ``durable=False``
        (metrics logged during a run, one commit per call) lets SQLite skip the fsync: such
        a commit becomes durable with the next durable one — at the latest when the run
        ends. PostgreSQL commits are durable as the server is configured
        (``synchronous_commit``, on by default).
        """
        with self._transaction(write=True, durable=durable) as tx:
            yield tx

    @contextmanager
    def _transaction(self, write: bool, durable: bool = True) -> Iterator[Tx]:
        conn = self._connection()
        if self.dialect == "sqlite":
            try:
                if write:  # per transaction: the WAL fsync at commit, or none
                    sync = SQLITE_SYNCHRONOUS if durable else "NORMAL"
                    if getattr(conn, "rung_sync", None) != sync:
                        conn.execute(f"PRAGMA synchronous = {sync}")
                        conn.rung_sync = sync
                if write:
                    _begin_immediate(conn)
                else:
                    conn.execute("BEGIN")
                try:
                    yield Tx(conn.cursor(), "sqlite")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:  # a full disk, a corrupt file: one line
                with contextlib.suppress(sqlite3.Error):
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                self._reraise(exc)
            return
        import psycopg

        try:
            with conn.transaction(), conn.cursor() as cur:
                yield Tx(cur, "postgresql")
        except psycopg.OperationalError as exc:
            self._local.conn = None  # a broken connection is not reused
            explained = self._explain(exc)
            raise (explained if explained is not exc else self._unavailable(exc)) from exc
        except psycopg.Error as exc:
            self._reraise(exc)

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
        except (StoreUnavailable, DiskFull):
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
            except Exception as exc:  # a full disk while migrating: one line
                self._reraise(exc)
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
