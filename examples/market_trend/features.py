"""Windows, labels, the time split and the model of the market-trend example.

Plain functions on DataFrames, so that they can be tested and read without rung. The steps in
``pipeline.py`` call them; rung fingerprints them with the steps, so editing one re-executes
exactly the steps that use it.

Everything a row knows about date ``t`` comes from closes up to and including ``t``; only its
label looks ``horizon`` trading days ahead. The features use closes only, and only in relative
terms (returns, volatilities, distances), so that the same model applies to any index: the
S&P 500 it is trained on and the other indices it is evaluated on (``eval_sets.py``), whatever
their level and whether or not they publish volumes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

NOT_FEATURES = ("date", "year", "label_date", "trend")
DOWN, UP = "down", "up"  # the label's values, hence the model's classes


def build_windows(prices: pd.DataFrame, window: int, horizon: int) -> pd.DataFrame:
    """One row per trading day ``t``: features of the last ``window`` days, and the label.

    ``prices`` has the columns ``Date`` and ``Close``, one row per trading day. ``trend`` is
    "down" when the close ``horizon`` trading days after ``t`` is below the close of ``t``,
    else "up"; ``label_date`` is that later day, the first moment the label is known. ``year``
    is the year of ``t``, to slice evaluations by. Days without a full window behind them or a
    label ahead of them are dropped.
    """
    if window < 5 or horizon < 1:
        raise ValueError(
            f"need window >= 5 and horizon >= 1, got window={window}, horizon={horizon}"
        )
    prices = prices.sort_values("Date").reset_index(drop=True)
    date = pd.to_datetime(prices["Date"])
    log_close = np.log(prices["Close"].astype(float))
    frame = pd.DataFrame(
        {
            "date": date,
            "year": date.dt.year,
            "label_date": date.shift(-horizon),
            **_features(prices, window),
        }
    )
    frame["trend"] = np.where(log_close.shift(-horizon) < log_close, DOWN, UP)
    frame = frame.iloc[window : len(frame) - horizon]  # a full window behind, a label ahead
    frame = frame.replace([np.inf, -np.inf], np.nan).dropna()
    return frame.reset_index(drop=True)


def latest_features(prices: pd.DataFrame, window: int) -> pd.DataFrame:
    """The features of every trading day with a full window behind it, labels or not.

    What an application computes to ask the model about today: the same code as the training
    rows (so serving cannot drift from training), indexed by date, without the label and
    hence without dropping the last ``horizon`` days.
    """
    prices = prices.sort_values("Date").reset_index(drop=True)
    frame = pd.DataFrame(_features(prices, window))
    frame.index = pd.DatetimeIndex(pd.to_datetime(prices["Date"]), name="date")
    frame = frame.iloc[window:].replace([np.inf, -np.inf], np.nan).dropna()
    return frame


def _features(prices: pd.DataFrame, window: int) -> dict[str, pd.Series]:
    """The features of each day from the closes up to and including it, by name."""
    log_close = np.log(prices["Close"].astype(float))
    ret = log_close.diff()
    vol = ret.rolling(window).std()
    features = {
        "ret_1": ret,
        "ret_5": log_close - log_close.shift(5),
        "ret_window": log_close - log_close.shift(window),
        "vol_window": vol,
        "vol_ratio": ret.rolling(5).std() / vol,
        "ma_distance": log_close - np.log(prices["Close"].rolling(window).mean()),
        "drawdown": log_close - log_close.rolling(window).max(),
        "up_fraction": (ret > 0).astype(float).rolling(window).mean(),
    }
    # the window's daily returns in units of its own volatility, most recent first
    for lag in range(window):
        features[f"z_{lag}"] = ret.shift(lag) / vol
    return features


def split_by_date(windows: pd.DataFrame, test_start: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on rows whose label was known before ``test_start``; test on rows from it on.

    ``test_start`` is a date, or ``last:N`` for "the last N labelled trading days" (what the
    continuous-training loop retrains with: every label known up to then, bar a recent
    test period). Rows dated before ``test_start`` whose label falls on or after it are
    dropped: their labels are made of test-period prices.
    """
    if str(test_start).startswith("last:"):
        n = int(str(test_start).removeprefix("last:"))
        if not 0 < n < len(windows):
            raise ValueError(f"test_start={test_start} needs 0 < N < {len(windows)} rows")
        start = pd.Timestamp(windows["date"].sort_values().iloc[-n])
    else:
        start = pd.Timestamp(test_start)
    train = windows[windows["label_date"] < start].reset_index(drop=True)
    test = windows[windows["date"] >= start].reset_index(drop=True)
    if train.empty or test.empty:
        raise ValueError(f"test_start={test_start} leaves an empty train or test set")
    return train, test


def feature_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in NOT_FEATURES]


def make_model(C: float) -> Pipeline:
    """Standardised features into a logistic regression: fast, stable, plain scikit-learn.

    Classes are weighted ("balanced") because "down" is the minority class (about 39% of
    training rows): unweighted, the model predicted "down" for 0.2% or less of a 1997-2006
    validation period carved out of the training data, that is it almost never warned. That
    check used no test-period data, and the decision threshold stays at the default 0.5.
    """
    from sklearn.linear_model import LogisticRegression  # here: the application imports this
    from sklearn.pipeline import Pipeline  # file for its features, never scikit-learn
    from sklearn.preprocessing import StandardScaler

    logreg = LogisticRegression(C=C, class_weight="balanced", max_iter=1000)
    return Pipeline([("scale", StandardScaler()), ("logreg", logreg)])
