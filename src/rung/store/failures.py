"""Failures of the machine beneath rung, as one-line errors: a full disk, a database file
that is not one, a database server that cannot be reached, a path that cannot be read or
written (a folder given for a file, a folder that does not exist, no permission).

:func:`explain` is the one translation, used at the adapters' boundaries (the CLI's ``main``,
the serving app) for whatever escaped, and by the metadata store for its own errors. It
returns None for anything it does not recognise, so a genuine bug keeps its traceback."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from rung.core.errors import (
    DiskFull,
    InvalidInput,
    RungError,
    StoreUnavailable,
    missing_extra,
)

_SPACE = (errno.ENOSPC, errno.EDQUOT)
_PATHS = (
    errno.ENOENT,
    errno.EISDIR,
    errno.ENOTDIR,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENAMETOOLONG,
)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def free_space(path: str | os.PathLike[str] | None) -> str:
    """``"1.2 MiB free"`` on the filesystem of ``path`` (its nearest existing folder)."""
    if path is None:
        return "free space unknown"
    if "://" in os.fspath(path):  # a database server's disk: not measurable from here
        return "on the database server's disk"
    here = Path(path)
    while not here.exists() and here != here.parent:
        here = here.parent
    try:
        return f"{_size(shutil.disk_usage(here).free)} free"
    except OSError:
        return "free space unknown"


def disk_full(path: str | os.PathLike[str] | None, needed: int | None = None) -> DiskFull:
    """The error for a write that found no space at ``path`` (``needed``: bytes, if known)."""
    where = f" writing {os.fspath(path)}" if path is not None else ""
    if needed:
        return DiskFull(
            f"not enough space on the device{where} ({_size(needed)} needed, {free_space(path)})",
            "free some space, or point artifacts.root / store.url at a larger disk",
        )
    return DiskFull(
        f"no space left on the device{where} ({free_space(path)})",
        "free some space, or point artifacts.root / store.url at a larger disk",
    )


def require_space(artifacts: Any, needed: int) -> None:
    """Refuse, before writing, ``needed`` bytes into a local artifact store whose disk has
    less free (a remote store says so itself). Raises :class:`DiskFull` naming both."""
    if needed <= 0 or not getattr(artifacts, "local", False):
        return
    try:
        free = shutil.disk_usage(artifacts.base).free
    except OSError:
        return
    if free < needed:
        raise disk_full(artifacts.base, needed)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it: SQLAlchemy's ``orig``, ``raise … from``, and the implicit
    context — except a RungError that was only being *handled* when ``exc`` was raised (a
    record retried alone after its batch was refused must fail with its own error, not the
    batch's)."""
    out: list[BaseException] = []
    here: BaseException | None = exc
    while here is not None and here not in out and len(out) < 10:
        out.append(here)
        orig = getattr(here, "orig", None)  # SQLAlchemy's wrapper keeps the driver's error
        if isinstance(orig, BaseException):
            here = orig
        elif here.__cause__ is not None:
            here = here.__cause__
        else:
            context = here.__context__
            here = None if isinstance(context, RungError) else context
    return out


def explain(
    exc: BaseException, database: str | None = None, *, paths: bool = False
) -> RungError | None:
    """``exc`` (or what caused it) as a one-line RungError, or None when it is not a known
    failure of the machine. ``database``: the SQLite file or server URL, for the message.
    ``paths``: also an OSError naming a file that cannot be used (not found, a folder, no
    permission) or a name that is not valid UTF-8 — at the CLI, where such paths are the
    user's; a server keeps them as 500s."""
    for err in _chain(exc):
        if isinstance(err, RungError):
            return err
        if isinstance(err, OSError) and err.errno in _SPACE:
            return disk_full(err.filename or database)
        if paths and isinstance(err, OSError) and err.errno in _PATHS and err.filename:
            # a path the user gave (an --output folder, a --schema that does not exist)
            return InvalidInput(
                f"cannot use {os.fspath(err.filename)!r}: {err.strerror}",
                "give the path of a file in a folder that exists and is writable",
            )
        if (
            paths
            and isinstance(err, UnicodeEncodeError)
            and "surrogates not allowed" in str(err)
            and isinstance(err.object, str)
        ):  # a path named in bytes that are not UTF-8, met anywhere a path is written down
            from rung.core.limits import not_utf8

            return not_utf8(err.object)
        text = str(err)
        if isinstance(err, sqlite3.Error):
            if "database or disk is full" in text or (
                "disk I/O error" in text and _no_space(database)
            ):
                return disk_full(database)
            if "file is not a database" in text or "malformed" in text:
                return StoreUnavailable(
                    f"{database or 'the metadata database'} is not a readable SQLite database"
                    f" ({text})",
                    "restore it from a backup; `rung verify` checks the stores",
                )
            if "unable to open database file" in text or "readonly database" in text:
                return StoreUnavailable(
                    f"cannot open the metadata database {database or ''} ({text})".replace(
                        "  ", " "
                    ),
                    "check that its folder exists and is writable",
                )
        name = type(err).__name__
        if name == "DiskFull" or "could not extend file" in text or "No space left" in text:
            return disk_full(database)
        extra = missing_extra(err)
        if extra is not None:
            return extra
    return None


def _no_space(path: str | None) -> bool:
    if path is None:
        return False
    try:
        here = Path(path).parent
        return shutil.disk_usage(here).free < 64 * 1024
    except OSError:
        return False
