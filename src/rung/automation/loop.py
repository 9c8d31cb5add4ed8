"""The continuous-training loop: ``rung automate tick`` and ``rung automate run``.

A tick, under a lease in the metadata store (so two ticks never work at once):

1. resumes an unfinished job, if a crashed tick left one;
2. otherwise checks every trigger once (:mod:`rung.automation.triggers`). A trigger whose
   condition held on ``debounce`` observations in a row fires and is *pending* until a job
   acts on it — through the cooldown too. Outside the cooldown a job is created for every
   pending trigger. The triggers' states, the monitoring windows judged and the job are
   committed in one transaction: a crash before it leaves nothing, after it a job;
3. runs the pipeline, the job recorded as the run's trigger, and registers its model: the
   challenger. A failed run ends the job as failed: no alias moves;
4. evaluates the challenger against the champion (the alias's version, as the baseline) on
   the acceptance datasets and on fresh labelled data (served rows whose labels came back),
   with the acceptance criteria: one recorded evaluation, its paired bootstrap deltas
   included;
5. decides by the policy (:mod:`rung.core.policy`: decisive and guardrail metrics with
   margins, Holm-corrected paired bootstrap tests) — ``auto`` promotes, ``manual`` waits for
   ``rung model approve`` (:mod:`rung.automation.approval`) — and records the decision
   with its evidence (steps 3 to 5: :mod:`rung.automation.retrain_job`);
6. promotes (the registry's gate checks the evaluation again), and the service follows its
   alias.

A **live** trigger's job (``kind = "live"``: a challenger served beside the champion by
``rung serve --shadow`` or ``--canary``) trains nothing: its one step judges the challenger
on the labelled live traffic, by the same policy, before the same promotion
(:mod:`rung.automation.live_job`).

Each step's result is committed before the next starts (``state``: fired, trained,
evaluated, decided, done or failed), so a tick killed anywhere leaves a job the next tick
resumes: a run is re-run (its finished steps come from the cache), a version registered
twice is the same version, and a promotion already done is seen on the alias and not
repeated.

Every write of a tick is fenced by its lease's token (:mod:`rung.store.lease`): a tick
paused past its lease, whose job another tick took over, is refused its next write and
stops (:class:`~rung.core.errors.LeaseLost`) — it also checks the lease before each step and
each pipeline step. The crash points (:func:`rung.core.faults.point`) are named ``tick.*``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from rung.automation.approval import approve, stale_refusal
from rung.automation.explain import quiet_reason
from rung.automation.jobs import awaiting, iso, next_job_wait, with_evidence
from rung.automation.live_job import LiveJudge, job_options, judged_on, live_of
from rung.automation.pending import UNSEEN as _UNSEEN
from rung.automation.pending import observe, release, settle
from rung.automation.retrain_job import Fenced, Retrain
from rung.automation.triggers import Trigger, cron_due, parse_duration, parse_triggers
from rung.core import faults
from rung.core.errors import InvalidInput, LeaseLost, NotFound, RungError
from rung.core.hashing import canonical_json
from rung.core.limits import ALIAS, NAME, check_int, check_length
from rung.core.policy import Policy
from rung.evaluation.evaluator import Evaluator
from rung.monitoring.monitor import Monitor
from rung.monitoring.performance import performance_trigger
from rung.pipelines.loader import pipeline_file
from rung.pipelines.runner import Stores
from rung.registry.models import Registry
from rung.store.lease import Lease
from rung.store.metadata import Tx

_KEYS = {
    "model",
    "alias",
    "pipeline",
    "params",
    "label",
    "policy",
    "decisive",
    "guardrails",
    "alpha",
    "decide_on",
    "gate_on",
    "datasets",
    "criteria",
    "fresh",
    "cooldown",
    "debounce",
    "lease",
    "interval",
    "triggers",
}
FINAL = ("done", "failed", "skipped")
_WINDOW = "\x00window\x00"  # the drift reason's window number, known once it is stored


class Automation:
    """The loop of one workspace (``ws.automation``), configured by ``[automate]``."""

    def __init__(
        self,
        stores: Stores,
        config: dict[str, Any],
        registry: Registry,
        evaluator: Evaluator,
        monitor: Monitor,
        run: Callable[..., Any],
        label: str | None,
        criteria: list[str],
    ) -> None:
        unknown = sorted(set(config) - _KEYS)
        if unknown:
            raise InvalidInput(
                f"unknown key(s) {unknown} in [automate] of rung.toml", f"use {sorted(_KEYS)}"
            )
        self._s, self._registry, self._monitor = stores, registry, monitor
        self.config = config
        self.triggers = parse_triggers(config.get("triggers"))
        self.model = str(config.get("model") or "")
        self.alias = str(config.get("alias") or "champion")
        check_length(self.model, NAME, "[automate] model")
        check_length(self.alias, ALIAS, "[automate] alias")
        self.policy = str(config.get("policy") or "auto")
        if self.policy not in ("auto", "manual"):
            raise InvalidInput(f"[automate] policy = {self.policy!r}", 'use "auto" or "manual"')
        try:
            self.rules = Policy.from_config(config)
        except ValueError as exc:
            raise InvalidInput(f"[automate] {exc}", "see docs/automation.md") from None
        self.cooldown = parse_duration(config.get("cooldown", 0), "[automate] cooldown")
        self.lease_ttl = parse_duration(config.get("lease", 60), "[automate] lease")
        self.debounce = int(config.get("debounce", 1))
        self.label = label
        self.criteria = list(config.get("criteria", criteria))
        self._lease: Lease | None = None  # held while a tick runs
        self._retrain = Retrain(
            stores,
            registry,
            evaluator,
            run,
            config,
            model=self.model,
            label=label,
            criteria=self.criteria,
            rules=self.rules,
            policy=self.policy,
        )
        self._live = LiveJudge(
            stores.metadata,
            registry,
            self.rules,
            self.criteria,
            self.policy,
            self.model,
            self.alias,
        )

    # -- the tick ----------------------------------------------------------------------

    def tick(self, report: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Check every trigger once and carry a fired one through; idempotent.

        The outcome's ``status``: ``busy`` (another tick holds the lease), ``idle`` (nothing
        fired, nothing pending), ``deferred`` (triggers pending, within the cooldown), or the
        state the job reached (``done``, ``failed``). ``fired``: the triggers whose condition
        held on enough ticks in a row this time; ``pending``: those waiting for a job after
        the tick; ``held``: conditions that held but not yet on ``debounce`` ticks in a row.
        Raises :class:`~rung.core.errors.LeaseLost` when another tick took the lease over
        (this one stops; it recorded nothing after losing it).

        ``report``, when given, hears what the tick did as soon as it is committed, before
        the job's long steps, so that a tick killed in its pipeline run has already said
        so: ``{"event": "checked", "fired", "held"}`` after the trigger check's transaction,
        then ``{"event": "started", "job"}`` when it created a job; ``{"event": "resuming",
        "job"}`` before an unfinished job is carried on."""
        self.require()
        lease = Lease(self._s.metadata, f"automate:{self.model}", self.lease_ttl)
        if not lease.acquire():
            now = lease.holder_now() or {}
            return {
                "status": "busy",
                "message": f"another tick holds the lock ({now.get('holder')}); nothing done",
            }
        self._lease = lease
        try:
            job = self._unfinished()
            resumed = job is not None
            seen: dict[str, list[dict[str, Any]]] = {"fired": [], "pending": [], "held": []}
            if job is None:
                observed = self._check_triggers()
                faults.point("tick.checked")
                seen, job = self._commit(observed)
                if report is not None:
                    report({"event": "checked", "fired": seen["fired"], "held": seen["held"]})
                    if job is not None:
                        report({"event": "started", "job": job})
                if job is not None:
                    faults.point("tick.job-created")
            elif report is not None:
                report({"event": "resuming", "job": job})
            if job is None:
                if not seen["pending"]:
                    return {"status": "idle", **seen, "job": None}
                wait = self.wait()
                until, why = wait if wait else (time.time(), "nothing")
                return {
                    "status": "deferred",
                    **seen,
                    "job": None,
                    "until": until,
                    "message": f"{len(seen['pending'])} trigger(s) pending: deferred by {why}"
                    f" until {iso(until)}",
                }
            job = self._carry(job)
            outcome = {"status": job["state"], "resumed": resumed, **seen, "job": job}
            if job["state"] == "failed":  # its triggers stay pending: when the retry comes
                outcome["retry"] = self._retry(job)
            return outcome
        finally:
            self._lease = None
            lease.release()

    def run(
        self,
        interval: float,
        stop: threading.Event,
        ticks: int | None = None,
        report: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set (or ``ticks`` ticks).

        ``interval`` is seconds (or a duration such as ``"5m"``) read as the key
        ``automate.interval`` is: above 0, at most a day (InvalidInput otherwise: 0 spun,
        NaN and huge values made the wait fail after the first tick)."""
        run_each([self], interval, stop, ticks, report)

    # -- triggers ------------------------------------------------------------------------

    def _check_triggers(self) -> list[tuple[Trigger, dict[str, Any], Any]]:
        """Judge every trigger's condition; nothing is written here. Returns each trigger
        with its state as the judging left it and the reason it holds (None: it does not;
        ``_UNSEEN``: nothing new to judge). A drift trigger's window is kept in
        ``self._windows`` to be stored by :meth:`_commit`, and what a job acting on a
        trigger settles (the dataset version, the cron time) in ``self._settles``."""
        self._windows: dict[str, dict[str, Any]] = {}
        self._settles: dict[str, dict[str, Any]] = {}
        return [(t, s, self._condition(t, s)) for t in self.triggers for s in [self._state(t)]]

    def _commit(
        self, observed: list[tuple[Trigger, dict[str, Any], Any]]
    ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any] | None]:
        """One write transaction, under the lease's fence: the monitoring windows the drift
        triggers judged, every trigger's state, and — when a trigger is pending and the
        cooldown (and the backoff after failed jobs) is over — the job, which every pending
        trigger is marked as acted on by (they stay pending until it ends: settled when it
        is done, pending again when it failed). A crash anywhere before the commit leaves
        nothing of the tick: the next tick judges the same things again. Returns what was
        seen (fired, pending, held) and the job."""
        now = time.time()
        champion = self._champion()
        seen: dict[str, list[dict[str, Any]]] = {"fired": [], "pending": [], "held": []}
        job_id = None
        with self._s.metadata.write() as tx:
            self._fence(tx)
            for trigger, state, reason in observed:
                report = self._windows.get(trigger.name)
                if report is not None:
                    self._monitor.record(tx, self.model, report)
                    if isinstance(reason, str):
                        number = report.get("id", report.get("same_as"))
                        reason = reason.replace(_WINDOW, str(number))
                self._observe(trigger, state, reason, now, seen)
            pending = [(t, s) for t, s, _ in observed if s.get("pending")]
            live = [(t, s) for t, s in pending if t.kind == "live"]
            if live:  # judging a served challenger is a job of its own: the others wait
                pending = live[:1]
            if pending and next_job_wait(tx, self.model, self.cooldown, now) is None:
                job_id = tx.insert("automation_jobs", self._job_row(pending, champion, now))
                for _, state in pending:
                    state["pending"]["job"] = job_id
            for trigger, state, _ in observed:
                tx.upsert(
                    "automation_state",
                    {"key": self._key(trigger), "value": canonical_json(state), "updated_at": now},
                    key=("key",),
                )
            faults.point("tick.state-saved")
        for report in self._windows.values():
            self._monitor.deliver_alerts(report)
        seen["pending"] = [
            {"trigger": t.name, **s["pending"]} for t, s, _ in observed if s.get("pending")
        ]
        return seen, (self.job(job_id) if job_id is not None else None)

    def _observe(
        self,
        trigger: Trigger,
        state: dict[str, Any],
        reason: Any,
        now: float,
        seen: dict[str, list[dict[str, Any]]],
    ) -> None:
        """Count one observation into ``state`` (:func:`rung.automation.pending.observe`)."""
        settles = self._settles.get(trigger.name, {})
        what = observe(state, reason, settles, self.debounce, now)
        if what == "fired":
            seen["fired"].append({"trigger": trigger.name, "reason": reason})
        elif what == "held":
            seen["held"].append(
                {
                    "trigger": trigger.name,
                    "reason": reason,
                    "streak": state["streak"],
                    "debounce": self.debounce,
                }
            )

    def _job_row(
        self, pending: list[tuple[Trigger, dict[str, Any]]], champion: Any, now: float
    ) -> dict[str, Any]:
        """The job row acting on every pending trigger (a retry names the failed job)."""
        reasons = []
        for trigger, state in pending:
            entry = state["pending"]
            waited = f" (pending since {iso(entry['since'])})" if entry["since"] < now else ""
            retry = f" (a retry: {entry['failed']})" if entry.get("failed") else ""
            reasons.append(f"{trigger.name}: {entry['reason']}{waited}{retry}")
        live = job_options(pending[0][0])
        return {
            "model": self.model,
            "alias": self.alias,
            "trigger": pending[0][0].name,
            "reason": "; ".join(reasons),
            "state": "fired",
            "decision": None,
            "champion": champion.version if champion else None,
            # a live job's options, kept with it: a resumed job judges as its trigger did
            "evidence": canonical_json({"live": live}) if live else None,
            "created_at": now,
            "updated_at": now,
        }

    def _condition(self, trigger: Trigger, state: dict[str, Any]) -> Any:
        """The reason a trigger fires now, None when it does not, or ``_UNSEEN`` when there
        was nothing new to judge (which neither breaks nor extends a debounce streak)."""
        now = time.time()
        o = trigger.options
        if trigger.kind == "schedule":  # a due time is kept until a job acts on it
            since = state.get("checked", now)
            state["checked"] = now
            due = cron_due(o["cron"], since, now)
            if due is not None:
                state["due"] = due
            if state.get("due") is None:
                return None
            self._settles[trigger.name] = {"due": None}
            return f"schedule {o['cron']!r} was due at {iso(state['due'])}"
        champion = self._champion()
        if trigger.kind == "dataset":  # holds while no job acted on the newest version
            try:
                latest = self._s.data.get(o["dataset"])
            except NotFound:
                return None
            used = set(champion.datasets) if champion else set()
            if latest.ref in used or state.get("fired_for") == latest.ref:
                return None
            self._settles[trigger.name] = {"fired_for": latest.ref}
            if champion is None:
                return f"new dataset version {latest.ref} (no {self.alias} yet)"
            if not used:
                return (
                    f"new dataset version {latest.ref} (the {self.alias},"
                    f" {champion.ref}, records no training dataset)"
                )
            trained = ", ".join(sorted(used))
            return f"new dataset version {latest.ref} (the {self.alias} was trained on {trained})"
        if champion is None:
            return None  # drift and performance are of a served champion
        if trigger.kind == "drift":
            # judged once per new prediction: the trigger remembers the last prediction it
            # judged (committed with the job), so a window stored by `rung monitor` meanwhile,
            # or a tick killed before its commit, does not make it skip rows
            with self._s.metadata.read() as tx:
                newest = tx.scalar(
                    "SELECT MAX(id) FROM predictions WHERE model = :m AND role <> 'shadow'",
                    {"m": self.model},
                )
                seen = (
                    state.get("seen_id")
                    if "seen_id" in state or not state  # else: a state older rung saved
                    else tx.scalar(
                        "SELECT MAX(last_id) FROM monitor_windows WHERE model = :m",
                        {"m": self.model},
                    )
                )
            if newest is None or (seen is not None and newest <= seen):
                return _UNSEEN
            report = self._monitor.check(f"{self.model}@{self.alias}", o.get("window"), save=False)
            if report is None:
                return _UNSEEN
            state["seen_id"] = max(int(newest), int(report.get("last_id") or 0))
            self._windows[trigger.name] = report  # stored with the state, by _commit
            drifted = report["drifted"]
            enough = len(drifted) >= int(o.get("min_features", 1))
            pred = report.get("prediction") or {}
            pred_drift = bool(o.get("predictions")) and bool(pred.get("verdict", {}).get("drift"))
            if not (enough or pred_drift):
                return None
            parts = [
                f"{len(drifted)} of {len(report['features'])} features drifted"
                + (f" ({', '.join(drifted)})" if drifted else "")
            ]
            if pred_drift:
                parts.append("the predictions drifted")
            return f"monitoring window {_WINDOW}: " + " and ".join(parts)
        if trigger.kind == "performance":
            judged, reason = performance_trigger(
                self._s.metadata, self.model, champion, o, state, f"trigger {trigger.name!r}"
            )
            return reason if judged else _UNSEEN  # no new label, or too few: nothing judged
        if trigger.kind == "live":
            reason, settles = self._live.condition(trigger, state, champion, now)
            if settles is not None:
                self._settles[trigger.name] = settles
            return reason
        return None

    # -- jobs --------------------------------------------------------------------------

    def _carry(self, job: dict[str, Any]) -> dict[str, Any]:
        """Move a job through its remaining steps (a retrained challenger's:
        :mod:`rung.automation.retrain_job`; a served one's: :mod:`rung.automation.live_job`),
        committing the changes each returns before the next; every commit is fenced by the
        lease, and the lease is checked before each step (and each pipeline step), so a
        tick that lost it stops (:class:`LeaseLost`) instead of going on."""
        Step = tuple[str, Callable[[dict[str, Any]], dict[str, Any]], str | None]
        steps: tuple[Step, ...] = (  # each returns the changes to the job's row
            ("fired", lambda j: self._retrain.train(j, Fenced(self._check_lease)), "tick.trained"),
            ("trained", self._retrain.evaluate, "tick.evaluated"),
            ("evaluated", self._retrain.decide, "tick.decided"),
            ("decided", self._act, None),
        )
        if live_of(job) is not None:  # a served challenger: judged, nothing trained
            steps = (
                ("fired", lambda j: self._live.judge(j, self._champion()), "tick.decided"),
                ("decided", self._act, None),
            )
        try:
            for state, step, crash in steps:
                if job["state"] == state:
                    self._check_lease()
                    job = self._update(job, **step(job))
                    if crash:
                        faults.point(crash)
        except LeaseLost:
            raise  # the job is another tick's now: record nothing, not even a failure
        except RungError as exc:  # the hint names the failed run: `rung show RUN`
            job = self._fail(job, exc.message + (f" ({exc.hint})" if exc.hint else ""))
        except Exception as exc:  # a bug in a step or a model: the job fails, not every tick
            job = self._fail(job, f"{type(exc).__name__}: {exc}")
        return job

    def _fail(self, job: dict[str, Any], error: str) -> dict[str, Any]:
        """End ``job`` as failed with ``error`` (its triggers pending again) — unless its
        promotion already happened (the alias holds its challenger): then it did what it
        was for and ends done, the error kept as a note, rather than claiming that no alias
        moved and retraining for triggers already acted on."""
        current = self._champion() if job.get("decision") == "promote" else None
        if current is not None and current.version == job["challenger"]:
            return self._update(job, state="done", error=f"after the promotion: {error}")
        return self._update(job, state="failed", error=error)

    def _act(self, job: dict[str, Any]) -> dict[str, Any]:
        """Promote the challenger of a job decided ``promote`` (unless a killed tick did),
        the move fenced by the lease; then the job is ``done``."""
        if job["decision"] != "promote":
            return {"state": "done"}
        current = self._champion()
        if current is None or current.version != job["challenger"]:  # not done before a crash
            decided_by = (job.get("evidence") or {}).get("decided_by") or []
            self._registry.promote(
                self.model,
                job["challenger"],
                self.alias,
                reason=f"automate job {job['id']} ({job['trigger']}): {judged_on(job)}"
                + (f"; decided by {'; '.join(decided_by)}" if decided_by else ""),
                fence=self._fence_move,
                # the evidence compared with the job's champion: moved since (a person, while
                # this job was decided and a crash left it to resume), it is stale
                check=lambda now: (
                    None if now == job["champion"] else stale_refusal(job, now, "loop")
                ),
            )
            faults.point("tick.promoted")
        return {"state": "done"}

    def approve(
        self,
        name: str,
        version: int,
        *,
        force: bool = False,
        reason: str | None = None,
        who: str | None = None,
    ) -> dict[str, Any]:
        """Promote a challenger the manual policy left waiting, or — with ``force`` and a
        ``reason`` — one the policy rejected or judged on stale evidence; returns the job
        (:func:`rung.automation.approval.approve`, which says what it raises)."""
        return approve(
            self._s.metadata,
            self._registry,
            self.job,
            self._update,
            name,
            version,
            force=force,
            reason=reason,
            who=who,
        )

    # -- reading -------------------------------------------------------------------------

    def history(self, limit: int = 50, model: str | None = None) -> list[dict[str, Any]]:
        """Jobs of ``model`` (default: the configured one; every model's without one)."""
        check_int(limit, "limit")
        model = model or self.model
        where, params = ("WHERE model = :m", {"m": model}) if model else ("", {})
        with self._s.metadata.read() as tx:
            rows = tx.all(
                f"SELECT * FROM (SELECT * FROM automation_jobs {where}"
                " ORDER BY id DESC LIMIT :n) t ORDER BY id",
                {**params, "n": limit},
            )
        return [_with_evidence(r) for r in rows]

    def status(self) -> dict[str, Any]:
        """Where the loop stands, read only: the lease (holder, expiry, fencing token), the
        cooldown's end, the unfinished job a tick would resume, and each trigger — ``pending``
        (fired, waiting for a job: ``reason``, ``since``), ``held`` (its condition held on
        ``streak`` of ``debounce`` ticks in a row) or ``quiet``."""
        self.require()
        with self._s.metadata.read() as tx:
            lease = tx.one(
                "SELECT holder, expires_at, generation FROM leases WHERE name = :n",
                {"n": f"automate:{self.model}"},
            )
        if lease is not None and lease["expires_at"] < time.time():
            lease = {**lease, "holder": None}  # expired or released: free
        triggers = []
        champion = self._champion()
        for trigger in self.triggers:
            state = self._state(trigger)
            entry: dict[str, Any] = {"trigger": trigger.name, "kind": trigger.kind}
            if state.get("pending"):
                entry.update(
                    state="pending",
                    reason=state["pending"]["reason"],
                    since=state["pending"]["since"],
                )
                for key in ("job", "failed"):  # the job acting on it; the job that failed
                    if key in state["pending"]:
                        entry[key] = state["pending"][key]
            elif state.get("streak"):
                entry.update(
                    state="held",
                    reason=state.get("held"),
                    streak=state["streak"],
                    debounce=self.debounce,
                )
            else:
                entry["state"] = "quiet"
                entry["why"] = quiet_reason(
                    self._s, self.model, self.alias, trigger, state, champion
                )
            triggers.append(entry)
        wait = self.wait()
        return {
            "model": self.model,
            "alias": self.alias,
            "lease": lease,
            "cooldown_until": wait[0] if wait else None,
            "waiting_for": wait[1] if wait else None,
            "unfinished": self._unfinished(),
            "triggers": triggers,
            "awaiting": self._read(lambda tx: awaiting(tx, self.model)),
        }

    def job(self, job_id: int) -> dict[str, Any]:
        with self._s.metadata.read() as tx:
            row = tx.one("SELECT * FROM automation_jobs WHERE id = :id", {"id": job_id})
        if row is None:
            raise NotFound(f"no automation job {job_id}", "see `rung automate history`")
        return _with_evidence(row)

    # -- helpers ---------------------------------------------------------------------------

    def require(self) -> None:
        """Refuse to start without a model and triggers to automate."""
        if not self.model:
            raise InvalidInput(
                "no model to automate", 'set model = "NAME" under [automate] in rung.toml'
            )
        if not self.triggers:
            raise InvalidInput(
                "no triggers configured", "add [[automate.triggers]] entries to rung.toml"
            )
        pipeline = str(self.config.get("pipeline") or "")
        location = pipeline.rpartition(":")[0]
        # found now, not when a trigger fires (prefect#18420); as the loader would find it
        if location.endswith(".py") and pipeline_file(location, self._s.root) is None:
            raise NotFound(
                f"model {self.model!r}: no pipeline file {location!r} (pipeline = {pipeline!r})",
                f"create it, or fix the pipeline of {self.model!r} in rung.toml"
                f" ([automate.models.{self.model}] or [automate])",
            )

    def _champion(self) -> Any:
        try:
            return self._registry.get(f"{self.model}@{self.alias}")
        except NotFound:
            return None

    def _unfinished(self) -> dict[str, Any] | None:
        marks = ", ".join(f"'{s}'" for s in FINAL)
        with self._s.metadata.read() as tx:
            row = tx.one(
                f"SELECT id FROM automation_jobs WHERE model = :m AND state NOT IN ({marks})"
                " ORDER BY id LIMIT 1",
                {"m": self.model},
            )
        return self.job(row["id"]) if row else None

    def wait(self) -> tuple[float, str] | None:
        """When the next job may start and what holds it back — ``(time, "the cooldown of
        N s")`` or ``(time, "the backoff of N s after K failed job(s) in a row")`` — or None
        when a job may start now."""
        now = time.time()
        return self._read(lambda tx: next_job_wait(tx, self.model, self.cooldown, now))

    def _read(self, query: Callable[[Tx], Any]) -> Any:
        with self._s.metadata.read() as tx:
            return query(tx)

    def _retry(self, job: dict[str, Any]) -> dict[str, Any]:
        """After the failed ``job``: the triggers it leaves pending and when the next job
        may retry them (``at``, ``why``)."""
        wait = self.wait()
        with self._s.metadata.read() as tx:
            states = [(t.name, self._state_in(tx, t)) for t in self.triggers]
        return {
            "triggers": [n for n, st in states if (st.get("pending") or {}).get("failed")],
            "at": wait[0] if wait else time.time(),
            "why": wait[1] if wait else None,
        }

    def _update(self, job: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """Write ``changes`` to the job's row, fenced: refused (:class:`LeaseLost`) in the
        same transaction when a tick holding the lease lost it. A job that ends ``done``
        settles the triggers it acted on, and one that ends ``failed`` leaves them pending
        (:func:`~rung.automation.pending.release`), in the same transaction."""
        changes["updated_at"] = time.time()
        sets = ", ".join(f"{k} = :{k}" for k in changes)
        with self._s.metadata.write() as tx:
            self._fence(tx)
            tx.execute(
                f"UPDATE automation_jobs SET {sets} WHERE id = :id", {**changes, "id": job["id"]}
            )
            if changes.get("state") in ("done", "failed", "skipped"):
                self._end_triggers(tx, job["id"], changes["state"], changes.get("error"))
        return self.job(job["id"])

    def _end_triggers(self, tx: Tx, job_id: int, state: str, error: str | None) -> None:
        """Settle (``done``), release (``failed``) or drop the pending entry of (``skipped``:
        its trigger judges afresh) every trigger job ``job_id`` acted on."""
        now = time.time()
        for trigger in self.triggers:
            current = self._state_in(tx, trigger)
            if (current.get("pending") or {}).get("job") != job_id:
                continue
            if state == "done":
                settle(current, now)
            elif state == "skipped":
                current.pop("pending")
            else:
                release(current, job_id, error or "unknown error")
            tx.upsert(
                "automation_state",
                {"key": self._key(trigger), "value": canonical_json(current), "updated_at": now},
                key=("key",),
            )

    def _state(self, trigger: Trigger) -> dict[str, Any]:
        with self._s.metadata.read() as tx:
            return self._state_in(tx, trigger)

    def _state_in(self, tx: Tx, trigger: Trigger) -> dict[str, Any]:
        value = tx.scalar(
            "SELECT value FROM automation_state WHERE key = :k", {"k": self._key(trigger)}
        )
        return json.loads(value) if value else {}

    def _fence(self, tx: Tx) -> None:
        """Refuse the write transaction ``tx`` unless this tick still holds the lease (no
        lease outside a tick: ``rung model approve`` is a person's act, not a tick's)."""
        if self._lease is not None:
            self._lease.fence(tx)

    def _fence_move(self, tx: Tx) -> None:
        self._fence(tx)
        faults.point("tick.promoting")  # inside the alias move's transaction

    def _check_lease(self) -> None:
        if self._lease is not None:
            self._lease.check()

    def _cooldown_until(self) -> float | None:
        """When the cooldown (or the backoff) after the last job ends (None: not now)."""
        wait = self.wait()
        return None if wait is None else wait[0]

    def _key(self, trigger: Trigger) -> str:
        return f"{self.model}/{trigger.name}"


_with_evidence = with_evidence


def tick_each(
    loops: list[Automation], events: Callable[[dict[str, Any]], None] | None = None
) -> list[dict[str, Any]]:
    """One tick of each model's loop, in turn; each outcome carries its ``model``. A model
    whose tick raises a RungError gives an ``error`` outcome and the others still tick (each
    holds its own lease, ``automate:MODEL``). ``events`` hears each tick's ``report`` (see
    :meth:`Automation.tick`), with its ``model``."""
    outcomes = []
    for loop in loops:
        report = None
        if events is not None:
            report = _with_model(events, loop.model)
        try:
            outcome = loop.tick(report)
        except RungError as exc:
            outcome = {"status": "error", "message": exc.message}
        outcomes.append({"model": loop.model, **outcome})
    return outcomes


def _with_model(
    events: Callable[[dict[str, Any]], None], model: str
) -> Callable[[dict[str, Any]], None]:
    return lambda event: events({"model": model, **event})


def run_each(
    loops: list[Automation],
    interval: float,
    stop: threading.Event,
    ticks: int | None = None,
    report: Callable[[dict[str, Any]], None] | None = None,
    events: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """:func:`tick_each` every ``interval`` seconds until ``stop`` is set (or ``ticks``
    rounds); ``report`` gets each model's outcome, ``events`` what each tick reports as it
    goes (:meth:`Automation.tick`). ``interval`` as in :meth:`Automation.run`."""
    from rung.config import read_key

    interval = float(read_key("automate.interval", interval, "interval"))  # the key's check
    if ticks is not None:
        check_int(ticks, "ticks")
    done = 0
    while not stop.is_set():
        for outcome in tick_each(loops, events):
            if report:
                report(outcome)
        done += 1
        if ticks is not None and done >= ticks:
            return
        stop.wait(interval)
