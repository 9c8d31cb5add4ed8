"""The live step of the continuous-training loop (:mod:`rung.automation.loop`): a trigger of
``kind = "live"`` and the job it fires.

A **live** trigger (a challenger served beside the champion by ``rung serve --shadow`` or
``--canary``) holds when the challenger alias's version, not yet judged by a job, is shown
better or worse than the champion on the live traffic whose labels came back
(:func:`rung.automation.live.compare_aliases`, by the automation's policy). Its job trains
nothing: its one step before the promotion judges the challenger again and records the
comparison as the job's evidence (state ``decided``). Better: ``promote`` (``await`` under
``manual``), through the same gate and approval as a retrained challenger; worse:
``reject``; not enough evidence by then: the job is ``skipped`` and the trigger judges
again at the next tick. A live trigger with a verdict gets a job of its own: other pending
triggers wait for the next job.

Nothing here writes: :class:`LiveJudge` says what a trigger saw and what a job's row
becomes, and the loop writes it, fenced by its lease in the same transactions as every
other step (so a tick killed or paused anywhere leaves what any job leaves).
"""

from __future__ import annotations

from typing import Any

from rung.automation.jobs import version_text
from rung.automation.live import compare_aliases, counted
from rung.automation.triggers import Trigger
from rung.core.criteria import parse_criteria
from rung.core.errors import NotFound, RungError
from rung.core.hashing import canonical_json
from rung.core.policy import Policy
from rung.registry.models import Registry
from rung.store.metadata import MetadataStore


class LiveJudge:
    """The live comparisons of one loop's model: ``model@CHALLENGER`` against
    ``model@alias`` by the loop's ``rules`` and ``criteria`` (criteria strings, parsed when a
    comparison is made); ``policy`` (``auto`` or ``manual``) is recorded with the evidence."""

    def __init__(
        self,
        store: MetadataStore,
        registry: Registry,
        rules: Policy,
        criteria: list[str],
        policy: str,
        model: str,
        alias: str,
    ) -> None:
        self._store, self._registry = store, registry
        self.rules, self.criteria, self.policy = rules, criteria, policy
        self.model, self.alias = model, alias

    def condition(
        self, trigger: Trigger, state: dict[str, Any], champion: Any, now: float
    ) -> tuple[str | None, dict[str, Any] | None]:
        """A live trigger holds when the challenger alias's version, not yet judged by a
        job, is shown better or worse than the champion (a registry version, not None) on
        live traffic; what it saw is kept in ``state["live"]`` (``rung automate status``
        says it). Returns the reason it holds (None: it does not) and what a job acting on
        it settles into its state (``{"judged": VERSION}``; None when it does not hold)."""
        o = trigger.options
        try:
            challenger = self._registry.get(f"{self.model}@{o['challenger']}")
        except NotFound:
            state["live"] = {"at": now, "note": f"no {self.model}@{o['challenger']} is set"}
            return None, None
        if challenger.version == champion.version:
            state["live"] = {"at": now, "note": f"{challenger.ref} is the {self.alias} itself"}
            return None, None
        if state.get("judged") == challenger.version:
            state["live"] = {"at": now, "note": f"a job already judged {challenger.ref}"}
            return None, None
        try:
            result = self.compare(o)
        except RungError as exc:  # two tasks, say: nothing to judge, said in the status
            state["live"] = {"at": now, "note": exc.message}
            return None, None
        state["live"] = {
            "at": now,
            "verdict": result["verdict"],
            "labelled": result["labelled"],
            "note": result["summary"],
        }
        if result["verdict"] == "not enough evidence":
            return None, None
        return (
            f"live {result['mode']} comparison of {challenger.ref} ({o['challenger']}) with"
            f" {champion.ref} on {counted(result['labelled'])}: {result['verdict']}"
        ), {"judged": challenger.version}

    def compare(self, options: dict[str, Any]) -> dict[str, Any]:
        """The comparison a live trigger's ``options`` (``challenger``, ``mode``,
        ``min_labelled``) ask for, as :func:`rung.automation.live.compare_aliases` returns
        it; raises what it raises."""
        return compare_aliases(
            self._store,
            self._registry,
            self.rules,
            parse_criteria(self.criteria),
            self.model,
            self.alias,
            str(options["challenger"]),
            mode=str(options.get("mode", "auto")),
            min_labelled=int(options.get("min_labelled", 30)),
        )

    def judge(self, job: dict[str, Any], champion: Any) -> dict[str, Any]:
        """A live job's judgement: the challenger alias's version against the job's
        champion on live traffic, recorded as the evidence with the policy's decision — or,
        when the evidence is not enough any more (the champion moved, the labels changed),
        the job skipped: its trigger judges again at the next tick. ``champion``: the
        alias's version now (None: unset). Returns the changes to the job's row (``state``
        ``decided`` or ``skipped``, ``challenger``, ``decision``, ``evidence`` as JSON,
        ``error``) for the loop to write."""
        options = live_of(job) or {}
        if champion is None or champion.version != job["champion"]:
            now = version_text(champion.version if champion else None)
            return {
                "state": "skipped",
                "error": f"{self.model}@{self.alias} is now {now}, not the version"
                f" {job['champion']} the trigger compared: judged again at the next tick",
            }
        result = self.compare(options)
        challenger = int(result["challenger"].rpartition("@")[2])
        live = {
            **{k: v for k, v in result.items() if k not in ("decision", "notes")},
            "options": options,
        }
        if result["verdict"] == "not enough evidence":
            evidence = {"live": live, "notes": result["notes"], "policy": self.policy}
            return {
                "state": "skipped",
                "challenger": challenger,
                "evidence": canonical_json(evidence),
                "error": f"{result['summary']} (judged again at the next tick)",
            }
        evidence = {
            **result["decision"],
            "notes": result["notes"],
            "live": live,
            "alpha": self.rules.alpha,
            "policy": self.policy,
        }
        return {
            "state": "decided",
            "challenger": challenger,
            "decision": result["decision"]["decision"],
            "evidence": canonical_json(evidence),
        }


def job_options(trigger: Trigger) -> dict[str, Any] | None:
    """What a live trigger's job keeps of it (its name and options: a resumed job judges as
    its trigger did); None for a trigger of another kind."""
    return {"trigger": trigger.name, **trigger.options} if trigger.kind == "live" else None


def live_of(job: dict[str, Any]) -> dict[str, Any] | None:
    """A live job's trigger options (``trigger``, ``challenger``, ``mode``,
    ``min_labelled``); None for a job that retrains."""
    live = (job.get("evidence") or {}).get("live")
    if not isinstance(live, dict):
        return None
    return live.get("options", live)  # after the judgement, kept under "options"


def judged_on(job: dict[str, Any]) -> str:
    """What passed, for the alias event's why: the evaluation, or the live comparison."""
    live = (job.get("evidence") or {}).get("live")
    if live_of(job) is None or not isinstance(live, dict) or "mode" not in live:
        return f"evaluation {job['evaluation_id']} passed"
    return (
        f"{live['challenger']} better than {live['champion']} on live traffic"
        f" ({live['mode']}, {counted(live['labelled'])})"
    )
