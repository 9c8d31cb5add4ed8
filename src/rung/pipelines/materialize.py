"""How step outputs become bytes, by type, and back.

* pandas DataFrame → Parquet; pandas Series → Parquet of a one-column frame
* numpy array → ``.npy`` (no pickled objects)
* JSON-able values (dicts, lists, strings, numbers, booleans, None) → canonical JSON
* scikit-learn estimators → skops, loaded back with only scikit-learn/numpy/scipy types trusted
* anything else → an error, unless the step opts in with ``@step(pickle=True)``

Bytes are deterministic where the format allows, so that an unchanged output keeps its hash
and does not invalidate the steps downstream: skops archives are re-zipped with fixed times.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

from rung.core.errors import IntegrityError, UnsupportedType
from rung.core.hashing import canonical_json, is_jsonable

MEDIA_TYPES = {
    "parquet": "application/vnd.apache.parquet",
    "series": "application/vnd.apache.parquet",
    "npy": "application/x-npy",
    "json": "application/json",
    "skops": "application/x-skops",
    "pickle": "application/x-pickle",
}
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


def dump(value: Any, *, allow_pickle: bool = False, where: str = "step") -> tuple[str, bytes]:
    """Return ``(kind, bytes)`` for ``value``."""
    type_name = f"{type(value).__module__}.{type(value).__qualname__}"
    if type_name == "pandas.DataFrame" or type_name.startswith("pandas.core.frame"):
        return "parquet", _parquet(value, where)
    if type_name.startswith("pandas.core.series") or type_name == "pandas.Series":
        frame = value.to_frame(name=value.name if value.name is not None else "value")
        return "series", _parquet(frame, where)
    if type_name == "numpy.ndarray":
        if value.dtype.hasobject:
            if allow_pickle:
                return "pickle", _pickle(value)
            raise _unsupported("a numpy array of Python objects", where)
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        return "npy", buf.getvalue()
    if is_jsonable(value):
        return "json", canonical_json(value).encode()
    if _is_sklearn(value):
        return "skops", _skops(value)
    if allow_pickle:
        return "pickle", _pickle(value)
    raise _unsupported(f"a {type_name}", where)


def load(kind: str, data: bytes) -> Any:
    """Rebuild the value that :func:`dump` stored as ``kind``."""
    if kind in ("parquet", "series"):
        import pandas as pd

        frame = pd.read_parquet(io.BytesIO(data))
        return frame.iloc[:, 0] if kind == "series" else frame
    if kind == "npy":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if kind == "json":
        return json.loads(data)
    if kind == "skops":
        import skops.io as sio

        untrusted = sio.get_untrusted_types(data=data)
        unsafe = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
        if unsafe:
            raise IntegrityError(
                f"model file holds types outside scikit-learn/numpy/scipy: {unsafe}",
                "load it yourself with skops.io.loads(..., trusted=[...]) after review",
            )
        return sio.loads(data, trusted=untrusted)
    if kind == "pickle":
        import pickle

        return pickle.loads(data)  # the producing step opted in with pickle=True
    raise IntegrityError(f"unknown artifact kind {kind!r}", "upgrade rung")


def _unsupported(what: str, where: str) -> UnsupportedType:
    return UnsupportedType(
        f"{where} returned {what}, which rung cannot store safely",
        "return a DataFrame, numpy array, JSON-able value or scikit-learn estimator,"
        " or opt in to pickle with @step(pickle=True)",
    )


def _parquet(frame: Any, where: str) -> bytes:
    from rung.data.datasets import parquet_bytes

    return parquet_bytes(frame, f"{where}'s output DataFrame")


def _pickle(value: Any) -> bytes:
    import pickle

    return pickle.dumps(value, protocol=5)


def _is_sklearn(value: Any) -> bool:
    module = type(value).__module__ or ""
    if module.startswith("sklearn.") or module == "sklearn":
        return True
    base = next((c for c in type(value).__mro__ if c.__module__.startswith("sklearn.")), None)
    return base is not None and hasattr(value, "get_params")


def _skops(value: Any) -> bytes:
    """skops bytes made deterministic, so that equal models give equal bytes.

    skops names array members and memo entries after ``id()`` of the objects and stamps the
    zip with the current time: members are renamed after their content hash (and the references
    in ``schema.json`` with them), ids are renumbered in order of first appearance, and the
    archive is re-zipped in name order with a fixed time.
    """
    import skops.io as sio

    from rung.core.hashing import hash_bytes

    raw = sio.dumps(value)
    with zipfile.ZipFile(io.BytesIO(raw)) as src:
        members = {i.filename: src.read(i.filename) for i in src.infolist()}
    schema = members.pop("schema.json").decode()
    renamed: dict[str, bytes] = {}
    for old, data in sorted(members.items()):
        _, dot, ext = old.rpartition(".")
        new = f"{hash_bytes(data)[:32]}{dot}{ext}" if dot else hash_bytes(data)[:32]
        schema = schema.replace(f'"{old}"', f'"{new}"')
        renamed[new] = data
    ids: dict[str, str] = {}
    schema = re.sub(
        r'("__id__":\s*)(\d+)',
        lambda m: m.group(1) + ids.setdefault(m.group(2), str(len(ids) + 1)),
        schema,
    )
    renamed["schema.json"] = schema.encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in sorted(renamed):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, renamed[name])
    return out.getvalue()
