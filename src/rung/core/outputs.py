"""The one check of a model's outputs, and their one JSON form; used by evaluation, the service,
batch scoring and monitoring alike.

A model's ``predict`` must return **one scalar per row**: a 1-D array (or list) of as many
numbers, booleans or labels as rows were given — a column vector ``(n, 1)`` counts as 1-D.
Anything else is refused in one line, as the model's fault (:class:`ModelFailed`, a 500 in the
service), naming what is wrong: a 2-D array (``shape (200, 3)``), too few or too many values,
values that are not scalars (dicts, lists, arrays, objects). Non-finite numbers (NaN, ±inf) are
values a regressor may return; they are **stated**:

* in JSON (the service's answer, the prediction log, ``--json``) as the strings ``"nan"``,
  ``"inf"`` and ``"-inf"`` — the same strings :func:`rung.core.hashing.canonical_json` writes
  for non-finite metrics (docs/columns.md) — and read back as floats (:func:`from_json`);
* in a batch output file as the float column's own NaN/inf;
* in evaluation, which cannot score them, as a refusal naming how many rows and the first.

And :func:`check_against_labels`: a model predicting numbers for labels that are strings (a
regressor evaluated on a classification label) is one line, not a metric's traceback.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rung.core.errors import InvalidInput, ModelFailed

if TYPE_CHECKING:
    import numpy as np

NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_HINT = "make the model's predict return one number or label per row (a 1-D array)"


def checked(values: Any, rows: int, where: str = "") -> np.ndarray:
    """``values`` (what ``predict`` returned for ``rows`` rows) as a 1-D numpy array, or
    :class:`ModelFailed` naming the shape, the count or the first value that is not a scalar.
    ``where`` names the rows for the message (``"on dataset d, rows 0 to 199"``)."""
    import numpy as np

    at = f" {where}" if where else ""
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError) as exc:  # ragged nested sequences
        raise ModelFailed(
            f"the model's predictions are not one value per row ({type(values).__name__}:"
            f" {' '.join(str(exc).split())[:120]}){at}",
            _HINT,
        ) from exc
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ModelFailed(
            f"the model's predictions have shape {tuple(arr.shape)}, not one value per row"
            f" ({rows},){at}",
            _HINT,
        )
    if len(arr) != rows:
        raise ModelFailed(
            f"the model returned {len(arr)} prediction(s) for {rows} row(s){at}", _HINT
        )
    if arr.dtype == object:
        if set(map(type, arr.tolist())) <= _PLAIN:  # what a classifier of labels gives
            return arr
        for i, v in enumerate(arr):
            if not _scalar(v):
                text = repr(v)
                text = text if len(text) <= 40 else text[:37] + "..."
                raise ModelFailed(
                    f"the model's prediction for row {i} is a {type(v).__name__} ({text}),"
                    f" not a single number or label{at}",
                    _HINT,
                )
    elif arr.dtype.kind not in "biufUSM":  # complex, void, timedelta
        raise ModelFailed(
            f"the model's predictions are of dtype {arr.dtype}, not numbers or labels{at}", _HINT
        )
    return arr


_PLAIN = frozenset((str, int, float, bool, type(None)))  # scalars without a per-value check


def _scalar(v: Any) -> bool:
    import datetime as dt
    import decimal

    import numpy as np

    if v is None or isinstance(v, str | bool | int | float | decimal.Decimal | dt.date):
        return not isinstance(v, complex)
    return isinstance(v, np.generic) and v.dtype.kind in "biufUSM"


def to_json(values: Any) -> list[Any]:
    """Checked outputs as JSON scalars: numpy scalars as Python ones, NaN and ±inf as the
    strings ``"nan"``, ``"inf"``, ``"-inf"``."""
    items = values.tolist() if hasattr(values, "tolist") else list(values)
    kind = getattr(getattr(values, "dtype", None), "kind", "O")
    if kind in "biuU" or (kind == "f" and all(map(math.isfinite, items))):
        return items  # numpy's tolist gave Python scalars, every one finite
    if kind == "O" and set(map(type, items)) <= {str, int, bool, type(None)}:
        return items
    out: list[Any] = []
    for v in items:
        if isinstance(v, float) and not math.isfinite(v):
            out.append("nan" if math.isnan(v) else "inf" if v > 0 else "-inf")
        else:
            out.append(v.item() if hasattr(v, "item") else v)
    return out


def from_json(values: list[Any]) -> list[Any]:
    """Logged outputs as the model returned them: ``"nan"``/``"inf"``/``"-inf"`` back to floats
    where the other values are numbers (a classifier's label ``"inf"`` stays a string)."""
    if not any(isinstance(v, str) and v in NON_FINITE for v in values):
        return values
    if any(isinstance(v, str) and v not in NON_FINITE for v in values):
        return values
    return [NON_FINITE[v] if isinstance(v, str) else v for v in values]


def check_against_labels(pred: np.ndarray, y: np.ndarray, where: str, label: str) -> None:
    """:class:`InvalidInput` when the predictions cannot be scored against the labels: numbers
    predicted for string labels (a regressor on a classification label), strings for numeric
    labels, or non-finite predictions (no metric is defined for them)."""
    import numpy as np

    numeric_pred = pred.dtype.kind in "biuf"
    text_labels = y.dtype.kind in "US" or (y.dtype == object and any(isinstance(v, str) for v in y))
    if numeric_pred and text_labels:
        shown = next(v for v in y if isinstance(v, str) or y.dtype.kind in "US")
        raise InvalidInput(
            f"labels are strings but the model predicts numbers: label column {label!r} of"
            f" {where} holds {str(shown)!r}",
            "evaluate with the label the model was trained on (--label), or a classifier",
        )
    text_pred = pred.dtype.kind in "US" or (
        pred.dtype == object and any(isinstance(v, str) for v in pred)
    )
    if text_pred and y.dtype.kind in "biuf":
        shown = next(v for v in pred if isinstance(v, str) or pred.dtype.kind in "US")
        raise InvalidInput(
            f"labels are numbers but the model predicts strings ({str(shown)!r}): label column"
            f" {label!r} of {where}",
            "evaluate with the label the model was trained on (--label)",
        )
    if pred.dtype.kind == "f":
        bad = ~np.isfinite(pred)
        if bad.any():
            first = int(np.argmax(bad))
            raise InvalidInput(
                f"the model's predictions are not finite for {int(bad.sum())} of {len(pred)}"
                f" row(s) of {where} (first: {to_json([pred[first]])[0]} at row {first});"
                " no metric is defined for them",
                "fix the model or the rows it cannot score",
            )
