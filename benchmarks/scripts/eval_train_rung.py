"""Benchmark (d), the model: a one-step rung pipeline fitting a logistic regression.

Copied into the benchmark's `rung init` workspace, after `rung data add train.parquet
--name train`, and run there with `rung run eval_train_rung.py:train --json`. The fitted
estimator is the run's model artifact (skops): `rung eval RUN_ID` evaluates it, and the same
object, exported with pickle, is what MLflow logs and evaluates.
"""

from sklearn.linear_model import LogisticRegression

import rung
from rung import pipeline, step


@step
def fit(frame, C: float = 1.0):
    features = [c for c in frame.columns if c != "y"]
    return LogisticRegression(C=C, max_iter=1000).fit(frame[features], frame["y"])


@pipeline
def train(C: float = 1.0):
    return fit(rung.dataset("train@1"), C=C)
