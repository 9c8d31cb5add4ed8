"""`rung monitor compare`'s statistics on the prediction log of each backend: paired (shadow)
and two-sample (canary) evidence, judged by the automation's policy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from model_project import TRAIN, frame


@pytest.fixture
def trend(ws):  # type: ignore[no-untyped-def]
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(120, 1), name="train")
    for c in (1.0, 0.5):
        ws.models.register(str(ws.run("train.py:train", {"C": c}).id), "trend")
    ws.models.promote("trend", 1, force=True, reason="test")
    ws.models.promote("trend", 2, "challenger", force=True, reason="test")
    return ws


def serve_log(ws: Any, n: int, old_right: float, new_right: float, shadow: bool) -> None:
    """``n`` one-row requests, answered by version 1 (and, in shadow, predicted by version
    2; else each answered by one of them, the canary every other request), each right with
    the given rates, and their labels sent back through the feedback rules."""
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
            rid = f"req-{i}"
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
    body = {"feedback": [{"request_id": f"req-{i}", "label": y} for i, y in enumerate(truth)]}
    assert record(ws.store, body)["accepted"] == n  # shadow records are never labelled


def compare(ws: Any, **options: Any) -> dict[str, Any]:
    from rung.automation.live import compare_live
    from rung.core.policy import Policy

    return compare_live(
        ws.store, ws.models, Policy(), [], "trend@champion", "trend@challenger", **options
    )


@pytest.mark.parametrize(
    ("shadow", "old", "new", "verdict"),
    [
        (True, 0.6, 0.9, "better"),
        (True, 0.9, 0.6, "worse"),
        (True, 0.8, 0.8, "not enough evidence"),
        (False, 0.55, 0.95, "better"),
        (False, 0.95, 0.55, "worse"),
    ],
)
def test_the_live_comparison_finds_what_the_traffic_shows(
    trend, shadow: bool, old: float, new: float, verdict: str
) -> None:  # type: ignore[no-untyped-def]
    serve_log(trend, 300, old, new, shadow)
    result = compare(trend)
    assert result["mode"] == ("paired" if shadow else "two-sample")
    assert result["verdict"] == verdict, result["summary"]
    if shadow:
        assert result["labelled"] == {"pairs": 300}
    else:
        assert result["labelled"] == {"champion": 150, "challenger": 150}
    tests = result["decision"]["tests"]
    assert {(t["metric"], t["kind"]) for t in tests} == {("accuracy", "gain"), ("accuracy", "veto")}


def test_few_labels_are_not_enough_evidence_whatever_they_show(trend) -> None:  # type: ignore[no-untyped-def]
    serve_log(trend, 12, 0.0, 1.0, shadow=True)  # 12 of 12 right against 0 of 12
    result = compare(trend)
    assert result["verdict"] == "not enough evidence" and result["decision"] is None
    assert "12 labelled" in result["summary"] and "fewer than 30" in result["summary"]
    assert compare(trend, min_labelled=10)["verdict"] == "better"
