"""The prediction log's record: one format, whoever writes it, and one check for whoever reads it.

Every writer of the ``predictions`` table — the service (``POST /predict``, the v2 infer
path) and batch scoring (``rung predict``) — builds its record with :func:`record`, and
every reader — the monitoring window, live performance, the labelled served rows that
automation evaluates on — reads the JSON columns back through :func:`inputs_of` and
:func:`outputs_of`.

A record of an answered request (status < 400) holds:

* ``inputs``: the features **as columns**, ``{feature: [one value per row]}``;
* ``outputs``: ``{"predictions": [one per row], ...}`` (probabilities beside them);
* ``rows``: the number of rows, the length of every column and of ``predictions``;
* every value of a column, and every prediction, a JSON scalar: null, boolean, number or
  string (never a list or an object).

Every record has a ``role``: ``answer`` (the version that answered the client), ``canary``
(a challenger answering its share of requests) or ``shadow`` (a challenger's prediction of the
same request, never sent, logged under its request id with no inputs: they are the answer's).
Readers of what clients were answered leave shadow records out (:data:`ANSWERED`).

A failed request (status >= 400) is logged with ``rows`` 0, empty inputs and
``{"error": <exception type>}``: the error rate comes from the same log. Its payload is
never kept: a refused request costs one small record, whatever it sent.

**A sampled record.** A request of more rows than the writer's bound (``sample_rows``: the
service's ``[serve] log_sample_rows``) keeps a uniform random sample of them, drawn with the
request id as seed (the same request, the same sample): ``rows`` is the rows *stored* (the
length of every column and of ``predictions``), ``answered`` the rows the request was
answered with, and ``outputs["sample"]`` the request's row number of each stored row, in
order. A record of every row has ``answered`` = ``rows`` and no ``sample``. Readers map a stored
position to the request's row with :func:`request_rows` (labels are keyed by the request's
row); a label for a row that was not stored has no prediction to be compared with.

A record that breaks this (written by an older rung, another tool, or by hand) raises
:class:`MalformedRecord`, one line naming its log id; readers skip it and count it rather
than stop (see docs/monitoring.md).
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

try:
    from orjson import loads as json_loads
except ModuleNotFoundError:  # without the serve extra (`rung predict` logs too)
    from json import loads as json_loads  # type: ignore[assignment]

from rung.core.errors import InvalidInput

ROLES = ("answer", "canary", "shadow")
ANSWERED = "role <> 'shadow'"
"""The SQL condition on ``predictions`` of the records whose answer a client got."""


class MalformedRecord(InvalidInput):
    """A record of the prediction log that does not have the one format; names its log id."""


def record(
    *,
    request_id: str,
    model: str,
    version: int,
    inputs: Any,
    outputs: Mapping[str, Any],
    latency_ms: float,
    status: int = 200,
    at: float | None = None,
    correlation_id: str | None = None,
    sample_rows: int | None = None,
    role: str = "answer",
) -> dict[str, Any]:
    """The row to insert for one request (``inputs``/``outputs`` still Python objects, encoded
    by the writer): ``inputs`` as columns — a DataFrame, or a mapping of feature to values.
    ``request_id`` is the writer's own id; ``correlation_id`` the client's, if it sent one;
    ``sample_rows``: above this many rows, keep a sample of this many (see the module's
    docstring), None: every row.

    ``rows`` is derived from the inputs (0 for a failed request, whose inputs are not kept);
    raises :class:`ValueError` when columns and predictions differ in length (a bug of the
    writer, never stored). ``role``: one of :data:`ROLES`."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {ROLES}")
    failed = status >= 400
    columns: dict[str, list[Any]] = {} if failed else _columns(inputs)
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"input columns of unequal lengths {sorted(lengths)}")
    rows = 0 if failed else lengths.pop() if lengths else len(outputs.get("predictions", []))
    if not failed and len(outputs.get("predictions", [])) != rows:
        raise ValueError(f"{len(outputs.get('predictions', []))} predictions for {rows} rows")
    kept: dict[str, Any] = dict(outputs)
    answered = rows
    if sample_rows is not None and rows > sample_rows:
        answered = rows
        keep = sorted(random.Random(request_id).sample(range(rows), sample_rows))
        columns = {k: [v[i] for i in keep] for k, v in columns.items()}
        kept = {
            k: [v[i] for i in keep] if isinstance(v, list) and len(v) == rows else v
            for k, v in kept.items()
        }
        kept["sample"] = keep
        rows = sample_rows
    return {
        "request_id": request_id,
        "model": model,
        "version": version,
        "rows": rows,
        "answered": answered,
        "inputs": columns,
        "outputs": kept,
        "latency_ms": float(latency_ms),
        "status": int(status),
        "at": time.time() if at is None else at,
        "correlation_id": correlation_id,
        "role": role,
    }


def _columns(inputs: Any) -> dict[str, list[Any]]:
    if hasattr(inputs, "columns") and hasattr(inputs, "items"):  # a DataFrame
        return {str(name): column.tolist() for name, column in inputs.items()}
    if isinstance(inputs, Mapping):
        return {str(k): v if isinstance(v, list) else list(v) for k, v in inputs.items()}
    raise TypeError(f"inputs must be columns (a DataFrame or a mapping), not {type(inputs)}")


def inputs_of(row: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The input columns of a logged answered request (``row``: ``id``, ``rows``, ``inputs``);
    raises :class:`MalformedRecord` unless they are ``{feature: [rows values]}``."""
    value = _load(row, "inputs")
    if not isinstance(value, dict):
        raise _malformed(row, f"its inputs are a JSON {_kind(value)}, not columns")
    rows = row.get("rows")
    for name, values in value.items():
        if not isinstance(values, list) or (rows is not None and len(values) != rows):
            got = f"{len(values)} values" if isinstance(values, list) else f"a {_kind(values)}"
            raise _malformed(row, f"its input column {name!r} holds {got} for {rows} rows")
        _scalars(row, values, f"its input column {name!r}")
    return value


def outputs_of(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The outputs of a logged request, None for a failed one (status >= 400); raises
    :class:`MalformedRecord` unless they hold ``predictions``, one per row."""
    if int(row.get("status") or 200) >= 400:
        return None
    value = _load(row, "outputs")
    predictions = value.get("predictions") if isinstance(value, dict) else None
    if not isinstance(predictions, list):
        raise _malformed(row, "its outputs hold no list of predictions")
    rows = row.get("rows")
    if rows is not None and len(predictions) != rows:
        raise _malformed(row, f"it holds {len(predictions)} predictions for {rows} rows")
    _scalars(row, predictions, "its predictions")
    return value


def request_rows(outputs: Mapping[str, Any] | None, stored: int) -> list[int]:
    """The request's row number of each of the ``stored`` rows of a record with ``outputs``
    (:func:`outputs_of`): ``0 … stored - 1``, or a sampled record's ``sample``."""
    sample = (outputs or {}).get("sample")
    if isinstance(sample, list) and len(sample) == stored:
        return [int(i) for i in sample]
    return list(range(stored))


def _scalars(row: Mapping[str, Any], values: list[Any], where: str) -> None:
    """Refuse a value that is not a JSON scalar (null, boolean, number, string): a nested
    list or object in a column, or a prediction, is not one value of one row."""
    for i, v in enumerate(values):
        if v is not None and not isinstance(v, str | int | float):  # bool is an int
            kind = _kind(v) if isinstance(v, list | dict) else type(v).__name__
            raise _malformed(row, f"{where}: row {i} is a JSON {kind}, not a value")


def _load(row: Mapping[str, Any], field: str) -> Any:
    text = row.get(field)
    try:
        return json_loads(text) if isinstance(text, str | bytes) else text
    except ValueError as exc:
        raise _malformed(row, f"its {field} are not JSON ({str(exc)[:60]})") from None


def _kind(value: Any) -> str:
    names = {list: "list", dict: "object", str: "string", type(None): "null", bool: "boolean"}
    return names.get(type(value), "number")


def _malformed(row: Mapping[str, Any], why: str) -> MalformedRecord:
    rid = f" (request {row['request_id']!r})" if row.get("request_id") else ""
    return MalformedRecord(
        f"prediction log record {row.get('id')}{rid} is malformed: {why}",
        "it is skipped; delete or fix that row of the predictions table",
    )
