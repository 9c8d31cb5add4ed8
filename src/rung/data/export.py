"""Getting a dataset version's files back out: ``rung data get NAME@V -o PATH``.

The file (or, for a folder version, every file of its manifest) is copied from the artifact
store into a temporary sibling of the destination, each copy re-hashed and compared with its
recorded hash, and only then renamed into place: a failed or interrupted get leaves the
destination as it was (a ``.rung-get-*`` leftover at worst, never a half-written file under
the destination's name).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from rung.core.errors import IntegrityError, InvalidInput
from rung.core.hashing import hash_file
from rung.data.datasets import DatasetVersion
from rung.store.artifacts import ArtifactStore


def export_version(
    version: DatasetVersion,
    artifacts: ArtifactStore,
    dest: Path | None = None,
    force: bool = False,
    protect: tuple[Path, ...] = (),
) -> Path:
    """Write ``version``'s file or folder to ``dest`` and return the path written.

    ``dest`` defaults to the name of the version's source in the current folder; for a
    single-file version, an existing folder ``dest`` receives the file under that name (as
    ``cp`` does). An existing destination is refused unless ``force``; even then a folder
    that holds one of ``protect`` (the workspace, the current folder) is never replaced.

    Raises :class:`InvalidInput` for a refused destination and :class:`IntegrityError` when
    a copied file's hash differs from the recorded one (nothing is left under ``dest``).
    """
    source_name = Path(version.source).name or version.name
    if source_name.startswith("<"):  # a DataFrame added from Python: "<DataFrame>"
        source_name = f"{version.name}.parquet"
    target = Path(dest) if dest is not None else Path(source_name)
    if version.format != "tree" and target.is_dir():
        target = target / source_name
    if target.exists() or target.is_symlink():
        if not force:
            raise InvalidInput(
                f"{str(target)!r} already exists",
                "pass --force to replace it, or choose another path with -o",
            )
        resolved = target.resolve()
        for keep in protect:
            if keep.resolve() == resolved or resolved in keep.resolve().parents:
                raise InvalidInput(
                    f"refusing to replace {str(target)!r}: it holds {str(keep)!r}",
                    "choose another path with -o",
                )
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidInput(f"folder {str(parent)!r} does not exist", "create it first")
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".rung-get-{target.name}-"))
    try:
        if version.format == "tree":
            manifest = json.loads(artifacts.get_bytes(version.hash))
            staged = tmp / "tree"
            for entry in manifest["files"]:
                out = staged / entry["path"]
                out.parent.mkdir(parents=True, exist_ok=True)
                _copy_verified(artifacts, entry["hash"], out, f"{version.ref}:{entry['path']}")
            if not manifest["files"]:
                staged.mkdir()
        else:
            staged = tmp / "file"
            _copy_verified(artifacts, version.hash, staged, version.ref)
        _replace(staged, target, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _copy_verified(artifacts: ArtifactStore, digest: str, out: Path, what: str) -> None:
    artifacts.export(digest, out)
    if hash_file(out) != digest:
        raise IntegrityError(
            f"the copy of {what} does not match its hash {digest[:12]}",
            "run `rung data get` again; if it persists, the artifact store is changing under it",
        )
    with contextlib.suppress(OSError):
        os.chmod(out, 0o644)  # a plain file of the user's, not a read-only store object


def _replace(staged: Path, target: Path, tmp: Path) -> None:
    """Move ``staged`` to ``target``; an existing ``target`` is moved aside first and
    removed only once the new one is in place."""
    if not (target.exists() or target.is_symlink()):
        os.replace(staged, target)
        return
    aside = tmp / "old"
    os.replace(target, aside)
    try:
        os.replace(staged, target)
    except OSError:
        os.replace(aside, target)
        raise
