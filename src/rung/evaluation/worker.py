"""Scoring one dataset: what each worker process does.

A task carries only paths and names, so it pickles cheaply: the model file (verified by the
parent before the pool starts), the dataset file, the label column, the metric names and the
slice columns. The worker loads both, predicts in chunks (a failing chunk is reported with
its row range), and returns metrics, slices, the confusion matrix, a calibration curve and,
with a baseline, paired bootstrap deltas on the very same rows.

**Unlabelled rows** — a label that is None, NaN, ``pd.NA`` or NaT — are left out of every
label metric (the table's, the slices', the confusion matrix, the baseline's and its
bootstrap deltas: both models on the same labelled rows) and counted: ``examples`` is every
row, ``labelled`` the rows measured. With no labelled row, no metric is computed (the
evaluation's notes say so, and any criterion on a metric fails as missing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rung.core.columns import check_frame, model_input
from rung.core.errors import InvalidInput, RungError, model_raised
from rung.core.outputs import check_against_labels, checked
from rung.core.suggest import did_you_mean
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
    model_allow_pickle: bool = False  # the opt-in recorded for the model (and the baseline)
    model_what: str = "model"  # how a refusal names the model: "model <hash prefix>"
    baseline_what: str = "baseline"
    model_opt_in: str = ""  # how a refusal says to opt in (materialize.OPT_IN_*)
    baseline_opt_in: str = ""
    baseline_allow_pickle: bool = False
    features: Sequence[str] | None = None  # the model's input columns in order, when known
    baseline_features: Sequence[str] | None = None
    margins: dict[str, Any] = field(default_factory=dict)  # metric → core.policy.Margin
    # the registered version's column kinds ({feature: ColumnKind dict}): its input is checked
    # against them as `rung predict` and the service check theirs
    feature_kinds: dict[str, Any] | None = None


def load_model(path: str, kind: str, allow_pickle: bool = False, *, what: str, opt_in: str) -> Any:
    """The model in the verified file ``path``, through the one loader with its opt-in.

    ``what`` names it in a refusal (``model cc721266d179``, the hash prefix users see): the
    caller knows it; a file's name does not (objects are stored as ``cc/721266d179…``, and
    the name read from the path dropped the folder's two hex digits)."""
    from rung.pipelines import materialize

    with open(path, "rb") as f:
        data = f.read()
    return materialize.load(kind, data, allow_pickle=allow_pickle, what=what, opt_in=opt_in)


def run(task: Task) -> dict[str, Any]:
    """Score one dataset; raise :class:`RungError` with the dataset named on bad input."""

    from rung.data.tables import read_frame

    frame = read_frame(task.data_path, task.data_format)
    if frame.empty:
        raise InvalidInput(f"dataset {task.dataset} is empty", "evaluate on a dataset with rows")
    if task.label not in frame.columns:
        cols = ", ".join(map(str, frame.columns[:20]))
        raise InvalidInput(
            f"dataset {task.dataset} has no label column {task.label!r}",
            did_you_mean(
                task.label,
                map(str, frame.columns),
                f"pass --label with one of its columns: {cols}",
            ),
        )
    examples = len(frame)
    slice_counts = _slice_counts(frame, task)  # examples per slice value, labelled or not
    labelled = frame[task.label].notna().to_numpy()  # None, NaN, pd.NA and NaT are missing
    positions = np.flatnonzero(labelled)  # each labelled row's place in the dataset
    if not labelled.all():
        frame = frame[labelled].reset_index(drop=True)
    out: dict[str, Any] = {
        "dataset": task.dataset,
        "examples": examples,
        "labelled": len(frame),
        "metrics": {},
        "slices": {},
    }
    if frame.empty:  # nothing to measure: no metric, said in the verdict's notes
        return out
    y = frame[task.label].to_numpy()
    if task.application:
        pred, proba, classes, values, fns = _run_application(task, frame, y)
    else:
        model = load_model(
            task.model_path,
            task.model_kind,
            task.model_allow_pickle,
            what=task.model_what,
            opt_in=task.model_opt_in,
        )
        features = _features(model, frame, task, task.features)
        check_frame(features, task.feature_kinds or {}, f"dataset {task.dataset}")
        classes = _classes(model, y, task)
        y = _as_classes(y, classes)
        pred, proba = predict(model, features, task.dataset)
        check_against_labels(pred, y, f"dataset {task.dataset}", task.label)
        task_kind = "classification" if len(classes) else "regression"
        fns = m.resolve(task.metric_names, task_kind, task.custom)
        values = m.compute(fns, y, pred, proba, classes)
    out["metrics"] = values
    named = [f"row {i}" for i in positions]
    unsure = [n for n in _not_finite(values, y, pred, named) if n]
    if unsure:  # a metric that is not a number says why (the evaluator notes it)
        out["not_finite"] = unsure
    out["slices"] = _slices(frame, task, fns, y, pred, proba, classes, slice_counts)
    if len(classes):
        out["confusion"] = m.confusion(y, pred, classes)
        out["calibration"] = m.calibration(y, proba, classes)
    if task.baseline_path and task.baseline_kind:
        from rung.evaluation.bootstrap import paired_deltas

        base = load_model(
            task.baseline_path,
            task.baseline_kind,
            task.baseline_allow_pickle,
            what=task.baseline_what,
            opt_in=task.baseline_opt_in,
        )
        base_features = _features(base, frame, task, task.baseline_features)
        base_pred, base_proba = predict(base, base_features, task.dataset)
        check_against_labels(base_pred, y, f"dataset {task.dataset}", task.label)
        numeric = [k for k, v in values.items() if isinstance(v, int | float)]
        out["baseline_metrics"] = m.compute(fns, y, base_pred, base_proba, classes)
        out["deltas"] = paired_deltas(
            y, pred, base_pred, proba, base_proba, classes, fns, numeric, task.margins
        )
    return out


def _not_finite(
    values: dict[str, Any], y: np.ndarray, pred: np.ndarray, rows: list[str]
) -> list[str | None]:
    """A note per numeric regression metric of ``values`` that is not finite, naming the row."""
    from rung.core.numbers import not_finite

    if y.dtype.kind not in "biuf" or pred.dtype.kind not in "biuf":
        return []
    return [not_finite(name, value, y, pred, rows) for name, value in values.items()]


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
            keep = frame[step.label].notna().to_numpy()  # its own unlabelled rows left out
            if not keep.any():
                continue
            yc = frame[step.label].to_numpy()[keep]
            pc = out[step.name].to_numpy()[keep]
            own_proba = probas.get(step.name)
            own_classes = getattr(model, "classes_", None)
            cc = list(own_classes) if own_classes is not None else _infer_classes(yc, pc)
            yc = _as_classes(yc, cc)
            cfns = m.resolve(None, "classification" if len(cc) else "regression")
            own = m.compute(cfns, yc, pc, None if own_proba is None else own_proba[keep], cc)
            values.update({f"{step.name}.{k}": v for k, v in own.items()})
    return pred, probas.get(last.name), classes, values, list(fns)


def _as_classes(y: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    """Labels read as floats only because some were missing (a CSV column of 0/1 with blanks
    is read as 0.0/1.0) back to the model's integer classes, so that they print as classes."""
    if (
        len(classes)
        and y.dtype.kind == "f"
        and np.asarray(classes).dtype.kind in "iu"
        and np.all(np.mod(y, 1) == 0)
    ):
        return y.astype(np.asarray(classes).dtype)
    return y


def _infer_classes(y: np.ndarray, pred: np.ndarray) -> list[Any]:
    """Labels that are not floats are classes: the sorted union of truth and predictions."""
    if y.dtype.kind == "f":
        return []
    return sorted(set(y.tolist()) | set(pred.tolist()), key=str)


def _features(model: Any, frame: Any, task: Task, known: Sequence[str] | None = None) -> Any:
    """The model's input columns of ``frame``, selected by name: the model's own names, else
    ``known`` (the order stated at registration). A model fitted on an array
    (``n_features_in_`` without ``feature_names_in_``) whose order nobody stated is refused:
    feeding columns by position scores silently wrong when the step fitted on another order.
    A model with neither (a plain predictor) is refused the same way, as `rung predict` and
    the service refuse it: one rule for a model's input everywhere (docs/columns.md)."""
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
    expected = getattr(model, "n_features_in_", None)
    shape = f" on {expected} column(s)" if expected is not None else ""
    # the rule of `rung predict` and the service (rung.registry.models.require_signature):
    # a model's input is its named columns; a plain predictor without names is refused too
    raise InvalidInput(
        f"the model was fitted without column names{shape}, so rung cannot know their order",
        "fit it on a DataFrame (scikit-learn then keeps feature_names_in_), or register it"
        " with the training order stated (`rung model register RUN --name NAME"
        " --features a,b,c`) and evaluate NAME@VERSION",
    )


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
            end = min(start + CHUNK, len(features))
            rows = f"on dataset {dataset}, rows {start} to {end - 1}"
            preds.append(checked(model.predict(chunk), len(chunk), rows))
            if has_proba:
                probas.append(np.asarray(model.predict_proba(chunk)))
        except RungError:
            raise
        except Exception as exc:
            end = min(start + CHUNK, len(features))
            raise model_raised(exc, f"on dataset {dataset}, rows {start} to {end - 1}") from exc
    proba = np.concatenate(probas) if probas else None
    return np.concatenate(preds), proba


def _slice_keys(frame: Any, task: Task, spec: str | Callable[[Any], Any]) -> np.ndarray:
    if isinstance(spec, str):
        if spec not in frame.columns:
            raise InvalidInput(
                f"dataset {task.dataset} has no column {spec!r} to slice by",
                did_you_mean(
                    spec, map(str, frame.columns), "slice by one of its columns, or pass a function"
                ),
            )
        return np.asarray(frame[spec].to_numpy()).astype(str)
    return np.asarray(spec(frame)).astype(str)


def _slice_counts(frame: Any, task: Task) -> dict[str, dict[str, int]]:
    """Examples per value of each slice, over every row (labelled or not)."""
    out: dict[str, dict[str, int]] = {}
    for name, spec in task.slices.items():
        values, counts = np.unique(_slice_keys(frame, task, spec), return_counts=True)
        out[name] = {str(v): int(c) for v, c in zip(values, counts, strict=True)}
    return out


def _slices(
    frame: Any,
    task: Task,
    fns: Sequence[tuple[str, m.MetricFn]],
    y: np.ndarray,
    pred: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[Any],
    examples: dict[str, dict[str, int]],
) -> dict[str, dict[str, dict[str, Any]]]:
    """Metrics per value of each slice, on its labelled rows (``frame``); ``examples``: the
    rows of each value, labelled or not. The most frequent ``MAX_SLICE_VALUES`` values."""
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for name, spec in task.slices.items():
        keys = _slice_keys(frame, task, spec)
        counts = examples[name]
        per: dict[str, dict[str, Any]] = {}
        for value in sorted(counts, key=lambda v: -counts[v])[:MAX_SLICE_VALUES]:
            mask = keys == value
            sub = (
                m.compute(fns, y[mask], pred[mask], None if proba is None else proba[mask], classes)
                if mask.any()
                else {}
            )
            per[value] = {"examples": counts[value], "labelled": int(mask.sum()), **sub}
        result[name] = per
    return result
