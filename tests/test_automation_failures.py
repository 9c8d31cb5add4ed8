"""A failed job does not consume its triggers (issue 11, report t11user item 2): a job that
fails — a configuration error, a bad label, an exception at any step of the job — leaves
every trigger it acted on pending, `rung automate status` says which job failed and why,
and the first tick after the backoff retries it; once the cause is fixed, that tick gives
exactly one successful job and settles the trigger. A failure that repeats itself is retried
after a capped exponential backoff, never in a hot loop."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import rung_cli
from rung.automation.pending import BACKOFF_MAX, retry_backoff
from test_automation import rewind_jobs
from test_automation_triggers import KINDS, _champion, _fresh, _loop, _pending, fire

pytest.importorskip("sklearn")


def _reopen(w: Any, old: str, new: str) -> Any:
    from rung import Workspace

    toml = w.root / "rung.toml"
    text = toml.read_text()
    assert old in text
    toml.write_text(text.replace(old, new))
    return Workspace.open(w.root)


def _trigger_status(w: Any, kind: str) -> dict[str, Any]:
    return next(t for t in w.automation.status()["triggers"] if t["trigger"] == kind)


def _succeeded_runs(w: Any, job: int) -> int:
    with w.store.read() as tx:
        return int(
            tx.scalar(
                "SELECT COUNT(*) FROM runs WHERE trigger LIKE :p AND status = 'succeeded'",
                {"p": f"automate job {job}:%"},
            )
        )


def _retried_once(w: Any, kind: str, failed: dict[str, Any], before: set[int]) -> dict[str, Any]:
    """After the failed job and the cause fixed: held back by the backoff, then exactly one
    successful job, its trigger settled."""
    waiting = w.automation.tick()
    assert waiting["status"] == "deferred", waiting
    assert "the backoff of 60 s after 1 failed job in a row" in waiting["message"]
    rewind_jobs(w, 61)
    outcome = w.automation.tick()
    assert outcome["status"] == "done", outcome
    job = outcome["job"]
    assert job["trigger"] == kind and f"(a retry: job {failed['id']} failed: " in job["reason"]
    jobs = [j for j in w.automation.history(1000) if j["id"] not in before]
    assert [j["state"] for j in jobs] == ["failed", "done"], jobs
    assert _succeeded_runs(w, job["id"]) == 1
    assert _pending(w) == [] and w.automation.tick()["status"] == "idle"  # settled, once
    return job


@pytest.mark.parametrize("kind", KINDS)
def test_a_trigger_of_a_failed_job_stays_pending_and_is_retried(sqlite_ws, kind: str) -> None:  # type: ignore[no-untyped-def]
    """Every trigger kind; the job fails on a configuration error (a label column the
    acceptance dataset does not have: found at the evaluation, after training). Before, the
    trigger was settled when the job was created: `no trigger fired` for good."""
    w = _loop(sqlite_ws, kind)
    before = {j["id"] for j in w.automation.history(1000)}
    w = _reopen(w, 'label = "y"', 'label = "nope"')
    fire(w, kind)
    outcome = w.automation.tick()
    failed = outcome["job"]
    assert outcome["status"] == "failed" and failed["trigger"] == kind, outcome
    assert outcome["retry"]["triggers"] == [kind]
    assert "the backoff of 60 s after 1 failed job in a row" in outcome["retry"]["why"]
    entry = _trigger_status(w, kind)
    assert entry["state"] == "pending" and entry["failed"].startswith(
        f"job {failed['id']} failed: "
    )
    assert "nope" in entry["failed"]
    shown = rung_cli("automate", "status", cwd=w.root)
    assert f"job {failed['id']} failed: " in shown.stdout and "the backoff of 60 s" in shown.stdout
    w = _reopen(w, 'label = "nope"', 'label = "y"')
    _retried_once(w, kind, failed, before)


STEPS = (  # every step of a job, each failing with an exception rung did not foresee
    "tick.step",  # a pipeline step starting: the run fails
    "tick.ran",  # the run succeeded, nothing registered
    "tick.registered",  # the challenger registered, the job not yet marked trained
    "tick.trained",
    "tick.evaluated",
    "tick.decided",
    "tick.promoting",  # inside the alias move's transaction: rolled back
)


def test_a_failure_at_each_step_of_a_job_leaves_its_trigger_pending(  # type: ignore[no-untyped-def]
    ws, monkeypatch
) -> None:
    """The fault hook raises at each step in turn (`RUNG_FAULT_AT=point:raise`), on SQLite
    and PostgreSQL: the job fails, no alias moves, the trigger stays pending; without the
    fault the retry is one job, one succeeded run, one promotion."""
    w = _fresh(_loop(ws, "dataset"))
    for point in STEPS:
        if _champion(w) != 1:
            w.models.promote("trend", 1, force=True, reason="test: the weak champion again")
        before = {j["id"] for j in w.automation.history(1000)}
        fire(w, "dataset")
        monkeypatch.setenv("RUNG_FAULT_AT", f"{point}:raise")
        outcome = w.automation.tick()
        monkeypatch.delenv("RUNG_FAULT_AT")
        failed = outcome["job"]
        assert outcome["status"] == "failed", (point, outcome)
        assert f"InjectedFault: fault injected at {point}" in failed["error"], point
        assert _champion(w) == 1, point  # no alias moved
        assert _trigger_status(w, "dataset")["state"] == "pending", point
        job = _retried_once(w, "dataset", failed, before)
        assert job["decision"] == "promote" and _champion(w) == job["challenger"], point


def test_a_failure_after_the_promotion_ends_the_job_done(sqlite_ws, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """After the alias moved the job did what it was for: done (the error kept as a note),
    its trigger settled — not "failed … the alias was not moved" and a retraining."""
    w = _fresh(_loop(sqlite_ws, "dataset"))
    fire(w, "dataset")
    monkeypatch.setenv("RUNG_FAULT_AT", "tick.promoted:raise")
    outcome = w.automation.tick()
    monkeypatch.delenv("RUNG_FAULT_AT")
    job = outcome["job"]
    assert outcome["status"] == "done" and job["decision"] == "promote", outcome
    assert job["error"] == "after the promotion: InjectedFault: fault injected at tick.promoted"
    assert _champion(w) == job["challenger"] and _pending(w) == []
    assert w.automation.tick()["status"] == "idle"


def test_a_failure_that_repeats_itself_is_retried_after_a_growing_backoff(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    """A deterministic failure, cooldown 0, a tick every moment: one job per backoff
    (60 s, 120 s, 240 s, …), not one per tick."""
    w = _loop(sqlite_ws, "dataset")
    w = _reopen(w, 'label = "y"', 'label = "nope"')
    fire(w, "dataset")
    assert w.automation.tick()["status"] == "failed"
    for failures, wait in ((1, 60), (2, 120), (3, 240)):
        for _ in range(3):  # ticks meanwhile: no job
            outcome = w.automation.tick()
            assert outcome["status"] == "deferred", outcome
            assert f"the backoff of {wait} s after {failures} failed job" in outcome["message"]
        assert len(w.automation.history(1000)) == failures
        rewind_jobs(w, wait + 1)
        assert w.automation.tick()["status"] == "failed"
    status = rung_cli("automate", "status", cwd=w.root).stdout
    assert "the backoff of 480 s after 4 failed jobs in a row" in status
    assert [retry_backoff(k) for k in range(9)] == [0, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert retry_backoff(10**6) == BACKOFF_MAX


def test_the_cooldown_applies_when_longer_than_the_backoff(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    w = _loop(sqlite_ws, "dataset", cooldown="1h")
    w = _reopen(w, 'label = "y"', 'label = "nope"')
    fire(w, "dataset")
    assert w.automation.tick()["status"] == "failed"
    outcome = w.automation.tick()
    assert outcome["status"] == "deferred" and "the cooldown of 3600 s" in outcome["message"]
