"""What every SQLite file rung opens shares: switching it to write-ahead logging safely.

``PRAGMA journal_mode = WAL`` needs a moment with no other connection mid-open, and SQLite
returns ``SQLITE_BUSY`` for it at once instead of calling the busy handler, so several
processes opening the same new file together (``rung data add`` six times at once) would
fail with "database is locked" without a retry.
"""

from __future__ import annotations

import sqlite3
import time


def set_wal(conn: sqlite3.Connection, *, attempts: int = 200, pause: float = 0.05) -> None:
    """Switch ``conn``'s database to WAL, retrying while another connection holds it.

    Waits up to ``attempts * pause`` seconds (10 s by default), then raises the last
    ``sqlite3.OperationalError``.
    """
    for _ in range(attempts - 1):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            time.sleep(pause)
    conn.execute("PRAGMA journal_mode = WAL")
