"""Files that change while rung reads them, and what a killed `data add` leaves behind.

A writer process appends to or rewrites the files during the add; each add either refuses in
one line, recording nothing, or records sizes and hashes that match the stored objects. Real
SIGKILLs of `rung data add` leave owner-named partial files, which the next write sweeps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import RUNG, rung_cli
from rung.core.errors import SourceChanged
from rung.core.hashing import hash_file
from rung.store.artifacts import ArtifactStore
from rung.store.partials import _HOST, GRACE_SECONDS, owned_name, stale_reason
from rung.store.statcache import file_stat

# Appends 64 KiB chunks to a file (mode "append"; back to its first size once it has grown
# by half, to bound the disk it takes) or rewrites every file of a folder with a new size
# (mode "rewrite"), in a loop, until killed. It touches READY once it has started.
WRITER = r"""
import os, random, sys, time
mode, target, ready = sys.argv[1:4]
rng = random.Random(1)
chunk = os.urandom(65536)
start = os.path.getsize(target) if mode == "append" else 0
open(ready, "w").close()
while True:
    if mode == "append":
        with open(target, "ab") as f:
            f.write(chunk)
            if f.tell() > start * 1.5:
                f.truncate(start)
    else:
        for name in sorted(os.listdir(target)):
            with open(os.path.join(target, name), "wb") as f:
                f.write(os.urandom(rng.randint(1, 20000)))
"""


def start_writer(mode: str, target: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    ready = tmp_path / f"ready-{mode}"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, mode, str(target), str(ready)])
    while not ready.exists():
        time.sleep(0.01)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait()


def assert_matches_objects(ws, ref: str) -> None:  # type: ignore[no-untyped-def]
    """The version's recorded sizes and hashes are those of the stored objects."""
    v = ws.data.get(ref)
    obj = Path(ws.artifacts.path(v.hash))
    assert hash_file(obj) == v.hash
    if v.format != "tree":
        assert v.size == obj.stat().st_size
        return
    manifest = json.loads(obj.read_bytes())
    for entry in manifest["files"]:
        entry_obj = Path(ws.artifacts.path(entry["hash"]))
        assert entry["size"] == entry_obj.stat().st_size, entry
        assert hash_file(entry_obj) == entry["hash"]
    assert v.size == sum(e["size"] for e in manifest["files"])


def partials(ws) -> list[Path]:  # type: ignore[no-untyped-def]
    return list(Path(ws.artifacts.base).rglob(".partial-*"))


@pytest.mark.parametrize("size", [2_000_000, 24_000_000])  # the in-memory and the kernel copy
def test_a_file_appended_to_during_the_add_is_refused_or_recorded_exactly(
    sqlite_ws, tmp_path: Path, size: int
) -> None:
    big = tmp_path / "growing.bin"
    big.write_bytes(os.urandom(size))
    outcomes = []
    for attempt in range(4):
        writer = start_writer("append", big, tmp_path)
        try:
            sqlite_ws.data.add(big, f"grow{attempt}")
            outcomes.append("added")
            assert_matches_objects(sqlite_ws, f"grow{attempt}@1")
        except SourceChanged as exc:
            outcomes.append("refused")
            assert "changed while it was being added" in exc.message
            assert "\n" not in str(exc)
            assert sqlite_ws.data.list(f"grow{attempt}") == []  # nothing recorded
        finally:
            stop(writer)
    assert "refused" in outcomes  # a writer appending all the time is seen
    assert partials(sqlite_ws) == []  # a refused copy never becomes an object or a leftover


def test_a_folder_rewritten_during_the_add_never_records_a_wrong_size(
    sqlite_ws, tmp_path: Path
) -> None:
    folder = tmp_path / "tree"
    folder.mkdir()
    for i in range(400):
        (folder / f"f{i:03d}.bin").write_bytes(os.urandom(1000 + i))
    refused = 0
    for attempt in range(4):
        writer = start_writer("rewrite", folder, tmp_path)
        try:
            sqlite_ws.data.add(folder, f"tree{attempt}")
            assert_matches_objects(sqlite_ws, f"tree{attempt}@1")
        except SourceChanged as exc:
            refused += 1
            assert "changed while it was being added" in exc.message or "deleted" in exc.message
        finally:
            stop(writer)
    assert refused > 0


def test_the_cli_refuses_a_changing_file_in_one_line(sqlite_ws, tmp_path: Path) -> None:
    big = tmp_path / "log.bin"
    big.write_bytes(os.urandom(24_000_000))
    writer = start_writer("append", big, tmp_path)
    try:
        result = rung_cli("data", "add", str(big), "--name", "log", cwd=sqlite_ws.root)
    finally:
        stop(writer)
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "changed while it was being added" in lines[0] and "does not retry" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "change",
    ["append", "rewrite same size", "replace", "delete", "truncate"],
)
def test_every_kind_of_change_since_the_first_look_is_detected(tmp_path: Path, change: str) -> None:
    """The deterministic form: the file changes between the caller's first look (the stat it
    passes) and the copy; both the in-memory and the kernel-copy paths."""
    for size in (5000, 9 * 1024 * 1024):
        store = ArtifactStore(str(tmp_path / f"store{size}"))
        src = tmp_path / f"src{size}"
        src.write_bytes(b"a" * size)
        before = file_stat(str(src))
        time.sleep(0.01)
        if change == "append":
            with open(src, "ab") as f:
                f.write(b"more")
        elif change == "rewrite same size":
            src.write_bytes(b"b" * size)
            os.utime(src, ns=(before[1] + 5_000_000, before[1] + 5_000_000))
        elif change == "replace":
            other = tmp_path / "other"
            other.write_bytes(b"a" * size)
            os.utime(other, ns=(before[1], before[1]))
            os.replace(other, src)
        elif change == "delete":
            src.unlink()
        else:
            os.truncate(src, size // 2)
        with pytest.raises(SourceChanged, match="while it was being added"):
            store.put_source(src, before)
        assert not list((tmp_path / f"store{size}").rglob("objects/*/*"))
        assert not list((tmp_path / f"store{size}").rglob(".partial-*"))


# -- partial files of killed writers ------------------------------------------------------


def test_killed_data_adds_leave_partials_that_the_next_write_sweeps(
    sqlite_ws, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(12):
            f.write(os.urandom(8 * 1024 * 1024))  # 96 MiB: the copy takes a while
    tmp_dir = Path(sqlite_ws.artifacts.base) / "tmp"
    killed = 0
    for _ in range(3):
        proc = subprocess.Popen(
            [RUNG, "data", "add", str(big), "--name", "big"],
            cwd=sqlite_ws.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            mine = [p for p in tmp_dir.glob(f".partial-*-{proc.pid}-*") if p.stat().st_size]
            if mine:
                proc.send_signal(signal.SIGKILL)
                killed += 1
                break
            time.sleep(0.002)
        proc.wait()
        left = list(tmp_dir.glob(".partial-*"))
        # the kill left its partial, named for its dead owner; the previous kill's was swept
        # by this add's first write
        assert [p.name.split("-")[2] for p in left] == [str(proc.pid)]
        assert stale_reason(left[0].name, left[0].stat().st_mtime, GRACE_SECONDS) == "owner dead"
    assert killed >= 2, "the add finished before it could be killed"

    small = tmp_path / "small.txt"
    small.write_text("the next write sweeps them\n")
    result = rung_cli("data", "add", str(small), "--name", "small", cwd=sqlite_ws.root)
    assert result.returncode == 0, result.stderr
    assert list(tmp_dir.glob(".partial-*")) == []


def test_only_stale_partials_are_swept(tmp_path: Path) -> None:
    """A live owner on this host: kept, however old. Owner dead or its pid reused: swept.
    Another host's or owner-less names: swept once older than the grace period."""
    store = ArtifactStore(str(tmp_path))
    tmp_dir = tmp_path / "tmp"
    tmp_dir.mkdir()
    sleeper = subprocess.Popen(["sleep", "60"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        now = int(time.time())
        mine = owned_name(".partial")
        live = f".partial-{_HOST}-{sleeper.pid}-{now}-aaaa"
        gone = f".partial-{_HOST}-{dead.pid}-{now}-bbbb"
        reused = f".partial-{_HOST}-{sleeper.pid}-{now - 3600}-cccc"  # made before it started
        other_host = ".partial-elsewhere.example-1-1700000000-abcdef"
        legacy = ".partial-k2j3h4"
        for n in (mine, live, gone, other_host, legacy, reused):
            (tmp_dir / n).write_bytes(b"x" * 10)
        old = time.time() - GRACE_SECONDS - 60
        for n in (legacy, mine, live):  # old, but a live owner's are never stale
            os.utime(tmp_dir / n, (old, old))
        (tmp_path / "objects" / "ab").mkdir(parents=True)
        (tmp_path / "objects" / "ab" / legacy).write_bytes(b"y" * 7)
        os.utime(tmp_path / "objects" / "ab" / legacy, (old, old))

        would = store.sweep_partials(dry_run=True)
        assert {Path(p.path).name for p in would} == {gone, legacy, reused}
        assert all((tmp_dir / n).exists() for n in (mine, live, gone, other_host, legacy))
        swept = store.sweep_partials()
        assert sorted((Path(p.path).name, p.size, p.reason) for p in swept) == sorted(
            [
                (gone, 10, "owner dead"),
                (reused, 10, "owner dead"),
                (legacy, 10, "older than the grace period"),
                (legacy, 7, "older than the grace period"),
            ]
        )
        assert sorted(p.name for p in tmp_dir.iterdir()) == sorted([mine, live, other_host])
        # a shorter grace period (rung gc's) takes the other host's too, never a live owner's
        os.utime(tmp_dir / other_host, (time.time() - 120, time.time() - 120))
        assert [Path(p.path).name for p in store.sweep_partials(grace=60)] == [other_host]
        assert store.sweep_partials(grace=0) == []
    finally:
        sleeper.kill()
        sleeper.wait()


PUTTER = r"""
import os, sys
from rung.store.artifacts import ArtifactStore
store = ArtifactStore(sys.argv[1])
for i in range(150):
    data = os.urandom(50_000 if i % 10 else 9 * 1024 * 1024)  # both write paths
    digest = store.put_bytes(data)
    assert store.get_bytes(digest) == data
print("ok")
"""


def test_sweeping_while_other_processes_write_never_breaks_a_write(tmp_path: Path) -> None:
    """A sweeper with no grace period at all, in a loop, beside three writers: every write
    succeeds (a live owner's partial is never stale) and nothing is left over."""
    store = ArtifactStore(str(tmp_path))
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", PUTTER, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    swept = 0
    while any(w.poll() is None for w in writers):
        swept += len(store.sweep_partials(grace=0))
    for w in writers:
        out, _ = w.communicate()
        assert w.returncode == 0 and out.strip() == "ok"
    assert swept == 0
    assert list((tmp_path / "tmp").glob(".partial-*")) == []


def test_a_remote_store_refuses_a_changed_file_too(tmp_path: Path) -> None:
    store = ArtifactStore("memory://rung-test-changing")
    src = tmp_path / "f.bin"
    src.write_bytes(b"first")
    before = file_stat(str(src))
    src.write_bytes(b"first and more")
    with pytest.raises(SourceChanged, match="went from 5 to 14 bytes"):
        store.put_source(src, before)
    stored = store.put_source(src)
    assert stored.size == 14 and store.get_bytes(stored.digest) == b"first and more"
