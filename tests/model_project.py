"""A small model project shared by the registry and serving tests: a training pipeline whose
model reads a numeric and a categorical feature, and data for it."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

TRAIN = textwrap.dedent(
    """
    import rung
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    @rung.step
    def fit(frame, C: float = 1.0):
        rung.log_metric("rows", len(frame))
        prep = make_column_transformer((OneHotEncoder(), ["color"]), remainder="passthrough")
        return make_pipeline(prep, LogisticRegression(C=C)).fit(frame[["a", "color"]], frame["y"])

    @rung.pipeline
    def train(C: float = 1.0):
        return fit(rung.dataset("train"), C=C)
    """
)


def frame(n: int, seed: int) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    a = r.normal(0, 1, n)
    color = r.choice(["red", "blue"], n)
    y = np.where(a + (color == "red") + r.normal(0, 0.5, n) > 0.5, "yes", "no")
    return pd.DataFrame({"a": a, "color": color, "y": y})
