"""Triggers are never lost (issue 11, §2): every trigger kind deferred by the cooldown or by
the debounce stays pending until a job acts on it, and a tick killed at each step — a real
``rung automate tick`` process ended by the fault hook ``RUNG_FAULT_AT`` — leaves a state the
next tick carries to exactly one job, one run, one evaluation and one alias move."""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import RUNG
from model_project import TRAIN, frame, in_fifties, log_served
from test_automation import rewind_jobs, setup

pytest.importorskip("sklearn")

KINDS = ("schedule", "dataset", "drift", "performance")
EXTRA = {
    "schedule": '\n[[automate.triggers]]\nkind = "schedule"\ncron = "0 0 1 1 *"\n',
    "dataset": "",  # the setup's own trigger
    "drift": '\n[[automate.triggers]]\nkind = "drift"\nwindow = "300"\n',
    "performance": (
        '\n[[automate.triggers]]\nkind = "performance"\nmetric = "accuracy"\nbelow = 0.7\n'
        "labelled = 100\n"
    ),
}
# every triggered run makes a model of its own (the same predictions, other bytes: a new
# version), so that every job of every trigger kind gets as far as a promotion, whatever the
# policy makes of noise
FRESH_TRAIN = (
    TRAIN.replace(
        "def fit(frame, C: float = 1.0):\n",
        "def fit(frame, C: float = 1.0, salt: int = 0):\n",
    )
    .replace(
        'return make_pipeline(prep, LogisticRegression(C=C)).fit(frame[["a", "color"]], frame["y"])',
        'model = make_pipeline(prep, LogisticRegression(C=C)).fit(frame[["a", "color"]], frame["y"])'
        "\n    model.rung_salt = salt\n    return model",
    )
    .replace(
        'return fit(rung.dataset("train"), C=C)',
        'import time\n    return fit(rung.dataset("train"), C=C, salt=time.time_ns())',
    )
)
assert FRESH_TRAIN.count("salt") == 4


def fire(w: Any, kind: str) -> None:
    """Make the trigger of ``kind`` hold on the next tick."""
    if kind == "schedule":  # as if the last tick had checked over a year ago: New Year due
        state = _state(w, "schedule") or {}
        with w.store.write() as tx:
            tx.upsert(
                "automation_state",
                {
                    "key": "trend/schedule",
                    "value": json.dumps({**state, "checked": time.time() - 370 * 86400}),
                    "updated_at": time.time(),
                },
                key=("key",),
            )
    elif kind == "dataset":  # the same rows and a column the model does not read
        rows = frame(1500, 1)
        rows["note"] = len(w.data.list("train"))
        w.data.add(rows, name="train")
    elif kind == "drift":
        moved = frame(300, 3)
        moved["a"] += 1.5
        log_served(w.store, in_fifties(moved), _champion(w), latency_ms=2.0)
    else:  # the champion said "yes" to every row; every label is "no"
        served = log_served(w.store, in_fifties(frame(100, 4)), _champion(w), latency_ms=2.0)
        from rung.serving.feedback import record

        record(w.store, {"feedback": [{"request_id": r, "labels": ["no"] * 50} for r, _ in served]})


def _champion(w: Any) -> int:
    return int(w.models.get("trend@champion").version)


def _state(w: Any, trigger: str) -> dict[str, Any] | None:
    with w.store.read() as tx:
        value = tx.scalar(
            "SELECT value FROM automation_state WHERE key = :k", {"k": f"trend/{trigger}"}
        )
    return json.loads(value) if value else None


def _pending(w: Any) -> list[str]:
    return [t["trigger"] for t in w.automation.status()["triggers"] if t["state"] == "pending"]


def _loop(ws: Any, kind: str, *, lease: int = 60, cooldown: str = "0", more: str = "") -> Any:
    w = setup(ws, cooldown=cooldown, lease=lease, extra=EXTRA[kind], more=more)
    if kind == "schedule":
        assert w.automation.tick()["status"] == "idle"  # the first tick only notes the time
    return w


@pytest.mark.parametrize("kind", KINDS)
def test_a_trigger_deferred_by_the_cooldown_stays_pending(sqlite_ws, kind: str) -> None:  # type: ignore[no-untyped-def]
    w = _loop(sqlite_ws, kind, cooldown="1h")
    fire(w, kind)
    first = w.automation.tick()
    assert first["status"] == "done" and first["job"]["trigger"] == kind  # the cooldown starts
    fire(w, kind)
    deferred = w.automation.tick()
    assert deferred["status"] == "deferred" and deferred["job"] is None
    assert [f["trigger"] for f in deferred["fired"]] == [kind]
    assert "deferred by the cooldown of 3600 s" in deferred["message"]
    for _ in range(2):  # nothing new meanwhile: still pending, still no job
        again = w.automation.tick()
        assert again["status"] == "deferred" and [p["trigger"] for p in again["pending"]] == [kind]
    assert _pending(w) == [kind] and len(w.automation.history()) == 1
    rewind_jobs(w, 3601)  # the cooldown is over
    outcome = w.automation.tick()
    job = outcome["job"]
    assert outcome["status"] == "done" and job["trigger"] == kind
    assert "pending since" in job["reason"] and job["id"] != first["job"]["id"]
    assert _pending(w) == [] and w.automation.tick()["status"] == "idle"  # acted on, once


@pytest.mark.parametrize("kind", KINDS)
def test_a_trigger_deferred_by_the_debounce_fires_once_it_held_long_enough(
    sqlite_ws, kind: str
) -> None:  # type: ignore[no-untyped-def]
    """Before: a dataset or schedule trigger with debounce = 2 never fired (the first tick
    marked the version or due time as seen, so the second found nothing)."""
    w = _loop(sqlite_ws, kind, more="debounce = 2\n")
    fire(w, kind)
    first = w.automation.tick()
    assert first["status"] == "idle" and first["job"] is None
    assert [(h["trigger"], h["streak"], h["debounce"]) for h in first["held"]] == [(kind, 1, 2)]
    assert [t["state"] for t in w.automation.status()["triggers"] if t["trigger"] == kind] == [
        "held"
    ]
    if kind in ("drift", "performance"):  # an observation needs new rows or labels
        fire(w, kind)
    outcome = w.automation.tick()
    assert [f["trigger"] for f in outcome["fired"]] == [kind], outcome
    assert outcome["status"] == "done" and outcome["job"]["trigger"] == kind
    assert w.automation.tick()["status"] == "idle"


def test_a_window_stored_by_rung_monitor_meanwhile_is_still_judged(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    """Another example of the kind: the drift trigger judged only rows newer than the newest
    stored window, so a `rung monitor` run between two ticks hid a drift from the loop."""
    w = _loop(sqlite_ws, "drift")
    log_served(w.store, in_fifties(frame(300, 2)), 1)  # the same world: judged, no drift
    assert w.automation.tick()["status"] == "idle" and len(w.monitor.windows("trend")) == 1
    fire(w, "drift")
    w.monitor.check("trend@champion", "300")  # a person looks first: the window is stored
    outcome = w.automation.tick()
    assert [f["trigger"] for f in outcome["fired"]] == ["drift"]
    window = w.monitor.windows("trend")[-1]["id"]
    assert f"monitoring window {window}:" in outcome["job"]["reason"]
    assert len(w.monitor.windows("trend")) == 2  # the same rows: stored once


# -- a tick killed at each step -------------------------------------------------------------

POINTS = (
    "tick.checked",  # the triggers judged, nothing written
    "tick.state-saved",  # inside the tick's transaction: states written, the job not yet
    "tick.job-created",  # the job committed, nothing run
    "tick.step",  # the job's pipeline run, as its step starts
    "tick.ran",  # the run succeeded, its model not registered: the next tick adopts the run
    "tick.registered",  # the challenger registered, the job not yet marked trained
    "tick.trained",
    "tick.evaluated",
    "tick.decided",
    "tick.promoting",  # inside the alias move's transaction
    "tick.promoted",  # the alias moved, the job not yet marked done
)


def _tick(w: Any, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"RUNG_FAULT_AT": fault} if fault else {})}
    return subprocess.run(
        [RUNG, "automate", "tick", "--json"],
        cwd=w.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _fresh(w: Any) -> Any:
    """The loop's pipeline replaced by FRESH_TRAIN (in a file of its own: a process that
    already imported train.py keeps its module)."""
    from rung import Workspace

    (w.root / "fresh.py").write_text(FRESH_TRAIN)
    toml = w.root / "rung.toml"
    toml.write_text(toml.read_text().replace('"train.py:train"', '"fresh.py:train"'))
    return Workspace.open(w.root)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "dataset"])
def test_a_tick_killed_at_each_step_loses_nothing_and_does_nothing_twice(  # type: ignore[no-untyped-def]
    sqlite_ws, kind: str
) -> None:
    """One workspace per trigger kind; for each crash point in turn: the trigger fires, a
    real `rung automate tick` is ended there (os._exit: no cleanup, like kill -9), and the
    next tick — once the dead tick's lease expired — finishes the work. Every firing ends as
    exactly one job, with one succeeded run, one recorded evaluation and one alias move
    citing it."""
    _crash_at_every_point(sqlite_ws, kind)


def test_a_tick_killed_at_each_step_on_each_backend(ws) -> None:  # type: ignore[no-untyped-def]
    """The same for the dataset trigger, on SQLite and PostgreSQL."""
    _crash_at_every_point(ws, "dataset")


def _crash_at_every_point(ws: Any, kind: str) -> None:
    from rung.core.faults import EXIT_CODE

    w = _fresh(_loop(ws, kind, lease=1))
    for point in POINTS:
        if _champion(w) != 1:  # the weak first version again: each job has a clear gain
            w.models.promote("trend", 1, force=True, reason="test: the weak champion again")
        before = {j["id"] for j in w.automation.history(1000)}
        windows = len(w.monitor.windows("trend")) if kind == "drift" else 0
        fire(w, kind)
        crashed = _tick(w, point)
        assert crashed.returncode == EXIT_CODE, (point, crashed.stdout, crashed.stderr)
        if point in ("tick.checked", "tick.state-saved"):  # rolled back: nothing of the tick
            assert {j["id"] for j in w.automation.history(1000)} == before, point
            assert _pending(w) == [], point
            if kind == "drift":
                assert len(w.monitor.windows("trend")) == windows, point
        time.sleep(1.1)  # the dead tick's lease expires
        outcome = w.automation.tick()
        assert outcome["status"] == "done", (point, outcome)
        jobs = [j for j in w.automation.history(1000) if j["id"] not in before]
        assert len(jobs) == 1, (point, jobs)
        job = jobs[0]
        assert job["trigger"] == kind and job["decision"] == "promote", (point, job)
        if kind == "drift":  # the judged window stored once, with the job that cites it
            assert len(w.monitor.windows("trend")) == windows + 1, point
            assert f"monitoring window {w.monitor.windows('trend')[-1]['id']}:" in job["reason"]
        with w.store.read() as tx:
            runs = tx.all(
                "SELECT id, status FROM runs WHERE trigger LIKE :p",
                {"p": f"automate job {job['id']}:%"},
            )
            moves = tx.all(
                "SELECT to_version, evaluation_id FROM alias_events WHERE why LIKE :p",
                {"p": f"automate job {job['id']} %"},
            )
            evaluations = tx.scalar(
                "SELECT COUNT(*) FROM evaluations WHERE model = :r",
                {"r": f"trend@{job['challenger']}"},
            )
        assert [r["status"] for r in runs].count("succeeded") == 1, (point, runs)
        assert job["run_id"] in [r["id"] for r in runs if r["status"] == "succeeded"]
        assert moves == [
            {"to_version": job["challenger"], "evaluation_id": job["evaluation_id"]}
        ], (point, moves)
        assert evaluations == 1, point
        assert _champion(w) == job["challenger"]
        assert _pending(w) == [] and w.automation.tick()["status"] == "idle", point


# -- the rule, on any sequence of observations ----------------------------------------------

OBSERVATIONS = st.lists(
    st.tuples(st.sampled_from(["holds", "not", "unseen"]), st.booleans()), max_size=60
)


@settings(max_examples=300, deadline=None)
@given(OBSERVATIONS, st.integers(1, 4))
def test_a_fired_trigger_is_pending_until_settled_never_dropped(
    steps: list[tuple[str, bool]], debounce: int
) -> None:
    """Any sequence of observations, each followed by a tick that may (cooldown over) or may
    not create a job: every firing is settled by exactly one job or still pending at the end;
    a trigger fires only after `debounce` holding observations in a row (unseen ones neither
    break nor count); a pending trigger never fires again before its job."""
    from rung.automation.pending import UNSEEN, observe, settle

    state: dict[str, Any] = {}
    fired = settled = run = 0
    for i, (seen, job_allowed) in enumerate(steps):
        reason = {"holds": f"reason {i}", "not": None, "unseen": UNSEEN}[seen]
        was_pending = bool(state.get("pending"))
        what = observe(state, reason, {"fired_for": f"v{i}"}, debounce, float(i))
        run = 0 if seen == "not" or was_pending else run + (seen == "holds")
        if what == "fired":
            assert not was_pending and run >= debounce
            fired += 1
            run = 0
        else:
            assert not (was_pending is False and run >= debounce and seen == "holds")
        assert 0 <= state.get("streak", 0) < debounce
        if state.get("pending"):
            assert state["pending"]["reason"] == (
                reason if seen == "holds" else state["pending"]["reason"]
            )
            if job_allowed:
                entry = settle(state, float(i))
                assert (
                    "pending" not in state and state["fired_for"] == entry["settles"]["fired_for"]
                )
                settled += 1
    assert fired == settled + (1 if state.get("pending") else 0)
