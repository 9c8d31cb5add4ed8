"""What a run records about the code and the environment it ran in."""

from __future__ import annotations

import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

KEY_PACKAGES = ("rung", "numpy", "pandas", "pyarrow", "scikit-learn", "skops", "scipy")


def code_version(root: Path) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the git repository holding ``root``, or ``(None, None)``.

    Dirty means tracked files differ from the commit; untracked files do not count.
    """
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


@lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """Python, platform and the versions of the packages that shape results (once a process)."""
    packages: dict[str, str] = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "packages": packages,
    }
