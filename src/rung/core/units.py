"""Sizes and durations as people read them, the same in the CLI and the UI."""

from __future__ import annotations


def size(n: int | None, missing: str = "-") -> str:
    """Bytes as ``512 B``, ``1.5 KB``, ``3.2 MB`` … (powers of 1024); ``missing`` for none."""
    if n is None:
        return missing
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # not reached


def seconds(s: float | None, missing: str = "-") -> str:
    """Seconds as ``120 ms`` under one second, else ``3.4 s``; ``missing`` for none."""
    if s is None:
        return missing
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.1f} s"
