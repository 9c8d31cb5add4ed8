"""Queries over a model's automation jobs, each in a given transaction (no writes): when the
next job may start (the cooldown, the backoff after failed jobs), the challengers waiting for
``rung model approve``, and the approval of a version approved before; and how a job's
messages name a version and a time."""

from __future__ import annotations

import json
import time
from typing import Any

from rung.automation.pending import retry_backoff
from rung.store.metadata import Tx

COUNTED = 8  # failed jobs in a row counted for the backoff (it is at its longest after 7)


def next_job_wait(tx: Tx, model: str, cooldown: float, now: float) -> tuple[float, str] | None:
    """When the next job of ``model`` may start and what holds it back — ``(time, "the
    cooldown of N s")`` or ``(time, "the backoff of N s after K failed job(s) in a row")`` —
    or None when one may start at ``now``. The wait is the longer of ``cooldown`` (seconds)
    and :func:`~rung.automation.pending.retry_backoff` of the jobs that failed in a row,
    counted from the start of the last job."""
    rows = tx.all(
        "SELECT state, created_at FROM automation_jobs WHERE model = :m"
        " AND state <> 'skipped' ORDER BY id DESC LIMIT :n",
        {"m": model, "n": COUNTED},
    )
    if not rows:
        return None
    failures = next((i for i, r in enumerate(rows) if r["state"] != "failed"), len(rows))
    backoff = retry_backoff(failures)
    until = float(rows[0]["created_at"]) + max(cooldown, backoff)
    if now >= until:
        return None
    if backoff > cooldown:
        jobs = "job" if failures == 1 else "jobs"
        more = " or more" if failures == COUNTED else ""
        return until, f"the backoff of {backoff:g} s after {failures}{more} failed {jobs} in a row"
    return until, f"the cooldown of {cooldown:g} s"


def awaiting(tx: Tx, model: str) -> list[dict[str, Any]]:
    """Challengers of ``model`` the manual policy left waiting for ``rung model approve``:
    each job's ``id``, ``challenger``, the ``champion`` it was compared with, its
    ``evaluation_id`` and ``updated_at`` (when it was decided), oldest first."""
    return tx.all(
        "SELECT id, challenger, champion, evaluation_id, updated_at FROM automation_jobs"
        " WHERE model = :m AND decision = 'await' AND state = 'done' ORDER BY id",
        {"m": model},
    )


def approved_before(tx: Tx, name: str, version: int) -> dict[str, Any] | None:
    """The newest approval of ``name@version`` by ``rung model approve``: the job's ``id``
    and ``alias``, who approved (``by``, None when not recorded) and when the alias last
    moved to that version (``since``, None when never); None when it was never approved."""
    row = tx.one(
        "SELECT id, alias, evidence FROM automation_jobs WHERE model = :m"
        " AND challenger = :v AND decision = 'approved' ORDER BY id DESC LIMIT 1",
        {"m": name, "v": version},
    )
    if row is None:
        return None
    since = tx.scalar(
        "SELECT MAX(at) FROM alias_events WHERE name = :m AND alias = :a AND to_version = :v",
        {"m": name, "a": row["alias"], "v": version},
    )
    approval = (json.loads(row["evidence"]) if row["evidence"] else {}).get("approval") or {}
    return {"id": row["id"], "alias": row["alias"], "by": approval.get("by"), "since": since}


def version_text(version: int | None) -> str:
    """``version N``, or ``no version`` for None (an unset alias)."""
    return "no version" if version is None else f"version {version}"


def iso(t: float) -> str:
    """``t`` (epoch seconds) as ``YYYY-MM-DD HH:MM:SS UTC``."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def with_evidence(job: dict[str, Any]) -> dict[str, Any]:
    """A job row with its ``evidence`` parsed from JSON (None when it has none)."""
    job["evidence"] = json.loads(job["evidence"]) if job["evidence"] else None
    return job


def recent_jobs(tx: Tx, model: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The newest ``limit`` jobs of ``model`` (every model's when None), oldest first, their
    evidence parsed — whatever ``[automate]`` says now (a model automated before, since
    unconfigured, keeps its history)."""
    where, params = ("WHERE model = :m", {"m": model}) if model else ("", {})
    rows = tx.all(
        f"SELECT * FROM (SELECT * FROM automation_jobs {where}"
        " ORDER BY id DESC LIMIT :n) t ORDER BY id",
        {**params, "n": limit},
    )
    return [with_evidence(r) for r in rows]


def job_by_id(tx: Tx, job_id: int) -> dict[str, Any]:
    """Job ``job_id``, its evidence parsed; :class:`~rung.core.errors.NotFound` naming the
    nearest ids (the newest when none is near) otherwise."""
    from rung.core.errors import NotFound
    from rung.core.suggest import closest

    row = tx.one("SELECT * FROM automation_jobs WHERE id = :id", {"id": job_id})
    if row is None:
        ids = [str(r["id"]) for r in tx.all("SELECT id FROM automation_jobs ORDER BY id DESC")]
        near = closest(str(job_id), ids) or ids[:3]
        hint = (
            f"the nearest: {', '.join(near)} (see `rung automate history`)"
            if near
            else "there are no automation jobs yet: see `rung automate history`"
        )
        raise NotFound(f"no automation job {job_id}", hint)
    return with_evidence(row)


def why_parts(job: dict[str, Any]) -> list[str]:
    """Every reason of ``job``'s decision and every metric that decided it, in full: the
    failed criteria, the decisive and guardrail tests with their p-values, the live
    comparison, notes and a person's approval — what ``rung automate history`` and the
    UI's automation pages print under a job."""
    evidence = job.get("evidence") or {}
    reasons = list(evidence.get("reasons") or [])
    parts = list(reasons)
    live = evidence.get("live") or {}
    if "mode" in live:  # judged on live traffic: how, on how many rows (the tests follow)
        from rung.automation.live import counted

        parts.append(
            f"live traffic: {live['challenger']} vs {live['champion']}, {live['mode']},"
            f" {counted(live['labelled'])}: {live['verdict']}"
        )
    elif not reasons:
        parts.append(f"evaluation {job['evaluation_id']} passed")
    decided_by = evidence.get("decided_by")
    if decided_by is None:  # a job decided before the policy recorded its tests
        parts += [f"significantly better: {b}" for b in evidence.get("better", [])]
    else:
        parts += [
            f"decided by {line}" for line in decided_by if not any(line in r for r in reasons)
        ]
    notes = evidence.get("notes") or []
    parts += [f"note: {n}" for n in notes]
    approval = evidence.get("approval")
    if approval:
        parts.append(
            f"approved by {approval['by']}"
            + forced_over(approval)
            + (f": {approval['reason']}" if approval.get("reason") else "")
        )
    return parts


def forced_over(approval: dict[str, Any]) -> str:
    """`` (forced over …)``: what a forced approval overrode, as recorded (empty: nothing)."""
    if not approval.get("forced"):
        return ""
    over = ["the policy's rejection"] if approval.get("was") == "reject" else []
    stale = approval.get("stale")
    if stale:
        compared = stale.get("compared_with")
        over.append(
            f"stale evidence: compared with version {compared}"
            if compared is not None
            else "stale evidence: compared with no champion"
        )
        over[-1] += f", serving version {stale.get('serving')}"
    return f" (forced over {' and '.join(over or ['the gate'])})"
