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

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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


def rows_of(body: Any) -> tuple[list[dict[str, Any]], str]:
    """The payload's rows as records, and which form it came in."""
    if not isinstance(body, dict):
        raise PayloadError(
            f"the body must be a JSON object, got {type(body).__name__}",
            'send {"records": [{...}]} or {"columns": {"feature": [...]}}',
        )
    if "records" in body:
        records = body["records"]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise PayloadError(
                "'records' must be a list of objects",
                'send {"records": [{"feature": value}]}',
                [FieldError(["records"], "must be a list of objects")],
            )
        return records, "records"
    if "columns" in body:
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
        return [{k: v[i] for k, v in columns.items()} for i in range(n)], "columns"
    return [body], "record"


def validate(body: Any, signature: dict[str, Any]) -> pd.DataFrame:
    """A DataFrame of the features in the model's order, or :class:`PayloadError` with every
    field that is wrong."""
    import pandas as pd

    records, form = rows_of(body)
    if not records:
        raise PayloadError("the request holds no rows", "send at least one record")
    features: list[str] = signature.get("features") or []
    columns: dict[str, Any] = signature.get("columns") or {}
    errors: list[FieldError] = []
    for i, record in enumerate(records):
        for name in features:
            loc: list[str | int] = (
                ["records", i, name] if form != "columns" else ["columns", name, i]
            )
            if form == "record":
                loc = [name]
            if name not in record:
                errors.append(FieldError(loc, "field required"))
                continue
            problem = _check_value(record[name], columns.get(name, {}))
            if problem:
                errors.append(FieldError(loc, problem))
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.loc)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise PayloadError(
            f"invalid input at {where}: {first.msg}{more}",
            f"send the model's features: {', '.join(features)}",
            errors[:MAX_ERRORS],
        )
    return pd.DataFrame.from_records(records, columns=features)


def _check_value(value: Any, spec: dict[str, Any]) -> str | None:
    kind = spec.get("kind")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (
            None
            if spec.get("nullable", True)
            else "null is not allowed (the training data had none)"
        )
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {type(value).__name__} {value!r}"
        if isinstance(value, float) and math.isinf(value):
            return "expected a finite number"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    if kind == "categorical":
        if not isinstance(value, str | int | bool):
            return f"expected a category, got {type(value).__name__}"
        allowed = spec.get("categories")
        if allowed is not None and str(value) not in allowed:
            shown = ", ".join(map(str, allowed[:10])) + (" …" if len(allowed) > 10 else "")
            return f"unknown category {value!r}: allowed {shown}"
        return None
    if kind == "datetime":
        return None if isinstance(value, str) else f"expected a date string, got {value!r}"
    return None
