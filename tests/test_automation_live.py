"""`rung automate` acting on live evidence: a ``kind = "live"`` trigger judges the challenger
served beside the champion (in shadow: paired; as a canary: two-sample) on the traffic whose
labels came back, and its job promotes through the registry's gate, rejects, waits for
approval, or — with too few labels — does nothing until there are enough. Through the API,
the real CLI, and (once) a real `rung serve --shadow` with labels posted to /feedback."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conftest import rung_cli, start_server
from model_project import TRAIN, frame, serve_log

pytest.importorskip("sklearn")

CRITERIA = ["accuracy >= 0.3"]

CONFIG = """
[eval]
label = "y"
criteria = ["accuracy >= 0.3"]

[automate]
model = "trend"
policy = "{policy}"
{extra}
[[automate.triggers]]
kind = "live"
{trigger}
"""


def setup(
    ws: Any, policy: str = "auto", trigger: str = "", gate: bool = True, extra: str = ""
) -> Any:
    """trend@1 the champion, trend@2 the challenger (both evaluated against the declared
    criteria, so the gate passes them, unless ``gate`` is False for version 2), a live
    trigger configured (``trigger``: its keys, and any further trigger) with ``extra`` keys
    under [automate]; the workspace reopened to read it."""
    from rung import Workspace

    (ws.root / "rung.toml").write_text(CONFIG.format(policy=policy, trigger=trigger, extra=extra))
    w = Workspace.open(ws.root)
    (w.root / "train.py").write_text(TRAIN)
    w.data.add(frame(300, 1), name="train")
    w.data.add(frame(300, 9), name="holdout")
    for c in (0.0001, 1.0):
        w.models.register(str(w.run("train.py:train", {"C": c}).id), "trend")
    for version in (1, 2) if gate else (1,):
        ev = w.evals.evaluate(f"trend@{version}", ["holdout@1"], label="y", criteria=CRITERIA)
        assert ev.verdict["status"] == "passed"
    w.models.promote("trend", 1)
    w.models.promote("trend", 2, "challenger", force=True, reason="served in shadow")
    return w


def champion(ws: Any) -> int:
    return int(ws.models.get("trend@champion").version)


def test_better_live_evidence_promotes_through_the_gate(ws) -> None:  # type: ignore[no-untyped-def]
    w = setup(ws)
    serve_log(w, 300, 0.6, 0.9, shadow=True)
    outcome = w.automation.tick()
    job = outcome["job"]
    assert outcome["status"] == "done", job
    assert (job["champion"], job["challenger"], job["decision"]) == (1, 2, "promote")
    assert job["run_id"] is None and job["evaluation_id"] is None  # nothing was trained
    assert "live paired comparison of trend@2 (challenger)" in job["reason"]
    live = job["evidence"]["live"]
    assert live["mode"] == "paired" and live["labelled"] == {"pairs": 300}
    assert live["verdict"] == "better" and live["deltas"]["accuracy"]["delta"] > 0
    d = live["deltas"]["accuracy"]
    assert d["low"] <= d["delta"] <= d["high"]
    assert job["evidence"]["better"] and job["evidence"]["worse"] == []
    assert champion(w) == 2
    event = w.models.history("trend")[-1]
    assert (event["from_version"], event["to_version"], event["action"]) == (1, 2, "promote")
    assert "better than trend@1 on live traffic (paired, 300 labelled pairs)" in event["why"]
    assert w.automation.tick()["status"] == "idle"  # the challenger is the champion now
    history = rung_cli("automate", "history", cwd=w.root)
    assert history.returncode == 0, history.stderr
    assert "live traffic: trend@2 vs trend@1, paired, 300 labelled pairs: better" in history.stdout
    assert "accuracy on live traffic" in history.stdout  # the test with its CI


def test_worse_live_evidence_keeps_the_champion(ws) -> None:  # type: ignore[no-untyped-def]
    w = setup(ws)
    serve_log(w, 300, 0.9, 0.6, shadow=True)
    out = rung_cli("automate", "tick", cwd=w.root)
    assert out.returncode == 0, out.stderr
    assert "job 1: started, judging the live evidence" in out.stdout
    assert "live paired evidence, REJECTED version 2" in out.stdout
    assert "significantly worse: accuracy on live traffic" in out.stdout
    job = w.automation.history()[-1]
    assert (job["state"], job["decision"]) == ("done", "reject")
    assert champion(w) == 1 and len(w.models.history("trend")) == 2  # no alias moved
    assert w.automation.tick()["status"] == "idle"  # judged once, not again every tick
    status = rung_cli("automate", "status", cwd=w.root)
    assert "quiet: live (live): a job already judged trend@2" in status.stdout
    # the gate stands by the rejection: moving the champion onto it needs --force
    refused = rung_cli("model", "promote", "trend", "2", cwd=w.root)
    assert refused.returncode == 1 and f"automate job {job['id']}" in refused.stderr


def test_too_few_labels_judge_nothing_until_there_are_enough(ws) -> None:  # type: ignore[no-untyped-def]
    w = setup(ws, trigger="min_labelled = 50")
    serve_log(w, 20, 0.0, 1.0, shadow=True)  # 20 of 20 right against none: still too few
    assert w.automation.tick()["status"] == "idle"
    assert w.automation.history() == [] and champion(w) == 1
    status = rung_cli("automate", "status", cwd=w.root)
    assert status.returncode == 0, status.stderr
    assert "quiet: live (live): not enough evidence: 20 labelled" in status.stdout
    assert "fewer than 50" in status.stdout
    serve_log(w, 280, 0.6, 0.9, shadow=True, start=20)  # later: enough labels come back
    job = w.automation.tick()["job"]
    assert job["decision"] == "promote" and champion(w) == 2
    assert job["evidence"]["live"]["labelled"] == {"pairs": 300}


def test_a_canary_is_judged_two_sample(ws) -> None:  # type: ignore[no-untyped-def]
    w = setup(ws, trigger='mode = "two-sample"')
    serve_log(w, 400, 0.55, 0.95, shadow=False)
    job = w.automation.tick()["job"]
    assert job["decision"] == "promote" and champion(w) == 2
    live = job["evidence"]["live"]
    assert live["mode"] == "two-sample"
    # the champion's answers of the canary's period: req-0 came before the canary's first
    assert live["labelled"] == {"champion": 199, "challenger": 200}


def test_manual_policy_waits_for_approval(ws) -> None:  # type: ignore[no-untyped-def]
    w = setup(ws, policy="manual")
    serve_log(w, 300, 0.6, 0.9, shadow=True)
    out = rung_cli("automate", "tick", cwd=w.root)
    assert out.returncode == 0, out.stderr
    assert "waiting for `rung model approve trend 2`" in out.stdout
    assert champion(w) == 1
    status = rung_cli("automate", "status", cwd=w.root)
    assert "waiting for approval: version 2" in status.stdout
    assert "live evidence, compared with version 1" in status.stdout
    assert "quiet: live (live): a job judged version 2 (trend@challenger)" in status.stdout
    ok = rung_cli("model", "approve", "trend", "2", cwd=w.root)
    assert ok.returncode == 0, ok.stderr
    assert champion(w) == 2
    assert "paired live evidence" in w.models.history("trend")[-1]["why"]
    assert w.automation.history()[-1]["decision"] == "approved"


def test_the_gate_refuses_a_challenger_that_never_passed_its_criteria(ws) -> None:  # type: ignore[no-untyped-def]
    w = setup(ws, gate=False)  # trend@2 has no evaluation against the declared criteria
    serve_log(w, 300, 0.6, 0.9, shadow=True)
    out = rung_cli("automate", "tick", cwd=w.root)
    assert out.returncode == 1
    assert "FAILED: refusing to promote trend@2" in out.stdout
    assert "the alias was not moved" in out.stdout
    job = w.automation.history()[-1]
    assert (job["state"], job["decision"]) == ("failed", "promote")
    assert job["evidence"]["live"]["verdict"] == "better"  # the evidence stays recorded
    assert champion(w) == 1
    # once it passes its criteria, the retry (after the backoff) promotes it
    w.evals.evaluate("trend@2", ["holdout@1"], label="y", criteria=CRITERIA)
    with w.store.write() as tx:
        tx.execute("UPDATE automation_jobs SET created_at = created_at - 7200")
    assert w.automation.tick()["job"]["decision"] == "promote" and champion(w) == 2


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ('challenger = "champion"', "is the alias the loop promotes to"),
        ('mode = "both"', "automate.triggers[0].mode = 'both'"),
        ("min_labelled = 0", "automate.triggers[0].min_labelled = 0"),
        ('challenger = "9lives"', "automate.triggers[0].challenger"),
        ("labelled = 10", "unknown key 'automate.triggers[0].labelled'"),
    ],
)
def test_a_bad_live_trigger_is_one_clear_line(sqlite_ws, trigger: str, message: str) -> None:  # type: ignore[no-untyped-def]
    (sqlite_ws.root / "rung.toml").write_text(
        CONFIG.format(policy="auto", trigger=trigger, extra="")
    )
    out = rung_cli("automate", "status", cwd=sqlite_ws.root)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_a_real_shadow_server_with_labels_fed_back_gets_its_challenger_promoted(
    sqlite_ws,
) -> None:  # type: ignore[no-untyped-def]
    """`rung serve trend@champion --shadow trend@challenger`, requests and labels through
    HTTP, then `rung automate tick`: the better challenger becomes the champion, and the
    service follows its alias."""
    import time

    w = setup(sqlite_ws, trigger="min_labelled = 40")
    proc, url = start_server(
        w.root, "trend@champion", "--shadow", "trend@challenger", "--poll", "0.2"
    )
    try:
        data = frame(120, 4)
        with httpx.Client(base_url=url, timeout=30) as client:
            ids = []
            for a, color in zip(data["a"], data["color"], strict=True):
                r = client.post("/predict", json={"a": float(a), "color": color})
                assert r.status_code == 200 and r.json()["version"] == 1, r.text
                ids.append(r.json()["request_id"])
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # the shadow predictions are off the path
                with w.store.read() as tx:
                    n = tx.scalar("SELECT COUNT(*) FROM predictions WHERE role = 'shadow'")
                if n >= len(ids):
                    break
                time.sleep(0.1)
            labels = [{"request_id": i, "label": y} for i, y in zip(ids, data["y"], strict=True)]
            assert client.post("/feedback", json={"feedback": labels}).status_code == 200
            out = rung_cli("automate", "tick", cwd=w.root)
            assert out.returncode == 0, out.stderr
            assert "PROMOTED version 2 to champion" in out.stdout, out.stdout
            deadline = time.monotonic() + 20
            version = None
            while time.monotonic() < deadline and version != 2:  # the alias follower
                version = client.post("/predict", json={"a": 0.1, "color": "red"}).json()["version"]
                time.sleep(0.1)
            assert version == 2
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize(
    "point",
    [
        "tick.checked",
        "tick.state-saved",
        "tick.job-created",
        "tick.decided",
        "tick.promoting",
        "tick.promoted",
    ],
)
def test_a_tick_killed_anywhere_in_a_live_job_promotes_once_when_resumed(ws, point: str) -> None:  # type: ignore[no-untyped-def]
    """The real `rung automate tick` ended by the fault hook (as by kill -9) at each point a
    live job passes; the next tick resumes or redoes it: one promotion, one done job."""
    import os

    from rung.core.faults import EXIT_CODE

    w = setup(ws)
    serve_log(w, 300, 0.6, 0.9, shadow=True)
    killed = rung_cli("automate", "tick", cwd=w.root, env={**os.environ, "RUNG_FAULT_AT": point})
    assert killed.returncode == EXIT_CODE, killed.stderr
    with w.store.write() as tx:  # the killed tick's lease: expired, as after its ttl
        tx.execute("UPDATE leases SET expires_at = 0")
    again = rung_cli("automate", "tick", cwd=w.root)
    assert again.returncode == 0, again.stderr
    assert champion(w) == 2
    moves = [e for e in w.models.history("trend") if e["alias"] == "champion"]
    assert [(e["from_version"], e["to_version"]) for e in moves] == [(None, 1), (1, 2)]
    jobs = w.automation.history()
    assert [(j["state"], j["decision"]) for j in jobs] == [("done", "promote")]
    assert w.automation.tick()["status"] == "idle"


def test_a_live_job_goes_first_and_a_retraining_trigger_waits_for_the_next(ws) -> None:  # type: ignore[no-untyped-def]
    """One loop, two kinds of job: a live trigger and a dataset trigger fire in one tick;
    the live job acts first, the dataset trigger stays pending and the next tick retrains."""
    w = setup(
        ws,
        trigger='\n[[automate.triggers]]\nkind = "dataset"\ndataset = "train"',
        extra='pipeline = "train.py:train"\ndatasets = ["holdout@1"]',
    )
    serve_log(w, 300, 0.6, 0.9, shadow=True)
    w.data.add(frame(400, 5), name="train")
    first = w.automation.tick()
    assert {f["trigger"] for f in first["fired"]} == {"live", "dataset"}
    assert first["job"]["trigger"] == "live" and first["job"]["run_id"] is None
    pending = {p["trigger"]: p for p in first["pending"]}
    assert pending["live"]["job"] == first["job"]["id"] and "job" not in pending["dataset"]
    assert champion(w) == 2
    second = w.automation.tick()
    assert second["job"]["trigger"] == "dataset" and second["job"]["run_id"] is not None
    assert second["job"]["champion"] == 2  # judged against the champion the live job made
    assert [p["trigger"] for p in second["pending"]] == ["dataset"]  # the job acting on it
    assert w.automation.tick()["status"] == "idle"


def test_a_loop_of_live_triggers_needs_no_pipeline_nor_label_column(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    (sqlite_ws.root / "rung.toml").write_text(
        '[eval]\ncriteria = ["accuracy >= 0.3"]\n'
        '[automate.models.trend]\n[[automate.models.trend.triggers]]\nkind = "live"\n'
    )
    out = rung_cli("automate", "status", cwd=sqlite_ws.root)
    assert out.returncode == 0, out.stderr
    assert "quiet: live (live): no trend@champion to watch yet" in out.stdout
