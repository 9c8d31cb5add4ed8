"""Which files of a folder ``rung data add`` versions: the rule for special files.

* Regular files are versioned, at their path relative to the folder.
* A symbolic link whose target stays **inside** the folder is followed: a link to a file is
  versioned as a file at the link's path (with the target's bytes), a link to a sub-folder is
  walked like a sub-folder.
* A link whose target **leaves** the folder, a **dangling** link and a link **loop** (a link
  to itself, or to a folder that contains it) are refused: the version would depend on files
  outside what was named, or on nothing.
* Anything that is not a regular file or a folder — a FIFO, a socket, a device — is refused:
  reading one blocks or never ends, and it has no content to version.

A file or folder whose name is not valid UTF-8 is refused too: no manifest, database or log
line can hold it.

The workspace's own state — its ``.rung/`` folder and the artifact store's root, wherever
configured — is never versioned: inside a folder given to ``data add`` (``rung data add .``
from the workspace root) it is skipped, like a folder that is not there (it changes while it
is read: the add's own objects land in it); a path inside it is refused.

A refusal is one :class:`~rung.core.errors.InvalidInput` naming the path, before anything is
stored.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from rung.core.errors import InvalidInput
from rung.core.limits import check_utf8_name

_HINT = "remove it, or replace it with a copy of the file (rules: docs/datasets.md)"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_regular(path: Path) -> None:
    """Refuse a single file given to ``data add`` that is not a regular file (a FIFO would
    block the add forever) or whose name is not valid UTF-8."""
    check_utf8_name(str(path.absolute()))
    info = path.stat()
    if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
        raise InvalidInput(f"{str(path)!r} is {_kind(info.st_mode)}", "give a file or a folder")


def check_not_private(path: Path, private: tuple[Path, ...]) -> None:
    """Refuse a path inside one of the ``private`` folders (the workspace's state)."""
    real = os.path.realpath(path)
    for folder in private:
        top = os.path.realpath(folder)
        if real == top or real.startswith(top + os.sep):
            raise InvalidInput(
                f"{str(path)!r} is inside the workspace's own store ({top!r})",
                "add your data from outside it (rung skips the store inside a folder you add)",
            )


def tree_files(root: Path, private: tuple[Path, ...] = ()) -> list[tuple[str, str]]:
    """``(relative posix path, absolute path)`` of every file to version under ``root``,
    sorted, the ``private`` folders (and what is under them) left out; raises InvalidInput
    for a file that breaks the rule above."""
    base = os.path.realpath(root)
    out: list[tuple[str, str]] = []
    skip = frozenset(os.path.realpath(p) for p in private)
    _walk(base, base, "", (base,), out, skip)
    out.sort()
    return out


def _walk(
    base: str,
    folder: str,
    prefix: str,
    ancestors: tuple[str, ...],
    out: list[tuple[str, str]],
    skip: frozenset[str] = frozenset(),
) -> None:
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if skip and os.path.realpath(entry.path) in skip:
            continue  # the workspace's own state
        check_utf8_name(entry.path)
        rel = f"{prefix}{entry.name}"
        shown = entry.path
        if entry.is_symlink():
            target = os.path.realpath(entry.path)
            try:
                info = os.stat(entry.path)  # follows the link
            except OSError as exc:
                what = "a symlink loop" if exc.errno == errno.ELOOP else "a dangling symlink"
                raise InvalidInput(
                    f"{shown!r} is {what} (-> {os.readlink(entry.path)!r})", _HINT
                ) from None
            if target != base and not target.startswith(base + os.sep):
                raise InvalidInput(
                    f"{shown!r} is a symlink that leaves the folder (-> {target!r})", _HINT
                )
            if stat.S_ISDIR(info.st_mode):
                if target in ancestors:
                    raise InvalidInput(
                        f"{shown!r} is a symlink loop (-> {target!r}, a folder holding it)", _HINT
                    )
                _walk(base, entry.path, f"{rel}/", (*ancestors, target), out, skip)
            elif stat.S_ISREG(info.st_mode):
                out.append((rel, entry.path))
            else:
                raise InvalidInput(f"{shown!r} links to {_kind(info.st_mode)}", _HINT)
            continue
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            real = os.path.realpath(entry.path)
            _walk(base, entry.path, f"{rel}/", (*ancestors, real), out, skip)
        elif stat.S_ISREG(info.st_mode):
            out.append((rel, entry.path))
        else:
            raise InvalidInput(f"{shown!r} is {_kind(info.st_mode)}", _HINT)
