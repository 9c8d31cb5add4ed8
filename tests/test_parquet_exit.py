"""Arrow is never handed a Python file object: its reader threads calling back into one
(an ``open()`` handle, a ``BytesIO``, an fsspec file) can abort the interpreter at exit with
"terminate called without an active exception" after a command has done its work
(apache/arrow#34314, #50482). CI saw `rung data diff` exit -6 this way. Every Parquet read
goes through :func:`rung.data.tables.read_frame`, which gives Arrow a path or a buffer."""

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
