"""A machine-local cache of file hashes keyed by (path, size, mtime, inode), as DVC keeps one.

It lives inside the workspace's ``.rung/`` folder, in its own SQLite file (stdlib ``sqlite3``),
because it describes files on *this* machine even when the metadata store is a shared
PostgreSQL. A file whose size, modification time and inode are unchanged is not re-hashed.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from rung.core.hashing import hash_file
from rung.store.sqlite import set_wal

Stat = tuple[int, int, int]  # size, mtime_ns, inode


def file_stat(path: str) -> Stat:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ino


class StatCache:
    """Remember file hashes by stat signature."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
        set_wal(self._db)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS stat (path TEXT PRIMARY KEY, size INTEGER,"
            " mtime_ns INTEGER, inode INTEGER, hash TEXT)"
        )

    def lookup(self, paths: Iterable[str]) -> dict[str, tuple[Stat, str | None]]:
        """Each path's current stat and its cached hash, or None when it must be hashed."""
        result: dict[str, tuple[Stat, str | None]] = {}
        plist = list(paths)
        cached: dict[str, tuple[int, int, int, str]] = {}
        for i in range(0, len(plist), 500):
            chunk = plist[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT path, size, mtime_ns, inode, hash FROM stat WHERE path IN ({marks})",
                chunk,
            ):
                cached[row[0]] = (row[1], row[2], row[3], row[4])
        for p in plist:
            st = file_stat(p)
            hit = cached.get(p)
            result[p] = (st, hit[3] if hit and hit[:3] == st else None)
        return result

    def store(self, entries: Iterable[tuple[str, Stat, str]]) -> None:
        rows = [(p, st[0], st[1], st[2], h) for p, st, h in entries]
        if rows:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO stat VALUES (?,?,?,?,?)", rows)
            self._db.execute("COMMIT")

    def hash(self, path: str) -> str:
        """The file's hash, from the cache when its stat is unchanged."""
        ((st, cached),) = self.lookup([path]).values()
        if cached is None:
            cached = hash_file(path)
            self.store([(path, st, cached)])
        return cached

    def close(self) -> None:
        self._db.close()
