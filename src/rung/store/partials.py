"""Temporary files and folders that name their owner, so that a crash's leftovers can be swept.

Every temporary name rung writes before an atomic rename — an object being stored
(``.partial-…``), a checkout being built (``.tmp-…``) — carries the writing process's host,
pid and the time it was created::

    .partial-<host>-<pid>-<unix seconds>-<random>

A leftover is **stale**, and safe to delete while other processes write, when

* its owner ran on this host and is no longer alive: ``kill(pid, 0)`` fails, the process is a
  zombie, or the pid now belongs to a process started after the name was made (pid reuse,
  from ``/proc``). A live owner's file is never stale, whatever the grace period; or
* it was written on another host (a shared store) or has no owner in its name (the
  ``.partial-*`` names of older rung), and it is older than the grace period (its
  modification time; a live writer keeps touching its file).
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import time
from dataclasses import dataclass

GRACE_SECONDS = 24 * 3600.0  # leftovers of any owner older than this are stale
_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:64] or "localhost"
_OWNED = re.compile(r"^(?P<prefix>\.[a-z]+)-(?P<host>[A-Za-z0-9._]+)-(?P<pid>\d+)-(?P<t>\d+)-")


def owned_name(prefix: str) -> str:
    """A fresh temporary name owned by this process, e.g. ``.partial-host-123-1700000000-ab12``."""
    return f"{prefix}-{_HOST}-{os.getpid()}-{int(time.time())}-{secrets.token_hex(6)}"


@dataclass(frozen=True)
class Leftover:
    """A stale temporary file or folder: its path, size in bytes and why it is stale."""

    path: str
    size: int
    reason: str  # "owner dead" | "older than the grace period"


def stale_reason(name: str, mtime: float, grace: float, now: float | None = None) -> str | None:
    """Why the temporary ``name`` (last modified at ``mtime``) is stale, or None if it may be
    in use."""
    now = time.time() if now is None else now
    match = _OWNED.match(name)
    if match is not None and match["host"] == _HOST:  # ours to judge exactly, any grace
        return None if _alive(int(match["pid"]), int(match["t"])) else "owner dead"
    if now - mtime > grace:
        return "older than the grace period"
    return None


def _alive(pid: int, created: int) -> bool:
    """Whether the process that created a name at ``created`` (unix seconds) still runs: its
    pid exists, is not a zombie, and was not reused by a process started after the name."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        if fields[0] == b"Z":  # a killed child its parent has not waited for yet
            return False
        started = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return started <= created + 2  # a later start: the pid was reused, the owner is gone
    except (OSError, IndexError, ValueError):
        return True  # no /proc: trust the pid


_BOOT: list[float] = []


def _boot_time() -> float:
    if not _BOOT:
        with open("/proc/stat", "rb") as f:
            btime = next(line for line in f if line.startswith(b"btime "))
        _BOOT.append(float(btime.split()[1]))
    return _BOOT[0]


def sweep(
    folder: str, prefixes: tuple[str, ...], grace: float, *, dry_run: bool = False
) -> list[Leftover]:
    """Delete (or with ``dry_run`` only list) the stale temporary entries directly in ``folder``
    whose names start with one of ``prefixes``; files and whole folders alike.

    Safe while other processes write: an entry in use is never stale (see the module's rules),
    and an entry that vanishes meanwhile (renamed into place, or swept by another process) is
    skipped.
    """
    found: list[Leftover] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return found
    now = time.time()
    for entry in entries:
        if not entry.name.startswith(prefixes):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            is_dir = entry.is_dir(follow_symlinks=False)
        except FileNotFoundError:
            continue
        reason = stale_reason(entry.name, st.st_mtime, grace, now)
        if reason is None:
            continue
        size = _tree_size(entry.path) if is_dir else st.st_size
        if not dry_run:
            try:
                if is_dir:
                    remove_tree(entry.path)
                else:
                    os.unlink(entry.path)
            except FileNotFoundError:
                continue
        found.append(Leftover(entry.path, size, reason))
    return found


def remove_tree(path: str) -> None:
    """``shutil.rmtree`` that also removes read-only folders (checkouts are made read-only)."""
    import shutil

    for folder, _, _ in os.walk(path):
        try:
            os.chmod(folder, 0o700)
        except FileNotFoundError:
            continue
    shutil.rmtree(path, ignore_errors=True)


def _tree_size(path: str) -> int:
    total = 0
    for folder, _, names in os.walk(path):
        for n in names:
            try:
                total += os.lstat(os.path.join(folder, n)).st_size
            except FileNotFoundError:
                continue
    return total
