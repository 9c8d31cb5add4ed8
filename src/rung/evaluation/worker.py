"""Scoring one dataset: what each worker process does.

A task carries only paths and names, so it pickles cheaply: the model file (verified by the
parent before the pool starts), the dataset file, the label column, the metric names and the
slice columns. The worker loads both, predicts in chunks (a failing chunk is reported with
its row range), and returns metrics, slices, the confusion matrix, a calibration curve and,
with a baseline, paired bootstrap deltas on the very same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rung.core.columns import model_input
from rung.core.errors import InvalidInput, RungError
from rung.evaluation import metrics as m

CHUNK = 50_000
MAX_SLICE_VALUES = 50


@dataclass
class Task:
    dataset: str  # the reference shown to users, e.g. "djia@1"
    data_path: str
    data_format: str  # csv | parquet
    model_path: str
    model_kind: str
    label: str
    metric_names: Sequence[str] | None
    custom: dict[str, m.MetricFn] = field(default_factory=dict)
    slices: dict[str, str | Callable[[Any], Any]] = field(default_factory=dict)
    baseline_path: str | None = None
    baseline_kind: str | None = None
    application: Sequence[Any] | None = None  # application.Step list, instead of one model
    features: Sequence[str] | None = None  # the model's input columns in order, when known
    baseline_features: Sequence[str] | None = None


def load_model(path: str, kind: str) -> Any:
    from rung.pipelines import materialize

    with open(path, "rb") as f:
        return materialize.load(kind, f.read())


def run(task: Task) -> dict[str, Any]:
    """Score one dataset; raise :class:`RungError` with the dataset named on bad input."""
    import pandas as pd

    frame = (
        pd.read_parquet(task.data_path)
        if task.data_format == "parquet"
        else pd.read_csv(task.data_path)
    )
    if frame.empty:
        raise InvalidInput(f"dataset {task.dataset} is empty", "evaluate on a dataset with rows")
    if task.label not in frame.columns:
        cols = ", ".join(map(str, frame.columns[:20]))
        raise InvalidInput(
            f"dataset {task.dataset} has no label column {task.label!r}",
            f"pass --label with one of its columns: {cols}",
        )
    y = frame[task.label].to_numpy()
    if task.application:
        pred, proba, classes, values, fns = _run_application(task, frame, y)
    else:
        model = load_model(task.model_path, task.model_kind)
        features = _features(model, frame, task, task.features)
        classes = _classes(model, y, task)
        pred, proba = predict(model, features, task.dataset)
        task_kind = "classification" if len(classes) else "regression"
        fns = m.resolve(task.metric_names, task_kind, task.custom)
        values = m.compute(fns, y, pred, proba, classes)
    out: dict[str, Any] = {
        "dataset": task.dataset,
        "examples": len(frame),
        "metrics": values,
        "slices": _slices(frame, task, fns, y, pred, proba, classes),
    }
    if len(classes):
        out["confusion"] = m.confusion(y, pred, classes)
        out["calibration"] = m.calibration(y, proba, classes)
    if task.baseline_path and task.baseline_kind:
        from rung.evaluation.bootstrap import paired_deltas

        base = load_model(task.baseline_path, task.baseline_kind)
        base_features = _features(base, frame, task, task.baseline_features)
        base_pred, base_proba = predict(base, base_features, task.dataset)
        numeric = [k for k, v in values.items() if isinstance(v, int | float)]
        out["baseline_metrics"] = m.compute(fns, y, base_pred, base_proba, classes)
        out["deltas"] = paired_deltas(y, pred, base_pred, proba, base_proba, classes, fns, numeric)
    return out


def _run_application(
    task: Task, frame: Any, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None, list[Any], dict[str, Any], list[tuple[str, m.MetricFn]]]:
    """Run the components in order; metrics of the whole, then of each labelled component."""
    from rung.evaluation.application import Chain

    assert task.application is not None
    chain = Chain(task.application)
    out, probas = chain.run(frame, task.dataset)
    last = task.application[-1]
    pred = out[last.name].to_numpy()
    classes = _classes(chain, y, task) if hasattr(chain, "classes_") else _infer_classes(y, pred)
    fns = m.resolve(
        task.metric_names, "classification" if len(classes) else "regression", task.custom
    )
    values = m.compute(fns, y, pred, probas.get(last.name), classes)
    for step in task.application:
        if step.label and step.label in frame.columns and step is not last:
            model = chain.models.get(step.name)
            yc = frame[step.label].to_numpy()
            pc = out[step.name].to_numpy()
            own_classes = getattr(model, "classes_", None)
            cc = list(own_classes) if own_classes is not None else _infer_classes(yc, pc)
            cfns = m.resolve(None, "classification" if len(cc) else "regression")
            own = m.compute(cfns, yc, pc, probas.get(step.name), cc)
            values.update({f"{step.name}.{k}": v for k, v in own.items()})
    return pred, probas.get(last.name), classes, values, list(fns)


def _infer_classes(y: np.ndarray, pred: np.ndarray) -> list[Any]:
    """Labels that are not floats are classes: the sorted union of truth and predictions."""
    if y.dtype.kind == "f":
        return []
    return sorted(set(y.tolist()) | set(pred.tolist()), key=str)


def _features(model: Any, frame: Any, task: Task, known: Sequence[str] | None = None) -> Any:
    """The model's input columns of ``frame``, selected by name: the model's own names, else
    ``known`` (the training step's input columns, from the lineage). A model fitted on an
    array whose names nobody knows takes the columns other than the label and slice columns
    by position, only when there are exactly as many as it was fitted on."""
    from rung.core.columns import check_unique_names

    check_unique_names(frame.columns, f"dataset {task.dataset}")
    names = getattr(model, "feature_names_in_", None)
    if names is not None or known:
        wanted = [str(n) for n in (names if names is not None else known or [])]
        missing = [n for n in wanted if n not in frame.columns]
        if missing:
            raise InvalidInput(
                f"dataset {task.dataset} lacks the model's feature column(s) {missing[:5]}",
                "evaluate on data with the columns the model was trained on",
            )
        return frame[wanted]
    dropped = {task.label, *[v for v in task.slices.values() if isinstance(v, str)]}
    rest = [c for c in frame.columns if c not in dropped]
    expected = getattr(model, "n_features_in_", None)
    if expected is not None and len(rest) != expected:
        raise InvalidInput(
            f"the model was fitted without column names on {expected} column(s); dataset"
            f" {task.dataset} has {len(rest)} besides the label: {[str(c) for c in rest[:8]]}",
            "evaluate on data with exactly the training columns in the training order, or fit"
            " the model on a DataFrame so that rung can select its columns by name",
        )
    return frame[rest]


def _classes(model: Any, y: np.ndarray, task: Task) -> list[Any]:
    classes = getattr(model, "classes_", None)
    if classes is None:
        return []
    known = list(classes)
    unknown = sorted({str(v) for v in np.unique(y) if v not in set(known)})
    if unknown:
        raise InvalidInput(
            f"label column {task.label!r} of dataset {task.dataset} holds {unknown[:5]},"
            f" which the model does not know (its classes: {[str(c) for c in known]})",
            "check the label column and its type: the labels must be the model's classes",
        )
    return known


def predict(model: Any, features: Any, dataset: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions (and probabilities when the model has them), chunk by chunk."""
    preds, probas = [], []
    has_proba = hasattr(model, "predict_proba")
    for start in range(0, len(features), CHUNK):
        chunk = model_input(features.iloc[start : start + CHUNK], model)
        try:
            preds.append(np.asarray(model.predict(chunk)))
            if has_proba:
                probas.append(np.asarray(model.predict_proba(chunk)))
        except RungError:
            raise
        except Exception as exc:
            end = min(start + CHUNK, len(features))
            raise RungError(
                f"the model raised {type(exc).__name__}: {exc} on dataset {dataset},"
                f" rows {start} to {end - 1}",
                "check those rows for values the model cannot take",
            ) from exc
    proba = np.concatenate(probas) if probas else None
    return np.concatenate(preds), proba


def _slices(
    frame: Any,
    task: Task,
    fns: Sequence[tuple[str, m.MetricFn]],
    y: np.ndarray,
    pred: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[Any],
) -> dict[str, dict[str, dict[str, Any]]]:
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for name, spec in task.slices.items():
        if isinstance(spec, str):
            if spec not in frame.columns:
                raise InvalidInput(
                    f"dataset {task.dataset} has no column {spec!r} to slice by",
                    "slice by one of its columns, or pass a function",
                )
            keys = frame[spec].to_numpy()
        else:
            keys = np.asarray(spec(frame))
        values, counts = np.unique(keys.astype(str), return_counts=True)
        order = np.argsort(-counts)[:MAX_SLICE_VALUES]
        per: dict[str, dict[str, Any]] = {}
        for i in order:
            mask = keys.astype(str) == values[i]
            sub = m.compute(
                fns, y[mask], pred[mask], None if proba is None else proba[mask], classes
            )
            per[str(values[i])] = {"examples": int(mask.sum()), **sub}
        result[name] = per
    return result
