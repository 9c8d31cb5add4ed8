"""Approving a challenger by hand: ``rung model approve``
(:meth:`rung.automation.loop.Automation.approve`) promotes a challenger the manual policy
left waiting or — forced, with a reason — one the policy rejected or judged on stale
evidence; and the refusal a promotion on stale evidence gets (:func:`stale_refusal`), which the
loop's own promotion gets too.

Writes go through the loop's fenced update of the job (no lease is held outside a tick:
an approval is a person's act), and the alias is checked in the move's own transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rung.automation.jobs import approved_before, iso, version_text
from rung.automation.live_job import live_of
from rung.core.errors import InvalidInput, NotFound
from rung.core.hashing import canonical_json
from rung.registry.models import RefusedPromotion, Registry, current_user
from rung.store.metadata import MetadataStore

# a job whose run reproduced the serving version judged nothing about it (approve skips it)
_JUDGED = "(champion IS NULL OR champion <> challenger)"


def approve(
    store: MetadataStore,
    registry: Registry,
    job_of: Callable[[int], dict[str, Any]],
    update: Callable[..., dict[str, Any]],
    name: str,
    version: int,
    *,
    force: bool = False,
    reason: str | None = None,
    who: str | None = None,
) -> dict[str, Any]:
    """Promote a challenger the manual policy left waiting (decision ``await``), or —
    with ``force`` and a ``reason`` — one the policy rejected; records who approved,
    why, and whether it was forced, in the job's evidence and the alias event.

    The job's evidence compared the challenger with the version the alias pointed at
    when the job was created (its ``champion``). When the alias has moved since (a
    person's promote or rollback, another job's promotion) that evidence is stale: the
    approval is refused with :class:`~rung.registry.models.RefusedPromotion` naming
    both versions and how to compare them afresh, unless ``force`` and a ``reason``
    are given (then recorded as forced over stale evidence). The alias is checked in
    the move's own transaction (:meth:`Registry.promote`'s ``check``), so a move
    between the check and the approval cannot slip through.

    Raises NotFound when no such challenger waits (or, with ``force``, was decided on),
    and InvalidInput for ``force`` without a reason. ``who`` approves (default
    :func:`~rung.registry.models.current_user`; ``rung ui`` names the token that acted)."""
    reason = (reason or "").strip() or None
    if force and reason is None:
        raise InvalidInput(
            "--force needs a reason", 'add --reason "why this challenger ships anyway"'
        )
    decisions = "('await', 'reject')" if force else "('await')"
    with store.read() as tx:
        row = tx.one(
            "SELECT id FROM automation_jobs WHERE model = :m AND challenger = :v"
            f" AND decision IN {decisions} AND state = 'done' AND {_JUDGED}"
            " ORDER BY id DESC LIMIT 1",
            {"m": name, "v": version},
        )
        rejected = tx.scalar(
            "SELECT MAX(id) FROM automation_jobs WHERE model = :m AND challenger = :v"
            f" AND decision = 'reject' AND {_JUDGED}",
            {"m": name, "v": version},
        )
    if row is None:
        _already_approved(store, registry, name, version)
        hint = "see `rung automate history`; only a passed challenger under policy"
        hint += ' = "manual" waits'
        if rejected is not None:
            hint = (
                f"job {rejected} rejected it: approve it anyway with"
                f' `rung model approve {name} {version} --force --reason "..."`'
            )
        raise NotFound(f"no challenger {name}@{version} is waiting for approval", hint)
    job = job_of(row["id"])
    user = current_user() if who is None else who
    serving = registry.alias_version(name, job["alias"])
    stale = serving != job["champion"]
    if stale and not force:
        raise stale_refusal(job, serving)
    forced = job["decision"] == "reject" or stale
    overrides = []
    if job["decision"] == "reject":
        overrides.append("rejected by the policy")
    if stale:
        overrides.append(
            f"compared with {version_text(job['champion'])}, not the serving"
            f" {version_text(serving)}"
        )
    on = (
        f"evaluation {job['evaluation_id']}"
        if live_of(job) is None
        else f"{(job['evidence'].get('live') or {}).get('mode')} live evidence"
    )
    why = (
        f"approved by {user} (automate job {job['id']}, {on}"
        + (f", {', '.join(overrides)}: forced" if forced else ", the policy would promote")
        + ")"
        + (f": {reason}" if reason else "")
    )

    def fresh(current: int | None) -> RefusedPromotion | None:
        # read again in the move's transaction: moved since it was read above, the
        # approval (and what its why says) is refused whatever force says
        if current != serving:
            raise stale_refusal(job, current)
        return stale_refusal(job, current) if stale else None  # stale: forced, recorded so

    registry.promote(name, version, job["alias"], force=forced, reason=why, check=fresh, who=user)
    evidence = dict(job.get("evidence") or {})
    evidence["approval"] = {
        "by": user,
        "reason": reason,
        "forced": forced,
        "was": job["decision"],
        "at": time.time(),
    }
    if stale:
        evidence["approval"]["stale"] = {"compared_with": job["champion"], "serving": serving}
    return update(job, decision="approved", evidence=canonical_json(evidence))


def _already_approved(store: MetadataStore, registry: Registry, name: str, version: int) -> None:
    """Raise the InvalidInput that says ``name@version`` was approved already — by whom,
    in which job, and whether it is the champion since (or was replaced) — when a job
    of it was approved; return otherwise."""
    with store.read() as tx:
        before = approved_before(tx, name, version)
    if before is None:
        return
    by = f" by {before['by']}" if before["by"] else ""
    alias, current = before["alias"], registry.alias_version(name, before["alias"])
    if current == version:
        since = f" since {iso(before['since'])}" if before["since"] else ""
        state = f"it is {alias}{since}"
        hint = f"nothing to do; see `rung model history {name}`"
    else:
        state = f"{alias} is now version {current}" if current else f"no version is {alias}"
        hint = f"to serve it again: `rung model promote {name} {version}`"
    raise InvalidInput(
        f"{name}@{version} was already approved{by} (automate job {before['id']}): {state}",
        hint,
    )


def stale_refusal(
    job: dict[str, Any], serving: int | None, by: str = "approve"
) -> RefusedPromotion:
    """The refusal of an approval (``by`` the loop: of the job's own promotion) whose
    evidence compared the challenger with another version than the one the alias points at
    now (``serving``; None: the alias is unset)."""
    name, version, alias = job["model"], job["challenger"], job["alias"]
    compared = (
        f"compared it with {name}@{job['champion']}"
        if job["champion"] is not None
        else "compared it with no champion"
    )
    now = f"version {serving}" if serving is not None else "no version"
    fresh = (
        f"compare them afresh with `rung eval {name}@{version} --baseline {name}@{serving}`"
        f" and then `rung model promote {name} {version}`"
        if serving is not None
        else f"promote it with `rung model promote {name} {version}`"
    )
    override = (
        f'; or approve anyway with `rung model approve {name} {version} --force --reason "..."`'
        if by == "approve"
        else ""
    )
    return RefusedPromotion(
        f"refusing to {'promote' if by == 'loop' else by} {name}@{version}: the evidence is"
        f" stale — automate job {job['id']} {compared}, but {name}@{alias} is now {now}",
        f"{fresh}, or let the next `rung automate tick` judge a new challenger{override}",
    )
