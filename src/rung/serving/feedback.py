"""Ground truth arriving after the prediction, keyed by request id (for live performance)."""

from __future__ import annotations

import time
from typing import Any

from rung.core.errors import NotFound
from rung.core.hashing import canonical_json
from rung.core.limits import REQUEST_ID, shown
from rung.serving.payload import FieldError, PayloadError
from rung.store.metadata import MetadataStore


def items_of(body: Any) -> list[dict[str, Any]]:
    """``{"request_id", "label"}``, ``{"request_id", "labels": [...]}`` or ``{"feedback": [...]}``."""
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
        if "labels" in entry and isinstance(entry["labels"], list):
            labels = entry["labels"]
        elif "label" in entry:
            labels = [entry["label"]]
        else:
            errors.append(
                FieldError(["feedback", i, "label"], "field required (or 'labels': a list)")
            )
            continue
        rows += [
            {"request_id": entry["request_id"], "row": r, "label": v} for r, v in enumerate(labels)
        ]
    if errors:
        raise PayloadError(
            f"invalid feedback at {'.'.join(map(str, errors[0].loc))}: {errors[0].msg}",
            'send {"request_id": "...", "label": ...}',
            errors,
        )
    return rows


def record(store: MetadataStore, body: Any) -> int:
    """Store the ground truth; unknown request ids or too many labels are refused, all or none."""
    rows = items_of(body)
    now = time.time()
    with store.write() as tx:
        for request_id in sorted({r["request_id"] for r in rows}):
            known = tx.one("SELECT rows FROM predictions WHERE request_id = :r", {"r": request_id})
            if known is None:
                raise NotFound(
                    f"no prediction with request id {request_id!r}",
                    "use the request_id a prediction returned",
                )
            given = sum(1 for r in rows if r["request_id"] == request_id)
            if given > known["rows"]:
                raise PayloadError(
                    f"request {request_id!r} predicted {known['rows']} row(s), got {given} labels",
                    "send one label per predicted row",
                )
        tx.insert_many(
            "feedback", [{**r, "label": canonical_json(r["label"]), "at": now} for r in rows]
        )
    return len(rows)
