"""`rung monitor compare`'s statistics on the prediction log of each backend: paired (shadow)
and two-sample (canary) evidence, judged by the automation's policy."""

from __future__ import annotations

from typing import Any

import pytest

from model_project import TRAIN, frame, serve_log


@pytest.fixture
def trend(ws):  # type: ignore[no-untyped-def]
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(120, 1), name="train")
    for c in (1.0, 0.5):
        ws.models.register(str(ws.run("train.py:train", {"C": c}).id), "trend")
    ws.models.promote("trend", 1, force=True, reason="test")
    ws.models.promote("trend", 2, "challenger", force=True, reason="test")
    return ws


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
        # the canary's period starts at its first answer (req-1): the champion's req-0 is before
        assert result["labelled"] == {"champion": 149, "challenger": 150}
        assert result["excluded"]["reasons"] == {"answered outside the canary's period": 1}
    tests = result["decision"]["tests"]
    assert {(t["metric"], t["kind"]) for t in tests} == {("accuracy", "gain"), ("accuracy", "veto")}


def test_few_labels_are_not_enough_evidence_whatever_they_show(trend) -> None:  # type: ignore[no-untyped-def]
    serve_log(trend, 12, 0.0, 1.0, shadow=True)  # 12 of 12 right against 0 of 12
    result = compare(trend)
    assert result["verdict"] == "not enough evidence" and result["decision"] is None
    assert "12 labelled" in result["summary"] and "fewer than 30" in result["summary"]
    assert compare(trend, min_labelled=10)["verdict"] == "better"
