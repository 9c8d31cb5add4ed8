"""Content hashing with blake3, and canonical JSON so that equal values hash equally."""

from __future__ import annotations

import json
import math
import os
from typing import Any

from blake3 import blake3

HASH_LEN = 64  # hex digits of a blake3 digest
_MMAP_THRESHOLD = 8 * 1024 * 1024  # above this, hash with mmap and all cores


def hash_bytes(data: bytes | memoryview) -> str:
    """Hex blake3 digest of ``data``."""
    return blake3(data).hexdigest()


def hash_file(path: str | os.PathLike[str]) -> str:
    """Hex blake3 digest of a file, multi-threaded for large files."""
    size = os.path.getsize(path)
    if size >= _MMAP_THRESHOLD:
        return blake3(max_threads=blake3.AUTO).update_mmap(path).hexdigest()
    with open(path, "rb") as f:
        return blake3(f.read()).hexdigest()


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value always gives the same text.

    Floats that are not finite become strings, since JSON has no NaN; tuples become lists.
    """
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def ordered_json(value: Any) -> str:
    """JSON like :func:`canonical_json` but keeping each dict's key order: for records read
    back and shown to people (a dataset's columns in the file's order), never for hashing."""
    return json.dumps(_normalise(value), separators=(",", ":"), ensure_ascii=False)


def hash_json(value: Any) -> str:
    """Hex blake3 digest of ``canonical_json(value)``."""
    return hash_bytes(canonical_json(value).encode())


def is_jsonable(value: Any) -> bool:
    """True when ``value`` is made only of dicts with str keys, lists, tuples and scalars."""
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return True
    if isinstance(value, list | tuple):
        return all(is_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_jsonable(v) for k, v in value.items())
    return False


def _normalise(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(float(value))
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if value is None or type(value) in (str, int, bool, float):
        return value
    if type(value).__module__ == "numpy" and type(value).__name__ == "ndarray":
        return _normalise(value.tolist())
    from rung.core.columns import plain  # numpy/pandas scalars, timestamps, Decimal

    out = plain(value)
    return out if out is value else _normalise(out)
