"""Prediction payloads checked against a model version's input signature.

The service (and ``rung predict``) accept one row or a batch, in either form:

* records — ``{"records": [{"a": 1.5, "color": "red"}, ...]}``, or one bare record
  ``{"a": 1.5, "color": "red"}``;
* columns — ``{"columns": {"a": [1.5, 0.2], "color": ["red", "blue"]}}``.

Every problem is collected, not just the first: a missing feature, a value of the wrong type,
a category the model never saw, a null where the training data had none. Each names the field
(its location) so a client can fix its request; the server turns them into one 422 body.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rung.core.columns import ColumnKind, coerce, integer_range, problem
from rung.core.errors import RungError

if TYPE_CHECKING:
    import pandas as pd

MAX_ERRORS = 50


@dataclass
class FieldError:
    loc: list[str | int]
    msg: str

    def to_dict(self) -> dict[str, Any]:
        return {"loc": self.loc, "msg": self.msg}


class PayloadError(RungError):
    """The request does not match the model's signature (HTTP 422)."""

    status = 422

    def __init__(
        self, message: str, hint: str | None = None, errors: list[FieldError] | None = None
    ) -> None:
        super().__init__(message, hint)
        self.errors = errors or []

    def __reduce__(self) -> Any:
        return (type(self), (self.message, self.hint, self.errors))


_MISSING: Any = object()  # a feature absent from a record

# an integer literal of 19 or more digits may lie outside 64 bits, which orjson reads as the
# nearest float (-9223372036854775809 became -9.223372036854776e18, a valid int64): such a
# body is read by the standard library's parser, whose integers are exact
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(raw: bytes) -> Any:
    """A request body as Python values, every integer literal an exact ``int`` (never a float
    rounded into some dtype's range), so that the signature check sees the value the client
    sent. ``NaN``/``Infinity`` literals are refused (they are not JSON) by either parser.

    Raises ``ValueError`` (``orjson.JSONDecodeError``, ``json.JSONDecodeError`` or
    ``UnicodeDecodeError`` are subclasses) for a body that is not JSON.
    """
    import orjson

    if _LONG_DIGITS.search(raw) is None:
        return orjson.loads(raw)
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError as exc:  # orjson stops at 1024 levels with a JSONDecodeError
        raise ValueError("nested too deeply") from exc


def columns_of(body: Any, features: list[str]) -> tuple[dict[str, list[Any]], int, str]:
    """The payload as one list per feature (``_MISSING`` where a record lacks it), the number
    of rows, and the form it came in (``records``, ``columns`` or ``record``)."""
    if not isinstance(body, dict):
        raise PayloadError(
            f"the body must be a JSON object, got {type(body).__name__}",
            'send {"records": [{...}]} or {"columns": {"feature": [...]}}',
        )
    forms = [k for k in ("records", "columns") if k in body and k not in features]
    bare = [f for f in features if f in body and f not in ("records", "columns")]
    if len(forms) > 1 or (forms and bare):
        given = [*(repr(k) for k in forms), *(f"feature {f!r}" for f in bare[:3])]
        raise PayloadError(
            f"the body mixes forms ({', '.join(given)}): it must hold exactly one",
            'send {"records": [...]}, or {"columns": {...}}, or one bare record {"feature": ...}',
            [FieldError([k], "only one form per body") for k in [*forms, *bare[:3]]],
        )
    if "records" in body and "records" not in features:
        records = body["records"]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise PayloadError(
                "'records' must be a list of objects",
                'send {"records": [{"feature": value}]}',
                [FieldError(["records"], "must be a list of objects")],
            )
        return {f: [r.get(f, _MISSING) for r in records] for f in features}, len(records), "records"
    if "columns" in body and "columns" not in features:
        columns = body["columns"]
        if not isinstance(columns, dict) or not all(isinstance(v, list) for v in columns.values()):
            raise PayloadError(
                "'columns' must map each feature to a list",
                'send {"columns": {"feature": [values]}}',
                [FieldError(["columns"], "must map each feature to a list")],
            )
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise PayloadError(
                f"the columns have different lengths {sorted(lengths)}",
                "send one value per row in every column",
                [FieldError(["columns", k], f"has {len(v)} values") for k, v in columns.items()],
            )
        n = lengths.pop() if lengths else 0
        return {f: columns.get(f, [_MISSING] * n) for f in features}, n, "columns"
    return {f: [body.get(f, _MISSING)] for f in features}, 1, "record"


def validate(body: Any, signature: dict[str, Any]) -> pd.DataFrame:
    """A DataFrame of the features in the model's order, or :class:`PayloadError` with every
    field that is wrong."""
    return parse(body, signature)[0]


def parse(body: Any, signature: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, list[Any]]]:
    """Like :func:`validate`, and the features as plain columns (what the prediction log
    keeps: no second conversion from the DataFrame)."""
    data, _ = check(body, signature)
    return frame_of(data, signature), data


def frame_of(data: dict[str, list[Any]], signature: dict[str, Any]) -> pd.DataFrame:
    """The checked columns as the DataFrame the model was fitted on: the features in the
    training order, each coerced to its training dtype (:func:`rung.core.columns.coerce`)."""
    import pandas as pd

    specs = signature.get("columns") or {}
    features = signature.get("features") or list(data)
    return pd.DataFrame(
        {
            f: coerce(data[f], ColumnKind.from_dict(specs.get(f) or {"kind": "unknown"}))
            for f in features
        },
        columns=features,
    )


def check(body: Any, signature: dict[str, Any]) -> tuple[dict[str, list[Any]], int]:
    """The features as plain columns, in the model's order, and the number of rows; or
    :class:`PayloadError` with every field that is wrong.

    Each column is first checked as a whole (its value types, categories and finiteness, with
    numpy): a valid batch costs a few passes in C per feature. Only a column that fails goes
    value by value, to name every bad field.
    """
    features: list[str] = signature.get("features") or []
    specs: dict[str, Any] = signature.get("columns") or {}
    data, n, form = columns_of(body, features)
    if n == 0:
        raise PayloadError("the request holds no rows", "send at least one record")
    errors: list[FieldError] = []
    for name in features:
        column, spec = data[name], specs.get(name, {})
        if _column_ok(column, spec):
            continue
        kind = ColumnKind.from_dict(spec) if spec else None
        for i, value in enumerate(column):
            loc: list[str | int] = (
                [name]
                if form == "record"
                else [form, i, name]
                if form == "records"
                else [form, name, i]
            )
            if value is _MISSING:
                errors.append(FieldError(loc, "field required"))
                if form == "columns":  # the whole column is absent: say it once
                    errors[-1] = FieldError(["columns", name], "field required")
                    break
                continue
            wrong = problem(value, kind) if kind is not None else _not_scalar(value)
            if wrong:
                errors.append(FieldError(loc, wrong))
            if len(errors) >= MAX_ERRORS:
                break
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        if form == "records":  # reported row by row, as the client wrote them
            order = {f: k for k, f in enumerate(features)}
            errors.sort(key=lambda e: (e.loc[1], order.get(str(e.loc[2]), 0)))
        first = errors[0]
        where = ".".join(str(p) for p in first.loc)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise PayloadError(
            f"invalid input at {where}: {first.msg}{more}",
            f"send the model's features: {', '.join(features)}",
            errors[:MAX_ERRORS],
        )
    return data, n


_NUMBERS = frozenset((int, float))


def _column_ok(column: list[Any], spec: dict[str, Any]) -> bool:
    """True when every value of the column is certainly valid (checked in bulk); a column
    that is not goes value by value through :func:`rung.core.columns.problem`."""
    import numpy as np

    kind = spec.get("kind")
    types = set(map(type, column))
    if kind == "integer":
        lo, hi = integer_range(ColumnKind.from_dict(spec))
        return types <= {int} and lo <= min(column) and max(column) <= hi
    if kind == "numeric":
        if not types <= _NUMBERS:
            return False  # a null, a string, a bool, a missing value: check one by one
        try:
            if len(column) <= 64:  # a few values: plain Python beats a numpy round trip
                return all(map(math.isfinite, column))  # NaN and inf go value by value
            values = np.asarray(column, dtype=float)
        except OverflowError:  # an integer beyond any float
            return False
        return not np.isinf(values).any() and (
            spec.get("nullable", True) or not np.isnan(values).any()
        )
    if kind == "categorical":
        allowed = spec.get("categories")
        return types == {str} and (allowed is None or set(column) <= set(allowed))
    if kind == "boolean":
        return types == {bool}
    if kind == "text":
        return types == {str}
    if kind == "datetime":
        return types == {str} and _dates_ok(column, spec)
    if kind is None:  # no recorded kind: any JSON scalar
        return _MISSING not in column and not types & {dict, list}
    return False  # kinds this version does not know: one by one


def _not_scalar(value: Any) -> str | None:
    """For a feature whose kind the version does not record: only JSON scalars."""
    if isinstance(value, dict | list):
        return (
            f"expected a single value, got {'an object' if isinstance(value, dict) else 'a list'}"
        )
    return None


def _dates_ok(column: list[str], spec: dict[str, Any]) -> bool:
    """Every string is an ISO 8601 time that pandas reads (one parse for the column)."""
    from rung.core.columns import ISO_TIME, datetimes

    if not all(map(ISO_TIME.fullmatch, column)):
        return False
    try:
        datetimes(column, ColumnKind.from_dict(spec))
    except (ValueError, TypeError, OverflowError):
        return False
    return True
