"""The artifact store: content addressing, atomic writes, verified reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rung.core.errors import IntegrityError
from rung.core.hashing import hash_bytes
from rung.store.artifacts import ArtifactStore


def objects(root: Path) -> list[Path]:
    return [p for p in (root / "objects").rglob("*") if p.is_file()]


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=2000))
def test_put_then_get_round_trips_by_hash(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    store = ArtifactStore(str(tmp_path_factory.mktemp("a")))
    digest = store.put_bytes(data)
    assert digest == hash_bytes(data)
    assert store.get_bytes(digest) == data


def test_identical_content_is_stored_once(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path))
    a = store.put_bytes(b"same")
    src = tmp_path / "f"
    src.write_bytes(b"same")
    assert store.put_file(src) == a
    assert store.put_file_hashing(src) == a
    assert len(objects(tmp_path)) == 1


def test_a_crash_mid_write_leaves_no_visible_object(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path))
    digest = hash_bytes(b"complete content")

    def crash(f: object) -> None:
        f.write(b"complete")  # type: ignore[attr-defined]
        raise KeyboardInterrupt  # the process dies mid-write

    with pytest.raises(KeyboardInterrupt):
        store._write_local(digest, crash)
    assert not store.exists(digest)
    assert objects(tmp_path) == []  # no partial file left behind either


def test_a_crash_mid_copy_leaves_no_visible_object(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path))
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(1024))
    os.chmod(src, 0)  # reading fails after the temp file exists
    if os.geteuid() == 0:
        src.unlink()
        src.mkdir()  # root can read anything: make the read fail another way
    with pytest.raises(OSError):
        store.put_file_hashing(src)
    assert objects(tmp_path) == []
    assert list(tmp_path.rglob(".partial-*")) == []


def test_corrupted_object_is_detected_on_read(tmp_path: Path) -> None:
    store = ArtifactStore(
        str(tmp_path),
        describe=lambda h: f"artifact {h[:12]} (output 'model' of step 'train' in run 7)",
    )
    digest = store.put_bytes(b"model bytes")
    path = Path(store.path(digest))
    path.write_bytes(b"model bytez")
    with pytest.raises(IntegrityError, match=r"output 'model' of step 'train' in run 7.*corrupted"):
        store.get_bytes(digest)
    with pytest.raises(IntegrityError, match="corrupted"):
        store.verify(digest)


def test_missing_object_is_reported_with_its_path(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path))
    digest = store.put_bytes(b"x")
    os.unlink(store.path(digest))
    with pytest.raises(IntegrityError, match="missing from the artifact store"):
        store.get_bytes(digest)


def test_other_fsspec_filesystems_work_too() -> None:
    store = ArtifactStore("memory://rung-test-artifacts")
    digest = store.put_bytes(b"remote bytes")
    assert store.exists(digest)
    assert store.get_bytes(digest) == b"remote bytes"
    store.fs.pipe_file(store.path(digest), b"tampered!!!!")
    with pytest.raises(IntegrityError, match="corrupted"):
        store.get_bytes(digest)


WRITER = """
import os, sys
from rung.store.artifacts import ArtifactStore
store = ArtifactStore(sys.argv[1])
src = os.path.join(sys.argv[1], "..", "big.bin")
with open(src, "wb") as f:
    f.write(os.urandom(64 * 1024 * 1024))
print("ready", flush=True)
while True:
    store.put_bytes(os.urandom(32 * 1024 * 1024))
    with open(src, "r+b") as f:
        f.write(os.urandom(16))
    store.put_file(src)
"""


def test_sigkill_mid_write_leaves_only_complete_objects(tmp_path: Path) -> None:
    """A real crash: kill -9 a process that keeps writing large objects, then check them all."""
    import signal
    import subprocess
    import sys
    import time

    from rung.core.hashing import hash_file

    root = tmp_path / "store"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 60

    def whole() -> list[Path]:
        return [p for p in objects(root) if not p.name.startswith(".partial-")]

    while time.monotonic() < deadline:  # wait until objects exist and another write is in flight
        if len(whole()) >= 2 and any(root.rglob(".partial-*")):
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    store = ArtifactStore(str(root))
    complete = whole()
    assert complete, "the writer never finished an object"
    for path in complete:
        digest = path.parent.name + path.name
        assert hash_file(path) == digest  # every visible object is whole
        assert store.get_bytes(digest)
