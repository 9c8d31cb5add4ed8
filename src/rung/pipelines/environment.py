"""What a run records about the code and the environment it ran in."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

KEY_PACKAGES = ("rung", "numpy", "pandas", "pyarrow", "scikit-learn", "skops", "scipy")


def code_version(root: Path) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the git repository holding ``root``, or ``(None, None)``.

    Dirty means tracked files differ from the commit; untracked files do not count. Outside
    any repository no git process is started at all.
    """
    if not _inside_git(root) and "GIT_DIR" not in os.environ:
        return None, None
    try:
        status = subprocess.run(  # one call gives both: "# branch.oid <sha>" and changed files
            [
                "git",
                "-C",
                str(root),
                "status",
                "--porcelain=v2",
                "--branch",
                "--untracked-files=no",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    commit = None
    dirty = False
    for line in status.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split()[2]
            commit = None if oid == "(initial)" else oid
        elif not line.startswith("#"):
            dirty = True
    return commit, dirty


def _inside_git(root: Path) -> bool:
    here = root.resolve()
    return any((folder / ".git").exists() for folder in (here, *here.parents))


@lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """Python, platform and the versions of the packages that shape results (once a process)."""
    found = _installed_versions()
    return {
        "python": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "platform": _platform(),
        "packages": {
            name: found[_normalise(name)] for name in KEY_PACKAGES if _normalise(name) in found
        },
    }


def _platform() -> str:
    """OS, release and machine, from ``uname`` (``platform.platform()`` reads the interpreter's
    binary to find the libc version: 15 ms per process)."""
    if hasattr(os, "uname"):
        u = os.uname()
        return f"{u.sysname}-{u.release}-{u.machine}"
    return sys.platform


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def with_packages(env: dict[str, Any], used: dict[str, str]) -> dict[str, Any]:
    """``env`` (from :func:`environment`) with the ``used`` packages the steps' code refers to
    added to its key packages (a key package keeps its own spelling)."""
    known = {_normalise(k) for k in env["packages"]}
    extra = {k: v for k, v in sorted(used.items()) if _normalise(k) not in known}
    return {**env, "packages": {**env["packages"], **extra}}


def package_versions(modules: list[str]) -> dict[str, str]:
    """The installed distributions that provide the top-level ``modules``, with their versions:
    ``{"numpy": "2.1.0", "scikit-learn": "1.5.2"}``. A module found in no distribution (a
    folder put on ``sys.path`` by hand) is left out: it has no version to record."""
    found = _installed_versions()
    versions: dict[str, str] = {}
    for module in modules:
        dist = _distribution_of(module)
        if dist is not None and _normalise(dist) in found:
            versions[dist] = found[_normalise(dist)]
    return versions


def installed_version(dist: str) -> str | None:
    """The installed version of distribution ``dist`` (any spelling), or None."""
    return _installed_versions().get(_normalise(dist))


@lru_cache(maxsize=1024)
def _distribution_of(module: str) -> str | None:
    """The distribution that installed top-level ``module``: the one of the same name, else
    the one in the module's own folder whose ``top_level.txt`` or ``RECORD`` lists it
    (``sklearn`` → ``scikit-learn``). Only that folder's metadata is read, once a process
    (``importlib.metadata.packages_distributions`` reads every distribution's: a second)."""
    if _normalise(module) in _installed_versions():
        return module
    loaded = sys.modules.get(module)
    filename = getattr(loaded, "__file__", None)
    if not filename:
        return None
    path = Path(filename)
    folder = path.parent.parent if path.name == "__init__.py" else path.parent
    try:
        infos = sorted(p for p in folder.iterdir() if p.name.endswith(".dist-info"))
    except OSError:
        return None
    prefixes = (f"{module}/", f"{module}.", f"{module}-")
    without_top_level = []
    for info in infos:
        try:
            names = (info / "top_level.txt").read_text().split()
        except OSError:
            without_top_level.append(info)
            continue
        if module in names:
            return _dist_name(info)
    for info in without_top_level:
        try:
            with open(info / "RECORD", encoding="utf-8") as record:
                if any(line.startswith(prefixes) for line in record):
                    return _dist_name(info)
        except OSError:
            continue
    return None


def _dist_name(info: Path) -> str:
    """The distribution's name as its metadata spells it (``scikit-learn``)."""
    try:
        with open(info / "METADATA", encoding="utf-8") as meta:
            for line in meta:
                if line.startswith("Name:"):
                    return line.split(":", 1)[1].strip()
                if not line.strip():
                    break
    except OSError:
        pass
    return info.name[: -len(".dist-info")].partition("-")[0]


@lru_cache(maxsize=1)
def _installed_versions() -> dict[str, str]:
    """Versions from the ``NAME-VERSION.dist-info`` folder names on ``sys.path``.

    The folder name is fixed by the packaging spec; listing a folder costs a millisecond where
    ``importlib.metadata`` parses every package's metadata file (tens of milliseconds).
    """
    versions: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in names:
            if folder.endswith(".dist-info"):
                name, _, version = folder[: -len(".dist-info")].partition("-")
                versions.setdefault(_normalise(name), version)
    return versions
