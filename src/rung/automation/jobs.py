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
