"""The README tour's pipeline: split the days at a date, fit a logistic regression on three
features, and score precision on "down" (the business criterion) on the later days."""

import rung
from rung import pipeline, step

FEATURES = ["ret_5", "ret_20", "vol_20"]


@step(outputs=("train", "test"))
def split(days, test_start: str = "2007-01-01"):
    return days[days["date"] < test_start], days[days["date"] >= test_start]


@step
def train_model(train, C: float = 1.0):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C).fit(train[FEATURES], train["trend"])  # stored with skops


@step
def evaluate(model, test):
    from sklearn.metrics import precision_score

    precision = precision_score(test["trend"], model.predict(test[FEATURES]), pos_label="down")
    rung.log_metric("precision_down", precision)  # metrics and params attach to the run
    return {"precision_down": precision}


@pipeline
def train(C: float = 1.0, test_start: str = "2007-01-01"):
    days = rung.dataset("sp500")  # the latest version; "sp500@1" pins one
    tr, te = split(days, test_start=test_start)
    model = train_model(tr, C=C)
    return model, evaluate(model, te)
