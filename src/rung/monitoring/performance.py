"""Live performance: served predictions against the ground truth that came back later.

Labels arrive late (``POST /feedback``, keyed by request id and row), so the report says how
many predicted rows of the window are labelled and how many are still waiting, and computes
the metrics on the labelled ones only. Read in chunks of log records, like the drift.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rung.monitoring.drift import log_records
from rung.store.metadata import MetadataStore


def live_performance(store: MetadataStore, model: str, **window: Any) -> dict[str, Any]:
    """Rows predicted in the window, rows labelled, rows still waiting, accuracy (exact
    match) and, when predictions and labels are numbers, the mean absolute error.
    ``window`` as for :func:`rung.monitoring.drift.log_records`."""
    predicted = labelled = correct = 0
    abs_error, numeric = 0.0, True
    for records in log_records(store, model, "request_id, outputs", chunk=500, **window):
        ids = [r["request_id"] for r in records]
        marks = ", ".join(f":r{i}" for i in range(len(ids)))
        with store.read() as tx:
            feedback = tx.all(
                f"SELECT request_id, row, label FROM feedback WHERE request_id IN ({marks})"
                " ORDER BY id",
                {f"r{i}": rid for i, rid in enumerate(ids)},
            )
        truth = {(f["request_id"], f["row"]): json.loads(f["label"]) for f in feedback}  # last wins
        for record in records:
            predictions = json.loads(record["outputs"]).get("predictions", [])
            predicted += len(predictions)
            for row, pred in enumerate(predictions):
                key = (record["request_id"], row)
                if key not in truth:
                    continue
                label = truth[key]
                labelled += 1
                correct += pred == label
                if _number(pred) and _number(label):
                    abs_error += abs(float(pred) - float(label))
                else:
                    numeric = False
    return {
        "rows": predicted,
        "labelled": labelled,
        "missing": predicted - labelled,
        "accuracy": correct / labelled if labelled else None,
        "mae": abs_error / labelled if labelled and numeric else None,
    }


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
