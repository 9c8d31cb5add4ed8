"""`rung monitor compare` says what it judged: the labelled answers of the champion it leaves
out (a shadow that failed or predicted nothing, answers outside the canary's period), with a
warning when the verdict covers only part of the traffic, and the period it judged — by
default the traffic since both refs reached their current versions. Through the public API
and the real CLI, on each backend."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest

from conftest import rung_cli
from model_project import TRAIN, frame, serve_log

pytest.importorskip("sklearn")

REFUSED = "the shadow failed: 422 PayloadError"
MISSING = "no shadow prediction logged (outside its share, dropped, or not running)"
CRASHED = "the shadow failed: 500 ValueError"


@pytest.fixture
def trend(ws):  # type: ignore[no-untyped-def]
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(120, 1), name="train")
    for c in (1.0, 0.5):
        ws.models.register(str(ws.run("train.py:train", {"C": c}).id), "trend")
    ws.models.promote("trend", 1, force=True, reason="test")
    ws.models.promote("trend", 2, "challenger", force=True, reason="test")
    return ws


def shadow_log(ws: Any, fates: list[str]) -> None:
    """One labelled one-row request answered by version 1 per fate; version 2 in shadow
    predicted it (``ok``), refused it (``refused``: 422), crashed (``crashed``: 500), or
    logged nothing (``missing``). The answers are right 60 % of the time, the shadow's 90 %."""
    from rung.core import predlog
    from rung.serving.feedback import record
    from rung.serving.log import PredictionLog

    rng = np.random.default_rng(3)
    truth = rng.choice(["yes", "no"], len(fates))
    log = PredictionLog(ws.store)

    def said(right: float, label: str) -> list[str]:
        return [label if rng.random() < right else ("no" if label == "yes" else "yes")]

    try:
        done = []
        for i, (fate, label) in enumerate(zip(fates, truth, strict=True)):
            rid = f"f-{i}"
            done.append(
                log.submit(
                    predlog.record(
                        request_id=rid,
                        model="trend",
                        version=1,
                        inputs={"a": [0.1], "color": ["red"]},
                        outputs={"predictions": said(0.6, label)},
                        latency_ms=1.0,
                    )
                )
            )
            if fate == "missing":
                continue
            status = {"ok": 200, "refused": 422, "crashed": 500}[fate]
            error = {"refused": "PayloadError", "crashed": "ValueError"}.get(fate)
            done.append(
                log.submit(
                    predlog.record(
                        request_id=rid,
                        model="trend",
                        version=2,
                        inputs={},
                        outputs={"predictions": said(0.9, label)}
                        if status == 200
                        else {"error": error},
                        latency_ms=1.0,
                        status=status,
                        role="shadow",
                    )
                )
            )
        for d in done:
            d.result()
    finally:
        log.close()
    body = {"feedback": [{"request_id": f"f-{i}", "label": y} for i, y in enumerate(truth)]}
    assert record(ws.store, body)["accepted"] == len(fates)


def compare(ws: Any, **options: Any) -> dict[str, Any]:
    from rung.automation.live import compare_current
    from rung.core.policy import Policy

    return compare_current(
        ws.store, ws.models, Policy(), [], "trend@champion", "trend@challenger", **options
    )


FATES = [  # (ok, refused, crashed, missing): none left out, a few, many of each kind
    (100, 0, 0, 0),
    (95, 5, 0, 0),
    (60, 40, 0, 0),
    (80, 10, 5, 5),
    (50, 0, 0, 50),
]


@pytest.mark.parametrize(("ok", "refused", "crashed", "missing"), FATES)
def test_labelled_answers_without_a_shadow_prediction_are_counted_by_reason(
    trend, ok: int, refused: int, crashed: int, missing: int
) -> None:  # type: ignore[no-untyped-def]
    fates = ["ok"] * ok + ["refused"] * refused + ["crashed"] * crashed + ["missing"] * missing
    np.random.default_rng(ok + refused).shuffle(fates)  # refusals anywhere in the traffic
    shadow_log(trend, fates)
    result = compare(trend)
    left = refused + crashed + missing
    assert result["mode"] == "paired" and result["labelled"] == {"pairs": ok}
    reasons = {REFUSED: refused, CRASHED: crashed, MISSING: missing}
    assert result["excluded"]["reasons"] == {k: n for k, n in reasons.items() if n}
    assert result["excluded"]["rows"] == left
    assert result["excluded"]["share"] == pytest.approx(left / len(fates))
    partial = left / len(fates) > 0.1  # the documented rule: more than 10 % left out
    assert bool(result["warnings"]) == partial, result["warnings"]
    if partial:
        assert f"covers only {ok} of {len(fates)}" in result["warnings"][0]
    failed = [n for n in result["notes"] if "not a random sample" in n]
    assert bool(failed) == bool(refused + crashed)
    # the real CLI: the same counts in --json, and said plainly in the table
    done = rung_cli("monitor", "compare", "trend@champion", "trend@challenger", cwd=trend.root)
    assert done.returncode == 0, done.stderr
    if left:
        assert f"left out: {left} labelled answers of the champion" in done.stdout
        if refused:
            assert f"{REFUSED}: {refused}" in done.stdout
    else:
        assert "left out" not in done.stdout
    assert ("warning: the verdict covers only" in done.stdout) == partial, done.stdout
    as_json = json.loads(
        rung_cli(
            "monitor", "compare", "trend@champion", "trend@challenger", "--json", cwd=trend.root
        ).stdout
    )
    assert as_json["excluded"] == result["excluded"]


def test_the_default_period_starts_when_the_refs_reached_their_versions(trend) -> None:  # type: ignore[no-untyped-def]
    serve_log(trend, 100, 0.9, 0.5, shadow=True)  # an old shadow run: the challenger worse
    time.sleep(0.01)
    trend.models.promote("trend", 1, "challenger", force=True, reason="test")  # moved away...
    trend.models.promote("trend", 2, "challenger", force=True, reason="test")  # ...and back
    moved = time.time()
    serve_log(trend, 100, 0.55, 0.95, shadow=False, start=100)  # now a canary: better
    result = compare(trend)
    assert result["period"]["by"] == "aliases" and result["period"]["since"] <= moved
    assert result["mode"] == "two-sample", result  # the old pairs are another period's
    assert result["labelled"] == {"champion": 49, "challenger": 50}
    done = rung_cli("monitor", "compare", "trend@champion", "trend@challenger", cwd=trend.root)
    assert done.returncode == 0, done.stderr
    assert "period: since " in done.stdout
    assert "(when trend@champion and trend@challenger reached trend@1 and trend@2)" in done.stdout
    assert "two-sample" in done.stdout and "49 labelled answers of the champion" in done.stdout
    # --since overrides: the whole log, where the shadow's pairs exist (auto takes them)
    old = compare(trend, since=0.0)
    assert old["period"] == {"since": 0.0, "by": "given"}
    assert old["mode"] == "paired" and old["labelled"] == {"pairs": 100}
    assert any("answered by trend@2 as a canary" in n for n in old["notes"])
    done = rung_cli(
        "monitor",
        "compare",
        "trend@champion",
        "trend@challenger",
        "--since",
        "2000-01-01",
        cwd=trend.root,
    )
    assert "paired" in done.stdout and "(--since)" in done.stdout


def test_two_sample_takes_the_champions_answers_of_the_canarys_period_only(trend) -> None:  # type: ignore[no-untyped-def]
    serve_log(trend, 200, 0.9, 0.5, shadow=True)  # a shadow run, the aliases unchanged since
    serve_log(trend, 100, 0.55, 0.95, shadow=False, start=200)  # then a canary run
    result = compare(trend, mode="two-sample")
    # 200 shadow-period answers and the canary run's first (before the canary's first) left out
    assert result["labelled"] == {"champion": 49, "challenger": 50}
    assert result["excluded"]["reasons"] == {"answered outside the canary's period": 201}
    assert result["canary_period"][0] <= result["canary_period"][1]
    assert "covers only 49 of 250" in result["warnings"][0]
    done = rung_cli(
        "monitor",
        "compare",
        "trend@champion",
        "trend@challenger",
        "--mode",
        "two-sample",
        cwd=trend.root,
    )
    assert "the champion's answers from the canary's period only" in done.stdout
    assert "answered outside the canary's period: 201" in done.stdout
    # auto: the pairs of the shadow run, and a note that canary answers were not judged
    auto = compare(trend)
    assert auto["mode"] == "paired" and auto["labelled"] == {"pairs": 200}
    assert any(
        "50 requests of this period were answered by trend@2 as a canary" in n
        for n in auto["notes"]
    )
