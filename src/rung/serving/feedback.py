"""Ground truth arriving after the prediction, keyed by request id (for live performance)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rung.core.errors import InvalidInput, NotFound
from rung.core.hashing import canonical_json
from rung.core.limits import REQUEST_ID, shown
from rung.serving.payload import FieldError, PayloadError
from rung.store.metadata import MetadataStore


def items_of(body: Any) -> list[dict[str, Any]]:
    """``{"request_id", "label"}``, ``{"request_id", "labels": [...]}`` or ``{"feedback": [...]}``
    of them; ``"row"`` (default 0) names the row of the request the (first) label is for.
    A null (or NaN) label is no label: that row is left out, and stays unlabelled."""
    entries = body.get("feedback") if isinstance(body, dict) and "feedback" in body else [body]
    if not isinstance(entries, list) or not entries:
        raise PayloadError(
            "'feedback' must be a non-empty list", 'send {"request_id": "...", "label": ...}'
        )
    rows: list[dict[str, Any]] = []
    errors: list[FieldError] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("request_id"), str):
            errors.append(FieldError(["feedback", i, "request_id"], "field required (a string)"))
            continue
        if len(entry["request_id"]) > REQUEST_ID:
            errors.append(
                FieldError(
                    ["feedback", i, "request_id"],
                    f"{shown(entry['request_id'])} has {len(entry['request_id'])} characters,"
                    f" over the limit of {REQUEST_ID}",
                )
            )
            continue
        row = entry.get("row", 0)
        if not isinstance(row, int) or isinstance(row, bool) or row < 0:
            errors.append(FieldError(["feedback", i, "row"], "expected a row number >= 0"))
            continue
        if "labels" in entry:
            labels, field = entry["labels"], "labels"
            if not isinstance(labels, list) or not labels:
                errors.append(
                    FieldError(["feedback", i, field], "expected a non-empty list of labels")
                )
                continue
        elif "label" in entry:
            labels, field = [entry["label"]], "label"
        else:
            errors.append(
                FieldError(["feedback", i, "label"], "field required (or 'labels': a list)")
            )
            continue
        odd = next((j for j, v in enumerate(labels) if not _scalar(v)), None)
        if odd is not None:
            loc: list[str | int] = ["feedback", i, field]
            loc += [odd] if field == "labels" else []
            errors.append(
                FieldError(
                    loc,
                    f"expected one scalar label (a string, number, boolean or null) per row,"
                    f" got {type(labels[odd]).__name__} {shown(str(labels[odd]))}",
                )
            )
            continue
        rows += [
            {"request_id": entry["request_id"], "row": row + r, "label": v}
            for r, v in enumerate(labels)
        ]
    if errors:
        raise PayloadError(
            f"invalid feedback at {'.'.join(map(str, errors[0].loc))}: {errors[0].msg}",
            'send {"request_id": "...", "label": ...}',
            errors,
        )
    return rows


def record(store: MetadataStore, body: Any) -> int:
    """Store the ground truth; unknown request ids or rows past a request's are refused, all
    or none. Null (or NaN) labels are checked like the others but not stored: those rows stay
    unlabelled. Returns the number of labels stored."""
    rows = items_of(body)
    now = time.time()
    last_row: dict[str, int] = {}  # per request, the highest row labelled: one pass
    for r in rows:
        last_row[r["request_id"]] = max(r["row"], last_row.get(r["request_id"], -1))
    with store.write() as tx:
        for request_id in sorted(last_row):
            known = tx.one("SELECT rows FROM predictions WHERE request_id = :r", {"r": request_id})
            if known is None:
                raise NotFound(
                    f"no prediction with request id {request_id!r}",
                    "use the request_id a prediction returned",
                )
            if last_row[request_id] >= known["rows"]:
                raise PayloadError(
                    f"request {request_id!r} predicted {known['rows']} row(s), got a label for"
                    f" row {last_row[request_id]}",
                    "send one label per predicted row (rows count from 0)",
                )
        known_labels = [r for r in rows if not _missing(r["label"])]  # null: still unlabelled
        tx.insert_many(
            "feedback",
            [{**r, "label": canonical_json(r["label"]), "at": now} for r in known_labels],
        )
    return len(known_labels)


def feedback_file(store: MetadataStore, path: str | Path, label: str = "label") -> dict[str, Any]:
    """Send back the labels of a CSV or Parquet file keyed like ``rung predict``'s output:
    columns ``request_id``, ``request_row`` and ``label`` (the scored file itself with a label
    column added, or any subset of its rows). Rows with a missing label are left out and
    counted; the rest are stored all or none (see :func:`record`).

    Returns ``{"accepted": n, "unlabelled": m}``; raises :class:`InvalidInput` naming missing
    columns or a bad row number, :class:`NotFound` for an unknown request id."""
    import pandas as pd

    from rung.data.datasets import TABULAR, read_table

    source = Path(path)
    if not source.exists():
        raise NotFound(f"no feedback file {str(source)!r}", "check the path")
    fmt = TABULAR.get(source.suffix.lower())
    if fmt is None:
        raise InvalidInput(f"cannot read feedback from {str(source)!r}", "give a .csv or .parquet")
    frame = read_table(source, fmt, "fix the file")
    wanted = ["request_id", "request_row", label]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{str(source)!r} lacks column(s) {missing}",
            "give the file `rung predict` wrote, with a label column (--label NAME)",
        )
    known = frame[pd.notna(frame[label])]
    rows = pd.to_numeric(known["request_row"], errors="coerce")
    bad = known.index[rows.isna() | (rows < 0) | (rows % 1 != 0)]
    if len(bad):
        raise InvalidInput(
            f"{str(source)!r} has a bad request_row {_plain(known.loc[bad[0], 'request_row'])!r}",
            "request_row is the row number `rung predict` wrote (0, 1, ...)",
        )
    body = {
        "feedback": [
            {"request_id": str(rid), "row": int(row), "label": _plain(value)}
            for rid, row, value in zip(known["request_id"], rows, known[label], strict=True)
        ]
    }
    accepted = record(store, body) if body["feedback"] else 0
    return {"accepted": accepted, "unlabelled": len(frame) - len(known)}


def _scalar(value: Any) -> bool:
    """A label is one value per row: a string, a number, a boolean or null. A list or an
    object is not (it would be stored, counted as labelled and never equal a prediction)."""
    return value is None or isinstance(value, str | int | float | bool)


def _missing(value: Any) -> bool:
    """A label that says nothing: null or NaN (the row stays unlabelled)."""
    return value is None or (isinstance(value, float) and value != value)


def _plain(value: Any) -> Any:
    """A label as JSON holds it: numpy scalars become Python numbers; anything else (an
    array, a list) is kept, and :func:`items_of` refuses it."""
    import numpy as np

    return value.item() if isinstance(value, np.generic) else value
