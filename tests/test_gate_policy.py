"""The automation's judgement of a version holds on every path that moves its alias (report
t11user items 6 and 7), through the real loop, CLI and Python API, on both backends:

* a version the loop **rejected** for an alias moves there only with ``--force --reason``,
  whichever command moves it (promote, rollback, approve; ``ws.models.promote`` and
  ``rollback``), refused in one line naming the job and its reason; a version a person
  **approved**, or one the loop **never judged**, moves as the gate alone says; another
  alias is not the loop's to guard;
* ``rung model approve`` acts only on fresh evidence: the alias must still point at the
  champion the job compared the challenger with — after a manual promote, a rollback or
  another job's promotion it is refused naming both versions, unless ``--force --reason``.
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import rung_cli
from test_policy_loop import champion, events, project, tick, world

pytest.importorskip("sklearn")

PASSING = '"accuracy >= 0.6 on every dataset"'


def version_of(w: Any, C: float, seed: int = 1, evaluate: bool = True) -> int:
    """A version the loop never judged: trained with C on train@seed, registered, and (with
    ``evaluate``) evaluated against the declared criteria on the holdout."""
    run = w.run("train.py:train", {"C": C})
    version = w.models.register(str(run.id), "trend").version
    if evaluate:
        w.evals.evaluate(f"trend@{version}", ["holdout@1"])
    return int(version)


def refused(out: Any, *needles: str) -> str:
    """The one-line refusal of a CLI call, checked to name every needle."""
    assert out.returncode != 0, out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_a_rejected_version_needs_force_on_every_path_that_moves_its_alias(ws) -> None:  # type: ignore[no-untyped-def]
    from rung.registry.models import RefusedPromotion

    w = project(ws, criteria=PASSING)
    w.data.add(world(1500, 21), name="train")
    job = tick(w)  # a tie: rejected, though it meets the criteria
    assert job["decision"] == "reject" and job["challenger"] == 2, job["evidence"]
    assert w.models.get("trend@2").verdict == "passed"
    rejected = f"automate job {job['id']} rejected it"
    why = job["evidence"]["reasons"][0]
    # what the UI shows beside the version's "passed" (the gate's own rule)
    standing = w.models.rejections("trend")
    assert standing == {2: [{"alias": "champion", "job": job["id"], "reason": why}]}
    assert "a tie keeps the champion" in why
    judged_never = version_of(w, 0.5)
    assert w.models.get(f"trend@{judged_never}").verdict == "passed"
    moves = len(events(w))

    # -- rejected: promote (CLI, API), rollback (CLI, API), approve: each refused, nothing moves
    out = rung_cli("model", "promote", "trend", "2", cwd=w.root)
    refused(out, "refusing to promote trend@2 to 'champion'", rejected, why[:40])
    refused(out, "rung model approve trend 2 --force --reason", "promote trend 2 --force")
    with pytest.raises(RefusedPromotion, match=rejected):
        w.models.promote("trend", 2)
    refused(rung_cli("model", "approve", "trend", "2", cwd=w.root), "--force --reason")
    bare = rung_cli("model", "promote", "trend", "2", "--force", cwd=w.root)
    refused(bare, "--force needs a reason")
    assert champion(w) == 1 and len(events(w)) == moves
    # the rejection is for the loop's alias: another alias is the gate's alone
    staged = w.models.promote("trend", 2, "staging")
    assert staged["action"] == "promote"
    # forced with a reason: recorded as forced, the rejection it overrides named
    forced = w.models.promote("trend", 2, force=True, reason="the audit wants it")
    assert forced["action"] == "force"
    assert f"overrides automate job {job['id']}'s rejection" in forced["why"]
    w.models.promote("trend", judged_never)  # never judged, passed: the gate alone decides
    out = rung_cli("model", "rollback", "trend", cwd=w.root)  # back onto the rejected one
    refused(out, "refusing to roll trend@champion back to trend@2", rejected)
    refused(out, "rung model rollback trend --force --reason")
    with pytest.raises(RefusedPromotion, match=rejected):
        w.models.rollback("trend")
    assert champion(w) == judged_never
    out = rung_cli("model", "rollback", "trend", "--force", "--reason", "again", cwd=w.root)
    assert out.returncode == 0, out.stderr
    assert events(w)[-1]["action"] == "force-rollback" and champion(w) == 2

    # -- approved by a person (forced over the rejection): later moves need no force
    w.models.promote("trend", 1, force=True, reason="back to the job's champion")
    why_ok = "the regulator asked for it"
    out = rung_cli("model", "approve", "trend", "2", "--force", "--reason", why_ok, cwd=w.root)
    assert out.returncode == 0, out.stderr
    assert champion(w) == 2 and w.automation.job(job["id"])["decision"] == "approved"
    w.models.promote("trend", judged_never)
    assert w.models.promote("trend", 2)["action"] == "promote"  # API, plain
    out = rung_cli("model", "promote", "trend", str(judged_never), cwd=w.root)
    assert out.returncode == 0, out.stderr
    out = rung_cli("model", "rollback", "trend", cwd=w.root)  # onto the approved one
    assert out.returncode == 0 and champion(w) == 2, out.stderr
    assert events(w)[-1]["action"] == "rollback"

    # -- never judged by the loop: promote and rollback as the gate says; approve has no job
    assert w.models.promote("trend", judged_never)["action"] == "promote"
    w.models.promote("trend", 2)
    assert w.models.rollback("trend")["to_version"] == judged_never
    out = rung_cli("model", "approve", "trend", str(judged_never), cwd=w.root)
    refused(out, f"no challenger trend@{judged_never} is waiting for approval")


def test_approve_refuses_stale_evidence(ws) -> None:  # type: ignore[no-untyped-def]
    """The job compared its challenger with the champion of its time; after a rollback, a
    manual promote or another job's promotion the alias points elsewhere: approve refuses,
    naming both versions and how to get fresh evidence, unless forced with a reason."""
    from rung.core.errors import InvalidInput
    from rung.registry.models import RefusedPromotion

    w = project(ws, champion_C=0.0001, policy="manual", criteria=PASSING)  # a weak champion
    weak = version_of(w, 0.0002, evaluate=False)  # another weak one (v2)
    w.models.promote("trend", weak, force=True, reason="a second weak champion")
    w.data.add(world(1500, 2), name="train")
    job = tick(w)
    assert job["decision"] == "await" and job["champion"] == weak, job["evidence"]
    waiting = job["challenger"]

    def stale(now: int) -> list[str]:
        return [
            f"refusing to approve trend@{waiting}: the evidence is stale",
            f"automate job {job['id']} compared it with trend@{weak}",
            f"trend@champion is now version {now}",
        ]

    # after a rollback (onto version 1, forced: it has no verdict)
    out = rung_cli("model", "rollback", "trend", "--force", "--reason", "r", cwd=w.root)
    assert out.returncode == 0 and champion(w) == 1, out.stderr
    moves = len(events(w))
    out = rung_cli("model", "approve", "trend", str(waiting), cwd=w.root)
    refused(out, *stale(1), f"rung eval trend@{waiting} --baseline trend@1", "--force --reason")
    assert champion(w) == 1 and len(events(w)) == moves
    assert w.automation.job(job["id"])["decision"] == "await"  # nothing stored

    # after a manual promote of a good version
    good = version_of(w, 0.5)
    w.models.promote("trend", good)
    out = rung_cli("model", "approve", "trend", str(waiting), cwd=w.root)
    refused(out, *stale(good))
    with pytest.raises(RefusedPromotion, match="the evidence is stale"):
        w.automation.approve("trend", waiting)
    with pytest.raises(InvalidInput, match="--force needs a reason"):  # --force alone
        w.automation.approve("trend", waiting, force=True)
    assert champion(w) == good

    # back on the job's champion, the evidence holds again: a fresh second job waits too
    w.models.promote("trend", weak, force=True, reason="back")
    w.data.add(world(1500, 3), name="train")
    second = tick(w)
    assert second["decision"] == "await" and second["champion"] == weak, second["evidence"]
    # another job's challenger is approved: the first job's evidence is stale now
    ok = rung_cli("model", "approve", "trend", str(second["challenger"]), cwd=w.root)
    assert ok.returncode == 0, ok.stderr
    out = rung_cli("model", "approve", "trend", str(waiting), cwd=w.root)
    refused(out, *stale(second["challenger"]))

    # forced with a reason: recorded, with what it overrode
    why = "reviewed by hand against the new champion"
    out = rung_cli(
        "model", "approve", "trend", str(waiting), "--force", "--reason", why, cwd=w.root
    )
    assert out.returncode == 0, out.stderr
    assert champion(w) == waiting
    event = events(w)[-1]
    assert event["action"] == "force" and why in event["why"]
    assert f"compared with version {weak}, not the serving version" in event["why"]
    approval = w.automation.job(job["id"])["evidence"]["approval"]
    assert approval["forced"] and approval["stale"] == {
        "compared_with": weak,
        "serving": second["challenger"],
    }
    history = rung_cli("automate", "history", cwd=w.root).stdout
    assert f"stale evidence: compared with version {weak}" in history
    assert "the policy's rejection" not in history


def test_the_loops_own_promotion_refuses_stale_evidence(ws) -> None:  # type: ignore[no-untyped-def]
    """The same time-of-check/time-of-use for the loop: a tick killed after its decision to
    promote, the alias moved by a person meanwhile — the resumed tick does not promote on
    evidence about another champion; the job fails saying why, the person's move stands."""
    w = project(ws, champion_C=0.0001, criteria=PASSING, more="lease = 1\n")
    w.data.add(world(1500, 2), name="train")
    killed = rung_cli("automate", "tick", cwd=w.root, env={"RUNG_FAULT_AT": "tick.decided"})
    assert killed.returncode == 97, killed.stderr
    job = w.automation.history()[-1]
    assert job["state"] == "decided" and job["decision"] == "promote" and job["champion"] == 1
    other = version_of(w, 0.0002, evaluate=False)
    w.models.promote("trend", other, force=True, reason="a person's move while it was down")
    import time

    time.sleep(1.5)  # the dead tick's lease expires
    out = rung_cli("automate", "tick", cwd=w.root)
    job = w.automation.job(job["id"])
    assert job["state"] == "failed", (out.stdout, out.stderr)
    assert f"automate job {job['id']} compared it with trend@1" in job["error"]
    assert f"trend@champion is now version {other}" in job["error"]
    assert "approve anyway" not in job["error"]
    assert champion(w) == other and events(w)[-1]["to_version"] == other
