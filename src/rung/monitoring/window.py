"""One monitoring window of a served model, computed in one pass over the prediction log.

A window is a range of the prediction log (the newest N predicted rows, or a period ending
now). One reader walks it in chunks of records and feeds four accumulators, each in bounded
memory:

* data drift — each feature's values counted over its reference bins (:mod:`rung.core.drift`);
* prediction drift — the model's outputs against its outputs on the reference data;
* live performance — predictions joined with the labels that came back (``POST /feedback``)
  by request id and row, with how many are still missing;
* service health — requests, failed requests (the service logs those too, with their
  status) and latency percentiles from a fixed logarithmic histogram. A failure is the
  server's (a 5xx status: ``errors``, ``error_rate``, what the ``max_error_rate`` alert
  judges) or the client's (a 4xx status: a bad request, ``client_errors`` and
  ``client_error_rate``, reported apart and never alerted on), as RFC 9110 §15 classes them.

A record of the log that is not in the one format (:mod:`rung.core.predlog`) is left out of
all four and counted under ``skipped`` with its id and the first reason: one bad row never
stops monitoring, nor the automation that reads the same windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rung.core.columns import model_input
from rung.core.drift import CategoricalReference, NumericReference
from rung.core.errors import InvalidInput, NotFound
from rung.core.outputs import checked, from_json
from rung.core.predlog import MalformedRecord, inputs_of, outputs_of
from rung.monitoring.drift import (
    Reference,
    accumulator,
    build_reference,
    count_columns,
    feature_report,
    log_records,
    unmatched,
)
from rung.monitoring.performance import CLASSIFICATION, Performance, Skipped
from rung.registry.models import ModelVersion, Registry, require_signature
from rung.store.metadata import MetadataStore

CHUNK = 200  # log records read at a time
FLUSH_ROWS = 20_000  # input rows held before they are counted
# latency histogram: 20 buckets per decade from 10 µs to 1000 s
_EDGES = np.logspace(-2, 6, 161)


@dataclass
class References:
    """What a window is compared with: the inputs and the model's outputs on them."""

    inputs: Reference
    predictions: NumericReference | CategoricalReference | None
    source: str  # "training data of NAME@V" or a dataset version


def references(
    registry: Registry,
    version: ModelVersion,
    frame: Any = None,
    source: str | None = None,
    label: str | None = None,
) -> References:
    """References of ``version``: by default its training frame (from the lineage), else
    ``frame`` (a reference dataset ``source``, which must hold the model's features and no
    column the model does not know, bar its ``label``)."""
    signature = require_signature(version)
    features = list(signature.get("features", []))
    if frame is None:
        frame = registry.training_frame(version)
        source = f"training data of {version.ref}"
    else:
        unknown = [c for c in frame.columns if c not in features and c != label]
        if unknown:
            raise InvalidInput(
                f"the reference {source} has column(s) {unknown[:5]} that {version.ref} does"
                " not have",
                f"use a reference with the model's features {features[:8]} (and its label)",
            )
    inputs = build_reference(frame, signature)
    return References(
        inputs, _prediction_reference(registry, version, frame[features]), str(source)
    )


def _prediction_reference(
    registry: Registry, version: ModelVersion, frame: Any
) -> NumericReference | CategoricalReference | None:
    """The model's predictions on the reference inputs, summarised like a feature."""
    _, model = registry.load(version.ref)  # an untrusted model is refused, not skipped
    try:
        values = checked(model.predict(model_input(frame, model)), len(frame))
    except Exception:  # a model that cannot score its reference here: no prediction drift
        return None
    if values.dtype.kind in "fiu" and len(np.unique(values)) > 20:
        return NumericReference.of(values.astype(float))
    return CategoricalReference.of(values.tolist())


@dataclass
class _Health:
    requests: int = 0
    errors: int = 0  # the server's failures: status >= 500
    client_errors: int = 0  # the client's: 400 <= status < 500 (a bad request, not ours)
    counts: np.ndarray = field(default_factory=lambda: np.zeros(_EDGES.size + 1, dtype=np.int64))

    def add(self, status: list[int], latency: list[float]) -> None:
        ok = [ms for s, ms in zip(status, latency, strict=True) if s < 400]
        self.requests += len(status)
        self.errors += sum(s >= 500 for s in status)
        self.client_errors += sum(400 <= s < 500 for s in status)
        if ok:
            self.counts += np.bincount(
                np.searchsorted(_EDGES, np.asarray(ok, dtype=float)), minlength=_EDGES.size + 1
            )

    def report(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.errors / self.requests if self.requests else None,
            "client_errors": self.client_errors,
            "client_error_rate": self.client_errors / self.requests if self.requests else None,
            "latency_ms": {f"p{q}": self._quantile(q / 100) for q in (50, 95, 99)},
        }

    def _quantile(self, q: float) -> float | None:
        total = int(self.counts.sum())
        if total == 0:
            return None
        i = int(np.searchsorted(np.cumsum(self.counts), q * total))
        low = _EDGES[i - 1] if i > 0 else 0.0
        high = _EDGES[i] if i < _EDGES.size else _EDGES[-1]
        return float(math.sqrt(max(low, 1e-3) * high))  # the bucket's geometric middle (±6 %)


def compute_window(
    store: MetadataStore,
    model: str,
    refs: References,
    thresholds: dict[str, dict[str, Any]] | None = None,
    prediction_threshold: dict[str, Any] | None = None,
    version: int | None = None,
    task: str = CLASSIFICATION,
    **window: Any,
) -> dict[str, Any]:
    """Data drift, prediction drift, live performance and health of one window of ``model``'s
    log; ``window`` as for :func:`rung.monitoring.drift.log_records` (``after_id``, ``since``,
    ``until_id``...). Inputs and health cover every request of the window; prediction drift
    and live performance only those answered by ``version`` (its outputs are what the
    reference holds, and its errors are its own: after a promotion, the late labels of the
    previous version's answers never count against the new one). Live performance by the
    metrics of ``task`` (:mod:`rung.monitoring.performance`); ``performance["other_versions"]``
    counts the window's rows answered by other versions."""
    features = {name: accumulator(ref) for name, ref in refs.inputs.items()}
    predicted = accumulator(refs.predictions) if refs.predictions else None
    health, performance = _Health(), Performance(task)
    first_id = last_id = None
    others = 0  # rows of the window answered by another version than ``version``
    skipped = Skipped()
    fields = "request_id, version, rows, inputs, outputs, status, latency_ms"
    for chunk in log_records(store, model, fields, chunk=CHUNK, **window):
        first_id = chunk[0]["id"] if first_id is None else first_id
        last_id = chunk[-1]["id"]
        records, outputs, inputs = [], [], []
        for r in chunk:  # a malformed record is left out of everything, and counted
            try:
                out = outputs_of(r)
                served = inputs_of(r) if out is not None else None
            except MalformedRecord as exc:
                skipped.add(r["id"], exc)
                continue
            records.append(r)
            outputs.append(out)
            inputs.append(served)
        columns: dict[str, list[Any]] = {}
        held = 0
        for r, served in zip(records, inputs, strict=True):
            for name, values in (served or {}).items():
                columns.setdefault(name, []).extend(values)
            held += r["rows"] if served is not None else 0
            if held >= FLUSH_ROWS:  # large requests: count what we hold before reading on
                count_columns(features, columns)
                columns, held = {}, 0
        count_columns(features, columns)
        if predicted is not None:
            predicted.add(  # the outputs of the version whose reference this is, only
                [
                    p
                    for r, out in zip(records, outputs, strict=True)
                    if out and (version is None or r["version"] == version)
                    for p in from_json(out.get("predictions", []))
                ]
            )
        health.add([r["status"] for r in records], [r["latency_ms"] for r in records])
        own = [version is None or r["version"] == version for r in records]
        others += sum(
            len(out.get("predictions", []))
            for out, mine in zip(outputs, own, strict=True)
            if out and not mine
        )
        performance.add(
            store,
            [r for r, mine in zip(records, own, strict=True) if mine],
            [out for out, mine in zip(outputs, own, strict=True) if mine],
        )
    if first_id is None or last_id is None:
        raise NotFound(
            f"no logged predictions of {model!r} in this window",
            "serve the model and send it requests first (or widen --window)",
        )
    drift: dict[str, Any] = {}
    for name, acc in features.items():
        drift[name] = feature_report(acc, (thresholds or {}).get(name, {}), name)
    prediction = (
        feature_report(predicted, prediction_threshold or {}, "(predictions)")
        if predicted
        else None
    )
    return {
        "first_id": first_id,
        "last_id": last_id,
        "rows": performance.rows + others,
        "reference": refs.source,
        "features": drift,
        "drifted": [n for n, f in drift.items() if f["verdict"]["drift"]],
        "notes": [f["note"] for f in [*drift.values(), prediction or {}] if "note" in f]
        + unmatched(thresholds, drift),
        "prediction": prediction,
        "performance": {**performance.report(), "other_versions": others},
        "health": health.report(),
        "skipped": skipped.report(),
    }
