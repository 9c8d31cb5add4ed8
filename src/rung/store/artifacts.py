"""The artifact store: immutable bytes addressed by their blake3 hash, through fsspec.

Layout under the root: ``objects/ab/cdef…`` (the hash split after two characters). A write
goes to a temporary name in ``tmp/`` that names its owner (``.partial-<host>-<pid>-<time>-…``,
see :mod:`rung.store.partials`), is flushed and fsynced, then renamed into place, so that a
crash mid-write never leaves a visible partial object; the leftovers of killed writers are
swept on the next write (:meth:`ArtifactStore.sweep_partials`). Identical content is stored
once. Every read verifies the bytes against the hash. A file added from outside is hashed
from the copy that is stored, and refused if it changed while it was read
(:meth:`ArtifactStore.put_source`).

The local filesystem takes a direct path (os calls, so the rename is atomic and the fsync is
real); any other fsspec filesystem writes to a temporary key and moves it into place.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rung.core.errors import IntegrityError, SourceChanged
from rung.core.hashing import hash_bytes, hash_file
from rung.store.partials import GRACE_SECONDS, Leftover, owned_name, sweep
from rung.store.statcache import Stat, file_stat

_PARALLEL_SYNC = 8 * 1024 * 1024  # above this, fsync in a thread while hashing

# A callable that names the artifact for error messages, e.g. with the run that produced it.
Describe = Callable[[str], str]


@dataclass(frozen=True)
class Stored:
    """An object just stored: its hash and its size in bytes, both of the same bytes."""

    digest: str
    size: int


class ArtifactStore:
    """Put and get content-addressed bytes under a root URL (a local folder by default)."""

    def __init__(
        self, root: str, describe: Describe | None = None, cache_dir: str | None = None
    ) -> None:
        self.root = root
        self._cache_dir = cache_dir  # where remote objects are copied to be read by path
        self.fs: Any = None
        self._folders: set[str] = set()  # object folders known to exist
        self._swept = False  # stale partials are swept on the first write
        try:
            if "://" in root and not root.startswith(("file://", "local://")):
                import fsspec

                self.fs, self.base = fsspec.core.url_to_fs(root)
                self.local = False
            else:  # a plain folder: os calls only, and no fsspec import on the hot path
                self.base = os.path.abspath(root.split("://", 1)[-1])
                self.local = True
                Path(self.base).mkdir(parents=True, exist_ok=True)
        except (ValueError, ImportError, OSError) as exc:
            # an unknown protocol, a missing fsspec driver, a file in the way, no permission
            # (the configuration checks what it can without creating anything; this is the rest)
            from rung.core.errors import InvalidInput

            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InvalidInput(
                f"the artifact root {root!r} cannot be opened: {why}",
                "set RUNG_ARTIFACT_ROOT or [artifacts] root in rung.toml to a folder rung can"
                " write, or an fsspec URL such as s3://bucket/rung",
            ) from exc
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

    def size(self, digest: str, default: int) -> int:
        """The stored object's size in bytes (one ``stat``); ``default`` for a remote store
        or a missing object (whose read then fails with its own message)."""
        if not self.local:
            return default
        try:
            return os.path.getsize(self.path(digest))
        except FileNotFoundError:
            return default

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
        return self.put_source(src).digest

    def put_file_hashing(self, src: str | os.PathLike[str], *, sync_dir: bool = True) -> str:
        """Copy a file in, hash the copy, make it durable, rename it into place: its hash."""
        return self.put_source(src, sync_dir=sync_dir).digest

    def put_source(
        self, src: str | os.PathLike[str], before: Stat | None = None, *, sync_dir: bool = True
    ) -> Stored:
        """Store a file that another process may be writing to; its hash and size.

        Both are taken from the same bytes — the copy that is stored — so they always agree
        with the object. ``before`` is the file's ``(size, mtime_ns, inode)`` when the caller
        first looked at it (for example before parsing it); by default it is taken now. If the
        file's stat after the copy differs from it, or the copy holds another number of
        bytes, the file changed while it was read: the copy is dropped before it becomes
        visible and :class:`SourceChanged` is raised (rung refuses; it does not retry, since
        a file still being written would change again).

        Large files are copied in the kernel and the fsync runs in a thread while the copy
        is hashed on all cores. ``sync_dir=False`` leaves the folder's fsync to the caller
        (:meth:`sync_dirs`), for batches of many files.
        """
        before = file_stat(os.fspath(src)) if before is None else before
        try:
            return self._put_source(src, before, sync_dir)
        except FileNotFoundError as exc:
            error = None if os.path.exists(src) else _changed(src, before, 0)
            if error is None:
                raise
            raise error from exc

    def _put_source(self, src: str | os.PathLike[str], before: Stat, sync_dir: bool) -> Stored:
        if not self.local or before[0] < _PARALLEL_SYNC:
            data = _read_checked(src, before)
            if not self.local:
                return Stored(self.put_bytes(data), len(data))
            digest = hash_bytes(data)
            if not _present(self.path(digest)):
                self._write_local(digest, lambda out: out.write(data), sync_dir=sync_dir)
            return Stored(digest, len(data))
        tmp = self._partial()
        try:
            _copy_bounded(src, tmp, before[0] + 1)  # in the kernel; one byte more shows growth
            with open(tmp, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                with ThreadPoolExecutor(max_workers=1) as pool:
                    synced = pool.submit(os.fsync, f.fileno())
                    digest = hash_file(tmp)
                    synced.result()
            _check_unchanged(src, before, size)
            self._publish(tmp, digest, sync_dir)
            return Stored(digest, size)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def put_files(
        self, paths: Sequence[str], stats: Sequence[Stat] | None = None, threads: int = 8
    ) -> list[Stored]:
        """Store many files; return their hashes and sizes in order.

        ``stats`` are the files' ``(size, mtime_ns, inode)`` when the caller listed them; a
        file that changed since, or while it is read, raises :class:`SourceChanged` and
        none of the batch's small files becomes visible (see :meth:`put_source`).

        Small files are read once, hashed, and written to temporary names without a per-file
        fsync; one ``sync`` then makes the whole batch durable before any of it is renamed
        into place, and each object folder is fsynced once. A crash at any point leaves only
        invisible ``.partial-`` files, as with single writes, at the cost of one flush instead
        of one per file. Large files go through :meth:`put_source`.
        """
        befores = list(stats) if stats is not None else [file_stat(p) for p in paths]
        if not self.local:
            return [self.put_source(p, b) for p, b in zip(paths, befores, strict=True)]
        pending: list[tuple[str, str]] = []  # (temporary path, final path)
        lock = threading.Lock()

        def stage(path: str, before: Stat) -> Stored:
            if before[0] >= _PARALLEL_SYNC:
                return self.put_source(path, before, sync_dir=False)
            data = _read_checked(path, before)
            digest = hash_bytes(data)
            final = self.path(digest)
            if _present(final):
                return Stored(digest, len(data))
            tmp = self._partial()
            with lock:
                pending.append((tmp, final))
            with open(tmp, "wb") as out:
                out.write(data)
            return Stored(digest, len(data))

        def stage_all(chunk: Sequence[tuple[str, Stat]]) -> list[Stored]:
            return [stage(p, b) for p, b in chunk]

        pairs = list(zip(paths, befores, strict=True))
        try:
            # one task per thread, not per file: futures cost more than small files do
            chunks = [pairs[i::threads] for i in range(threads)]
            with ThreadPoolExecutor(max_workers=threads) as pool:
                done = list(pool.map(stage_all, chunks))
            stored: list[Stored] = [Stored("", 0)] * len(paths)
            for i, chunk_stored in enumerate(done):
                stored[i::threads] = chunk_stored
            if pending:
                os.sync()  # every staged byte is on disk before any name points at it
                for tmp, final in pending:
                    self._make_folder(os.path.dirname(final))
                    os.replace(tmp, final)
        except BaseException:
            for tmp, _ in pending:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            raise
        self.sync_dirs(s.digest for s in stored)
        return stored

    def sync_dirs(self, digests: Iterable[str]) -> None:
        """Make the renames of a batch durable: one fsync per object folder."""
        if self.local:
            for folder in sorted({os.path.dirname(self.path(d)) for d in digests}):
                _fsync_dir(folder)

    def sweep_partials(
        self, grace: float = GRACE_SECONDS, *, dry_run: bool = False
    ) -> list[Leftover]:
        """Delete the stale temporary files of interrupted writes; what was (would be) freed.

        The one function for "stale partials" (``rung gc`` calls it with its own grace
        period; every store calls it with the default on its first write). It looks in the
        store's ``tmp/`` folder, where every write stages its bytes, and in the object
        folders, where rung before 0.x staged them. A partial is stale when its owner (the
        host and pid in its name) is dead, or when it is older than ``grace`` seconds; see
        :mod:`rung.store.partials`. Safe while other processes write. Local stores only; a
        remote store returns ``[]``.
        """
        if not self.local:
            return []
        found = sweep(os.path.join(self.base, "tmp"), (".partial-",), grace, dry_run=dry_run)
        objects = os.path.join(self.base, "objects")
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(objects):
                if entry.is_dir(follow_symlinks=False):
                    found += sweep(entry.path, (".partial-",), grace, dry_run=dry_run)
        if self._cache_dir is not None:
            with contextlib.suppress(FileNotFoundError):
                for entry in os.scandir(self._cache_dir):
                    if entry.is_dir(follow_symlinks=False):
                        found += sweep(entry.path, (".partial-",), grace, dry_run=dry_run)
        return found

    def _partial(self) -> str:
        """A fresh temporary path in ``tmp/``, named for this process (see
        :mod:`rung.store.partials`); the first one a store hands out sweeps stale ones."""
        tmp_dir = os.path.join(self.base, "tmp")
        if not self._swept:
            os.makedirs(tmp_dir, exist_ok=True)
            sweep(tmp_dir, (".partial-",), GRACE_SECONDS)
            self._swept = True
        return os.path.join(tmp_dir, owned_name(".partial"))

    def _make_folder(self, folder: str) -> None:
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)

    def _publish(self, tmp: str, digest: str, sync_dir: bool) -> None:
        """Rename a durable temporary file into its object's place (a no-op if it exists)."""
        final = self.path(digest)
        if _present(final):
            os.unlink(tmp)
            return
        folder = os.path.dirname(final)
        self._make_folder(folder)
        os.replace(tmp, final)
        if sync_dir:
            _fsync_dir(folder)

    def _write_local(self, digest: str, write: Callable[[Any], Any], sync_dir: bool = True) -> None:
        tmp = self._partial()
        try:
            with open(tmp, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            self._publish(tmp, digest, sync_dir)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _write_remote(self, digest: str, data: bytes) -> None:
        final = self.path(digest)
        tmp = f"{self.base}/tmp/{owned_name('.partial')}"
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
            tmp = os.path.join(os.path.dirname(cached), owned_name(".partial"))
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, cached)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
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


def _read_checked(src: str | os.PathLike[str], before: Stat) -> bytes:
    """The whole file, refused with :class:`SourceChanged` if it changed since ``before``."""
    try:
        with open(src, "rb") as f:
            data = f.read(before[0] + 1)  # bounded: a file being appended to is never-ending
    except FileNotFoundError as exc:  # deleted since the first look
        raise SourceChanged(
            f"{os.fspath(src)!r} was deleted while it was being added; nothing was recorded",
            "add it again once no process is writing to it",
        ) from exc
    _check_unchanged(src, before, len(data))
    return data


def _check_unchanged(src: str | os.PathLike[str], before: Stat, copied: int) -> None:
    """Raise :class:`SourceChanged` unless ``src`` still has the stat ``before`` and the copy
    holds exactly its size in bytes."""
    error = _changed(src, before, copied)
    if error is not None:
        raise error


def _changed(src: str | os.PathLike[str], before: Stat, copied: int) -> SourceChanged | None:
    try:
        after: Stat | None = file_stat(os.fspath(src))
    except FileNotFoundError:
        after = None
    if after == before and copied == before[0]:
        return None
    if after is None:
        what = "was deleted"
    elif after[2] != before[2]:
        what = "was replaced by another file"
    elif after[0] != before[0] or copied != before[0]:
        what = f"went from {before[0]:,} to {after[0]:,} bytes ({copied:,} read)"
    else:
        what = "was rewritten (its modification time changed)"
    return SourceChanged(
        f"{os.fspath(src)!r} changed while it was being added: it {what}; nothing was recorded",
        "add it again once no process is writing to it (rung refuses a changing file, it does"
        " not retry)",
    )


def _copy_bounded(src: str | os.PathLike[str], dest: str, limit: int) -> None:
    """Copy at most ``limit`` bytes of ``src`` to ``dest`` with ``sendfile`` (no bytes through
    Python), so that a file another process keeps appending to cannot make the copy endless."""
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        infd, outfd = fin.fileno(), fout.fileno()
        copied = 0
        while copied < limit:
            try:
                sent = os.sendfile(outfd, infd, copied, min(limit - copied, 1 << 27))
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS) or copied:
                    raise
                fout.write(fin.read(limit))  # no sendfile to files here: plain reads
                return
            if sent == 0:
                return
            copied += sent
