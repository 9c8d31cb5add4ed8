"""Service health splits failures by whose they are: a server error (5xx) is the error rate
that ``max_error_rate`` alerts on; a client error (4xx, a bad request) is its own figure and
never alerts. Through the real CLI on each backend, over records written by the service's own
prediction-log writer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import rung_cli
from model_project import TRAIN, frame

pytest.importorskip("sklearn")

FAMILY = [  # every 4xx and 5xx the service answers, alone and mixed
    [400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 431],
    [500, 502, 503, 504],
    [200, 422, 500, 200, 401, 503, 200, 200, 413, 200],
    [200, 500, 500, 200, 200, 200, 200, 200, 200, 200, 404, 404],
]


def _log(ws: Any, statuses: list[int]) -> None:
    from rung.core import predlog
    from rung.serving.log import PredictionLog

    log = PredictionLog(ws.store)
    try:
        done = [
            log.submit(
                predlog.record(
                    request_id=f"h-{i}-{status}",
                    model="trend",
                    version=1,
                    inputs={"a": [0.1], "color": ["red"]} if status < 400 else {},
                    outputs={"predictions": ["yes"]} if status < 400 else {"error": "E"},
                    latency_ms=1.0,
                    status=status,
                )
            )
            for i, status in enumerate(statuses)
        ]
        for d in done:
            d.result()
    finally:
        log.close()


@pytest.fixture
def trend(ws):  # type: ignore[no-untyped-def]
    (ws.root / "rung.toml").write_text("[monitor.alerts]\nmax_error_rate = 0.2\n")
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(200, 1), name="train")
    ws.models.register(str(ws.run("train.py:train", {}).id), "trend")
    ws.models.promote("trend", 1, force=True, reason="test")
    return ws


def _window(ws: Any, statuses: list[int]) -> dict[str, Any]:
    """`rung monitor trend@champion --json` over a window of exactly these requests."""
    done = rung_cli(
        "monitor",
        "trend@champion",
        "--window",
        str(len(statuses)),
        "--json",
        "--no-save",
        cwd=ws.root,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize("statuses", FAMILY)
def test_client_errors_are_counted_apart_and_never_alert(trend, statuses: list[int]) -> None:  # type: ignore[no-untyped-def]
    statuses = [200, *statuses]  # a window holds at least one answered row
    _log(trend, statuses)
    report = _window(trend, statuses)
    h = report["health"]
    server = sum(s >= 500 for s in statuses)
    client = sum(400 <= s < 500 for s in statuses)
    assert (h["requests"], h["errors"], h["client_errors"]) == (len(statuses), server, client)
    assert h["error_rate"] == pytest.approx(server / len(statuses))
    assert h["client_error_rate"] == pytest.approx(client / len(statuses))
    kinds = [a["kind"] for a in report["alerts"]]
    assert ("errors" in kinds) == (server / len(statuses) > 0.2), (statuses, report["alerts"])


def test_a_bad_client_is_shown_but_raises_no_error_alert(trend) -> None:  # type: ignore[no-untyped-def]
    statuses = [200] * 10 + [422] * 8 + [401] * 2  # half the requests were a client's mistakes
    _log(trend, statuses)
    done = rung_cli("monitor", "trend@champion", "--window", "1d", "--no-save", cwd=trend.root)
    assert done.returncode == 0, done.stderr
    assert "20 requests, 0 server errors (5xx, 0.0%), 10 client errors (4xx, 50.0%)" in done.stdout
    assert "ALERT errors" not in done.stdout
    _log(trend, [200] * 5 + [500] * 3 + [503] * 2)  # the server failed 5 of 30
    _log(trend, [500] * 5)  # 10 of 35: 28.6 % > 20 %
    done = rung_cli("monitor", "trend@champion", "--window", "1d", "--no-save", cwd=trend.root)
    assert (
        "35 requests, 10 server errors (5xx, 28.6%), 10 client errors (4xx, 28.6%)" in done.stdout
    )
    assert (
        "ALERT errors: trend@champion: 10 of 35 requests failed on the server (5xx," in done.stdout
    )
