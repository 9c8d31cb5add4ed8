"""``ws.evaluate(...)`` and ``rung eval``: one model, many dataset versions, one verdict.

The parent resolves and verifies everything first (model, baseline, dataset versions,
criteria), then scores the datasets in parallel worker processes, builds Table 2 (one row per
dataset, then Total, Mean and Std), judges the acceptance criteria and records the
evaluation with the exact versions it used.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rung.core.aggregate import AGGREGATES, aggregate_rows, is_number
from rung.core.criteria import Verdict, criteria_digest, judge, parse_criteria
from rung.core.errors import InvalidInput, NotFound
from rung.core.hashing import canonical_json, ordered_json
from rung.core.limits import KEY, check_int, check_length, is_digits, parse_int
from rung.evaluation import worker
from rung.evaluation.metrics import MetricFn, higher_is_better
from rung.pipelines.materialize import OPT_IN_EVAL, OPT_IN_VERSION
from rung.registry.gate import Acceptance, Declared
from rung.registry.models import ModelRef, Registry, resolve_artifact

if TYPE_CHECKING:
    from rung.core.policy import Margin
    from rung.pipelines.runner import Stores


@dataclass
class Evaluation:
    """The result: Table 2, slices, charts data, deltas against a baseline, the verdict."""

    id: int
    model: str
    model_hash: str
    baseline: str | None
    label: str
    datasets: list[dict[str, str]]
    columns: list[str]
    rows: dict[str, dict[str, Any]]
    aggregates: dict[str, dict[str, Any]]
    details: dict[str, dict[str, Any]]  # per dataset: slices, confusion, calibration, deltas
    verdict: dict[str, Any]
    created_at: float = field(default_factory=time.time)

    @property
    def status(self) -> str | None:
        return self.verdict.get("status")

    def table(self) -> list[tuple[str, dict[str, Any]]]:
        """Rows of Table 2 in order: every dataset, then Total, Mean, Std."""
        order = [d["ref"] for d in self.datasets if d["ref"] in self.rows]
        return [(d, self.rows[d]) for d in order] + [(a, self.aggregates[a]) for a in AGGREGATES]

    def worst_slices(self, metric: str | None = None, limit: int = 5) -> list[dict[str, Any]]:
        """The slices with the worst value of ``metric`` (default: the first criterion's)."""
        metric = metric or self.primary_metric()
        found = []
        for dataset, detail in self.details.items():
            for column, by_value in detail.get("slices", {}).items():
                for value, metrics in by_value.items():
                    v = metrics.get(metric)
                    if is_number(v):
                        found.append(
                            {
                                "dataset": dataset,
                                "slice": f"{column}={value}",
                                "examples": metrics["examples"],
                                "metric": metric,
                                "value": v,
                            }
                        )
        found.sort(key=lambda r: r["value"], reverse=not higher_is_better(metric))
        return found[:limit]

    def primary_metric(self) -> str:
        checks = self.verdict.get("checks") or []
        if checks:
            first = parse_criteria([checks[0]["criterion"]])[0]
            return first.metric
        for name in ("accuracy", "r2"):
            if name in self.columns:
                return name
        return self.columns[1] if len(self.columns) > 1 else "examples"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "model_hash": self.model_hash,
            "baseline": self.baseline,
            "label": self.label,
            "datasets": self.datasets,
            "columns": self.columns,
            "rows": self.rows,
            "aggregates": self.aggregates,
            "details": self.details,
            "verdict": self.verdict,
            "created_at": self.created_at,
        }


class Evaluator:
    """Evaluations of one workspace (``ws.evaluate``, ``ws.evals``)."""

    def __init__(
        self, stores: Stores, config: dict[str, Any], acceptance: Acceptance | None = None
    ) -> None:
        self._s = stores
        self._config = config
        self._registry = Registry(stores, acceptance)

    def declared(self, model: Any) -> Declared | None:
        """The project's declared acceptance of ``model`` when it names a registered version
        (``NAME@VERSION`` or ``NAME@ALIAS``); None otherwise."""
        if not isinstance(model, str):
            return None
        name, at, _ = model.strip().partition("@")
        if not (at and name) or is_digits(name):
            return None
        return self._registry.acceptance.of(name)

    # -- resolving what the user named ---------------------------------------------------

    def resolve_model(self, ref: str, allow_pickle: bool = False) -> ModelRef:
        """A registered ``NAME@VERSION``/``NAME@ALIAS``, a run id, ``RUN:STEP.OUTPUT`` or a hash.

        The opt-in to load it even if that can run code: the one recorded on a registered
        version, else ``allow_pickle`` (what the user gave to this evaluation).
        """
        text = str(ref).strip()
        name, at, _ = text.partition("@")
        if at and name and not is_digits(name):
            version = self._registry.get(text)
            return ModelRef(
                text,
                version.hash,
                version.kind,
                version.run_id,
                version.allow_pickle,
                OPT_IN_VERSION,
            )
        found = resolve_artifact(self._s, text)
        found.allow_pickle = allow_pickle
        found.opt_in = OPT_IN_EVAL
        return found

    def _feature_names(self, given: Any, ref: ModelRef) -> list[str] | None:
        """The input columns of a model fitted without names, as stated at its registration
        (``"names": "user"`` in the signature); ``None`` otherwise. Names are never taken from
        the lineage: an array's column order cannot be proven (see ``Registry.feature_names``)."""
        if given is None:
            return None
        text = str(given).strip()
        name, at, _ = text.partition("@")
        if at and name and not name.isdigit():
            sig = self._registry.get(text).signature or {}
            if sig.get("names") == "user":
                return list(sig.get("features") or []) or None
        return None

    def _feature_kinds(self, given: Any) -> dict[str, Any] | None:
        """The column kinds of a registered version's signature (``NAME@V``), which its
        input is checked against as `rung predict` checks it; ``None`` for a run's output."""
        if given is None:
            return None
        from rung.registry.models import Registry

        text = str(given).strip()
        name, at, _ = text.partition("@")
        if at and name and not name.isdigit():
            return dict((Registry(self._s).get(text).signature or {}).get("columns") or {})
        return None

    # -- evaluating ------------------------------------------------------------------------

    def _resolve_application(self, app: Any, allow_pickle: bool) -> tuple[ModelRef, list[Any]]:
        from rung.core.codehash import code_fingerprint
        from rung.core.hashing import hash_json
        from rung.evaluation.application import Step

        steps, parts = [], []
        for c in app.components:
            if isinstance(c.model, str):
                ref = self.resolve_model(c.model, allow_pickle)
                path = self._s.artifacts.local_path(ref.hash)
                steps.append(
                    Step(
                        c.name,
                        path,
                        ref.kind,
                        None,
                        c.inputs,
                        c.label,
                        ref.allow_pickle,
                        ref.opt_in,
                    )
                )
                parts.append([c.name, ref.hash])
            elif callable(c.model):
                steps.append(Step(c.name, None, None, c.model, c.inputs, c.label))
                parts.append([c.name, code_fingerprint(c.model)[0]])
            else:
                raise InvalidInput(
                    f"component {c.name!r} is a {type(c.model).__name__}",
                    "give a model reference (run id, RUN:STEP.OUTPUT, hash) or a function",
                )
        return ModelRef(app.name, hash_json(parts), "application"), steps

    def evaluate(
        self,
        model: Any,
        on: Sequence[str],
        *,
        label: str | None = None,
        metrics: Sequence[str] | None = None,
        custom_metrics: dict[str, MetricFn] | None = None,
        slices: Sequence[str] | dict[str, str | Callable[[Any], Any]] | None = None,
        baseline: str | None = None,
        criteria: Sequence[str] | None = None,
        workers: int | None = None,
        allow_pickle: bool = False,
        informs_only: bool = False,
        margins: Mapping[str, Margin] | None = None,
        judge_on: Sequence[str] | None = None,
    ) -> Evaluation:
        """Score ``model`` on the dataset versions ``on`` and record the evaluation.

        ``on`` empty and ``criteria`` None mean the project's declared acceptance datasets and
        criteria: for a registered ``NAME@…`` those the registry's gate judges it by
        (:mod:`rung.registry.gate`), else ``[eval] datasets`` and ``[eval] criteria``. The
        evaluation records the digest of its criteria set; it counts toward the evaluated
        version's verdict only when that is the declared set, on the declared datasets, and
        ``informs_only`` is false (the loop sets it when re-judging the serving version).

        ``allow_pickle`` opts in to loading a model (or baseline) given as a run, output or
        hash that can run code when loaded (pickle, or skops types outside rung's trusted
        list); a registered version uses the opt-in recorded at its registration. Without
        it such a model is refused with :class:`~rung.core.errors.Untrusted`; with it, the
        evaluation records ``allow_pickle``.

        ``margins`` (metric → :class:`~rung.core.policy.Margin`) are the non-inferiority
        margins at which each delta's ``p_worse`` is computed (0 otherwise). ``judge_on``
        names the dataset versions (of ``on``) the criteria are judged on; the others are
        scored and compared with the baseline but do not enter the verdict (default: all).
        """
        cfg = self._config
        declared = self.declared(model)
        if not on:
            on = list(declared.datasets if declared else cfg.get("datasets", []))
        if not on:
            raise InvalidInput(
                "no dataset to evaluate on",
                "pass --on NAME@VERSION (repeatable), or declare the acceptance datasets"
                ' under [eval] in rung.toml: datasets = ["holdout@1"]',
            )
        label = label or (declared.label if declared else None) or cfg.get("label")
        if not label:
            raise InvalidInput(
                "no label column given",
                "pass --label COLUMN, or set label under [eval] in rung.toml (for an automated"
                " model: under its [automate.models.NAME])",
            )
        check_length(str(label), KEY, "label column name")
        if criteria is not None:
            crit_texts = list(criteria)
        elif declared is not None:
            crit_texts = list(declared.criteria)
        else:
            crit_texts = list(cfg.get("criteria", []))
        parsed = parse_criteria(crit_texts)
        if metrics:
            from rung.evaluation.metrics import resolve

            resolve(metrics, "classification", custom_metrics)  # unknown names fail here, once
        from rung.evaluation.application import Application

        if isinstance(model, str) and ":" in model and not is_digits(model.partition(":")[0]):
            from rung.pipelines.loader import load_object

            model = load_object(model, self._s.root)
            if not isinstance(model, Application):
                raise InvalidInput(
                    f"{type(model).__name__} is not a model or an Application",
                    "name an Application",
                )
        app_steps = None
        if isinstance(model, Application):
            if baseline:
                raise InvalidInput(
                    "a baseline is compared with a single model",
                    "evaluate the application without --baseline",
                )
            chosen, app_steps = self._resolve_application(model, allow_pickle)
            model_path = ""
        else:
            chosen = self.resolve_model(model, allow_pickle)
            model_path = self._s.artifacts.local_path(chosen.hash)  # verifies the hash
        base = self.resolve_model(baseline, allow_pickle) if baseline else None
        base_path = self._s.artifacts.local_path(base.hash) if base else None
        slice_map = _slice_map(slices)
        versions = [self._s.data.get(ref) for ref in on]
        for v in versions:
            if not v.tabular:
                raise InvalidInput(
                    f"dataset {v.ref} is {v.format}, not a table",
                    "evaluate on CSV or Parquet versions",
                )
        tasks = [
            worker.Task(
                dataset=v.ref,
                data_path=self._s.artifacts.local_path(v.hash),
                data_format=v.format,
                model_path=model_path,
                model_kind=chosen.kind,
                model_allow_pickle=chosen.allow_pickle,
                model_what=f"model {chosen.hash[:12]}",
                baseline_what=f"baseline {base.hash[:12]}" if base else "baseline",
                model_opt_in=chosen.opt_in,
                baseline_opt_in=base.opt_in if base else "",
                label=label,
                metric_names=list(metrics) if metrics else None,
                custom=dict(custom_metrics or {}),
                slices=slice_map,
                baseline_path=base_path,
                baseline_kind=base.kind if base else None,
                baseline_allow_pickle=bool(base and base.allow_pickle),
                application=app_steps,
                features=self._feature_names(model if app_steps is None else None, chosen),
                baseline_features=self._feature_names(baseline, base) if base else None,
                margins=dict(margins or {}),
                feature_kinds=self._feature_kinds(model if app_steps is None else None),
            )
            for v in versions
        ]
        judged = None
        if judge_on is not None:
            judged = [self._s.data.get(ref).ref for ref in judge_on]
            outside = sorted(set(judged) - {v.ref for v in versions})
            if outside:
                raise InvalidInput(
                    f"judge_on names {outside[0]}, which is not evaluated",
                    "judge on some of the datasets given with on",
                )
        results = _run_all(tasks, workers)
        return self._record(
            chosen,
            base,
            label,
            versions,
            results,
            parsed,
            crit_texts,
            informs_only=informs_only,
            judged=judged,
        )

    def _record(
        self,
        chosen: ModelRef,
        base: ModelRef | None,
        label: str,
        versions: Sequence[Any],
        results: Sequence[dict[str, Any]],
        parsed: Any,
        crit_texts: Sequence[str],
        informs_only: bool = False,
        judged: Sequence[str] | None = None,
    ) -> Evaluation:
        rows: dict[str, dict[str, Any]] = {}
        details: dict[str, dict[str, Any]] = {}
        columns: list[str] = ["examples", "labelled"]
        notes: list[str] = []
        for r in results:
            rows[r["dataset"]] = {
                "examples": r["examples"],
                "labelled": r["labelled"],
                **r["metrics"],
            }
            missing = r["examples"] - r["labelled"]
            if r["labelled"] == 0:
                notes.append(
                    f"dataset {r['dataset']}: no row has a label in {label!r}: no metric computed"
                )
            elif missing:
                notes.append(
                    f"dataset {r['dataset']}: {missing} of {r['examples']} rows have no label in"
                    f" {label!r}: left out of the metrics"
                )
            notes += [f"dataset {r['dataset']}: {n}" for n in r.get("not_finite", [])]
            for k in r["metrics"]:
                if k not in columns:
                    columns.append(k)
            details[r["dataset"]] = {
                k: r[k]
                for k in ("slices", "confusion", "calibration", "deltas", "baseline_metrics")
                if k in r
            }
        aggregates = aggregate_rows(rows, columns)
        keep = set(rows) if judged is None else set(judged)
        judged_rows = {d: r for d, r in rows.items() if d in keep}
        results_for_judge = {
            "datasets": judged_rows,
            "mean": aggregates["Mean"]
            if judged is None
            else aggregate_rows(judged_rows, columns)["Mean"],
            "slices": {d: det.get("slices", {}) for d, det in details.items() if d in keep},
        }
        if judged is not None and len(keep) < len(rows):
            notes.append(
                f"criteria judged on {', '.join(d for d in rows if d in keep)}; compared"
                f" only: {', '.join(d for d in rows if d not in keep)}"
            )
        baseline_for_judge = None
        if base is not None:
            base_rows = {
                d: det.get("baseline_metrics", {}) for d, det in details.items() if d in keep
            }
            base_cols = sorted({k for r in base_rows.values() for k in r})
            baseline_for_judge = {
                "datasets": base_rows,
                "mean": aggregate_rows(base_rows, base_cols)["Mean"],
            }
        verdict: Verdict = judge(parsed, results_for_judge, baseline_for_judge)
        verdict_dict = {**verdict.to_dict(), "criteria": list(crit_texts)}
        if judged is not None:
            verdict_dict["judged_on"] = [d for d in rows if d in keep]
        verdict_dict["notes"] = [*notes, *verdict_dict.get("notes", [])]
        datasets = [{"ref": v.ref, "hash": v.hash} for v in versions]
        now = time.time()
        payload: dict[str, Any] = {
            "columns": columns,
            "rows": rows,
            "aggregates": aggregates,
            "details": details,
            "verdict": verdict_dict,
        }
        if chosen.allow_pickle or (base is not None and base.allow_pickle):
            payload["allow_pickle"] = True  # the opt-in given to load a model that can run code
        with self._s.metadata.write() as tx:
            eval_id = tx.insert(
                "evaluations",
                {
                    "model": chosen.name,
                    "model_hash": chosen.hash,
                    "baseline": base.name if base else None,
                    "baseline_hash": base.hash if base else None,
                    "label": label,
                    "datasets": canonical_json(datasets),
                    "result": ordered_json(payload),
                    "verdict": verdict.status,
                    "created_at": now,
                    "criteria_digest": criteria_digest(crit_texts),
                    "informs_only": informs_only,
                },
            )
        return Evaluation(
            eval_id,
            chosen.name,
            chosen.hash,
            base.name if base else None,
            label,
            datasets,
            columns,
            rows,
            aggregates,
            details,
            verdict_dict,
            now,
        )

    # -- history ---------------------------------------------------------------------------

    def list(self, limit: int = 50, model_hash: str | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` evaluations (of the model whose artifact hash is
        ``model_hash`` only, when given — a registered version's bytes, however it was
        named), newest first: ``id``, ``model``, ``model_hash``, ``baseline``, ``label``,
        ``datasets`` (``NAME@V``), ``verdict``, ``created_at``."""
        check_int(limit, "limit")
        where = "WHERE model_hash = :h " if model_hash is not None else ""
        with self._s.metadata.read() as tx:
            rows = tx.all(
                "SELECT id, model, model_hash, baseline, label, datasets, verdict, created_at"
                f" FROM evaluations {where}ORDER BY id DESC LIMIT :n",
                {"n": limit, **({"h": model_hash} if model_hash is not None else {})},
            )
        for r in rows:
            r["datasets"] = [d["ref"] for d in json.loads(r["datasets"])]
        return rows

    def summaries(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """``{id: {"id", "verdict", "datasets": [NAME@V]}}`` of the evaluations ``ids`` that
        exist (unknown ids left out), without reading their results: what a listing of
        alias moves cites."""
        wanted = sorted({int(i) for i in ids})
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join(f":i{n}" for n in range(len(chunk)))
            with self._s.metadata.read() as tx:
                rows = tx.all(
                    f"SELECT id, verdict, datasets FROM evaluations WHERE id IN ({marks})",
                    {f"i{n}": i for n, i in enumerate(chunk)},
                )
            for r in rows:
                refs = [d["ref"] for d in json.loads(r["datasets"])]
                found[r["id"]] = {"id": r["id"], "verdict": r["verdict"], "datasets": refs}
        return found

    def get(self, eval_id: int | str) -> Evaluation:
        number = parse_int(str(eval_id), "evaluation id", hint="ids are numbers: see `rung evals`")
        with self._s.metadata.read() as tx:
            row = tx.one("SELECT * FROM evaluations WHERE id = :id", {"id": number})
            last = tx.scalar("SELECT MAX(id) FROM evaluations") if row is None else None
        if row is None:
            hint = (
                f"ids go from 1 to {last}"
                if last
                else "no evaluations yet: `rung eval MODEL --on DATASET`"
            )
            raise NotFound(f"unknown evaluation {eval_id!r}", hint)
        p = json.loads(row["result"])
        return Evaluation(
            row["id"],
            row["model"],
            row["model_hash"],
            row["baseline"],
            row["label"] or "",
            json.loads(row["datasets"]),
            p["columns"],
            p["rows"],
            p["aggregates"],
            p["details"],
            p["verdict"],
            row["created_at"],
        )


def _slice_map(
    slices: Sequence[str] | dict[str, str | Callable[[Any], Any]] | None,
) -> dict[str, str | Callable[[Any], Any]]:
    if not slices:
        return {}
    if isinstance(slices, dict):
        return dict(slices)
    return {s: s for s in slices}


def _run_all(tasks: Sequence[worker.Task], workers: int | None) -> list[dict[str, Any]]:
    """Score every dataset, in parallel processes when there are several and they pickle."""
    count = min(len(tasks), workers or os.cpu_count() or 1)
    if count <= 1 or not _picklable(tasks):
        return [worker.run(t) for t in tasks]
    import multiprocessing as mp

    fork = "fork" in mp.get_all_start_methods()
    if fork:
        _warm_up(tasks[0])  # forked workers inherit the imports instead of paying them each
    context = mp.get_context("fork" if fork else "spawn")
    with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
        return list(pool.map(worker.run, tasks))


def _warm_up(task: worker.Task) -> None:
    """Import what scoring needs, by loading the model(s) once in the parent."""
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import rung.evaluation.metrics  # noqa: F401

    if task.model_kind in ("skops", "pickle"):
        worker.load_model(
            task.model_path,
            task.model_kind,
            task.model_allow_pickle,
            what=task.model_what,
            opt_in=task.model_opt_in,
        )
    for step in task.application or []:
        if step.model_path and step.model_kind:
            worker.load_model(
                step.model_path,
                step.model_kind,
                step.allow_pickle,
                what=f"component {step.name}'s model",
                opt_in=step.opt_in,
            )
    from sklearn import metrics  # noqa: F401


def _picklable(tasks: Sequence[worker.Task]) -> bool:
    try:
        pickle.dumps(list(tasks))
    except Exception:  # lambdas and local functions: evaluate in this process instead
        return False
    return True
