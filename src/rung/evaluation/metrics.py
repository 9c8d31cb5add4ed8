"""Built-in metrics and user-defined ones.

A metric is a function ``f(y_true, y_pred, proba, classes) -> value`` where ``proba`` is the
matrix of class probabilities (or None) and ``classes`` the model's class labels. A value is a
number, or anything else (a string such as the most frequent error class), which Table 2
shows as ``-`` in its aggregate rows. A function may also return a dict of several named
values (per-class metrics do).

Classification: accuracy, precision/recall/F1 per class (``precision_<class>``) and averaged
(``_macro``, ``_weighted``), ROC AUC, log loss, the confusion matrix (kept apart from the
table), and ``top_error`` (the most frequent (true → predicted) confusion).
Regression: MAE, RMSE, R², MAPE — MAE, RMSE and R² in float64 scaled by the largest
magnitude involved (:func:`rung.core.numbers.regression`), so that labels such as ``1e308``
give finite values; a value that is still not finite is explained by :func:`rung.core.numbers.not_finite`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rung.core.errors import InvalidInput
from rung.core.numbers import quiet, regression
from rung.core.suggest import did_you_mean

MetricFn = Callable[[np.ndarray, np.ndarray, "np.ndarray | None", Sequence[Any]], Any]

# Metrics where a lower value is better; everything else counts higher as better.
LOWER_IS_BETTER = {"log_loss", "mae", "rmse", "mape"}


@dataclass(frozen=True)
class Metric:
    name: str
    fn: MetricFn
    task: str  # classification | regression | any


def class_label(c: Any) -> str:
    return str(c).replace(" ", "_")


def class_codes(values: np.ndarray, labels: Sequence[Any]) -> np.ndarray:
    """Each value's index in ``labels`` (-1 when absent), vectorised through pandas."""
    import pandas as pd

    return np.asarray(pd.Categorical(values, categories=list(labels)).codes)


def _per_class(kind: str) -> MetricFn:
    """Precision, recall or F1 per class and averaged, from one confusion count.

    Matches scikit-learn's ``precision_recall_fscore_support`` with ``zero_division=0``
    (a test checks it) at a fraction of the cost, which matters for slices and bootstraps.
    """

    def fn(
        y: np.ndarray, p: np.ndarray, proba: np.ndarray | None, classes: Sequence[Any]
    ) -> dict[str, float]:
        labels = (
            list(classes) if len(classes) else sorted(set(y.tolist()) | set(p.tolist()), key=str)
        )
        k = len(labels)
        yi, pi = class_codes(y, labels), class_codes(p, labels)
        tp = np.bincount(yi[(yi == pi) & (yi >= 0)], minlength=k)[:k].astype(float)
        predicted = np.bincount(pi[pi >= 0], minlength=k)[:k].astype(float)
        actual = np.bincount(yi[yi >= 0], minlength=k)[:k].astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(predicted > 0, tp / predicted, 0.0)
            recall = np.where(actual > 0, tp / actual, 0.0)
            f1 = np.where(
                precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0
            )
        values = {"precision": precision, "recall": recall, "f1": f1}[kind]
        out = {f"{kind}_{class_label(c)}": float(v) for c, v in zip(labels, values, strict=True)}
        out[f"{kind}_macro"] = float(values.mean()) if k else 0.0
        out[f"{kind}_weighted"] = (
            float((values * actual).sum() / actual.sum()) if actual.sum() else 0.0
        )
        return out

    return fn


def _accuracy(
    y: np.ndarray, p: np.ndarray, proba: np.ndarray | None, classes: Sequence[Any]
) -> float:
    return float(np.mean(y == p)) if len(y) else float("nan")


def _roc_auc(y: np.ndarray, p: np.ndarray, proba: np.ndarray | None, classes: Sequence[Any]) -> Any:
    if proba is None or len(set(y.tolist())) < 2:
        return None  # not defined: no probabilities, or one class only
    if proba.shape[1] == 2:  # Mann-Whitney statistic; ties count half, as in scikit-learn
        from scipy.stats import rankdata

        positive = y == classes[1]
        ranks = rankdata(proba[:, 1])
        n_pos = int(positive.sum())
        n_neg = len(y) - n_pos
        return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, proba, multi_class="ovr", labels=list(classes)))


def _log_loss(
    y: np.ndarray, p: np.ndarray, proba: np.ndarray | None, classes: Sequence[Any]
) -> Any:
    if proba is None:
        return None
    codes = class_codes(y, classes)
    if (codes < 0).any():
        return None
    eps = np.finfo(proba.dtype if proba.dtype.kind == "f" else float).eps
    rows = proba / proba.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(np.clip(rows[np.arange(len(y)), codes], eps, 1 - eps))))


def _top_error(
    y: np.ndarray, p: np.ndarray, proba: np.ndarray | None, classes: Sequence[Any]
) -> str:
    wrong = y != p
    if not wrong.any():
        return "none"
    pairs, counts = np.unique(
        np.stack([y[wrong].astype(str), p[wrong].astype(str)]), axis=1, return_counts=True
    )
    i = int(np.argmax(counts))
    return f"{pairs[0][i]}→{pairs[1][i]}"


def _mae(y: np.ndarray, p: np.ndarray, proba: np.ndarray | None, classes: Sequence[Any]) -> Any:
    return regression(y, p)["mae"]


def _rmse(y: np.ndarray, p: np.ndarray, proba: np.ndarray | None, classes: Sequence[Any]) -> Any:
    return regression(y, p)["rmse"]


def _r2(y: np.ndarray, p: np.ndarray, proba: np.ndarray | None, classes: Sequence[Any]) -> Any:
    return regression(y, p)["r2"]


def _mape(y: np.ndarray, p: np.ndarray, proba: np.ndarray | None, classes: Sequence[Any]) -> Any:
    yf = y.astype(float)
    nz = yf != 0
    if not nz.any():
        return None
    with np.errstate(over="ignore"):  # a label near 0 (1e-320): an infinite MAPE, not a crash
        return float(np.mean(np.abs((yf[nz] - p.astype(float)[nz]) / yf[nz])))


BUILTIN: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", _accuracy, "classification"),
        Metric("precision", _per_class("precision"), "classification"),
        Metric("recall", _per_class("recall"), "classification"),
        Metric("f1", _per_class("f1"), "classification"),
        Metric("roc_auc", _roc_auc, "classification"),
        Metric("log_loss", _log_loss, "classification"),
        Metric("top_error", _top_error, "classification"),
        Metric("mae", _mae, "regression"),
        Metric("rmse", _rmse, "regression"),
        Metric("r2", _r2, "regression"),
        Metric("mape", _mape, "regression"),
    )
}
DEFAULTS = {
    "classification": ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "top_error"],
    "regression": ["mae", "rmse", "r2", "mape"],
}


def resolve(
    names: Sequence[str] | None, task: str, custom: dict[str, MetricFn] | None = None
) -> list[tuple[str, MetricFn]]:
    """The metric functions to compute, by name; unknown names are an error listing the known."""
    custom = custom or {}
    chosen = list(names) if names else DEFAULTS[task] + list(custom)
    out: list[tuple[str, MetricFn]] = []
    for name in chosen:
        base = name.split("_", 1)[0]
        if name in custom:
            out.append((name, custom[name]))
        elif name in BUILTIN:
            out.append((name, BUILTIN[name].fn))
        elif base in ("precision", "recall", "f1") and "_" in name:
            out.append((name, _only(name, BUILTIN[base].fn)))  # e.g. precision_down, f1_macro
        else:
            known = ", ".join(sorted([*BUILTIN, *custom]))
            rest = name.split("_", 1)[1] if "_" in name else None
            per_class = [f"{b}_{rest}" for b in ("precision", "recall", "f1")] if rest else []
            raise InvalidInput(
                f"unknown metric {name!r}",
                did_you_mean(
                    name,
                    [*BUILTIN, *custom, *per_class],
                    f"known metrics: {known}, and per class or average: precision_<class>,"
                    " recall_macro, f1_weighted, …",
                ),
            )
    return out


def _only(name: str, fn: MetricFn) -> MetricFn:
    """One value out of a per-class metric (None when that class does not exist)."""

    def pick(y: np.ndarray, p: np.ndarray, proba: np.ndarray | None, classes: Sequence[Any]) -> Any:
        return fn(y, p, proba, classes).get(name)

    return pick


def compute(
    fns: Sequence[tuple[str, MetricFn]],
    y: np.ndarray,
    p: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[Any],
) -> dict[str, Any]:
    """Every metric's value(s), flattened to one dict. Computed under
    :func:`rung.core.numbers.quiet`: extreme values give ``inf`` or ``nan`` (explained by
    :func:`rung.core.numbers.not_finite`), never a numpy warning or an exception."""
    values: dict[str, Any] = {}
    for name, fn in fns:
        with quiet():
            value = fn(y, p, proba, classes)
        if isinstance(value, dict):
            values.update(value)
        elif isinstance(value, np.generic):
            values[name] = value.item()
        else:
            values[name] = value
    return values


def higher_is_better(name: str) -> bool:
    return name not in LOWER_IS_BETTER


def confusion(y: np.ndarray, p: np.ndarray, classes: Sequence[Any]) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix

    labels = list(classes)
    matrix = confusion_matrix(y, p, labels=labels)
    return {"labels": [str(c) for c in labels], "matrix": matrix.tolist()}


def calibration(
    y: np.ndarray, proba: np.ndarray | None, classes: Sequence[Any], bins: int = 10
) -> dict[str, Any] | None:
    """Reliability curve for binary models: mean predicted probability vs observed rate."""
    if proba is None or proba.shape[1] != 2:
        return None
    positive = classes[1]
    score = proba[:, 1]
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(score, edges) - 1, 0, bins - 1)
    points = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            points.append(
                {
                    "predicted": float(score[mask].mean()),
                    "observed": float(np.mean(y[mask] == positive)),
                    "count": int(mask.sum()),
                }
            )
    return {"positive": str(positive), "points": points}
