"""The service's prediction path gives exactly what the model's own methods give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model_project import frame
from rung.serving.predictor import compute, ready

SIGNATURE = {
    "features": ["a", "color"],
    "columns": {
        "a": {"kind": "numeric"},
        "color": {"kind": "categorical", "categories": ["blue", "red"]},
    },
}

pytest.importorskip("sklearn")


def _models() -> list[object]:
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.svm import SVC

    def prep() -> object:
        return make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["color"]), (StandardScaler(), ["a"])
        )

    return [
        make_pipeline(prep(), LogisticRegression()),
        make_pipeline(
            prep(), StandardScaler(with_mean=False), RandomForestClassifier(5, random_state=0)
        ),
        make_pipeline(prep(), SVC()),  # no predict_proba
        make_pipeline(prep(), LinearRegression()),  # a regressor: numbers, no probabilities
    ]


@pytest.mark.parametrize("index", range(4))
def test_one_pass_through_the_transformers_equals_the_pipeline(index: int) -> None:
    train, new = frame(300, 1), frame(50, 2)
    model = _models()[index]
    y = train["y"] if index < 3 else train["a"] * 2.0
    model.fit(train[["a", "color"]], y)  # type: ignore[attr-defined]
    loaded = ready("m", 1, model, SIGNATURE)
    assert loaded.head is not None  # the Pipeline was split
    x = new[["a", "color"]]
    out = compute(loaded, x)
    assert out["predictions"] == list(model.predict(x))  # type: ignore[attr-defined]
    if hasattr(model, "predict_proba"):
        expected = model.predict_proba(x)
        got = np.array([[row[str(c)] for c in model.classes_] for row in out["probabilities"]])
        np.testing.assert_array_equal(got, expected)
    else:
        assert "probabilities" not in out


def test_a_bare_estimator_is_not_split() -> None:
    from sklearn.linear_model import LogisticRegression

    train = frame(100, 3)
    model = LogisticRegression().fit(train[["a"]], train["y"])
    loaded = ready("m", 1, model, {"features": ["a"], "columns": {"a": {"kind": "numeric"}}})
    assert loaded.head is None and loaded.final is model
    x = pd.DataFrame({"a": [0.5, -1.0]})
    assert compute(loaded, x)["predictions"] == list(model.predict(x))
