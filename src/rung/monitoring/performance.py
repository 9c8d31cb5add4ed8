"""Live performance: served predictions against the ground truth that came back later.

Labels arrive late (``POST /feedback``, keyed by request id and row), so the report says how
many predicted rows of the window are labelled and how many are still waiting, and computes
the metrics on the labelled ones only. Read in chunks of log records, like the drift.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from rung.core.predlog import MalformedRecord, inputs_of, outputs_of
from rung.monitoring.drift import log_records
from rung.store.metadata import MetadataStore

log = logging.getLogger("rung")


@dataclass
class Performance:
    """Predicted rows of a window joined with their labels, one chunk of records at a time."""

    rows: int = 0
    labelled: int = 0
    corrected: int = 0  # labelled rows whose label replaced an earlier, different one
    correct: int = 0
    abs_error: float = 0.0
    numeric: bool = True

    def add(self, store: MetadataStore, records: list[dict[str, Any]], outputs: list[Any]) -> None:
        ids = [r["request_id"] for r, out in zip(records, outputs, strict=True) if out]
        truth: dict[tuple[str, int], Any] = {}
        corrected: set[tuple[str, int]] = set()
        if ids:
            marks = ", ".join(f":r{i}" for i in range(len(ids)))
            with store.read() as tx:
                rows = tx.all(
                    "SELECT request_id, row, label, corrections FROM feedback"
                    f" WHERE request_id IN ({marks})",
                    {f"r{i}": rid for i, rid in enumerate(ids)},
                )
            # one label per (request, row): a unique index (the latest wins, see feedback)
            truth = {(f["request_id"], f["row"]): json.loads(f["label"]) for f in rows}
            corrected = {(f["request_id"], f["row"]) for f in rows if f["corrections"]}
        for record, out in zip(records, outputs, strict=True):
            for row, pred in enumerate(out.get("predictions", []) if out else []):
                self.rows += 1
                key = (record["request_id"], row)
                if truth.get(key) is None:  # no label back (or a null one): unlabelled
                    continue
                label = truth[key]
                self.labelled += 1
                self.corrected += key in corrected
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
            "corrected": self.corrected,
            "missing": self.rows - n,
            "accuracy": self.correct / n if n else None,
            "mae": self.abs_error / n if n and self.numeric else None,
        }


def live_performance(store: MetadataStore, model: str, **window: Any) -> dict[str, Any]:
    """Rows predicted in the window, rows labelled, rows still waiting, accuracy (exact
    match) and, when predictions and labels are numbers, the mean absolute error.
    ``window`` as for :func:`rung.monitoring.drift.log_records`; malformed records are left
    out and counted under ``skipped``."""
    performance, skipped = Performance(), Skipped()
    fields = "request_id, rows, outputs, status"
    for chunk in log_records(store, model, fields, chunk=500, **window):
        records, outputs = [], []
        for r in chunk:
            try:
                outputs.append(outputs_of(r))
            except MalformedRecord as exc:
                skipped.add(r["id"], exc)
                continue
            records.append(r)
        performance.add(store, records, outputs)
    report = performance.report()
    if skipped.records:
        report["skipped"] = skipped.report()
    return report


@dataclass
class Skipped:
    """Malformed log records a reader left out: how many, the first ids, the first reason
    (each also a warning on the ``rung`` logger, one line naming its id)."""

    records: int = 0
    ids: list[int] = field(default_factory=list)
    first: str | None = None

    def add(self, record_id: int, exc: MalformedRecord) -> None:
        self.records += 1
        if len(self.ids) < 20:
            self.ids.append(record_id)
            log.warning("%s", exc.message)
        self.first = self.first or exc.message

    def report(self) -> dict[str, Any]:
        return {"records": self.records, "ids": self.ids, "first": self.first}


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def labelled_rows(
    store: MetadataStore,
    model: str,
    limit: int,
    label: str = "label",
    versions: list[int] | None = None,
) -> Any:
    """The newest ``limit`` served rows of ``model`` whose label came back, as a DataFrame:
    the inputs as served, the ``label``, and the ``prediction`` that was answered — fresh
    labelled data to judge a challenger on, and the live metric of a performance trigger.
    Malformed log records are left out, each named in a warning of the ``rung`` logger, and
    counted in ``frame.attrs["skipped"]``."""
    import pandas as pd

    where = "p.model = :m AND p.status < 400"
    params: dict[str, Any] = {"m": model}
    if versions:
        where += " AND p.version IN (" + ", ".join(f":v{i}" for i in range(len(versions))) + ")"
        params.update({f"v{i}": v for i, v in enumerate(versions)})
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    served: dict[int, tuple[dict[str, list[Any]], list[Any]]] = {}  # log id: inputs, answers
    skipped = Skipped()
    before = None
    while len(rows) < limit:
        page = "" if before is None else " AND f.id < :before"
        with store.read() as tx:
            found = tx.all(
                "SELECT f.id, f.request_id, f.row, f.label, p.id AS pid, p.version"
                " FROM feedback f JOIN predictions p ON p.request_id = f.request_id"
                # a request id a client reused: its newest answered request is the one labelled
                f" WHERE {where}{page} ORDER BY f.id DESC, p.id DESC LIMIT 500",
                {**params, "before": before},
            )
            # each labelled request's record read and parsed once, however many rows it has
            wanted = sorted({f["pid"] for f in found} - set(served))
            if wanted:
                marks = ", ".join(f":p{i}" for i in range(len(wanted)))
                for r in tx.all(
                    "SELECT id, request_id, rows, inputs, outputs, status FROM predictions"
                    f" WHERE id IN ({marks})",
                    {f"p{i}": pid for i, pid in enumerate(wanted)},
                ):
                    try:
                        outputs = outputs_of(r) or {}
                        served[r["id"]] = (inputs_of(r), outputs.get("predictions", []))
                    except MalformedRecord as exc:  # left out, and said once
                        skipped.add(r["id"], exc)
                        served[r["id"]] = ({}, [])
        if not found:
            break
        before = found[-1]["id"]
        for f in found:  # newest label first: a row labelled twice keeps its latest label
            key = (f["request_id"], f["row"])
            if key in seen:
                continue
            seen.add(key)
            inputs, predictions = served[f["pid"]]
            row = f["row"]
            if row >= len(predictions):
                continue  # feedback for a row the request did not have
            truth = json.loads(f["label"])
            if truth is None:  # a null label stored by an older rung: unlabelled
                continue
            record = {name: values[row] for name, values in inputs.items()}
            record[label] = truth
            record["prediction"] = predictions[row]
            record["version"] = f["version"]
            rows.append(record)
            if len(rows) == limit:
                break
    frame = pd.DataFrame(rows[::-1])  # oldest first, as served
    frame.attrs["skipped"] = skipped.report()
    return frame
