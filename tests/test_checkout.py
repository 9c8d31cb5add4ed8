"""Checkouts of dataset versions: shared atomically, read-only, and verified on every path()."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rung.data.checkout import STAMP_NS
from rung.store.partials import _HOST

# Opens the workspace and checks out REF at the same instant as its siblings; prints the
# path and every file's relative path and size.
CHECKOUT = r"""
import json, os, sys, time
from rung import Workspace
root, ref, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
with Workspace(root) as ws:
    version = ws.data.get(ref)
    while time.time() < start:
        pass
    path = version.path()
    files = {}
    if path.is_dir():
        for folder, _, names in os.walk(path):
            for n in names:
                full = os.path.join(folder, n)
                files[os.path.relpath(full, path)] = os.path.getsize(full)
    else:
        files[""] = os.path.getsize(path)
    print(json.dumps({"path": str(path), "files": files}))
"""


def make_tree(folder: Path, n: int = 60) -> dict[str, bytes]:
    contents = {}
    for i in range(n):
        rel = f"part{i % 3}/f{i:03d}.bin"
        data = os.urandom(5000 + i)
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
        contents[rel] = data
    return contents


def leftovers(ws) -> list[Path]:  # type: ignore[no-untyped-def]
    root = Path(ws.root) / ".rung" / "checkout"
    return [p for p in root.rglob("*") if p.name.startswith((".tmp-", ".stale-"))]


@pytest.mark.parametrize("shape", ["folder", "file"])
def test_eight_processes_check_out_the_same_version_at_once(
    sqlite_ws, tmp_path: Path, shape: str
) -> None:
    if shape == "folder":
        source = tmp_path / "images"
        expected = {k: len(v) for k, v in make_tree(source).items()}
    else:
        source = tmp_path / "blob.bin"
        source.write_bytes(os.urandom(300_000))
        expected = {"": 300_000}
    sqlite_ws.data.add(source, "d")
    start = time.time() + 4  # every process has imported rung and opened the workspace
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHECKOUT, str(sqlite_ws.root), "d@1", str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert len({r["path"] for r in results}) == 1
    for r in results:
        assert {k.replace(os.sep, "/"): v for k, v in r["files"].items()} == expected
    assert leftovers(sqlite_ws) == []
    path = Path(results[0]["path"])
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for f in files:  # read-only, stamped
        assert stat.S_IMODE(f.stat().st_mode) == 0o444
        assert f.stat().st_mtime_ns == STAMP_NS
    if path.is_dir():
        assert all(stat.S_IMODE(d.stat().st_mode) == 0o555 for d in [path, *path.rglob("*/")])


@pytest.mark.parametrize(
    "damage", ["append", "rewrite same size", "delete a file", "add a file", "replace by a link"]
)
def test_a_modified_checkout_is_detected_and_rebuilt(
    sqlite_ws, tmp_path: Path, damage: str
) -> None:
    source = tmp_path / "tree"
    contents = make_tree(source, 12)
    version = sqlite_ws.data.add(source, "t")
    path = sqlite_ws.data.get("t@1").path()
    victim = path / "part1/f001.bin"
    os.chmod(victim, 0o644)
    os.chmod(victim.parent, 0o755)
    if damage == "append":
        with open(victim, "ab") as f:
            f.write(b"8 bytes!")  # the example: 8 bytes appended to a checked-out file
    elif damage == "rewrite same size":
        victim.write_bytes(b"\0" * len(contents["part1/f001.bin"]))
    elif damage == "delete a file":
        victim.unlink()
    elif damage == "add a file":
        (victim.parent / "extra.txt").write_text("stray output")
    else:
        victim.unlink()
        victim.symlink_to(source / "part1/f001.bin")
    again = version.path()  # a fresh call re-checks: one stat per file
    assert again == path
    got = {p.relative_to(again).as_posix(): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert got == contents
    assert not victim.is_symlink()
    assert leftovers(sqlite_ws) == []


def test_a_modified_single_file_checkout_is_rebuilt(sqlite_ws, tmp_path: Path) -> None:
    source = tmp_path / "table.csv"
    source.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(1000)))
    original = source.read_bytes()
    version = sqlite_ws.data.add(source, "table")
    path = version.path()
    os.chmod(path, 0o644)
    with open(path, "ab") as f:
        f.write(b"8 bytes!")
    assert sqlite_ws.data.get("table").path().read_bytes() == original
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


def test_a_killed_checkout_leaves_a_temporary_folder_that_the_next_build_sweeps(
    sqlite_ws, tmp_path: Path
) -> None:
    source = tmp_path / "tree"
    make_tree(source, 6)
    version = sqlite_ws.data.add(source, "t")
    parent = Path(sqlite_ws.root) / ".rung" / "checkout" / version.hash[:16]
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = parent / f".tmp-{_HOST}-{dead.pid}-{int(time.time())}-abc"
    (orphan / "sub").mkdir(parents=True)
    (orphan / "sub" / "half.bin").write_bytes(b"half")
    os.chmod(orphan / "sub", 0o555)
    version.path()
    assert leftovers(sqlite_ws) == []
