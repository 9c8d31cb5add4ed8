"""Arrow's thread pools can abort a process at exit with "terminate called without an active
exception" after a command has done its work (apache/arrow#34314, #50482). CI saw
`rung data diff` and later `rung model register` (one process in about 200 under load, with
the Parquet read from a buffer) exit -6 this way.

Two defences, both tested here: every Parquet read goes through
:func:`rung.data.tables.read_frame`, which never gives Arrow a Python file object (its reader
threads calling back into one made it one process in seven); and the ``rung`` executable ends
by :func:`rung.cli.main.leave`, which does what Python's exit does that matters and then skips
the native destructors where the abort happens."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "rung"
READERS = {"read_parquet", "read_table", "ParquetFile", "ParquetDataset", "dataset"}


def test_only_the_one_reader_reads_parquet() -> None:
    calls = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                name = owner.id if isinstance(owner, ast.Name) else ""
                if node.func.attr in READERS and name in {"pd", "pq", "pa", "ds"}:
                    calls.append(f"{path.relative_to(SRC)}:{node.lineno} {name}.{node.func.attr}")
    assert calls and all(c.startswith("data/tables.py:") for c in calls), calls


SCRIPT = """
import io, sys
from pathlib import Path
from rung.data.tables import read_frame
for p in sys.argv[1:]:
    with open(p, "rb") as f:
        read_frame(f, "parquet")
    read_frame(io.BytesIO(Path(p).read_bytes()), "parquet")
    read_frame(Path(p).read_bytes(), "parquet")
    read_frame(Path(p), "parquet")
print("read")
"""


@pytest.mark.parametrize("attempt", range(12))
def test_reading_parquet_never_aborts_at_exit(tmp_path: Path, attempt: int) -> None:
    """Before the fix, one process in about seven reading three files this way aborted."""
    files = []
    for i in range(3):
        files.append(tmp_path / f"{i}.parquet")
        pd.DataFrame({"c": [1.0, 2.0, None], "k": range(3), "s": list("abc")}).to_parquet(files[-1])
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *map(str, files)], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == "read", (done.returncode, done.stderr)


LEAVE = """
import atexit, sys, threading, time
from pathlib import Path
{imports}
from rung.cli.main import leave
out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))
def late():
    time.sleep(0.3)
    (out / "thread").write_text("joined")
threading.Thread(target=late).start()
sys.stdout.write("no newline, still buffered")
sys.stderr.write("error line")
leave(3)
"""


@pytest.mark.parametrize("imports", ["import pyarrow, pandas", ""], ids=["arrow", "no-arrow"])
def test_leave_loses_nothing_python_exit_would_keep(tmp_path: Path, imports: str) -> None:
    """Its exit code, buffered output, ``atexit`` handlers and non-daemon threads, with Arrow
    loaded (the ``os._exit`` path) and without (``sys.exit``)."""
    code = LEAVE.format(imports=imports)
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout == "no newline, still buffered" and done.stderr == "error line"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "joined"


def test_the_rung_executable_ends_through_leave(tmp_path: Path) -> None:
    """The console script's ``main()`` (no arguments), with Arrow loaded, ends by
    ``os._exit`` with the command's code; given arguments (in-process callers) it raises
    :class:`SystemExit` and the caller goes on."""
    from rung.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    code = (
        "import os, sys, pyarrow\n"
        "real = os._exit\n"
        "os._exit = lambda c: (sys.stderr.write(f'os._exit({c})'), sys.stderr.flush(), real(c))\n"
        "sys.argv = ['rung', 'nosuch']\n"
        "from rung.cli.main import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2 and "nosuch" in done.stderr, done.stderr
    assert done.stderr.endswith("os._exit(2)")
