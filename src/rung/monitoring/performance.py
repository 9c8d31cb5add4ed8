"""Live performance: served predictions against the ground truth that came back later.

Labels arrive late (``POST /feedback``, keyed by request id and row), so the report says how
many predicted rows of the window are labelled and how many are still waiting, and computes
the metrics on the labelled ones only. Read in chunks of log records, like the drift.

The metrics follow the model's task (:func:`task_of`: a model with classes is a classifier,
any other a regressor), and are computed in one place, :class:`LiveMetrics` (through
:func:`live_metrics`), for ``rung monitor``, its alerts and the automation's performance
trigger alike:

* **classification** — accuracy (exact match), per-class precision, recall and support, and
  the log loss where the service logged probabilities;
* **regression** — MAE, RMSE and R² (the coefficient of determination, ``1 − SSE/SST``
  as :func:`sklearn.metrics.r2_score`; None when the labels do not vary), over the rows
  whose prediction and label are both numbers (the others are counted, ``not_numbers``).

Every metric is kept as running sums (the regression's scaled by the largest error and
label, with Welford's update for the labels' variance: :class:`rung.core.numbers.Running`),
so a window of millions of rows is measured in bounded memory, and a label of ``1e308``
stored before the range of numbers was enforced gives finite metrics. A metric that is still
not finite is named with its cause under ``not_finite`` (one line each), and an alert on it
fires (:func:`rung.monitoring.alerts.breaches`) instead of being skipped as a NaN.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from rung.core.errors import InvalidInput
from rung.core.numbers import Running
from rung.core.predlog import MalformedRecord, inputs_of, outputs_of, request_rows
from rung.monitoring.drift import log_records
from rung.store.metadata import MetadataStore

log = logging.getLogger("rung")

CLASSIFICATION, REGRESSION = "classification", "regression"
# each live metric: its task, the direction in which it gets worse, and how it is printed
METRICS: dict[str, tuple[str, str, str]] = {
    "accuracy": (CLASSIFICATION, "below", "accuracy"),
    "log_loss": (CLASSIFICATION, "above", "log loss"),
    "mae": (REGRESSION, "above", "MAE"),
    "rmse": (REGRESSION, "above", "RMSE"),
    "r2": (REGRESSION, "below", "R²"),
}
_EPS = 1e-15  # probabilities clipped to [eps, 1] in the log loss, as scikit-learn does


def task_of(signature: dict[str, Any] | None) -> str:
    """``"classification"`` when the model has classes (``classes_``, recorded in its
    signature at registration), else ``"regression"``."""
    return CLASSIFICATION if (signature or {}).get("classes") else REGRESSION


def metrics_of(task: str) -> list[str]:
    """The live metrics of a task, in the order they are printed."""
    return [name for name, (t, _, _) in METRICS.items() if t == task]


def check_metric(metric: str, task: str, model: str, where: str) -> None:
    """:class:`InvalidInput` (one line) when ``metric`` does not fit the task of ``model``:
    an accuracy asked of a regressor, a MAE of a classifier."""
    if METRICS[metric][0] != task:
        fits = ", ".join(metrics_of(task))
        raise InvalidInput(
            f"{where}: metric {metric!r} does not fit {model}, a"
            f" {'classifier' if task == CLASSIFICATION else 'regressor'}",
            f"use one of {fits}",
        )


@dataclass
class LiveMetrics:
    """The live metrics of a task from (prediction, label[, probabilities]) pairs, added one
    at a time or in chunks; :meth:`report` gives them (None where nothing was measured)."""

    task: str
    labelled: int = 0
    correct: int = 0
    classes: dict[str, list[int]] = field(default_factory=dict)  # tp, predicted, actual
    log_loss_sum: float = 0.0
    scored: int = 0  # rows with the probability of their label
    regression: Running = field(default_factory=Running)  # rows with numbers as both
    not_numbers: int = 0

    def add(self, prediction: Any, label: Any, probabilities: Any = None, where: str = "") -> None:
        """One labelled row; ``where`` names it in a note on a metric that is not finite
        (``request 'R' row 2``)."""
        self.labelled += 1
        if self.task == CLASSIFICATION:
            right = prediction == label
            self.correct += bool(right)
            said, truth = str(prediction), str(label)
            self.classes.setdefault(said, [0, 0, 0])[1] += 1
            self.classes.setdefault(truth, [0, 0, 0])[2] += 1
            if right:
                self.classes[truth][0] += 1
            if isinstance(probabilities, dict) and _number(probabilities.get(truth)):
                p = min(max(float(probabilities[truth]), _EPS), 1.0)
                self.log_loss_sum -= math.log(p)
                self.scored += 1
            return
        if not (_number(prediction) and _number(label)):
            self.not_numbers += 1
            return
        self.regression.add(prediction, label, where)

    def report(self) -> dict[str, Any]:
        if self.task == CLASSIFICATION:
            n = self.labelled
            return {
                "accuracy": self.correct / n if n else None,
                "log_loss": self.log_loss_sum / self.scored if self.scored else None,
                "per_class": {
                    name: {
                        "precision": tp / said if said else None,
                        "recall": tp / actual if actual else None,
                        "support": actual,
                    }
                    for name, (tp, said, actual) in sorted(self.classes.items())
                },
            }
        values = self.regression.report()
        notes = [self.regression.not_finite(METRICS[k][2], v) for k, v in values.items()]
        out: dict[str, Any] = {**values, "not_numbers": self.not_numbers}
        if any(notes):
            out["not_finite"] = [note for note in notes if note]
        return out


def live_metrics(
    task: str, predictions: Any, labels: Any, probabilities: Any = None
) -> dict[str, Any]:
    """The live metrics of ``task`` for parallel sequences of predictions and labels (and
    of logged probabilities, one ``{class: p}`` per row, or None): the one computation
    behind ``rung monitor``, its alerts and the performance trigger (:class:`LiveMetrics`)."""
    metrics = LiveMetrics(task)
    probas = [None] * len(predictions) if probabilities is None else probabilities
    for pred, label, proba in zip(predictions, labels, probas, strict=True):
        metrics.add(pred, label, proba)
    return {"task": task, "labelled": metrics.labelled, **metrics.report()}


@dataclass
class Performance:
    """Predicted rows of a window joined with their labels, one chunk of records at a time."""

    task: str = CLASSIFICATION
    rows: int = 0
    corrected: int = 0  # labelled rows whose label replaced an earlier, different one
    metrics: LiveMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = LiveMetrics(self.task)

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
            probas = (out or {}).get("probabilities")
            predictions = out.get("predictions", []) if out else []
            # a sampled record: labels are keyed by the request's row, not the stored position
            numbers = request_rows(out, len(predictions))
            for row, pred in enumerate(predictions):
                self.rows += 1
                key = (record["request_id"], numbers[row])
                if truth.get(key) is None:  # no label back (or a null one): unlabelled
                    continue
                proba = probas[row] if isinstance(probas, list) and row < len(probas) else None
                self.corrected += key in corrected
                where = f"request {key[0]!r} row {row}"
                self.metrics.add(pred, truth[key], proba, where)  # one label per row: the latest

    def report(self) -> dict[str, Any]:
        n = self.metrics.labelled
        return {
            "task": self.task,
            "rows": self.rows,
            "labelled": n,
            "corrected": self.corrected,
            "missing": self.rows - n,
            **self.metrics.report(),
        }


def live_performance(
    store: MetadataStore, model: str, task: str = CLASSIFICATION, **window: Any
) -> dict[str, Any]:
    """Rows predicted in the window, rows labelled, rows still waiting, and the live metrics
    of ``task`` (:class:`LiveMetrics`). ``window`` as for
    :func:`rung.monitoring.drift.log_records`; malformed records are left out and counted
    under ``skipped``."""
    performance, skipped = Performance(task), Skipped()
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


def performance_trigger(
    store: MetadataStore,
    model: str,
    champion: Any,
    options: dict[str, Any],
    state: dict[str, Any],
    where: str,
) -> tuple[bool, str | None]:
    """The automation's performance trigger on the champion's newest ``labelled`` labelled
    rows: ``(judged, reason)`` — judged False when no label came back since the last check
    (``state["feedback_seen"]``, the newest feedback id then) or fewer rows are labelled
    yet, the reason None when the live ``metric`` is within its bound (``below`` for
    accuracy and R², ``above`` for log loss, MAE and RMSE). Raises :class:`InvalidInput`
    when the metric does not fit the champion's task (``where`` names the trigger), at
    every check."""
    metric = str(options.get("metric", "accuracy"))
    task = task_of(champion.signature)
    check_metric(metric, task, champion.ref, where)
    with store.read() as tx:
        newest = tx.scalar(  # this model's labels only: another model's do not wake it
            "SELECT MAX(f.id) FROM feedback f JOIN predictions p ON p.request_id = f.request_id"
            " WHERE p.model = :m AND p.role <> 'shadow'",
            {"m": model},
        )
    if newest is None or newest == state.get("feedback_seen"):
        return False, None  # no label came back since the last tick
    state["feedback_seen"] = newest
    n = int(options.get("labelled", 100))
    frame = labelled_rows(
        store, model, n, "__label", versions=[champion.version], probabilities="__proba"
    )
    if len(frame) < n:
        return False, None
    probas = frame["__proba"].tolist() if "__proba" in frame else None
    value = live_metrics(task, frame["prediction"].tolist(), frame["__label"].tolist(), probas)[
        metric
    ]
    if value is None:  # nothing measurable (no number, no probability): nothing to judge
        return True, None
    _, worse, shown = METRICS[metric]
    bound = float(options[worse])
    if (value >= bound) if worse == "below" else (value <= bound):
        return True, None
    sign = "<" if worse == "below" else ">"
    text = f"{value:.3f}" if metric in ("accuracy", "r2") else f"{value:.4g}"
    if not math.isfinite(value):  # fires (a NaN meets no bound), saying what it is
        return (
            True,
            f"live {shown} of {champion.ref} is not finite ({value}) on its newest {n} labelled"
            f" rows, so {worse} = {bound:g} cannot hold",
        )
    return (
        True,
        f"live {shown} of {champion.ref} {text} {sign} {bound:g} on its newest {n} labelled rows",
    )


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
    probabilities: str | None = None,
) -> Any:
    """The newest ``limit`` served rows of ``model`` whose label came back, as a DataFrame:
    the inputs as served, the ``label``, and the ``prediction`` that was answered — fresh
    labelled data to judge a challenger on, and the live metric of a performance trigger.
    Malformed log records are left out, each named in a warning of the ``rung`` logger, and
    counted in ``frame.attrs["skipped"]``. ``probabilities``: a column to hold the logged
    probabilities of each row (``{class: p}``, or None), when asked."""
    import pandas as pd

    where = "p.model = :m AND p.status < 400 AND p.role <> 'shadow'"  # what clients got
    params: dict[str, Any] = {"m": model}
    if versions:
        where += " AND p.version IN (" + ", ".join(f":v{i}" for i in range(len(versions))) + ")"
        params.update({f"v{i}": v for i, v in enumerate(versions)})
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    # log id: inputs, answers, probabilities, the stored position of each request row
    served: dict[int, tuple[dict[str, list[Any]], list[Any], Any, dict[int, int]]] = {}
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
                        predicted = outputs.get("predictions", [])
                        served[r["id"]] = (
                            inputs_of(r),
                            predicted,
                            outputs.get("probabilities"),
                            {n: i for i, n in enumerate(request_rows(outputs, len(predicted)))},
                        )
                    except MalformedRecord as exc:  # left out, and said once
                        skipped.add(r["id"], exc)
                        served[r["id"]] = ({}, [], None, {})
        if not found:
            break
        before = found[-1]["id"]
        for f in found:  # newest label first: a row labelled twice keeps its latest label
            key = (f["request_id"], f["row"])
            if key in seen:
                continue
            seen.add(key)
            inputs, predictions, probas, position = served[f["pid"]]
            if f["row"] not in position:
                continue  # a row the request did not have, or its record did not keep
            row = position[f["row"]]  # where a sampled record stores it
            truth = json.loads(f["label"])
            if truth is None:  # a null label stored by an older rung: unlabelled
                continue
            record = {name: values[row] for name, values in inputs.items()}
            record[label] = truth
            record["prediction"] = predictions[row]
            record["version"] = f["version"]
            if probabilities:
                fits = isinstance(probas, list) and row < len(probas)
                record[probabilities] = probas[row] if fits else None
            rows.append(record)
            if len(rows) == limit:
                break
    frame = pd.DataFrame(rows[::-1])  # oldest first, as served
    frame.attrs["skipped"] = skipped.report()
    return frame
