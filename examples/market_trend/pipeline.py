"""The market-trend warning system as a rung pipeline.

Warn an investor before they buy an asset that the model predicts is in a downward trend.
Business acceptance criterion, agreed before modelling: precision on "down" of at least 0.75
(of the warnings shown, at least three in four must be right).

    rung data add prices.csv --name sp500
    rung run examples/market_trend/pipeline.py:train -p horizon=10

rung imports this file with its folder on ``sys.path``, hence the plain ``import features``.
"""

from __future__ import annotations

import features
import pandas as pd
from sklearn.metrics import accuracy_score, precision_score, recall_score

import rung
from rung import pipeline, step


@step
def make_windows(prices: pd.DataFrame, window: int = 20, horizon: int = 20) -> pd.DataFrame:
    """Daily rows of window features and the label `trend`: "down" or "up" in `horizon` days."""
    return features.build_windows(prices, window, horizon)


@step(outputs=("train", "test"))
def split(
    windows: pd.DataFrame, test_start: str = "2007-01-01"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train before `test_start` (labels included), test from it on: no look-ahead."""
    return features.split_by_date(windows, test_start)


@step
def train_model(train: pd.DataFrame, C: float = 1.0):  # -> sklearn Pipeline
    """Fit the classifier on the training period."""
    model = features.make_model(C)
    model.fit(train[features.feature_columns(train)], train["trend"])
    rung.log_metric("n_train", len(train))
    rung.log_metric("train_base_rate_down", float((train["trend"] == features.DOWN).mean()))
    return model


@step
def evaluate(model, test: pd.DataFrame, min_precision_down: float = 0.75) -> dict:
    """Score the test period with the default decision rule and check the business criterion.

    ``rung eval`` does the same on several datasets at once (see ``eval_sets.py``); this step
    keeps the test period's figures in the run itself, and breaks them down by year.
    """
    down = features.DOWN
    y = test["trend"].to_numpy()
    pred = model.predict(test[features.feature_columns(test)])
    metrics = {
        "precision_down": float(precision_score(y, pred, pos_label=down, zero_division=0)),
        "recall_down": float(recall_score(y, pred, pos_label=down, zero_division=0)),
        "accuracy": float(accuracy_score(y, pred)),
        "base_rate_down": float((y == down).mean()),  # precision of warning on every day
        "warning_rate": float((pred == down).mean()),
        "n_test": len(y),
        "support_down": int((y == down).sum()),
        "n_warnings": int((pred == down).sum()),
    }
    for key, value in metrics.items():
        rung.log_metric(key, value)
    daily = pd.DataFrame({"year": test["year"], "down": y == down, "warn": pred == down})
    return {
        **metrics,
        "test_period": [str(test["date"].min().date()), str(test["date"].max().date())],
        "by_year": {str(year): _year_summary(g) for year, g in daily.groupby("year")},
        "criterion": {
            "metric": "precision_down",
            "bound": min_precision_down,
            "met": metrics["precision_down"] >= min_precision_down,
        },
    }


def _year_summary(g: pd.DataFrame) -> dict:
    warned = g["warn"]
    right = int((g["down"] & warned).sum())
    return {
        "days": len(g),
        "base_rate_down": round(float(g["down"].mean()), 4),
        "warnings": int(warned.sum()),
        "precision_down": round(right / int(warned.sum()), 4) if warned.any() else None,
    }


@pipeline
def train(window: int = 20, horizon: int = 20, test_start: str = "2007-01-01", C: float = 1.0):
    prices = rung.dataset("sp500")  # the latest version of the dataset named sp500
    windows = make_windows(prices, window=window, horizon=horizon)
    tr, te = split(windows, test_start=test_start)
    model = train_model(tr, C=C)
    return model, evaluate(model, te)
