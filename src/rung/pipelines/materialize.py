"""How step outputs become bytes, by type, and back.

* pandas DataFrame → Parquet; pandas Series → Parquet of a one-column frame
* numpy array → ``.npy`` (no pickled objects)
* JSON-able values (dicts, lists, strings, numbers, booleans, None) → canonical JSON
* scikit-learn estimators → skops, loaded back trusting only the exact, reviewed types of
  :mod:`rung.pipelines.trusted`
* anything else → an error, unless the step opts in with ``@step(pickle=True)``

:func:`load` is the one way rung turns stored bytes back into objects: every rung (pipeline
steps, registration, evaluation, serving, batch scoring, monitoring, automation) calls it with
the opt-in recorded for what it loads. A pickle, or a skops file naming any type outside the
trusted list, is refused without that opt-in, before any of its code can run.

Bytes are deterministic where the format allows, so that an unchanged output keeps its hash
and does not invalidate the steps downstream: skops archives are re-zipped with fixed times.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

from rung.core.errors import IntegrityError, UnsupportedType, Untrusted
from rung.core.hashing import canonical_json, is_jsonable

MEDIA_TYPES = {
    "parquet": "application/vnd.apache.parquet",
    "series": "application/vnd.apache.parquet",
    "npy": "application/x-npy",
    "json": "application/json",
    "skops": "application/x-skops",
    "pickle": "application/x-pickle",
}
# How to opt in, said by every refusal: each entry point names an option or decorator that it
# really has (tests/test_opt_in_hints.py runs each one and checks the named option exists).
OPT_IN_STEP = "@step(pickle=True) on the step that returns it, then run it again"
"""A pipeline's own output read back (a cached step's output, by ``rung run``)."""
OPT_IN_REGISTER = "rung model register … --allow-pickle (allow_pickle=True)"
"""Registering a model: the opt-in is then recorded on the version."""
OPT_IN_VERSION = (
    "a registered version's opt-in is recorded when it is registered: register it under a new"
    " name with rung model register SOURCE --name NAME --allow-pickle"
)
"""Loading a registered version (serve, predict, eval, reproduce, monitor)."""
OPT_IN_EVAL = "rung eval … --allow-pickle (ws.evaluate(..., allow_pickle=True))"
"""Evaluating a run, an output or a hash: the opt-in of this evaluation."""
OPT_IN_API = (
    "allow_pickle=True in Python; rung eval … --allow-pickle, rung model register … --allow-pickle"
)
"""A direct call of :func:`load` or :func:`check` from Python."""
"""How a user opts in to loading an object that can run code, named in every refusal."""


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


def load(
    kind: str,
    data: bytes,
    *,
    allow_pickle: bool = False,
    what: str = "artifact",
    opt_in: str = OPT_IN_API,
) -> Any:
    """Rebuild the value that :func:`dump` stored as ``kind``: the one loader of stored objects.

    ``allow_pickle`` is the opt-in recorded for this object (a model version registered with
    ``--allow-pickle``, an evaluation run with it, the output of a ``@step(pickle=True)``
    read back by its own pipeline). Without it, a ``pickle`` is refused, and so is a
    ``skops`` file that names any type outside :func:`rung.pipelines.trusted.trusted_types`;
    the refusal (:class:`~rung.core.errors.Untrusted`) names ``what``, the types and the
    opt-in, and happens before anything in the bytes is imported or run. With the opt-in the
    file is loaded trusting every type it names: loading it may run code. ``opt_in`` is how
    the caller's user opts in (one of the ``OPT_IN_*`` constants), named by the refusal.

    Raises :class:`~rung.core.errors.IntegrityError` for bytes that do not parse as ``kind``.
    """
    if kind in ("parquet", "series"):
        from rung.data.tables import read_frame

        frame = read_frame(data, "parquet")
        return frame.iloc[:, 0] if kind == "series" else frame
    if kind == "npy":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if kind == "json":
        return json.loads(data)
    if kind == "skops":
        return _load_skops(data, allow_pickle, what, opt_in)
    if kind == "pickle":
        check(kind, data, allow_pickle=allow_pickle, what=what, opt_in=opt_in)
        import pickle

        try:
            return pickle.loads(data)  # the opt-in recorded for this object allows it
        except (ImportError, AttributeError) as exc:
            raise IntegrityError(
                f"{what} could not be unpickled ({type(exc).__name__}: {exc})",
                "make the module that defines its classes importable (PYTHONPATH)",
            ) from exc
    raise IntegrityError(f"unknown artifact kind {kind!r}", "upgrade rung")


def check(
    kind: str,
    data: bytes,
    *,
    allow_pickle: bool = False,
    what: str = "artifact",
    opt_in: str = OPT_IN_API,
) -> None:
    """Raise what :func:`load` would raise for an untrusted object, without loading it (so a
    service can refuse at start-up, in one line, before its workers start)."""
    if kind == "pickle" and not allow_pickle:
        raise Untrusted(
            f"{what} is stored with pickle, which runs code when loaded, and was not opted in",
            f"load it only if you trust its source: opt in with {opt_in}",
        )
    if kind == "skops" and not allow_pickle:
        refused = untrusted_types(data, what)
        if refused:
            more = f" and {len(refused) - 5} more" if len(refused) > 5 else ""
            raise Untrusted(
                f"{what} names types rung does not trust, which could run code when loaded:"
                f" {', '.join(refused[:5])}{more}",
                f"load it only if you trust its source: opt in with {opt_in}",
            )


def untrusted_types(data: bytes, what: str = "artifact") -> list[str]:
    """The types a skops file names that rung does not trust without an opt-in (sorted)."""
    import skops.io as sio

    from rung.pipelines.trusted import never_trusted, trusted_types

    try:
        named = sio.get_untrusted_types(data=data)
    except Exception as exc:  # not a zip, no schema.json, a schema skops cannot read
        raise IntegrityError(
            f"{what} is not a readable skops file ({type(exc).__name__}: {exc})",
            "store it again with rung (a scikit-learn model returned by a step)",
        ) from exc
    allowed = trusted_types()
    return sorted(t for t in named if t not in allowed or never_trusted(t))


def _load_skops(data: bytes, allow_pickle: bool, what: str, opt_in: str) -> Any:
    import skops.io as sio

    from rung.pipelines.trusted import check_contents

    check("skops", data, allow_pickle=allow_pickle, what=what, opt_in=opt_in)
    try:
        model = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    except Exception as exc:
        raise IntegrityError(
            f"{what} could not be loaded from its skops file ({type(exc).__name__}: {exc})",
            "check that scikit-learn's version matches the one that stored it",
        ) from exc
    check_contents(model, what, allow_io=allow_pickle, opt_in=opt_in)  # sklearn trusts blindly
    return model


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
