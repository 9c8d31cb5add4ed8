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
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rung.core.columns import ColumnKind, coerce, integer_range, problem
from rung.core.errors import RungError
from rung.core.numbers import dtype_max

if TYPE_CHECKING:
    import pandas as pd

MAX_ERRORS = 50


@dataclass
class FieldError:
    """One bad field: where (``loc``), what is wrong (``msg``), and, when the fix is not the
    route's usual one, how to fix it (``hint``: the error's hint when it is the first)."""

    loc: list[str | int]
    msg: str
    hint: str | None = None

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


def json_type(value: Any) -> str:
    """The JSON type of a parsed value: ``object``, ``list``, ``boolean``, ``number``,
    ``string`` or ``null`` (a Python type's name for anything else)."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "null" if value is None else type(value).__name__


def json_kind(value: Any) -> str:
    """What a JSON value is, for messages: ``an object``, ``a list``, ``a string``,
    ``a number``, ``a boolean`` or ``null``."""
    kind = json_type(value)
    if kind == "null":
        return kind
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def not_json(exc: Exception, hint: str) -> PayloadError:
    """The 422 for a body that is not JSON, with the route's ``hint`` (each route says what
    it takes: ``/feedback`` does not hint at ``/predict``'s records)."""
    return PayloadError(f"the body is not JSON ({exc})", hint)


def expect_object(body: Any, hint: str, what: str = "the body") -> dict[str, Any]:
    """``body`` when it is a JSON object, else the 422 naming what it is (a list, a string, a
    number…), with the route's ``hint``."""
    if not isinstance(body, dict):
        raise PayloadError(f"{what} must be a JSON object, got {json_kind(body)}", hint)
    return body


def unknown_fields(
    obj: dict[str, Any], known: list[str], loc: list[str | int], hint: str | None = None
) -> list[FieldError]:
    """A :class:`FieldError` per key of ``obj`` that is not one of ``known``, at ``loc`` +
    the key: ``unknown field 'lable': did you mean 'label'?`` (:mod:`rung.core.suggest`), or
    the known fields when none is close."""
    from rung.core.suggest import did_you_mean

    listed = "known fields: " + ", ".join(repr(k) for k in known)
    return [
        FieldError([*loc, key], f"unknown field {key!r}: {did_you_mean(key, known, listed)}", hint)
        for key in obj
        if key not in known
    ]


_MISSING: Any = object()  # a feature absent from a record
HINT = 'send {"records": [{"feature": value}]} or {"columns": {"feature": [values]}}'
"""What ``/predict`` takes (the hint of its errors about the body's shape)."""


@dataclass(frozen=True)
class Terms:
    """The words of a protocol's bodies in :func:`check`'s errors, so that a client reads
    about what it sent: rung's own records, columns and features (:data:`RECORDS`, ``/predict``
    and ``rung predict``), or the Open Inference Protocol's inputs, their data and shape
    (:data:`TENSORS`, ``/v2/.../infer``, whose inputs arrive here as columns).

    ``tensors``: the second. Each method gives one piece of an error: where a value is
    (its ``loc`` and how a message names it), the hint naming the model's features, and the
    two errors about rows (none; a different number in each column)."""

    tensors: bool = False

    def loc(self, form: str, name: str, i: int) -> list[str | int]:
        """Where value ``i`` of feature ``name`` is in a body of ``form``: ``records.3.age``,
        ``columns.age.3``, ``age`` (a bare record); an input's ``inputs.age.3``."""
        if self.tensors:
            return ["inputs", name, i]
        return (
            [name]
            if form == "record"
            else [form, i, name]
            if form == "records"
            else [form, name, i]
        )

    def place(self, loc: list[str | int]) -> str:
        """How a message names ``loc``: ``records.3.age``; an input's ``input 'age' index 3``
        (index: the place in its data, row-major)."""
        if self.tensors and len(loc) >= 2 and loc[0] == "inputs":
            return f"input {loc[1]!r}" + (f" index {loc[2]}" if len(loc) > 2 else "")
        return ".".join(str(p) for p in loc)

    def invalid(self, loc: list[str | int], msg: str) -> str:
        """The message of the first bad value: ``invalid input at records.0.age: …``;
        ``input 'age' index 0: …``."""
        return (
            f"{self.place(loc)}: {msg}"
            if self.tensors
            else f"invalid input at {self.place(loc)}: {msg}"
        )

    def features_hint(self, features: list[str]) -> str:
        """How to fix values that do not fit the signature."""
        if self.tensors:
            return (
                f"send the model's inputs ({', '.join(features)}) with values like its"
                " training data's (GET /v2/models/NAME lists each input's datatype)"
            )
        return f"send the model's features: {', '.join(features)}"

    def no_rows(self) -> PayloadError:
        """A body of no rows."""
        if self.tensors:
            return PayloadError(
                "the inputs hold no values (shape [0])", "send shape [n] with n >= 1 for n rows"
            )
        return PayloadError("the request holds no rows", "send at least one record")

    def uneven(self, lengths: dict[str, int]) -> PayloadError:
        """Columns (inputs) of different numbers of rows."""
        if self.tensors:
            return PayloadError(
                f"the inputs hold different numbers of rows {sorted(set(lengths.values()))}",
                "send one value per row in every input: the same shape [n] for each",
                [FieldError(["inputs", k], f"shape [{n}]") for k, n in lengths.items()],
            )
        return PayloadError(
            f"the columns have different lengths {sorted(set(lengths.values()))}",
            "send one value per row in every column",
            [FieldError(["columns", k], f"has {n} values") for k, n in lengths.items()],
        )

    def missing(self, name: str) -> FieldError:
        """A feature the body does not hold at all (the columns form; an input not sent)."""
        if self.tensors:
            return FieldError(["inputs", name], f"input {name!r} is missing")
        return FieldError(["columns", name], "field required")


RECORDS = Terms()
"""rung's own body words: records, columns, features (``/predict``, ``rung predict``)."""
TENSORS = Terms(tensors=True)
"""The Open Inference Protocol's: inputs, their data, shape and datatype (``/v2``)."""

# an integer literal of 19 or more digits may lie outside 64 bits, which orjson reads as the
# nearest float (-9223372036854775809 became -9.223372036854776e18, a valid int64): such a
# body is read by the standard library's parser, whose integers are exact. Found as a run
# of 19 zeros once every digit is a zero: translate and a substring search are passes in C,
# 20 times faster than the regular expression [0-9]{19} on a 1,000-row body (9 ms)
_ZEROED = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19


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

    if _LONG_DIGITS not in raw.translate(_ZEROED):
        return orjson.loads(raw)
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError as exc:  # orjson stops at 1024 levels with a JSONDecodeError
        raise ValueError("nested too deeply") from exc
    except ValueError as exc:  # Python's own words name its setting, not the client's fix
        if "int_max_str_digits" not in str(exc):
            raise
        limit = sys.get_int_max_str_digits()
        raise ValueError(f"it holds an integer of more than {limit} digits") from None


def columns_of(
    body: Any, features: list[str], terms: Terms = RECORDS
) -> tuple[dict[str, list[Any]], int, str]:
    """The payload as one list per feature (``_MISSING`` where a record lacks it), the number
    of rows, and the form it came in (``records``, ``columns`` or ``record``); ``terms``: the
    words of the errors (:class:`Terms`)."""
    body = expect_object(body, HINT)
    forms = [k for k in ("records", "columns") if k in body and k not in features]
    bare = [f for f in features if f in body and f not in ("records", "columns")]
    if len(forms) > 1 or (forms and bare):
        given = [*(repr(k) for k in forms), *(f"feature {f!r}" for f in bare[:3])]
        raise PayloadError(
            f"the body mixes forms ({', '.join(given)}): it must hold exactly one",
            'send {"records": [...]}, or {"columns": {...}}, or one bare record {"feature": ...}',
            [FieldError([k], "only one form per body") for k in [*forms, *bare[:3]]],
        )
    if forms:  # an envelope holds its form only: another key is a mistake, said so
        stray = unknown_fields({k: v for k, v in body.items() if k != forms[0]}, forms, [])
        if stray:
            raise PayloadError(f"invalid input at {stray[0].loc[0]}: {stray[0].msg}", HINT, stray)
    elif not bare:  # no feature at all: a misspelt "records" or "columns"?
        from rung.core.suggest import closest

        near = [k for k in body if closest(k, ["records", "columns"], n=1)]
        if near:
            stray = unknown_fields({near[0]: None}, ["records", "columns"], [])
            raise PayloadError(f"invalid input at {near[0]}: {stray[0].msg}", HINT, stray)
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
        # the features' columns only: other keys are ignored, as a record's are
        named: dict[str, Any] = (
            {f: columns[f] for f in features if f in columns} if isinstance(columns, dict) else {}
        )
        if not isinstance(columns, dict) or not all(isinstance(v, list) for v in named.values()):
            raise PayloadError(
                "'columns' must map each feature to a list",
                'send {"columns": {"feature": [values]}}',
                [FieldError(["columns"], "must map each feature to a list")],
            )
        lengths = {len(v) for v in named.values()}
        if len(lengths) > 1:
            raise terms.uneven({k: len(v) for k, v in named.items()})
        # no feature at all: as many rows as the other lists say, so each feature is named
        others = (len(v) for v in columns.values() if isinstance(v, list))
        n = lengths.pop() if lengths else max(others, default=0)
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
        columns=pd.Index(features, dtype=object),
        copy=False,
    )


def check(
    body: Any, signature: dict[str, Any], terms: Terms = RECORDS
) -> tuple[dict[str, list[Any]], int]:
    """The features as plain columns, in the model's order, and the number of rows; or
    :class:`PayloadError` with every field that is wrong, in the words of ``terms`` (the
    route's protocol: :class:`Terms`). Its message names the first bad field and each of the
    others (:func:`rung.core.text.and_more`).

    Each column is first checked as a whole (its value types, categories and finiteness, with
    numpy): a valid batch costs a few passes in C per feature. Only a column that fails goes
    value by value, to name every bad field.
    """
    features: list[str] = signature.get("features") or []
    specs: dict[str, Any] = signature.get("columns") or {}
    data, n, form = columns_of(body, features, terms)
    if n == 0:
        raise terms.no_rows()
    errors: list[FieldError] = []
    for name in features:
        column, spec = data[name], specs.get(name, {})
        if _column_ok(column, spec):
            continue
        kind = ColumnKind.from_dict(spec) if spec else None
        for i, value in enumerate(column):
            loc = terms.loc(form, name, i)
            if value is _MISSING:
                if form == "columns":  # the whole column is absent: say it once
                    gone = terms.missing(name)
                    errors.append(FieldError(gone.loc, gone.msg + _sent_as(body, form, i, name)))
                    break
                errors.append(FieldError(loc, "field required" + _sent_as(body, form, i, name)))
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
        from rung.core.text import and_more

        first = errors[0]
        more = and_more([terms.place(e.loc) for e in errors[1:]])
        raise PayloadError(
            f"{terms.invalid(first.loc, first.msg)}{more}",
            terms.features_hint(features),
            errors[:MAX_ERRORS],
        )
    return data, n


_NUMBERS = frozenset((int, float))


def _sent_as(body: Any, form: str, i: int, feature: str) -> str:
    """For a missing ``feature``: ``"; unknown field 'colr' given: did you mean 'color'?"``
    when the record (or the columns) holds a key that is not a feature and is close to it
    (other keys are left alone: a record may carry columns the model does not use)."""
    from rung.core.suggest import closest

    holder = {"record": body, "records": None, "columns": body.get("columns")}[form]
    if form == "records":
        records = body.get("records")
        holder = records[i] if isinstance(records, list) and i < len(records) else None
    if not isinstance(holder, dict):
        return ""
    near = [k for k in holder if isinstance(k, str) and closest(k, [feature], n=1)]
    return f"; unknown field {near[0]!r} given: did you mean {feature!r}?" if near else ""


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
            limit = dtype_max(str(spec.get("dtype") or "float64"))
            if len(column) <= 64:  # a few values: plain Python beats a numpy round trip
                # NaN, inf and numbers past the range go value by value
                return all(math.isfinite(v) and -limit <= v <= limit for v in column)
            values = np.asarray(column, dtype=float)
        except OverflowError:  # an integer beyond any float
            return False
        return not (np.abs(values) > limit).any() and (
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
