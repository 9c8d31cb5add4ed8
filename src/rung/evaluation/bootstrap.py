"""Paired bootstrap confidence intervals for metric deltas, on the same examples.

Both models are scored on the same resampled rows each round, so the interval describes the
difference, not two independent noises. Confusion-matrix metrics (accuracy, per-class and
averaged precision/recall/F1) and MAE/RMSE are vectorised; other numeric metrics use their
function on fewer rounds.

Each difference also carries two one-sided p-values (:func:`tail_p`), which the promotion
policy (:mod:`rung.core.policy`) tests with Holm's procedure: ``p_better`` against "the new
model is no better" and ``p_worse`` against "it is not worse by more than ``margin``" (0 when
no margin was given for the metric).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rung.core.numbers import quiet
from rung.evaluation.metrics import MetricFn, class_codes, class_label, compute, higher_is_better

if TYPE_CHECKING:
    from rung.core.policy import Margin

ROUNDS = 1000
SLOW_ROUNDS = 200
SEED = 20260101


@quiet()  # a fresh context each call (contextlib.ContextDecorator)
def paired_deltas(
    y: np.ndarray,
    pred_new: np.ndarray,
    pred_old: np.ndarray,
    proba_new: np.ndarray | None,
    proba_old: np.ndarray | None,
    classes: Sequence[Any],
    fns: Sequence[tuple[str, MetricFn]],
    names: Sequence[str],
    margins: Mapping[str, Margin] | None = None,
) -> dict[str, dict[str, Any]]:
    """For each metric name: the delta (new − old), its 95% interval, a reading, and the
    one-sided p-values ``p_better`` and ``p_worse`` (:func:`tail_p`); ``p_worse`` is at the
    metric's margin from ``margins`` (in the metric's units, a relative one taken of the old
    model's value; recorded as ``margin``), else at 0.

    Computed under :func:`rung.core.numbers.quiet`: extreme labels (``1e308``) give finite
    MAE and RMSE differences (scaled by the largest error) and never a numpy warning; a
    metric whose values are not finite has no interval and is left out."""
    rng = np.random.default_rng(SEED)
    n = len(y)
    idx = rng.integers(0, n, size=(ROUNDS, n))
    fast = _fast_metrics(y, pred_new, pred_old, classes, idx)
    fast.update(_probability_metrics(y, proba_new, proba_old, classes, idx))
    base_new = compute(fns, y, pred_new, proba_new, classes)
    base_old = compute(fns, y, pred_old, proba_old, classes)
    slow_idx = idx[:SLOW_ROUNDS]

    def samples_of(name: str) -> np.ndarray | None:
        if name in fast:
            return fast[name]
        return _slow(name, fns, y, pred_new, pred_old, proba_new, proba_old, classes, slow_idx)

    return _summaries(names, base_new, base_old, samples_of, margins)


@quiet()
def two_sample_deltas(
    new: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    old: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    classes: Sequence[Any],
    fns: Sequence[tuple[str, MetricFn]],
    names: Sequence[str],
    margins: Mapping[str, Margin] | None = None,
) -> dict[str, dict[str, Any]]:
    """As :func:`paired_deltas`, for two models scored on **different** examples (a canary
    and the champion, each answering its own share of requests): ``new`` and ``old`` are
    each ``(labels, predictions, probabilities or None)``. Each round resamples each arm on
    its own (the two-sample bootstrap of a difference of statistics: Efron and Tibshirani
    1993, §16.2), so the interval carries both arms' noise; the p-values are read off the
    resampled differences exactly as for the paired bootstrap (:func:`tail_p`)."""
    (y_new, pred_new, proba_new), (y_old, pred_old, proba_old) = new, old
    rng = np.random.default_rng(SEED)
    idx_new = rng.integers(0, len(y_new), size=(ROUNDS, len(y_new)))
    idx_old = rng.integers(0, len(y_old), size=(ROUNDS, len(y_old)))
    scale = 1.0
    if not len(classes):
        scale = max(
            _scale(pred_new.astype(float) - y_new.astype(float)),
            _scale(pred_old.astype(float) - y_old.astype(float)),
        )
    arm_new = _arm(y_new, pred_new, proba_new, classes, idx_new, scale)
    arm_old = _arm(y_old, pred_old, proba_old, classes, idx_old, scale)
    fast = {k: arm_new[k] - arm_old[k] for k in arm_new if k in arm_old}
    base_new = compute(fns, y_new, pred_new, proba_new, classes)
    base_old = compute(fns, y_old, pred_old, proba_old, classes)

    def samples_of(name: str) -> np.ndarray | None:
        if name in fast:
            return fast[name]
        fn = next((f for n, f in fns if n == name), None)
        if fn is None:
            return None
        deltas = []
        for rn, ro in zip(idx_new[:SLOW_ROUNDS], idx_old[:SLOW_ROUNDS], strict=True):
            a = fn(y_new[rn], pred_new[rn], None if proba_new is None else proba_new[rn], classes)
            b = fn(y_old[ro], pred_old[ro], None if proba_old is None else proba_old[ro], classes)
            if isinstance(a, int | float) and isinstance(b, int | float):
                deltas.append(float(a) - float(b))
        return np.array(deltas) if deltas else None

    return _summaries(names, base_new, base_old, samples_of, margins)


def _arm(
    y: np.ndarray,
    p: np.ndarray,
    q: np.ndarray | None,
    classes: Sequence[Any],
    idx: np.ndarray,
    scale: float,
) -> dict[str, np.ndarray]:
    """One model's metrics on each resample ``idx`` of its own examples (vectorised)."""
    if not len(classes):
        err = (p.astype(float) - y.astype(float)) / scale
        return {
            "mae": np.abs(err[idx]).mean(axis=1) * scale,
            "rmse": np.sqrt((err[idx] ** 2).mean(axis=1)) * scale,
        }
    labels = list(classes)
    yi = class_codes(y, labels)
    out = _confusion_stats(yi, class_codes(p, labels), idx, len(labels), labels)
    if q is not None and not (yi < 0).any():
        eps = np.finfo(float).eps
        loss = -np.log(np.clip(q[np.arange(len(y)), yi], eps, 1))
        out["log_loss"] = loss[idx].mean(axis=1)
        if len(labels) == 2:
            out["roc_auc"] = _auc(yi == 1, q[:, 1], idx)
    return out


def _summaries(
    names: Sequence[str],
    base_new: Mapping[str, Any],
    base_old: Mapping[str, Any],
    samples_of: Any,
    margins: Mapping[str, Margin] | None,
) -> dict[str, dict[str, Any]]:
    """Each metric's delta record from its values on the whole data and its resampled
    differences (``samples_of(name)``, None when it has none)."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        a, b = base_new.get(name), base_old.get(name)
        if not isinstance(a, int | float) or not isinstance(b, int | float):
            continue
        samples: np.ndarray | None = samples_of(name)
        if samples is None:
            continue
        samples = samples[~np.isnan(samples)] if samples.size else samples
        if not samples.size:  # no resample has a value (one labelled row, say)
            continue
        delta = float(a) - float(b)
        if not np.isfinite(delta):  # inf - inf: no difference to test (noted by the evaluator)
            continue
        # infinite samples (a MAPE on labels near 0) give infinite bounds, not a warning
        lo, hi = (float(v) for v in np.nanpercentile(samples, [2.5, 97.5]))
        if lo > 0 or hi < 0:  # the interval excludes zero
            reading = "better" if (delta > 0) == higher_is_better(name) else "worse"
        else:
            reading = "no significant difference"
        higher = higher_is_better(name)
        given = (margins or {}).get(name)
        margin = given.absolute(float(b)) if given is not None else 0.0
        out[name] = {
            "new": float(a),
            "old": float(b),
            "delta": delta,
            "low": lo,
            "high": hi,
            "reading": reading,
            "p_better": tail_p(samples, higher, 0.0, "better"),
            "p_worse": tail_p(samples, higher, margin, "worse"),
        }
        if given is not None:
            out[name]["margin"] = margin
    return out


def tail_p(samples: np.ndarray, higher: bool, margin: float, side: str) -> float:
    """A one-sided bootstrap p-value from the resampled differences ``samples`` (new − old).

    With Δ oriented so that positive is better (``higher``: the metric's direction):

    * ``side="better"`` tests H0: Δ ≤ 0 against "the new model is better": the p-value is
      the share of resampled Δ* ≤ 0;
    * ``side="worse"`` tests H0: Δ ≥ −``margin`` against "worse by more than the margin":
      the share of Δ* ≥ −margin. A difference inside the margin is never "worse".

    That share is where the percentile interval's one-sided bound crosses the boundary
    (B. Efron and R. Tibshirani, *An Introduction to the Bootstrap*, 1993, §15.4 and
    ch. 16: a test rejects at level α when the 1 − α percentile bound excludes the null),
    counted as ``(1 + #) / (B + 1)`` so that it is never 0 (A. C. Davison and D. V. Hinkley,
    *Bootstrap Methods and their Application*, 1997, eq. 4.11). NaN resamples are left out;
    none left: 1.0. ``margin`` is in the metric's units, >= 0."""
    oriented = samples[~np.isnan(samples)] * (1.0 if higher else -1.0)
    if side == "better":
        count = int((oriented <= 0).sum())
    elif side == "worse":
        count = int((oriented >= -margin).sum())
    else:
        raise ValueError(f"side must be 'better' or 'worse', got {side!r}")
    return float(min(1.0, (1 + count) / (len(oriented) + 1)))


def _fast_metrics(
    y: np.ndarray, pn: np.ndarray, po: np.ndarray, classes: Sequence[Any], idx: np.ndarray
) -> dict[str, np.ndarray]:
    if not len(classes):  # regression: scaled as rung.core.numbers.regression is
        en = pn.astype(float) - y.astype(float)
        eo = po.astype(float) - y.astype(float)
        scale = max(_scale(en), _scale(eo))
        err_n, err_o = (en / scale)[idx], (eo / scale)[idx]
        return {
            "mae": (np.abs(err_n).mean(axis=1) - np.abs(err_o).mean(axis=1)) * scale,
            "rmse": (np.sqrt((err_n**2).mean(axis=1)) - np.sqrt((err_o**2).mean(axis=1))) * scale,
        }
    labels = list(classes)
    k = len(labels)
    yi = class_codes(y, labels)
    stats_n = _confusion_stats(yi, class_codes(pn, labels), idx, k, labels)
    stats_o = _confusion_stats(yi, class_codes(po, labels), idx, k, labels)
    return {name: stats_n[name] - stats_o[name] for name in stats_n}


def _scale(errors: np.ndarray) -> float:
    """The largest finite error in magnitude (1.0 when none is above 0)."""
    finite = np.abs(errors[np.isfinite(errors)])
    top = float(finite.max()) if finite.size else 0.0
    return top if top > 0 else 1.0


def _probability_metrics(
    y: np.ndarray,
    qn: np.ndarray | None,
    qo: np.ndarray | None,
    classes: Sequence[Any],
    idx: np.ndarray,
) -> dict[str, np.ndarray]:
    """Log loss (any number of classes) and binary ROC AUC, vectorised over the rounds."""
    if qn is None or qo is None or not len(classes):
        return {}
    yi = class_codes(y, classes)
    if (yi < 0).any():  # a label outside the model's classes: no probability to score
        return {}
    eps = np.finfo(float).eps
    rows = np.arange(len(y))
    loss_n = -np.log(np.clip(qn[rows, yi], eps, 1))
    loss_o = -np.log(np.clip(qo[rows, yi], eps, 1))
    out = {"log_loss": loss_n[idx].mean(axis=1) - loss_o[idx].mean(axis=1)}
    if len(classes) == 2:
        auc_n, auc_o = _auc(yi == 1, qn[:, 1], idx), _auc(yi == 1, qo[:, 1], idx)
        ok = ~(np.isnan(auc_n) | np.isnan(auc_o))
        out["roc_auc"] = (auc_n - auc_o)[ok]
    return out


def _auc(positive: np.ndarray, score: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """ROC AUC per round by the Mann–Whitney statistic (ties count half, as in sklearn)."""
    from scipy.stats import rankdata

    pos = positive[idx]
    ranks = rankdata(score[idx], axis=1)
    n_pos = pos.sum(axis=1)
    n_neg = idx.shape[1] - n_pos
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = ((ranks * pos).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def _confusion_stats(
    yi: np.ndarray, pi: np.ndarray, idx: np.ndarray, k: int, labels: Sequence[Any]
) -> dict[str, np.ndarray]:
    rounds = idx.shape[0]
    valid = (yi >= 0) & (pi >= 0)
    cells = np.where(valid, yi * k + pi, k * k)  # unknown labels go to an extra cell
    counts = np.zeros((rounds, k * k + 1))
    for r in range(rounds):
        counts[r] = np.bincount(cells[idx[r]], minlength=k * k + 1)
    cm = counts[:, : k * k].reshape(rounds, k, k)
    n = idx.shape[1]
    tp = np.einsum("rii->ri", cm)
    predicted = cm.sum(axis=1)
    actual = cm.sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    weights = actual / np.maximum(actual.sum(axis=1, keepdims=True), 1)
    out = {"accuracy": tp.sum(axis=1) / n}
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        for j, c in enumerate(labels):
            out[f"{name}_{class_label(c)}"] = values[:, j]
        out[f"{name}_macro"] = values.mean(axis=1)
        out[f"{name}_weighted"] = (values * weights).sum(axis=1)
    return out


def _slow(
    name: str,
    fns: Sequence[tuple[str, MetricFn]],
    y: np.ndarray,
    pn: np.ndarray,
    po: np.ndarray,
    qn: np.ndarray | None,
    qo: np.ndarray | None,
    classes: Sequence[Any],
    idx: np.ndarray,
) -> np.ndarray | None:
    fn = next((f for n, f in fns if n == name), None)
    if fn is None:
        return None
    deltas = []
    for rows in idx:
        a = fn(y[rows], pn[rows], None if qn is None else qn[rows], classes)
        b = fn(y[rows], po[rows], None if qo is None else qo[rows], classes)
        if isinstance(a, int | float) and isinstance(b, int | float):
            deltas.append(float(a) - float(b))
    return np.array(deltas) if deltas else None
