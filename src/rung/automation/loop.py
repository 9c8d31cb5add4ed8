"""The continuous-training loop: ``rung automate tick`` and ``rung automate run``.

A tick, under a lease in the metadata store (so two ticks never work at once):

1. resumes an unfinished job, if a crashed tick left one;
2. otherwise checks every trigger once (:mod:`rung.automation.triggers`); when one fires,
   outside the cooldown, it creates a job — the trigger and its reason recorded;
3. runs the pipeline, the job recorded as the run's trigger, and registers its model: the
   challenger. A failed run ends the job as failed: no alias moves;
4. evaluates the challenger against the champion (the alias's version, as the baseline) on
   the acceptance datasets and on fresh labelled data (served rows whose labels came back),
   with the acceptance criteria: one recorded evaluation, its paired bootstrap deltas
   included;
5. decides by the policy — ``auto``: promote when the verdict passed and no metric is
   significantly worse anywhere; ``manual``: wait for ``rung model approve`` — and records
   the decision with its evidence;
6. promotes (the registry's gate checks the evaluation again), and the service follows its
   alias.

Each step's result is committed before the next starts (``state``: fired, trained,
evaluated, decided, done or failed), so a tick killed anywhere leaves a job the next tick
resumes: a run is re-run (its finished steps come from the cache), a version registered
twice is the same version, and a promotion already done is seen on the alias and not
repeated.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from rung.automation.triggers import Trigger, cron_due, parse_duration, parse_triggers
from rung.core.criteria import parse_criteria
from rung.core.errors import InvalidInput, NotFound, RungError
from rung.core.hashing import canonical_json
from rung.core.limits import ALIAS, NAME, check_int, check_length
from rung.evaluation.evaluator import Evaluator
from rung.monitoring.monitor import Monitor
from rung.monitoring.performance import labelled_rows, performance_trigger
from rung.pipelines.runner import Stores
from rung.registry.models import Registry, current_user
from rung.store.lease import Lease

_KEYS = {
    "model",
    "alias",
    "pipeline",
    "params",
    "policy",
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
_UNSEEN = object()


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
        self._s, self._registry, self._evaluator = stores, registry, evaluator
        self._monitor, self._run = monitor, run
        self.config = config
        self.triggers = parse_triggers(config.get("triggers"))
        self.model = str(config.get("model") or "")
        self.alias = str(config.get("alias") or "champion")
        check_length(self.model, NAME, "[automate] model")
        check_length(self.alias, ALIAS, "[automate] alias")
        self.policy = str(config.get("policy") or "auto")
        if self.policy not in ("auto", "manual"):
            raise InvalidInput(f"[automate] policy = {self.policy!r}", 'use "auto" or "manual"')
        self.cooldown = parse_duration(config.get("cooldown", 0), "[automate] cooldown")
        self.lease_ttl = parse_duration(config.get("lease", 60), "[automate] lease")
        self.debounce = int(config.get("debounce", 1))
        self.label = label
        self.criteria = list(config.get("criteria", criteria))

    # -- the tick ----------------------------------------------------------------------

    def tick(self) -> dict[str, Any]:
        """Check every trigger once and carry a fired one through; idempotent."""
        self.require()
        lease = Lease(self._s.metadata, f"automate:{self.model}", self.lease_ttl)
        if not lease.acquire():
            now = lease.holder_now() or {}
            return {
                "status": "busy",
                "message": f"another tick holds the lock ({now.get('holder')}); nothing done",
            }
        try:
            job = self._unfinished()
            resumed = job is not None
            fired: list[dict[str, Any]] = []
            if job is None:
                fired = self._check_triggers()
                job = self._new_job(fired) if fired else None
            if job is None or job["state"] in FINAL:
                return {"status": "idle" if not fired else "skipped", "fired": fired, "job": job}
            job = self._carry(job)
            return {"status": job["state"], "resumed": resumed, "fired": fired, "job": job}
        finally:
            lease.release()

    def run(
        self,
        interval: float,
        stop: threading.Event,
        ticks: int | None = None,
        report: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set (or ``ticks`` ticks).

        ``interval`` is a number of seconds in 0..1e9 (InvalidInput otherwise: NaN and huge
        values made the wait fail after the first tick)."""
        if not 0 <= interval <= 1e9:  # also False for NaN
            raise InvalidInput(
                f"interval {interval!r} s is out of range 0..1e9",
                "give the seconds between ticks, e.g. --interval 60",
            )
        if ticks is not None:
            check_int(ticks, "ticks")
        done = 0
        while not stop.is_set():
            try:
                outcome = self.tick()
            except RungError as exc:
                outcome = {"status": "error", "message": exc.message}
            if report:
                report(outcome)
            done += 1
            if ticks is not None and done >= ticks:
                return
            stop.wait(interval)

    # -- triggers ------------------------------------------------------------------------

    def _check_triggers(self) -> list[dict[str, Any]]:
        fired = []
        for trigger in self.triggers:
            state = self._state(trigger)
            reason = self._condition(trigger, state)
            if reason is _UNSEEN:
                pass  # nothing new to judge (no new window, too few labels): streak kept
            elif reason is None:
                state["streak"] = 0
            else:
                state["streak"] = state.get("streak", 0) + 1
                if state["streak"] >= self.debounce:
                    fired.append({"trigger": trigger.name, "reason": reason})
                    state["streak"] = 0
                    state["fired_at"] = time.time()
            self._save_state(trigger, state)
        return fired

    def _condition(self, trigger: Trigger, state: dict[str, Any]) -> Any:
        """The reason a trigger fires now, None when it does not, or ``_UNSEEN`` when there
        was nothing new to judge (which neither breaks nor extends a debounce streak)."""
        now = time.time()
        o = trigger.options
        if trigger.kind == "schedule":
            since = state.get("checked", now)
            state["checked"] = now
            due = cron_due(o["cron"], since, now)
            return None if due is None else f"schedule {o['cron']!r} was due at {_iso(due)}"
        champion = self._champion()
        if trigger.kind == "dataset":
            try:
                latest = self._s.data.get(o["dataset"])
            except NotFound:
                return None
            used = set(champion.datasets) if champion else set()
            if latest.ref in used or state.get("fired_for") == latest.ref:
                return None
            state["fired_for"] = latest.ref
            trained = ", ".join(sorted(used)) or "nothing yet"
            return f"new dataset version {latest.ref} (the champion was trained on {trained})"
        if champion is None:
            return None  # drift and performance are of a served champion
        if trigger.kind == "drift":
            report = self._monitor.check(
                f"{self.model}@{self.alias}", o.get("window"), only_new=True
            )
            if report is None:
                return _UNSEEN
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
            return f"monitoring window {report['id']}: " + " and ".join(parts)
        if trigger.kind == "performance":
            judged, reason = performance_trigger(
                self._s.metadata, self.model, champion, o, state, f"trigger {trigger.name!r}"
            )
            return reason if judged else _UNSEEN  # no new label, or too few: nothing judged
        return None

    # -- jobs --------------------------------------------------------------------------

    def _new_job(self, fired: list[dict[str, Any]]) -> dict[str, Any]:
        now = time.time()
        first = fired[0]
        reason = "; ".join(f"{f['trigger']}: {f['reason']}" for f in fired)
        last = self._last_started()
        state, decision = "fired", None
        if last is not None and now - last < self.cooldown:
            state, decision = "skipped", "cooldown"
            reason += f" (within the cooldown of {self.cooldown:g} s after the job at {_iso(last)})"
        champion = self._champion()
        with self._s.metadata.write() as tx:
            job_id = tx.insert(
                "automation_jobs",
                {
                    "model": self.model,
                    "alias": self.alias,
                    "trigger": first["trigger"],
                    "reason": reason,
                    "state": state,
                    "decision": decision,
                    "champion": champion.version if champion else None,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        return self.job(job_id)

    def _carry(self, job: dict[str, Any]) -> dict[str, Any]:
        """Move a job through its remaining steps, committing after each."""
        try:
            if job["state"] == "fired":
                job = self._train(job)
            if job["state"] == "trained":
                job = self._evaluate(job)
            if job["state"] == "evaluated":
                job = self._decide(job)
            if job["state"] == "decided":
                job = self._act(job)
        except RungError as exc:  # the hint names the failed run: `rung show RUN`
            error = exc.message + (f" ({exc.hint})" if exc.hint else "")
            job = self._update(job, state="failed", error=error)
        except Exception as exc:  # a bug in a step or a model: the job fails, not every tick
            job = self._update(job, state="failed", error=f"{type(exc).__name__}: {exc}")
        return job

    def _train(self, job: dict[str, Any]) -> dict[str, Any]:
        pipeline = self.config.get("pipeline")
        if not pipeline:
            raise InvalidInput(
                "no pipeline to run", 'set pipeline = "file.py:function" under [automate]'
            )
        result = self._run(
            str(pipeline),
            dict(self.config.get("params", {})),
            trigger=f"automate job {job['id']}: {job['trigger']}",
        )
        version = self._registry.register(str(result.id), self.model)
        return self._update(job, state="trained", run_id=result.id, challenger=version.version)

    def _evaluate(self, job: dict[str, Any]) -> dict[str, Any]:
        on = [str(d) for d in self.config.get("datasets", [])]
        fresh = int(self.config.get("fresh", 0))
        label = self.label
        if fresh and job["champion"] is not None:
            if not label:
                raise InvalidInput("no label column for fresh data", "set label under [eval]")
            frame = labelled_rows(self._s.metadata, self.model, fresh, label)
            if len(frame):
                served = self._s.data.add(
                    frame.drop(columns=["prediction", "version"]), name=f"{self.model}-served"
                )
                on.append(served.ref)
        if not on:
            raise InvalidInput(
                "nothing to evaluate the challenger on",
                "set datasets = [...] or fresh = N (labelled served rows) under [automate]",
            )
        challenger = f"{self.model}@{job['challenger']}"
        baseline = f"{self.model}@{job['champion']}" if job["champion"] is not None else None
        if baseline == challenger:
            baseline = None
        ev = self._evaluator.evaluate(
            challenger, on, label=label, baseline=baseline, criteria=self.criteria
        )
        return self._update(job, state="evaluated", evaluation_id=ev.id)

    def _decide(self, job: dict[str, Any]) -> dict[str, Any]:
        ev = self._evaluator.get(job["evaluation_id"])
        verdict = ev.verdict
        worse: list[str] = []  # metrics whose paired 95 % interval is wholly on one side
        better: list[str] = []
        for dataset, detail in ev.details.items():
            for metric, d in (detail.get("deltas") or {}).items():
                if d.get("reading") == "worse":
                    worse.append(
                        f"{metric} on {dataset}: {d['delta']:+.4f}"
                        f" (95% CI {d['low']:+.4f} to {d['high']:+.4f})"
                    )
                elif d.get("reading") == "better":
                    better.append(f"{metric} on {dataset}: {d['delta']:+.4f}")
        reasons: list[str] = []
        if job["champion"] == job["challenger"]:
            reasons.append(f"the run produced the serving version {job['challenger']} again")
        if verdict.get("status") is None:
            reasons.append("no acceptance criteria: set criteria under [automate] or [eval]")
        elif verdict["status"] != "passed":
            reasons += [f"criterion not met: {r}" for r in verdict.get("reasons", [])]
        reasons += [f"significantly worse: {w}" for w in worse]
        decision = "reject" if reasons else "promote" if self.policy == "auto" else "await"
        shown = sorted({c.metric for c in parse_criteria(self.criteria)} | {"accuracy"})
        compared: dict[str, dict[str, Any]] = {}  # the gate's metrics, challenger and serving
        for dataset, row in ev.rows.items():
            base = ev.details.get(dataset, {}).get("baseline_metrics") or {}
            compared[dataset] = {
                m: {"challenger": row[m], "serving": base.get(m)} for m in shown if m in row
            }
        evidence = {
            "evaluation": ev.id,
            "compared": compared,
            "datasets": [d["ref"] for d in ev.datasets],
            "verdict": verdict.get("status"),
            "checks": verdict.get("checks", []),
            "challenger": ev.rows,
            "worse": worse,
            "better": better,
            "reasons": reasons,
            "policy": self.policy,
        }
        return self._update(
            job, state="decided", decision=decision, evidence=canonical_json(evidence)
        )

    def _act(self, job: dict[str, Any]) -> dict[str, Any]:
        if job["decision"] != "promote":
            return self._update(job, state="done")
        current = self._champion()
        if current is None or current.version != job["challenger"]:  # not done before a crash
            self._registry.promote(
                self.model,
                job["challenger"],
                self.alias,
                reason=f"automate job {job['id']} ({job['trigger']}): evaluation"
                f" {job['evaluation_id']} passed, nothing significantly worse",
            )
        return self._update(job, state="done")

    def approve(self, name: str, version: int) -> dict[str, Any]:
        """Promote a challenger the manual policy left waiting; records who approved."""
        with self._s.metadata.read() as tx:
            row = tx.one(
                "SELECT id FROM automation_jobs WHERE model = :m AND challenger = :v"
                " AND decision = 'await' ORDER BY id DESC LIMIT 1",
                {"m": name, "v": version},
            )
        if row is None:
            raise NotFound(
                f"no challenger {name}@{version} is waiting for approval",
                "see `rung automate history`; only a passed challenger under policy"
                ' = "manual" waits',
            )
        job = self.job(row["id"])
        self._registry.promote(
            name,
            version,
            job["alias"],
            reason=f"approved by {current_user()} (automate job {job['id']}, evaluation"
            f" {job['evaluation_id']} passed)",
        )
        return self._update(job, decision="approved")

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

    def _last_started(self) -> float | None:
        with self._s.metadata.read() as tx:
            return tx.scalar(
                "SELECT MAX(created_at) FROM automation_jobs WHERE model = :m AND state <> 'skipped'",
                {"m": self.model},
            )

    def _update(self, job: dict[str, Any], **changes: Any) -> dict[str, Any]:
        changes["updated_at"] = time.time()
        sets = ", ".join(f"{k} = :{k}" for k in changes)
        with self._s.metadata.write() as tx:
            tx.execute(
                f"UPDATE automation_jobs SET {sets} WHERE id = :id", {**changes, "id": job["id"]}
            )
        return self.job(job["id"])

    def _state(self, trigger: Trigger) -> dict[str, Any]:
        with self._s.metadata.read() as tx:
            value = tx.scalar(
                "SELECT value FROM automation_state WHERE key = :k", {"k": self._key(trigger)}
            )
        return json.loads(value) if value else {}

    def _save_state(self, trigger: Trigger, state: dict[str, Any]) -> None:
        key, now = self._key(trigger), time.time()
        with self._s.metadata.write() as tx:
            tx.upsert(
                "automation_state",
                {"key": key, "value": canonical_json(state), "updated_at": now},
                key=("key",),
            )

    def _key(self, trigger: Trigger) -> str:
        return f"{self.model}/{trigger.name}"


def _with_evidence(job: dict[str, Any]) -> dict[str, Any]:
    """A job row with its evidence parsed from JSON."""
    job["evidence"] = json.loads(job["evidence"]) if job["evidence"] else None
    return job


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))
