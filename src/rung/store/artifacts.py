"""The artifact store: immutable bytes addressed by their blake3 hash, through fsspec.

Layout under the root: ``objects/ab/cdef…`` (the hash split after two characters). A write
goes to a temporary name in the same folder, is flushed and fsynced, then renamed into place,
so that a crash mid-write never leaves a visible partial object. Identical content is stored
once. Every read verifies the bytes against the hash.

The local filesystem takes a direct path (os calls, so the rename is atomic and the fsync is
real); any other fsspec filesystem writes to a temporary key and moves it into place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rung.core.errors import IntegrityError
from rung.core.hashing import hash_bytes, hash_file

_PARALLEL_SYNC = 8 * 1024 * 1024  # above this, fsync in a thread while hashing

# A callable that names the artifact for error messages, e.g. with the run that produced it.
Describe = Callable[[str], str]


class ArtifactStore:
    """Put and get content-addressed bytes under a root URL (a local folder by default)."""

    def __init__(
        self, root: str, describe: Describe | None = None, cache_dir: str | None = None
    ) -> None:
        self.root = root
        self._cache_dir = cache_dir  # where remote objects are copied to be read by path
        self.fs: Any = None
        self._folders: set[str] = set()  # object folders known to exist
        if "://" in root and not root.startswith(("file://", "local://")):
            import fsspec

            self.fs, self.base = fsspec.core.url_to_fs(root)
            self.local = False
        else:  # a plain folder: os calls only, and no fsspec import on the hot path
            self.base = os.path.abspath(root.split("://", 1)[-1])
            self.local = True
            Path(self.base).mkdir(parents=True, exist_ok=True)
        self._describe = describe or (lambda h: f"artifact {h[:12]}")

    # -- paths -------------------------------------------------------------------------

    def path(self, digest: str) -> str:
        return f"{self.base}/objects/{digest[:2]}/{digest[2:]}"

    def exists(self, digest: str) -> bool:
        """Whether the object is stored. A local object found is also *freshened* (its mtime
        set to now): a writer that reuses an object it did not write keeps it out of reach of a
        concurrent ``rung gc`` for the grace period (see :mod:`rung.store.maintenance`)."""
        path = self.path(digest)
        return _present(path) if self.local else bool(self.fs.exists(path))

    # -- writes ------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` and return its hash; a no-op if the content is already there."""
        digest = hash_bytes(data)
        if not self.exists(digest):
            if self.local:
                self._write_local(digest, lambda f: f.write(data))
            else:
                self._write_remote(digest, data)
        return digest

    def put_file(self, src: str | os.PathLike[str], digest: str | None = None) -> str:
        """Store a file's content and return its hash.

        ``digest`` (from the stat cache) lets an already stored file cost one ``stat``. The
        hash of what is stored is always computed from the copy itself, so a file that
        changes while it is copied can never be stored under a wrong hash.
        """
        if digest is not None and self.exists(digest):
            return digest
        if not self.local:
            with open(src, "rb") as f:
                data = f.read()
            return self.put_bytes(data)
        return self.put_file_hashing(src)

    def put_file_hashing(self, src: str | os.PathLike[str], *, sync_dir: bool = True) -> str:
        """Copy a file in (in the kernel), hash the copy, make it durable, rename it into place.

        For large files the fsync runs in a thread while the copy is hashed on all cores, so
        a 1 GiB file costs about one copy plus the slower of the two. ``sync_dir=False`` leaves
        the folder's fsync to the caller (:meth:`sync_dirs`), for batches of many files.
        """
        if not self.local:
            return self.put_file(src)
        if os.path.getsize(src) < _PARALLEL_SYNC:
            return self._write_local_small(src, sync_dir)
        tmp_dir = os.path.join(self.base, "tmp")
        os.makedirs(tmp_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=".partial-")
        try:
            os.close(fd)
            shutil.copyfile(src, tmp)  # sendfile / copy_file_range: no bytes through Python
            with open(tmp, "rb") as f:
                if os.fstat(f.fileno()).st_size >= _PARALLEL_SYNC:
                    with ThreadPoolExecutor(max_workers=1) as pool:
                        synced = pool.submit(os.fsync, f.fileno())
                        digest = hash_file(tmp)
                        synced.result()
                else:
                    digest = hash_file(tmp)
                    os.fsync(f.fileno())
            final = self.path(digest)
            if _present(final):
                os.unlink(tmp)
                return digest
            folder = os.path.dirname(final)
            os.makedirs(folder, exist_ok=True)
            os.replace(tmp, final)
            if sync_dir:
                _fsync_dir(folder)
            return digest
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def put_files(self, paths: Sequence[str], threads: int = 8) -> list[str]:
        """Store many files; return their hashes in order.

        Small files are read once, hashed, and written to temporary names next to their final
        place without a per-file fsync; one ``sync`` then makes the whole batch durable before
        any of it is renamed into place, and each object folder is fsynced once. A crash at any
        point leaves only invisible ``.partial-`` files, as with single writes, at the cost of
        one flush instead of one per file. Large files go through :meth:`put_file_hashing`.
        """
        if not self.local:
            return [self.put_file(p) for p in paths]
        pending: list[tuple[str, str]] = []  # (temporary path, final path)

        def stage(path: str) -> str:
            if os.path.getsize(path) >= _PARALLEL_SYNC:
                return self.put_file_hashing(path, sync_dir=False)
            with open(path, "rb") as f:
                data = f.read()
            digest = hash_bytes(data)
            final = self.path(digest)
            if _present(final):
                return digest
            folder = os.path.dirname(final)
            if folder not in self._folders:
                os.makedirs(folder, exist_ok=True)
                self._folders.add(folder)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".partial-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            pending.append((tmp, final))
            return digest

        def stage_all(chunk: Sequence[str]) -> list[str]:
            return [stage(p) for p in chunk]

        try:
            # one task per thread, not per file: futures cost more than small files do
            chunks = [paths[i::threads] for i in range(threads)]
            with ThreadPoolExecutor(max_workers=threads) as pool:
                done = list(pool.map(stage_all, chunks))
            digests = [""] * len(paths)
            for i, chunk_digests in enumerate(done):
                digests[i::threads] = chunk_digests
            if pending:
                os.sync()  # every staged byte is on disk before any name points at it
                for tmp, final in pending:
                    os.replace(tmp, final)
        except BaseException:
            for tmp, _ in pending:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            raise
        self.sync_dirs(digests)
        return digests

    def sync_dirs(self, digests: Iterable[str]) -> None:
        """Make the renames of a batch durable: one fsync per object folder."""
        if self.local:
            for folder in sorted({os.path.dirname(self.path(d)) for d in digests}):
                _fsync_dir(folder)

    def _write_local(self, digest: str, write: Callable[[Any], Any], sync_dir: bool = True) -> None:
        final = self.path(digest)
        folder = os.path.dirname(final)
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        if sync_dir:
            _fsync_dir(folder)

    def _write_local_small(self, src: str | os.PathLike[str], sync_dir: bool) -> str:
        """A small file: one read into memory, hash, and write only if the content is new."""
        with open(src, "rb") as f:
            data = f.read()
        digest = hash_bytes(data)
        if not _present(self.path(digest)):
            self._write_local(digest, lambda out: out.write(data), sync_dir=sync_dir)
        return digest

    def _write_remote(self, digest: str, data: bytes) -> None:
        final = self.path(digest)
        tmp = f"{self.base}/tmp/{uuid.uuid4().hex}"
        self.fs.pipe_file(tmp, data)
        self.fs.mv(tmp, final)

    # -- reads -------------------------------------------------------------------------

    def get_bytes(self, digest: str) -> bytes:
        """The stored bytes, verified against ``digest``."""
        path = self.path(digest)
        try:
            data = self.fs.cat_file(path) if not self.local else Path(path).read_bytes()
        except FileNotFoundError as exc:
            raise self._missing(digest) from exc
        if hash_bytes(data) != digest:
            raise self._corrupt(digest)
        return bytes(data)

    def verify(self, digest: str) -> None:
        """Raise :class:`IntegrityError` unless the stored object matches ``digest``."""
        path = self.path(digest)
        if self.local:
            if not os.path.exists(path):
                raise self._missing(digest)
            if hash_file(path) != digest:
                raise self._corrupt(digest)
        else:
            self.get_bytes(digest)

    def local_path(self, digest: str) -> str:
        """A verified local file path of the object: the object itself for a local store,
        a verified copy in the local cache folder for a remote one."""
        if self.local:
            self.verify(digest)
            return self.path(digest)
        if self._cache_dir is None:
            raise IntegrityError(
                f"artifact store {self.root} is remote and no local cache folder is set",
                "open the store through a Workspace, or pass cache_dir=",
            )
        cached = os.path.join(self._cache_dir, digest[:2], digest[2:])
        if not (os.path.exists(cached) and hash_file(cached) == digest):
            data = self.get_bytes(digest)  # verified
            os.makedirs(os.path.dirname(cached), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(cached), prefix=".partial-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, cached)
        return cached

    def export(self, digest: str, dest: str | os.PathLike[str]) -> None:
        """Copy a verified object to ``dest``."""
        if self.local:
            shutil.copyfile(self.local_path(digest), dest)
        else:
            Path(dest).write_bytes(self.get_bytes(digest))

    def _missing(self, digest: str) -> IntegrityError:
        return IntegrityError(
            f"{self._describe(digest)} is missing from the artifact store ({self.path(digest)})",
            "restore the file from a backup or re-run the step that produced it",
        )

    def _corrupt(self, digest: str) -> IntegrityError:
        return IntegrityError(
            f"{self._describe(digest)} is corrupted: its bytes no longer match hash {digest[:12]}",
            "restore the file from a backup or re-run the step that produced it",
        )


def _present(path: str) -> bool:
    """A local object exists: freshen its mtime (one syscall, like the ``stat`` it replaces)."""
    try:
        os.utime(path)
        return True
    except FileNotFoundError:
        return False
    except OSError:  # a read-only store: no freshening, and no gc could run on it anyway
        return os.path.exists(path)


def _fsync_dir(folder: str) -> None:
    """Make the rename itself durable."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
