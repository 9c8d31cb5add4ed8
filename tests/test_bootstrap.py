"""The paired bootstrap: vectorised metrics agree with scikit-learn on every resample."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, log_loss, precision_score, roc_auc_score

from rung.evaluation.bootstrap import _fast_metrics, _probability_metrics, paired_deltas
from rung.evaluation.metrics import resolve

CLASSES = ["down", "up"]


@settings(max_examples=20, deadline=None)
@given(st.integers(20, 300), st.integers(0, 2**31))
def test_vectorised_metrics_match_sklearn(n: int, seed: int) -> None:
    r = np.random.default_rng(seed)
    y = np.where(r.random(n) > 0.5, "up", "down")
    p_new, p_old = r.random(n), np.round(r.random(n), 1)
    q_new, q_old = np.c_[1 - p_new, p_new], np.c_[1 - p_old, p_old]
    pred_new = np.where(p_new > 0.5, "up", "down")
    pred_old = np.where(p_old > 0.5, "up", "down")
    idx = r.integers(0, n, size=(3, n))
    fast = _fast_metrics(y, pred_new, pred_old, CLASSES, idx)
    prob = _probability_metrics(y, q_new, q_old, CLASSES, idx)
    for k in range(3):
        rows = idx[k]
        yy = y[rows]

        def diff(fn, a, b, yy=yy, rows=rows):  # type: ignore[no-untyped-def]
            return fn(yy, a[rows]) - fn(yy, b[rows])

        assert np.isclose(
            fast["accuracy"][k], np.mean(yy == pred_new[rows]) - np.mean(yy == pred_old[rows])
        )
        assert np.isclose(
            fast["precision_down"][k],
            diff(
                lambda t, p: precision_score(t, p, pos_label="down", zero_division=0),
                pred_new,
                pred_old,
            ),
        )
        assert np.isclose(
            fast["f1_macro"][k],
            diff(lambda t, p: f1_score(t, p, average="macro", zero_division=0), pred_new, pred_old),
        )
        assert np.isclose(
            prob["log_loss"][k], diff(lambda t, q: log_loss(t, q, labels=CLASSES), q_new, q_old)
        )
        if len(set(yy)) == 2:
            auc = roc_auc_score(yy == "up", q_new[rows, 1]) - roc_auc_score(
                yy == "up", q_old[rows, 1]
            )
            assert np.isclose(prob["roc_auc"][k], auc)


def test_identical_models_show_no_difference_and_a_better_one_shows() -> None:
    r = np.random.default_rng(1)
    n = 400
    y = np.where(r.random(n) > 0.5, "up", "down")
    good = np.where(r.random(n) < 0.9, y, np.where(y == "up", "down", "up"))
    bad = np.where(r.random(n) < 0.6, y, np.where(y == "up", "down", "up"))
    fns = resolve(["accuracy"], "classification")
    same = paired_deltas(y, good, good, None, None, CLASSES, fns, ["accuracy"])
    assert same["accuracy"]["reading"] == "no significant difference"
    better = paired_deltas(y, good, bad, None, None, CLASSES, fns, ["accuracy"])["accuracy"]
    assert better["reading"] == "better" and better["low"] > 0
    worse = paired_deltas(y, bad, good, None, None, CLASSES, fns, ["accuracy"])["accuracy"]
    assert worse["reading"] == "worse" and worse["high"] < 0


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 200), st.integers(0, 2**31), st.integers(2, 4))
def test_per_class_metrics_match_sklearn(n: int, seed: int, k: int) -> None:
    from sklearn.metrics import precision_recall_fscore_support

    from rung.evaluation.metrics import compute

    r = np.random.default_rng(seed)
    labels = [f"c{i}" for i in range(k)]
    y = r.choice(labels, n)
    p = r.choice(labels[:-1] if k > 2 else labels, n)  # a class may never be predicted
    ours = compute(resolve(["precision", "recall", "f1"], "classification"), y, p, None, labels)
    for avg in (None, "macro", "weighted"):
        ref = precision_recall_fscore_support(y, p, labels=labels, average=avg, zero_division=0)
        for kind, values in zip(("precision", "recall", "f1"), ref[:3], strict=True):
            if avg is None:
                for c, v in zip(labels, values, strict=True):
                    assert np.isclose(ours[f"{kind}_{c}"], v)
            else:
                assert np.isclose(ours[f"{kind}_{avg}"], values)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 300), st.integers(0, 2**31))
def test_probability_metrics_match_sklearn(n: int, seed: int) -> None:
    from rung.evaluation.metrics import compute

    r = np.random.default_rng(seed)
    y = np.where(r.random(n) > 0.5, "up", "down")
    p = np.round(r.random(n), 2)
    q = np.c_[1 - p, p]
    ours = compute(resolve(["roc_auc", "log_loss"], "classification"), y, y, q, CLASSES)
    assert np.isclose(ours["log_loss"], log_loss(y, q, labels=CLASSES))
    if len(set(y)) == 2:
        assert np.isclose(ours["roc_auc"], roc_auc_score(y == "up", p))
    else:
        assert ours["roc_auc"] is None
