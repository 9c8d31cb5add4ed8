"""The continuous-training loop: triggers, the tick, its guards (lease, cooldown, failed runs,
a kill in the middle), the policies and the history, through the API and the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import RUNG, rung_cli
from model_project import TRAIN, frame, in_fifties, log_served
from rung.core.errors import InvalidInput, NotFound

pytest.importorskip("sklearn")

# the model project's pipeline, with a fit that can be made slow (to kill a tick in it)
SLOW_TRAIN = TRAIN.replace(
    "def fit(frame, C: float = 1.0):\n",
    "def fit(frame, C: float = 1.0):\n"
    "    import os, time\n"
    "    if os.environ.get('SLOW_FIT'):\n"
    "        open(os.environ['SLOW_FIT'], 'w').close()\n"
    "        time.sleep(60)\n",
)
assert SLOW_TRAIN != TRAIN

CONFIG = """
[eval]
label = "y"
criteria = ["accuracy >= 0.6 on every dataset", "accuracy drop <= 0.05 vs baseline on every dataset"]

[automate]
model = "trend"
alias = "champion"
pipeline = "train.py:train"
datasets = ["holdout@1"]
lease = {lease}
cooldown = "{cooldown}"
policy = "{policy}"
params = {params}
{more}
[[automate.triggers]]
kind = "dataset"
dataset = "train"
"""


def setup(
    ws: Any,
    policy: str = "auto",
    cooldown: str = "0",
    lease: int = 60,
    params: str = "{}",
    extra: str = "",
    more: str = "",
    champion: dict[str, Any] | None = None,
) -> Any:
    """A champion trained on train@1 (so regularised by default that it predicts one class,
    accuracy ~0.55: a retrained challenger is clearly better; ``champion`` gives other
    parameters), a holdout set, and the loop configured; the workspace reopened so that it
    reads the configuration."""
    from rung import Workspace

    (ws.root / "train.py").write_text(SLOW_TRAIN)
    ws.data.add(frame(1500, 1), name="train")
    ws.data.add(frame(600, 9), name="holdout")
    run = ws.run("train.py:train", {"C": 0.0001} if champion is None else champion)
    ws.models.register(str(run.id), "trend")
    ws.models.promote("trend", 1, force=True, reason="first version")
    config = (
        CONFIG.format(policy=policy, cooldown=cooldown, lease=lease, params=params, more=more)
        + extra
    )
    (ws.root / "rung.toml").write_text(config)
    return Workspace.open(ws.root)


def rewind_jobs(ws: Any, seconds: float) -> None:
    """Move every job's creation back in time: the cooldown after it passes without a wait."""
    with ws.store.write() as tx:
        tx.execute("UPDATE automation_jobs SET created_at = created_at - :s", {"s": seconds})


def alias_events(ws: Any) -> list[dict[str, Any]]:
    with ws.store.read() as tx:
        return tx.all("SELECT from_version, to_version, action, why FROM alias_events ORDER BY id")


def test_a_new_dataset_version_retrains_judges_and_promotes(ws) -> None:  # type: ignore[no-untyped-def]
    w = setup(ws)
    assert w.automation.tick()["status"] == "idle"  # the champion was trained on train@1
    w.data.add(frame(3000, 5), name="train")
    outcome = w.automation.tick()
    job = outcome["job"]
    assert outcome["status"] == "done" and outcome["fired"][0]["trigger"] == "dataset"
    assert "new dataset version train@2" in job["reason"]
    assert (job["champion"], job["challenger"], job["decision"]) == (1, 2, "promote")
    assert w.models.get("trend@champion").version == 2
    run = w.runs.get(job["run_id"])
    assert run["trigger"] == f"automate job {job['id']}: dataset"
    evidence = job["evidence"]
    assert evidence["verdict"] == "passed" and evidence["worse"] == []
    assert evidence["datasets"] == ["holdout@1"]
    ev = w.evals.get(job["evaluation_id"])
    assert ev.baseline == "trend@1" and "accuracy" in ev.details["holdout@1"]["deltas"]
    assert alias_events(w)[-1]["why"].startswith(f"automate job {job['id']} (dataset)")
    assert w.automation.tick()["status"] == "idle"  # idempotent: nothing new, nothing done
    history = rung_cli("automate", "history", cwd=w.root)
    assert history.returncode == 0 and "promote" in history.stdout


def test_a_failed_run_never_moves_the_alias(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    w = setup(sqlite_ws, params="{ C = -1.0 }")  # LogisticRegression refuses C < 0
    w.data.add(frame(3000, 5), name="train")
    out = rung_cli("automate", "tick", cwd=w.root)
    assert out.returncode == 1
    assert "FAILED" in out.stdout and "the alias was not moved" in out.stdout
    job = w.automation.history()[-1]
    assert job["state"] == "failed" and "C" in job["error"] and job["challenger"] is None
    assert "see `rung show" in job["error"]  # the failed run, with its traceback
    assert w.models.get("trend@champion").version == 1
    assert len(alias_events(w)) == 1


def test_manual_policy_waits_for_approval(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    w = setup(sqlite_ws, policy="manual")
    w.data.add(frame(3000, 5), name="train")
    out = rung_cli("automate", "tick", cwd=w.root)
    assert out.returncode == 0, out.stderr
    assert "waiting for `rung model approve trend 2`" in out.stdout
    assert w.models.get("trend@champion").version == 1
    wrong = rung_cli("model", "approve", "trend", "1", cwd=w.root)
    assert wrong.returncode == 1 and "no challenger trend@1 is waiting" in wrong.stderr
    ok = rung_cli("model", "approve", "trend", "2", cwd=w.root)
    assert ok.returncode == 0 and "approved and promoted to champion" in ok.stdout
    assert w.models.get("trend@champion").version == 2
    assert "approved by" in alias_events(w)[-1]["why"]
    assert w.automation.history()[-1]["decision"] == "approved"


def test_a_challenger_worse_than_the_champion_is_rejected(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    w = setup(sqlite_ws, params="{ C = 0.00001 }", champion={})  # a good champion; a
    # challenger so regularised it predicts one class
    w.data.add(frame(3000, 5), name="train")
    job = w.automation.tick()["job"]
    assert job["decision"] == "reject" and w.models.get("trend@champion").version == 1
    reasons = job["evidence"]["reasons"]
    assert any(r.startswith("criterion not met") for r in reasons)
    assert any(r.startswith("significantly worse: accuracy on holdout@1") for r in reasons)


def test_a_firing_within_the_cooldown_stays_pending_until_a_job_takes_it(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    """The issue's example: a new version within the cooldown is deferred, not dropped —
    after the cooldown the next tick trains on it (before, every later tick was idle)."""
    w = setup(sqlite_ws, cooldown="30s")
    w.data.add(frame(3000, 5), name="train")
    assert rung_cli("automate", "tick", cwd=w.root).returncode == 0
    w.data.add(frame(3000, 6), name="train")
    deferred = rung_cli("automate", "tick", cwd=w.root)
    assert deferred.returncode == 0, deferred.stderr
    assert "fired: dataset: new dataset version train@3" in deferred.stdout
    assert "deferred by the cooldown of 30 s until" in deferred.stdout
    for command in ("status", "history"):
        shown = rung_cli("automate", command, cwd=w.root).stdout
        assert "dataset: new dataset version train@3" in shown and "pending since" in shown
    assert len(w.runs.list()) == 2  # the setup's run and the first job's, no third
    assert w.automation.tick()["status"] == "deferred"  # still within the cooldown: kept
    rewind_jobs(w, 31)  # as if the cooldown had passed
    done = rung_cli("automate", "tick", "--json", cwd=w.root)
    job = json.loads(done.stdout)["job"]
    assert (
        job["state"] == "done" and "train@3" in job["reason"] and "pending since" in job["reason"]
    )
    assert "train@3" in w.models.get(f"trend@{job['challenger']}").datasets
    assert w.automation.tick()["status"] == "idle"  # acted on: no longer pending
    assert [j["state"] for j in w.automation.history()] == ["done", "done"]


def test_two_ticks_racing_start_one_run(ws) -> None:  # type: ignore[no-untyped-def]
    w = setup(ws)
    w.data.add(frame(3000, 5), name="train")
    procs = [
        subprocess.Popen(
            [RUNG, "automate", "tick", "--json"],
            cwd=w.root,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    outcomes = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert sorted(o["status"] for o in outcomes).count("done") == 1, outcomes
    assert all(o["status"] in ("done", "busy", "idle") for o in outcomes)
    assert len(w.automation.history()) == 1
    with w.store.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM runs WHERE trigger LIKE :p", {"p": "automate%"}) == 1
    assert [e["to_version"] for e in alias_events(w)] == [1, 2]


def test_a_tick_killed_mid_run_is_resumed_by_the_next(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    w = setup(ws, lease=2)
    w.data.add(frame(3000, 5), name="train")
    marker = tmp_path / "fitting"
    proc = subprocess.Popen(
        [RUNG, "automate", "tick"], cwd=w.root, env={**os.environ, "SLOW_FIT": str(marker)}
    )
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the tick never reached the fit step"
    proc.send_signal(signal.SIGKILL)  # in the middle of the pipeline run
    proc.wait(timeout=30)
    job = w.automation.history()[-1]
    assert job["state"] == "fired" and w.models.get("trend@champion").version == 1
    busy = w.automation.tick()  # the dead tick's lease has not expired yet
    assert busy["status"] == "busy"
    time.sleep(2.5)
    outcome = w.automation.tick()
    assert outcome["resumed"] is True and outcome["job"]["id"] == job["id"]
    assert outcome["status"] == "done" and outcome["job"]["decision"] == "promote"
    assert [e["to_version"] for e in alias_events(w)] == [1, 2]

    # a crash right after the promotion, before the job was marked done: no second move
    with w.store.write() as tx:
        tx.execute("UPDATE automation_jobs SET state = 'decided' WHERE id = :id", {"id": job["id"]})
    again = w.automation.tick()
    assert again["resumed"] is True and again["status"] == "done"
    assert [e["to_version"] for e in alias_events(w)] == [1, 2]


def _log(ws: Any, rows: Any, version: int, labels: list[str] | None = None) -> None:
    log_served(ws.store, in_fifties(rows), version, latency_ms=2.0)
    if labels is not None:
        from rung.serving.feedback import record

        with ws.store.read() as tx:
            ids = [
                r["request_id"]
                for r in tx.all(
                    "SELECT request_id FROM predictions WHERE version = :v ORDER BY id",
                    {"v": version},
                )
            ]
        record(ws.store, {"feedback": [{"request_id": r, "labels": labels[:50]} for r in ids]})


def test_drift_and_performance_triggers_with_fresh_labelled_data(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    extra = """
[[automate.triggers]]
kind = "drift"
window = "300"

[[automate.triggers]]
kind = "performance"
metric = "accuracy"
below = 0.7
labelled = 100
"""
    w = setup(sqlite_ws, extra=extra, more="fresh = 200\n")
    _log(w, frame(300, 2), version=1)  # the same world: no drift, no labels yet
    assert w.automation.tick()["status"] == "idle"
    assert len(w.monitor.windows("trend")) == 1
    assert w.automation.tick()["status"] == "idle"  # nothing new logged: no new window
    assert len(w.monitor.windows("trend")) == 1

    moved = frame(300, 3)
    moved["a"] += 1.5
    _log(w, moved, version=1, labels=["no"] * 50)  # every "yes" it said was wrong
    outcome = w.automation.tick()
    fired = {f["trigger"]: f["reason"] for f in outcome["fired"]}
    assert "1 of 2 features drifted (a)" in fired["drift"]
    assert (
        "live accuracy of trend@1 0.000 < 0.7 on its newest 100 labelled rows"
        in fired["performance"]
    )
    job = outcome["job"]
    assert job["trigger"] == "drift" and job["state"] == "done"
    served = [d for d in job["evidence"]["datasets"] if d.startswith("trend-served@")]
    assert served and w.data.get(served[0]).load().shape == (200, 3)  # a, color, y


def test_configuration_errors_are_one_clear_line(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    w = sqlite_ws
    base = (w.root / "rung.toml").read_text()
    cases = {
        '[automate]\nmodel = "m"\n[[automate.triggers]]\nkind = "schedule"\ncron = "61 * * * *"\n': "automate.triggers[0].cron = '61 * * * *': minute 61 is out of range 0-59",
        '[automate]\nmodel = "m"\n[[automate.triggers]]\nkind = "weekly"\n': "automate.triggers[0].kind = 'weekly': expected one of 'schedule'",
        '[automate]\nmodel = "m"\npolicy = "yolo"\n': "automate.policy = 'yolo': expected one of 'auto', 'manual'",
        '[automate]\nmodel = "m"\n': "model 'm' is automated but has no pipeline",
        '[automate]\nmodel = "m"\npipeline = "train.py:train"\n': "model 'm' is automated but nothing would start a job",
        '[automate]\nmodle = "m"\n': "unknown key 'automate.modle' — did you mean 'model'?",
    }
    for config, message in cases.items():
        (w.root / "rung.toml").write_text(base + config)
        out = rung_cli("automate", "tick", cwd=w.root)
        assert out.returncode == 1 and message in out.stderr, (config, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1
        looping = rung_cli("automate", "run", "--ticks", "1", cwd=w.root)
        assert looping.returncode == 1 and "ticking every" not in looping.stderr


def test_cron_due_finds_the_latest_match_in_the_interval() -> None:
    from rung.automation.triggers import check_cron, cron_due

    t = datetime(2026, 3, 2, 2, 59, tzinfo=UTC).timestamp()  # a Monday
    assert cron_due("0 3 * * 1", t, t + 30) is None
    assert cron_due("0 3 * * 1", t, t + 61) == t + 60
    assert cron_due("*/15 * * * *", t, t + 3600) == t + 46 * 60
    with pytest.raises(InvalidInput, match="five fields"):
        check_cron("* * *")


def test_approve_without_a_waiting_job_is_an_error(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    w = setup(sqlite_ws)
    with pytest.raises(NotFound, match="no challenger trend@3 is waiting"):
        w.automation.approve("trend", 3)


def test_automate_run_loops_until_its_ticks_are_done(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    w = setup(sqlite_ws)
    w.data.add(frame(3000, 5), name="train")
    out = rung_cli("automate", "run", "--interval", "0.2", "--ticks", "3", cwd=w.root)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 5, lines  # what fired and the job's start are printed as they happen
    assert "] fired: dataset: new dataset version train@2" in lines[0]
    assert lines[1].endswith("] job 1: started, running the pipeline")
    assert "PROMOTED version 2 to champion" in lines[2]
    assert lines[3].endswith("no trigger fired") and lines[4].endswith("no trigger fired")


def test_a_schedule_trigger_fires_once_per_due_time(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    extra = '\n[[automate.triggers]]\nkind = "schedule"\ncron = "0 0 1 1 *"\n'
    w = setup(sqlite_ws, extra=extra, champion={})  # trained as the loop trains
    assert w.automation.tick()["status"] == "idle"  # the first tick only notes the time
    with w.store.write() as tx:  # as if that tick had run over a year ago: New Year was due
        tx.execute(
            "UPDATE automation_state SET value = :v WHERE key = 'trend/schedule'",
            {"v": json.dumps({"checked": time.time() - 370 * 86400, "streak": 0})},
        )
    outcome = w.automation.tick()
    assert outcome["fired"][0]["trigger"] == "schedule"
    assert "schedule '0 0 1 1 *' was due at" in outcome["fired"][0]["reason"]
    job = outcome["job"]
    # the same data again: the run reproduces the serving model, which is not promoted twice
    assert job["decision"] == "reject" and job["challenger"] == job["champion"] == 1
    assert "the run produced the serving version 1 again" in job["evidence"]["reasons"]
    # ... and that alone decided: not "no champion to compare with" (report t11 item 8)
    assert job["evidence"]["decided_by"] == ["the run produced the serving version 1 again"]
    history = rung_cli("automate", "history", cwd=w.root).stdout
    assert "no champion" not in history and "decided by" not in history.split("job 1")[-1]
    # nor is it a rejection of version 1 that a later move onto it would have to force
    from rung.registry.gate import policy_rejection

    with w.store.read() as tx:
        assert policy_rejection(tx, "trend", "champion", 1) is None
    with pytest.raises(NotFound, match="no challenger trend@1 is waiting"):  # nor approvable
        w.automation.approve("trend", 1, force=True, reason="no rejection to override")
    assert w.automation.tick()["status"] == "idle"  # not due again before next New Year


def test_automate_run_stops_on_sigterm_between_ticks(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    w = setup(sqlite_ws)
    proc = subprocess.Popen(
        [RUNG, "automate", "run", "--interval", "0.2"],
        cwd=w.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # one tick done: the loop is running
    assert first.strip().endswith("no trigger fired"), first
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert "ticking every 0.2 s" in proc.stderr.read()  # type: ignore[union-attr]


def test_debounce_needs_the_condition_on_consecutive_new_windows(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    extra = '\n[[automate.triggers]]\nkind = "drift"\nwindow = "300"\n'
    w = setup(sqlite_ws, extra=extra, more="debounce = 2\n")
    moved = frame(300, 3)
    moved["a"] += 1.5
    _log(w, moved, version=1)
    assert w.automation.tick()["status"] == "idle"  # drifted once: streak 1 of 2
    assert w.automation.tick()["status"] == "idle"  # nothing new logged: streak kept, no fire
    with w.store.read() as tx:
        state = json.loads(
            tx.scalar("SELECT value FROM automation_state WHERE key = 'trend/drift'")
        )
    assert state["streak"] == 1
    _log(w, moved, version=1)
    outcome = w.automation.tick()  # drifted again on a new window: fires
    assert outcome["fired"][0]["trigger"] == "drift" and outcome["job"] is not None
