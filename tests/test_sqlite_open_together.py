"""Several processes opening the same new SQLite file at once all succeed.

Switching a file to WAL returns SQLITE_BUSY at once (no busy handler) while another
connection is mid-open; every SQLite file rung opens (the metadata store, the machine-local
stat cache) goes through ``rung.store.sqlite.set_wal``, which waits instead. CI once failed
with "database is locked" when six ``rung data add`` processes opened the stat cache together.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

ROUNDS = 25
WORKER = r"""
import sys, time
from pathlib import Path
what, path, start = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
while time.time() < start:
    pass
from rung.store.metadata import MetadataStore
from rung.store.statcache import StatCache
for n in range(ROUNDS):  # the processes walk the same fresh files in near lockstep
    file = path / f"{n}.sqlite"
    if what == "statcache":
        c = StatCache(file)
        c.store([(f"/x/{i}", (1, 2, 3), "ab" * 32) for i in range(5)])
        c.close()
    else:
        MetadataStore(f"sqlite:///{file}").close()
print("ok")
"""


@pytest.mark.parametrize("what", ["statcache", "metadata"])
def test_new_sqlite_files_opened_by_many_processes_at_once(tmp_path: Path, what: str) -> None:
    path = tmp_path / "state"
    path.mkdir()
    start = time.time() + 3
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER.replace("ROUNDS", str(ROUNDS)),
                what,
                str(path),
                str(start),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-1500:]
        assert out.strip() == "ok"
