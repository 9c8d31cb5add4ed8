"""The prediction log's retention (`[serve] retention`, `max_log_rows`) as `rung gc` applies
it, on each backend: what goes, and what stays — records with a label that came back within
the window kept, and records a monitoring window in progress needs."""

from __future__ import annotations

import time
from typing import Any

import pytest

from conftest import rung_cli

DAY = 86400.0


def fill(ws: Any, now: float) -> None:
    """Model ``m``: 20 records 40 days old (ids 1-20; record ``m-2`` labelled yesterday,
    ``m-3`` labelled 35 days ago), then 10 from the last hours (``m-20`` … ``m-29``, the
    newest an hour ago). Model ``n``: 3 records 40 days old and nothing since (its monitoring
    window, the newest 5 rows, still needs them)."""
    from rung.core import predlog
    from rung.serving.log import PredictionLog

    log = PredictionLog(ws.store)

    def add(rid: str, model: str, at: float) -> None:
        record = predlog.record(
            request_id=rid,
            model=model,
            version=1,
            inputs={"a": [1.0]},
            outputs={"predictions": ["yes"]},
            latency_ms=1.0,
            at=at,
        )
        log.submit(record).result(timeout=30)

    try:
        for k in range(20):
            add(f"m-{k}", "m", now - 40 * DAY + k)
        for k in range(3):
            add(f"n-{k}", "n", now - 40 * DAY + 100 + k)
        for k in range(10):
            add(f"m-{20 + k}", "m", now - (11 - k) * 3600)
    finally:
        log.close()
    with ws.store.write() as tx:
        for rid, age in (("m-2", DAY), ("m-3", 35 * DAY)):
            tx.insert(
                "feedback",
                {"request_id": rid, "row": 0, "label": '"yes"', "at": now - age, "corrections": 0},
            )


def reopen(ws: Any, serve: str) -> Any:
    from rung import Workspace

    with (ws.root / "rung.toml").open("a") as toml:
        toml.write(f'\n[serve]\n{serve}\n\n[monitor]\nwindow = "5"\n')
    return Workspace.open(ws.root)


def ids(ws: Any) -> list[str]:
    with ws.store.read() as tx:
        return [r["request_id"] for r in tx.all("SELECT request_id FROM predictions ORDER BY id")]


def test_retention_by_age_keeps_recent_labels_and_monitoring_windows(ws) -> None:  # type: ignore[no-untyped-def]
    fill(ws, time.time())
    shown = rung_cli("gc", "--dry-run", cwd=ws.root)
    assert shown.returncode == 0 and "prediction log" not in shown.stdout  # none configured
    with reopen(ws, 'retention = "30d"') as w:
        dry = rung_cli("gc", "--dry-run", cwd=w.root)
        assert dry.returncode == 0, dry.stderr
        assert (
            "prediction log: would delete 19 record(s) older than 30d" in dry.stdout
            and "1 label(s)); kept 1 with a recent label and 3 a monitoring window needs; 14 remain"
            in dry.stdout
        ), dry.stdout
        assert len(ids(w)) == 33  # a dry run deletes nothing
        done = rung_cli("gc", "--json", cwd=w.root)
        assert done.returncode == 0, done.stderr
        import json

        log = json.loads(done.stdout)["prediction_log"]
        assert (log["records"], log["labels"], log["kept_labelled"], log["kept_monitoring"]) == (
            19,
            1,
            1,
            3,
        )
        assert log["bytes"] > 0 and log["remaining"] == 14
        assert ids(w) == ["m-2", "n-0", "n-1", "n-2", *[f"m-{20 + k}" for k in range(10)]]
        with w.store.read() as tx:  # the labels of deleted records went with them
            assert [r["request_id"] for r in tx.all("SELECT request_id FROM feedback")] == ["m-2"]
        again = rung_cli("gc", "--dry-run", cwd=w.root)
        assert "would delete 0 record(s)" in again.stdout


@pytest.mark.parametrize("budget", [5])
def test_a_row_budget_deletes_the_oldest_beyond_it(ws, budget: int) -> None:  # type: ignore[no-untyped-def]
    """``max_log_rows = 5``: the 5 newest records stay; older ones go unless protected. The
    window kept starts at the oldest record within the budget (4 hours ago), so the label
    that came back yesterday no longer protects ``m-2``; model ``n``'s window still needs
    its 3 records."""
    from rung.serving.retention import prune

    now = time.time()
    fill(ws, now)
    with reopen(ws, f"max_log_rows = {budget}") as w:
        dry = prune(w.store, w.config.settings, dry_run=True, now=now)
        assert dry is not None and dry.records == 33 - budget - 3 and dry.kept_monitoring == 3
        report = prune(w.store, w.config.settings, now=now)
        assert report is not None and report.records == 25 and report.remaining == 8
        assert ids(w) == ["n-0", "n-1", "n-2", *[f"m-{25 + k}" for k in range(5)]]


def test_retention_keys_are_checked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rung import Workspace

    with Workspace.init(tmp_path / "w") as w:
        (w.root / "rung.toml").write_text('[serve]\nretention = "30 days"\n')
        bad = rung_cli("gc", "--dry-run", cwd=w.root)
        assert bad.returncode != 0 and "retention" in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        (w.root / "rung.toml").write_text("[serve]\nmax_log_rows = 0\n")
        bad = rung_cli("gc", "--dry-run", cwd=w.root)
        assert bad.returncode != 0 and "max_log_rows" in bad.stderr
