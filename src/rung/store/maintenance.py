"""``rung verify`` and ``rung gc``: is every stored byte what its hash says, and what may go.

**verify** re-hashes every object of the artifact store with blake3 (as the store does: large
files memory-mapped on all cores, small ones in a thread pool), reports each missing or corrupt
object with what refers to it (:mod:`rung.store.references`), and checks the metadata database:
SQLite's ``PRAGMA integrity_check`` and ``foreign_key_check``; on both backends, that the schema
is at the head migration and that every dataset version, step input/output and model version
points at a recorded artifact.

**gc** is a mark and sweep. The marks are every hash the metadata store refers to (including the
files listed by folder manifests); the sweep removes the other objects that are older than a
grace period (default one day), and the temporary ``.partial-*`` files of interrupted writes
by the rule of :mod:`rung.store.partials`: a partial whose writer (named in the file's name)
ran on this host and is dead is garbage at once, whatever the grace period; one whose writer
is alive is never removed; one from another host or of an older rung without an owner in its
name goes once older than the grace period. Every object is counted once: referenced (kept),
else younger than the grace period (kept), else swept. It is safe while other processes
write:

* an object being written is new, so younger than the grace period, and its partial file
  belongs to a live writer;
* the objects are listed *before* the references are read, so an object written and recorded
  in between is either young or referenced;
* a writer that reuses an object already stored freshens its mtime first
  (:meth:`ArtifactStore.exists`), and the sweep moves each candidate aside by a rename, looks at
  its mtime again and puts it back if a writer freshened it in the meantime; a writer that comes
  after the rename finds the object gone and writes it again;
* a lease in the metadata store (``gc``) keeps two collections from running at once.

Today rung deletes no dataset, run or model, so what becomes garbage is what crashed or killed
writes leave: objects stored before their metadata was committed (a killed ``data add`` or
step) and ``.partial-*`` files.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from rung.core.errors import IntegrityError, InvalidInput, StoreUnavailable
from rung.core.hashing import hash_bytes, hash_file
from rung.store.artifacts import ArtifactStore
from rung.store.lease import Lease
from rung.store.metadata import HEAD_REVISION, MetadataStore
from rung.store.references import References, collect, is_digest

DEFAULT_GRACE = 86400.0  # one day
# (bytes done, bytes in all) while objects are hashed
ProgressFn = Callable[[int, int], None]


@dataclass
class Problem:
    """One thing ``verify`` found wrong: ``kind`` is ``missing``, ``corrupt``, ``unreadable
    manifest`` or ``database``."""

    kind: str
    message: str
    hash: str | None = None
    path: str | None = None
    referrers: list[str] = field(default_factory=list)


@dataclass
class VerifyReport:
    objects: int
    bytes: int
    referenced: int
    seconds: float
    database: str  # what was checked, e.g. "sqlite integrity_check ok"
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class GcReport:
    dry_run: bool
    grace_seconds: float
    objects: int  # objects swept (or that would be)
    bytes: int
    partials: int  # .partial-* files swept (or that would be)
    partial_bytes: int
    kept_referenced: int
    kept_young: int  # unreferenced, but younger than the grace period
    seconds: float
    # the prediction log's retention, when [serve] configures one (set by Workspace.gc)
    prediction_log: dict[str, Any] | None = None
    prediction_log_line: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("prediction_log_line")
        return out


# -- the store's files ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Object:
    digest: str
    path: str
    size: int
    mtime: float | None  # None for a remote store


def _objects(artifacts: ArtifactStore) -> Iterator[_Object]:
    """Every object file of the store (names that are not a hash are skipped)."""
    if not artifacts.local:
        found = artifacts.fs.find(f"{artifacts.base}/objects", detail=True)
        for path, info in found.items():
            head, name = str(path).rsplit("/", 2)[-2:]
            if is_digest(head + name):
                yield _Object(head + name, str(path), int(info.get("size") or 0), None)
        return
    root = os.path.join(artifacts.base, "objects")
    with contextlib.suppress(FileNotFoundError), os.scandir(root) as folders:
        for folder in folders:
            if len(folder.name) != 2 or not folder.is_dir(follow_symlinks=False):
                continue
            with os.scandir(folder.path) as entries:
                for e in entries:
                    digest = folder.name + e.name
                    if is_digest(digest) and e.is_file(follow_symlinks=False):
                        with contextlib.suppress(FileNotFoundError):
                            st = e.stat(follow_symlinks=False)
                            yield _Object(digest, e.path, st.st_size, st.st_mtime)


def stale_partials(artifacts: ArtifactStore, older_than: float) -> list[tuple[str, int]]:
    """(path, size) of the ``.partial-*`` files of interrupted writes whose mtime is before
    ``older_than`` (UNIX seconds), in the object folders and ``tmp/``; local stores only.

    A minimal version for ``rung gc``; the artifact store's own (helper ``art``) replaces it."""
    if not artifacts.local:
        return []
    found = []
    folders = [os.path.join(artifacts.base, "tmp")]
    with (
        contextlib.suppress(FileNotFoundError),
        os.scandir(os.path.join(artifacts.base, "objects")) as it,
    ):
        folders += [f.path for f in it if f.is_dir(follow_symlinks=False)]
    for folder in folders:
        with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
            for e in entries:
                if not e.name.startswith(".partial-"):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    st = e.stat(follow_symlinks=False)
                    if st.st_mtime < older_than:
                        found.append((e.path, st.st_size))
    return found


# -- verify -----------------------------------------------------------------------------------


def verify(
    store: MetadataStore,
    artifacts: ArtifactStore,
    progress: ProgressFn | None = None,
    threads: int = 8,
) -> VerifyReport:
    """Re-hash every object and check the database; see the module's docstring.

    Returns a :class:`VerifyReport` whose ``problems`` name each missing or corrupt object with
    up to five of its referrers. Raises :class:`StoreUnavailable` if the database is unreachable.
    """
    started = time.perf_counter()
    problems = _check_database(store)
    database = "ok" if not problems else "problems"
    try:
        refs = collect(store, artifacts)
    except sqlite3.DatabaseError as exc:  # a damaged table: check the objects all the same
        problems.append(
            Problem(
                "database",
                f"cannot read what refers to the artifacts ({exc}); objects checked without"
                " their referrers",
            )
        )
        refs = References()
    for label, reason in refs.unreadable.items():
        problems.append(
            Problem(
                "unreadable manifest",
                f"{label}: its file list cannot be read ({reason}); its files were not checked",
                referrers=[label],
            )
        )
    listed = list(_objects(artifacts))
    on_disk = {o.digest for o in listed}
    total = sum(o.size for o in listed)
    done = 0

    def check(o: _Object) -> tuple[_Object, str | None]:
        try:
            if artifacts.local:
                actual = hash_file(o.path)
            else:
                actual = hash_bytes(artifacts.fs.cat_file(o.path))
        except FileNotFoundError:
            return o, "missing"
        except OSError as exc:
            return o, f"unreadable ({exc.strerror or exc})"
        return o, None if actual == o.digest else "corrupt"

    with ThreadPoolExecutor(max_workers=threads) as pool:
        # the biggest first: they hash on all cores, the small ones fill the pool after
        order = sorted(listed, key=lambda o: -o.size)
        for o, fault in pool.map(check, order):
            done += o.size
            if progress:
                progress(done, total)
            if fault is not None:
                problems.append(
                    Problem(
                        "corrupt" if fault == "corrupt" else "missing",
                        f"object {o.digest[:12]} is {fault}: its bytes no longer match its hash"
                        if fault == "corrupt"
                        else f"object {o.digest[:12]} is {fault}",
                        o.digest,
                        o.path,
                        refs.describe(o.digest) or ["nothing (an orphan: `rung gc` removes it)"],
                    )
                )
    for digest in sorted(set(refs.by_hash) - on_disk):
        problems.append(
            Problem(
                "missing",
                f"object {digest[:12]} is missing from the artifact store",
                digest,
                artifacts.path(digest),
                refs.describe(digest),
            )
        )
    return VerifyReport(
        objects=len(listed),
        bytes=total,
        referenced=len(refs.by_hash),
        seconds=time.perf_counter() - started,
        database=f"{store.dialect} {database}",
        problems=problems,
    )


def _check_database(store: MetadataStore) -> list[Problem]:
    problems = []
    revision = store.current_revision()
    if revision != HEAD_REVISION:
        problems.append(
            Problem(
                "database",
                f"the metadata schema is at revision {revision}, this rung expects {HEAD_REVISION}",
            )
        )
    try:
        problems += _check_tables(store)
    except (sqlite3.DatabaseError, StoreUnavailable) as exc:  # "disk image is malformed"
        problems.append(Problem("database", f"{store.dialect} integrity check failed: {exc}"))
    return problems


def _check_tables(store: MetadataStore) -> list[Problem]:
    problems = []
    with store.read() as tx:
        if store.dialect == "sqlite":
            rows = tx.all("PRAGMA integrity_check")
            messages = [str(next(iter(r.values()))) for r in rows]
            if messages != ["ok"]:
                problems += [Problem("database", f"sqlite integrity_check: {m}") for m in messages]
            for r in tx.all("PRAGMA foreign_key_check"):
                problems.append(
                    Problem(
                        "database",
                        f"row {r.get('rowid')} of table {r.get('table')} refers to a missing row"
                        f" of {r.get('parent')}",
                    )
                )
        for table, label in (
            ("datasets", "dataset version"),
            ("step_io", "step input/output"),
            ("model_versions", "model version"),
        ):
            for r in tx.all(
                f"SELECT t.artifact_hash FROM {table} t LEFT JOIN artifacts a"
                " ON a.hash = t.artifact_hash WHERE a.hash IS NULL"
            ):
                problems.append(
                    Problem(
                        "database",
                        f"a {label} refers to artifact {r['artifact_hash'][:12]}, which has no"
                        " artifacts row",
                        r["artifact_hash"],
                    )
                )
    return problems


# -- gc ---------------------------------------------------------------------------------------


def gc(
    store: MetadataStore,
    artifacts: ArtifactStore,
    *,
    dry_run: bool = False,
    grace: float = DEFAULT_GRACE,
) -> GcReport:
    """Sweep the objects nothing refers to and the stale ``.partial-*`` files, both older than
    ``grace`` seconds; with ``dry_run`` only count them. See the module's docstring.

    Raises :class:`InvalidInput` for a negative grace or a remote artifact store,
    :class:`IntegrityError` when another ``rung gc`` holds the lease or a folder manifest
    cannot be read (its files would look unreferenced; nothing is swept then).
    """
    if grace < 0:
        raise InvalidInput(f"grace period {grace:g} s is negative", "pass e.g. --grace 1d")
    if not artifacts.local:
        raise InvalidInput(
            f"rung gc sweeps local artifact stores only, not {artifacts.root}",
            "expire objects of a bucket with its lifecycle rules",
        )
    started = time.perf_counter()
    lease = Lease(store, "gc", ttl=300)
    if not dry_run and not lease.acquire():
        holder = (lease.holder_now() or {}).get("holder")
        raise IntegrityError(
            f"another rung gc is running ({holder})", "wait for it to finish, then run gc again"
        )
    try:
        cutoff = time.time() - grace
        listed = list(_objects(artifacts))  # listed before the references are read
        refs = collect(store, artifacts)
        if refs.unreadable:
            label, reason = next(iter(refs.unreadable.items()))
            raise IntegrityError(
                f"{label}: its file list cannot be read ({reason}), so gc cannot tell which"
                " objects it holds; nothing was swept",
                "run `rung verify`, restore the manifest, then run gc again",
            )
        swept = swept_bytes = kept = young = 0
        for o in listed:  # each object counted once: referenced, else young, else swept
            if o.digest in refs.by_hash:
                kept += 1
                continue
            if o.mtime is None or o.mtime >= cutoff:
                young += 1
                continue
            path, size = o.path, o.size
            if dry_run or _sweep(path, cutoff):
                swept += 1
                swept_bytes += size
            else:
                young += 1
        stale = _sweep_partials(artifacts, grace, cutoff, dry_run)
        return GcReport(
            dry_run=dry_run,
            grace_seconds=grace,
            objects=swept,
            bytes=swept_bytes,
            partials=len(stale),
            partial_bytes=sum(size for _, size in stale),
            kept_referenced=kept,
            kept_young=young,
            seconds=time.perf_counter() - started,
        )
    finally:
        lease.release()


def _sweep_partials(
    artifacts: ArtifactStore, grace: float, cutoff: float, dry_run: bool
) -> list[tuple[str, int]]:
    """(path, size) of the stale partials swept (or that would be). The artifact store's own
    ``sweep_partials`` decides when it has one (it also knows the owners of partials);
    :func:`stale_partials` by age otherwise."""
    own = getattr(artifacts, "sweep_partials", None)
    if callable(own):
        return [(x.path, x.size) for x in own(grace, dry_run=dry_run)]
    stale = stale_partials(artifacts, cutoff)
    if not dry_run:
        for path, _ in stale:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    return stale


def _sweep(path: str, cutoff: float) -> bool:
    """Move the object aside, then delete it unless a writer freshened it meanwhile (then it
    is put back). True when it was deleted."""
    # a .partial- name: if gc is killed right here, the next gc sweeps it as a stale partial
    aside = os.path.join(os.path.dirname(path), f".partial-gc-{uuid.uuid4().hex}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    if os.stat(aside).st_mtime >= cutoff:  # reused by a writer since it was listed
        os.replace(aside, path)  # same bytes as any copy written since: content-addressed
        return False
    os.unlink(aside)
    return True
