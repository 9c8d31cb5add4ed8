"""Checkouts: a dataset version's file or folder as a shared, read-only, verified copy.

``DatasetVersion.path()`` returns ``.rung/checkout/<hash[:16]>/<name>``. The rules:

* **Shared atomically.** A checkout is built under a temporary name that names its owner
  (``.tmp-<host>-<pid>-<time>-…``, see :mod:`rung.store.partials`) next to its final place,
  then renamed into place in one step. When several processes check out the same version at
  once, one rename wins and the others delete their copy and use the winner's. A killed
  builder's temporary folder is swept by the next build.
* **Read-only.** Files are made ``0444`` and folders ``0555``, so a step that tries to write
  into its input fails instead of corrupting every later run (root ignores modes, hence:)
* **Verified on every** ``path()``. Each file's size is checked against the stored object and
  its modification time against the stamp rung set (:data:`STAMP_NS`); the set of files must
  match the manifest. This costs one ``stat`` per file, no read. A checkout that fails the
  check is rebuilt from the verified objects (and the fact logged as a warning); the
  modified copy is moved aside and deleted, and a process still reading it keeps its open
  files.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from rung.core.errors import IntegrityError
from rung.store.artifacts import ArtifactStore
from rung.store.partials import GRACE_SECONDS, owned_name, remove_tree, sweep

STAMP_NS = 946_684_800 * 10**9  # 2000-01-01T00:00:00Z: every checked-out file's mtime
_ATTEMPTS = 5
_log = logging.getLogger(__name__)

# What a checkout must hold: relative posix path → (object hash, size in bytes). A single
# file is the one entry with the empty path.
Expected = Mapping[str, tuple[str, int]]


def checkout(store: ArtifactStore, dest: Path, expected: Expected) -> Path:
    """``dest`` holding exactly ``expected``, built if missing, rebuilt if modified.

    Raises :class:`IntegrityError` when a stored object is missing or corrupt, or when the
    checkout keeps changing under rung's hands (another process writing into it).
    """
    for _ in range(_ATTEMPTS):
        problem = _problem(dest, expected)
        if problem is None:
            return dest
        if problem != "missing":
            _log.warning("checkout %s was modified (%s): rebuilding it", dest, problem)
        _build(store, dest, expected, replace=problem != "missing")
    raise IntegrityError(
        f"checkout {str(dest)!r} keeps changing: {_problem(dest, expected)}",
        "stop the process that writes into it (checkouts are read-only inputs), then retry",
    )


def _problem(dest: Path, expected: Expected) -> str | None:
    """Why ``dest`` does not hold ``expected`` (one short phrase), or None."""
    single = "" in expected
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        return "missing"
    if single:
        return _file_problem(str(dest), st, expected[""][1], dest.name)
    if not os.path.isdir(dest) or os.path.islink(dest):
        return "not a folder"
    seen = 0
    for folder, _, names in os.walk(dest):
        for n in names:
            full = os.path.join(folder, n)
            rel = os.path.relpath(full, dest).replace(os.sep, "/")
            if rel not in expected:
                return f"{rel} was added"
            problem = _file_problem(full, os.lstat(full), expected[rel][1], rel)
            if problem is not None:
                return problem
            seen += 1
    if seen != len(expected):
        return f"{len(expected) - seen} file(s) were removed"
    return None


def _file_problem(path: str, st: os.stat_result, size: int, rel: str) -> str | None:
    if not os.path.isfile(path) or os.path.islink(path):
        return f"{rel} is not a regular file"
    if st.st_size != size:
        return f"{rel} has {st.st_size:,} bytes instead of {size:,}"
    if st.st_mtime_ns != STAMP_NS:
        return f"{rel} was written to"
    return None


def _build(store: ArtifactStore, dest: Path, expected: Expected, *, replace: bool) -> None:
    """Build a fresh copy next to ``dest`` and rename it into place."""
    parent = dest.parent
    parent.mkdir(parents=True, exist_ok=True)
    sweep(str(parent), (".tmp-", ".stale-"), GRACE_SECONDS)  # killed builders' leftovers
    tmp = parent / owned_name(".tmp")
    try:
        if "" in expected:
            _export(store, expected[""][0], tmp)
            os.replace(tmp, dest)  # atomic for a file, even over a modified copy
            return
        for rel, (digest, _) in expected.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            _export(store, digest, target)
        for folder, _, _ in os.walk(tmp, topdown=False):
            os.chmod(folder, 0o555)
        if replace:  # move the modified copy aside; a reader keeps its open files
            stale = parent / owned_name(".stale")
            with contextlib.suppress(FileNotFoundError):  # another process moved it first
                os.rename(dest, stale)
                remove_tree(str(stale))
        try:
            os.rename(tmp, dest)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            # another process renamed its copy first: use the winner's (verified by the caller)
    finally:
        if os.path.lexists(tmp):
            if os.path.isdir(tmp):
                remove_tree(str(tmp))
            else:
                os.unlink(tmp)


def _export(store: ArtifactStore, digest: str, target: Path) -> None:
    store.export(digest, target)  # verifies the object's hash
    os.chmod(target, 0o444)
    os.utime(target, ns=(STAMP_NS, STAMP_NS))
