"""A small model project shared by the registry and serving tests: a training pipeline whose
model reads a numeric and a categorical feature, and data for it."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterable
from typing import Any

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


def make_champion(root: Any) -> None:
    """A workspace at ``root`` with model ``trend`` version 1 (TRAIN on 200 rows of
    :func:`frame`) promoted to ``champion``."""
    from rung import Workspace

    with Workspace.init(root) as ws:
        (ws.root / "train.py").write_text(TRAIN)
        ws.data.add(frame(200, 1), name="train")
        ws.models.register(str(ws.run("train.py:train", {"C": 1.0}).id), "trend")
        ws.models.promote("trend", 1, force=True, reason="test")


def frame(n: int, seed: int) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    a = r.normal(0, 1, n)
    color = r.choice(["red", "blue"], n)
    y = np.where(a + (color == "red") + r.normal(0, 0.5, n) > 0.5, "yes", "no")
    return pd.DataFrame({"a": a, "color": color, "y": y})


def log_served(
    store: Any, parts: Iterable[pd.DataFrame], version: int = 1, latency_ms: float = 1.0
) -> list[tuple[str, pd.DataFrame]]:
    """Log each frame of ``parts`` as one request answered by ``version`` of "trend", through
    the service's own prediction-log writer, the model saying "yes" to every row; returns
    each request's id with its rows, once all are durable."""
    from rung.core import predlog
    from rung.serving.log import PredictionLog

    log = PredictionLog(store)
    served: list[tuple[str, pd.DataFrame]] = []
    try:
        done = []
        for part in parts:
            served.append((f"r{version}-{len(served)}-{time.time_ns()}", part))
            done.append(
                log.submit(
                    predlog.record(
                        request_id=served[-1][0],
                        model="trend",
                        version=version,
                        inputs={"a": part["a"].tolist(), "color": part["color"].tolist()},
                        outputs={"predictions": ["yes"] * len(part)},
                        latency_ms=latency_ms,
                    )
                )
            )
        for d in done:
            d.result()
    finally:
        log.close()
    return served


def in_fifties(rows: pd.DataFrame) -> list[pd.DataFrame]:
    """``rows`` in requests of 50."""
    return [rows.iloc[i : i + 50] for i in range(0, len(rows), 50)]


def serve_log(
    ws: Any, n: int, old_right: float, new_right: float, shadow: bool, start: int = 0
) -> None:
    """``n`` one-row requests, answered by version 1 (and, in shadow, predicted by version
    2; else each answered by one of them, the canary every other request), each right with
    the given rates, and their labels sent back through the feedback rules. The request ids
    are ``req-{start}``, ``req-{start + 1}``, …"""
    from rung.core import predlog
    from rung.serving.feedback import record
    from rung.serving.log import PredictionLog

    rng = np.random.default_rng(5)
    truth = rng.choice(["yes", "no"], n)
    log = PredictionLog(ws.store)
    done = []

    def said(right: float, label: str) -> str:
        return label if rng.random() < right else ("no" if label == "yes" else "yes")

    try:
        for i, label in enumerate(truth):
            rid = f"req-{start + i}"
            arms = [(1, "answer", old_right), (2, "shadow", new_right)] if shadow else []
            if not shadow:
                arms = [(2, "canary", new_right)] if i % 2 else [(1, "answer", old_right)]
            for version, role, right in arms:
                done.append(
                    log.submit(
                        predlog.record(
                            request_id=rid,
                            model="trend",
                            version=version,
                            inputs={"a": [0.1], "color": ["red"]} if role != "shadow" else {},
                            outputs={"predictions": [said(right, label)]},
                            latency_ms=1.0,
                            role=role,
                        )
                    )
                )
        for d in done:
            d.result()
    finally:
        log.close()
    body = {
        "feedback": [{"request_id": f"req-{start + i}", "label": y} for i, y in enumerate(truth)]
    }
    assert record(ws.store, body)["accepted"] == n  # shadow records are never labelled
