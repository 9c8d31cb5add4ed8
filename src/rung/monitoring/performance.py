"""Live performance: served predictions against the ground truth that came back later.

Labels arrive late (``POST /feedback``, keyed by request id and row), so the report says how
many predicted rows of the window are labelled and how many are still waiting, and computes
the metrics on the labelled ones only. Read in chunks of log records, like the drift.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from rung.monitoring.drift import log_records
from rung.store.metadata import MetadataStore


@dataclass
class Performance:
    """Predicted rows of a window joined with their labels, one chunk of records at a time."""

    rows: int = 0
    labelled: int = 0
    correct: int = 0
    abs_error: float = 0.0
    numeric: bool = True

    def add(self, store: MetadataStore, records: list[dict[str, Any]], outputs: list[Any]) -> None:
        ids = [r["request_id"] for r, out in zip(records, outputs, strict=True) if out]
        truth: dict[tuple[str, int], Any] = {}
        if ids:
            marks = ", ".join(f":r{i}" for i in range(len(ids)))
            with store.read() as tx:
                rows = tx.all(
                    f"SELECT request_id, row, label FROM feedback WHERE request_id IN ({marks})"
                    " ORDER BY id",
                    {f"r{i}": rid for i, rid in enumerate(ids)},
                )
            truth = {(f["request_id"], f["row"]): json.loads(f["label"]) for f in rows}
        for record, out in zip(records, outputs, strict=True):
            for row, pred in enumerate(out.get("predictions", []) if out else []):
                self.rows += 1
                key = (record["request_id"], row)
                if key not in truth:
                    continue
                label = truth[key]  # the last label sent for a row wins
                self.labelled += 1
                self.correct += pred == label
                if _number(pred) and _number(label):
                    self.abs_error += abs(float(pred) - float(label))
                else:
                    self.numeric = False

    def report(self) -> dict[str, Any]:
        n = self.labelled
        return {
            "rows": self.rows,
            "labelled": n,
            "missing": self.rows - n,
            "accuracy": self.correct / n if n else None,
            "mae": self.abs_error / n if n and self.numeric else None,
        }


def live_performance(store: MetadataStore, model: str, **window: Any) -> dict[str, Any]:
    """Rows predicted in the window, rows labelled, rows still waiting, accuracy (exact
    match) and, when predictions and labels are numbers, the mean absolute error.
    ``window`` as for :func:`rung.monitoring.drift.log_records`."""
    performance = Performance()
    for records in log_records(store, model, "request_id, outputs, status", chunk=500, **window):
        outputs = [json.loads(r["outputs"]) if r["status"] < 400 else None for r in records]
        performance.add(store, records, outputs)
    return performance.report()


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
