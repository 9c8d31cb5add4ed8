"""The steps of a retrained challenger's job in the continuous-training loop
(:mod:`rung.automation.loop`): run the pipeline and register its model (``trained``),
evaluate it against the champion on the acceptance datasets and fresh labelled data
(``evaluated``), and judge the evaluation by the policy (``decided``).

Nothing here writes the job: each step returns the changes to the job's row and the loop
writes them, fenced by its lease, before the next step starts. A step is safe to re-run
after a kill: a run recorded with the job's trigger that finished is adopted
(:meth:`Retrain._finished_run`), and a version registered twice is the same version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rung.core import faults
from rung.core.criteria import parse_criteria
from rung.core.errors import InvalidInput
from rung.core.hashing import canonical_json
from rung.core.policy import Comparison, Policy, decide
from rung.evaluation.evaluator import Evaluator
from rung.monitoring.performance import labelled_rows
from rung.pipelines.runner import Stores
from rung.registry.models import Registry


class Retrain:
    """The retraining steps of one loop's model, by its ``[automate]`` ``config``
    (``pipeline``, ``params``, ``datasets``, ``fresh``), ``label``, ``criteria``
    (strings), ``rules`` and ``policy``; ``run`` runs a pipeline as ``ws.run`` does."""

    def __init__(
        self,
        stores: Stores,
        registry: Registry,
        evaluator: Evaluator,
        run: Callable[..., Any],
        config: dict[str, Any],
        *,
        model: str,
        label: str | None,
        criteria: list[str],
        rules: Policy,
        policy: str,
    ) -> None:
        self._s, self._registry, self._evaluator, self._run = stores, registry, evaluator, run
        self.config, self.model, self.label = config, model, label
        self.criteria, self.rules, self.policy = criteria, rules, policy

    def train(self, job: dict[str, Any], progress: Any) -> dict[str, Any]:
        """Run the pipeline (``progress``: its step hook, :class:`Fenced`), the job recorded
        as the run's trigger, and register the run's model: the challenger. Raises
        InvalidInput without a pipeline, and what the run raises."""
        pipeline = self.config.get("pipeline")
        if not pipeline:
            raise InvalidInput(
                "no pipeline to run", 'set pipeline = "file.py:function" under [automate]'
            )
        trigger = f"automate job {job['id']}: {job['trigger']}"
        run_id = self._finished_run(trigger)  # a killed tick's run that finished: adopted
        if run_id is None:
            result = self._run(
                str(pipeline),
                dict(self.config.get("params", {})),
                trigger=trigger,
                progress=progress,
            )
            run_id = result.id
            faults.point("tick.ran")
        version = self._registry.register(str(run_id), self.model)
        faults.point("tick.registered")
        return {"state": "trained", "run_id": run_id, "challenger": version.version}

    def _finished_run(self, trigger: str) -> int | None:
        """The newest succeeded run recorded with ``trigger`` (the job's), if a tick killed
        after its run finished left one: resuming adopts it rather than recording a second
        run of the job."""
        with self._s.metadata.read() as tx:
            run_id = tx.scalar(
                "SELECT MAX(id) FROM runs WHERE trigger = :t AND status = 'succeeded'",
                {"t": trigger},
            )
        return None if run_id is None else int(run_id)

    def evaluate(self, job: dict[str, Any]) -> dict[str, Any]:
        """Evaluate the challenger against the job's champion (the baseline) on the
        acceptance datasets and ``fresh`` labelled served rows (stored as a dataset
        ``MODEL-served``), with the policy's margins: one recorded evaluation. Raises
        InvalidInput when there is nothing to evaluate on, or fresh rows but no label."""
        on = [str(d) for d in self.config.get("datasets", [])]
        acceptance, served_refs = list(on), []
        fresh = int(self.config.get("fresh", 0))
        label = self.label
        if fresh and job["champion"] is not None:
            if not label:
                raise InvalidInput(
                    "no label column for fresh data",
                    "set label in [automate], its [automate.models.NAME] or [eval]",
                )
            frame = labelled_rows(self._s.metadata, self.model, fresh, label)
            if len(frame):
                served = self._s.data.add(
                    frame.drop(columns=["prediction", "version"]), name=f"{self.model}-served"
                )
                on.append(served.ref)
                served_refs.append(served.ref)
        if not on:
            raise InvalidInput(
                "nothing to evaluate the challenger on",
                "set datasets = [...] or fresh = N (labelled served rows) under [automate]",
            )
        challenger = f"{self.model}@{job['challenger']}"
        baseline = f"{self.model}@{job['champion']}" if job["champion"] is not None else None
        if baseline == challenger:
            baseline = None
        ev = self._evaluator.evaluate(  # the policy's margins; criteria where they gate
            challenger,
            on,
            label=label,
            baseline=baseline,
            criteria=self.criteria,
            margins=self.rules.margins(parse_criteria(self.criteria)),
            judge_on=self.rules.gating(acceptance, served_refs),
            # the run reproduced the serving version: judging it again never changes its
            # verdict (rung.registry.gate)
            informs_only=job["champion"] == job["challenger"],
        )
        return {"state": "evaluated", "evaluation_id": ev.id}

    def decide(self, job: dict[str, Any]) -> dict[str, Any]:
        """Judge the evaluation by the policy (:mod:`rung.core.policy`); store the decision
        with its evidence: every test with its p-values, the metrics that decided."""
        ev = self._evaluator.get(job["evaluation_id"])
        verdict = ev.verdict
        criteria = parse_criteria(self.criteria)
        regression = "accuracy" not in ev.columns and "mae" in ev.columns
        decisive, guardrails = self.rules.resolve(criteria, regression)
        refs = [d["ref"] for d in ev.datasets]
        served = [r for r in refs if r.partition("@")[0] == f"{self.model}-served"]
        acceptance = [r for r in refs if r not in served]
        deciding = self.rules.deciding(acceptance, served)
        comparisons = [
            c
            for dataset in deciding
            for metric, d in ((ev.details.get(dataset) or {}).get("deltas") or {}).items()
            if metric in decisive or metric in guardrails
            if (c := Comparison.from_delta(dataset, metric, d)) is not None
        ]
        has_champion = job["champion"] is not None and job["champion"] != job["challenger"]
        decision = decide(
            self.rules,
            decisive=decisive,
            guardrails=guardrails,
            deciding=deciding,
            comparisons=comparisons,
            verdict=verdict.get("status"),
            failed_checks=verdict.get("reasons", []),
            champion=has_champion and ev.baseline is not None,
            same_version=job["champion"] if job["champion"] == job["challenger"] else None,
        )
        shown = sorted({c.metric for c in criteria} | set(decisive) | {"accuracy"})
        compared: dict[str, dict[str, Any]] = {}  # the gate's metrics, challenger and serving
        for dataset, row in ev.rows.items():
            base = ev.details.get(dataset, {}).get("baseline_metrics") or {}
            compared[dataset] = {
                m: {"challenger": row[m], "serving": base.get(m)} for m in shown if m in row
            }
        evidence = {
            "evaluation": ev.id,
            "compared": compared,
            "datasets": refs,
            "deciding": deciding,
            "gating": verdict.get("judged_on", refs),
            "verdict": verdict.get("status"),
            "checks": verdict.get("checks", []),
            "challenger": ev.rows,
            **decision.to_dict(),
            "alpha": self.rules.alpha,
            "policy": self.policy,
        }
        return {
            "state": "decided",
            "decision": decision.decision,
            "evidence": canonical_json(evidence),
        }


class Fenced:
    """The progress hook of a job's pipeline run: checks the lease as each step starts and
    ends, so that a tick that lost its lease fails its run there (a step already executing
    finishes first) instead of carrying it to the end."""

    def __init__(self, check: Callable[[], None]) -> None:
        self._check = check

    def step_started(self, name: str) -> None:
        self._check()
        faults.point("tick.step")

    def step_finished(self, name: str, outcome: str, seconds: float) -> None:
        self._check()
