"""Live evidence: a challenger judged against the champion on the traffic they served, by the
promotion policy of the automation (:mod:`rung.core.policy`).

``rung monitor compare NAME@champion NAME@challenger`` reads the prediction log:

* **paired** (the challenger ran in shadow, ``rung serve --shadow``): each request the
  champion answered (role ``answer``) and the challenger predicted too (role ``shadow``,
  the same request id) whose labels came back gives one labelled row *per model on the same
  example*: the paired bootstrap of the difference (:func:`rung.evaluation.bootstrap.paired_deltas`),
  as ``rung eval --baseline`` computes it;
* **two-sample** (the challenger answered a canary share, ``rung serve --canary``): the
  champion's labelled answers and the canary's are different requests: the two-sample
  bootstrap (:func:`rung.evaluation.bootstrap.two_sample_deltas`).

``mode="auto"`` takes the paired comparison when any labelled pair exists (it is the more
powerful), else the two-sample one. The decision is :func:`rung.core.policy.decide`'s, with the
automation's policy of the model (its ``[automate]`` decisive metric and margin, guardrails and
``alpha``; the defaults otherwise): the challenger is **better** when a decisive metric is shown
better and nothing is shown worse beyond its margin (Holm over each family), **worse** when
a decisive or guardrail metric is shown worse beyond its margin, and otherwise there is
**not enough evidence** (a tie keeps the champion). The acceptance criteria are not judged on
live traffic: the registry's gate judges them when the alias moves.

Below ``min_labelled`` labelled rows (pairs, or rows of either arm) nothing is tested: a
bootstrap of a handful of rows shows "significant" differences that are not.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from rung.core.errors import InvalidInput
from rung.core.policy import Comparison, Policy, decide
from rung.core.predlog import MalformedRecord, outputs_of
from rung.store.metadata import MetadataStore

MODES = ("auto", "paired", "two-sample")
MIN_LABELLED = 30
LIVE = "live traffic"  # the "dataset" the comparisons are on, as the policy names it
CHUNK = 500

Arm = tuple[list[Any], list[Any], list[Any]]  # labels, predictions, probabilities ({class: p})


def compare_live(
    store: MetadataStore,
    registry: Any,
    policy: Policy,
    criteria: Sequence[Any],
    champion_ref: str,
    challenger_ref: str,
    since: float | None = None,
    mode: str = "auto",
    min_labelled: int = MIN_LABELLED,
) -> dict[str, Any]:
    """The live comparison of ``challenger_ref`` with ``champion_ref`` (each NAME@ALIAS or
    NAME@VERSION, resolved now) on the requests logged at or after ``since`` (epoch
    seconds) whose labels came back; see the module's docstring. ``criteria``: parsed
    criteria (:func:`rung.core.criteria.parse_criteria`), which give the default decisive
    metric and margin.

    Returns ``{"champion", "challenger", "mode", "labelled", "verdict", "summary",
    "decision", "deltas", "alpha", "notes"}`` (``deltas``: each metric's ``new``, ``old``,
    ``delta`` and its 95% interval ``low``, ``high``, with its p-values; empty when nothing
    was tested): ``verdict`` is ``better``, ``worse`` or ``not enough
    evidence`` (of the challenger). Raises :class:`InvalidInput` for an unknown ``mode``, a
    challenger that is the champion's version, or two models with different tasks."""
    if mode not in MODES:
        raise InvalidInput(
            f"mode {mode!r} is not one of {MODES}", "give auto, paired or two-sample"
        )
    old = registry.get(champion_ref)
    new = registry.get(challenger_ref)
    if (old.name, old.version) == (new.name, new.version):
        raise InvalidInput(
            f"{champion_ref} and {challenger_ref} are the same version, {old.ref}",
            "compare the champion with another version (its challenger)",
        )
    classes = (old.signature or {}).get("classes") or []
    if bool(classes) != bool((new.signature or {}).get("classes")):
        raise InvalidInput(
            f"{old.ref} and {new.ref} do not have the same task (one has classes)",
            "compare versions that predict the same target",
        )
    notes: list[str] = []
    paired: tuple[Arm, Arm] | None = None
    if mode in ("auto", "paired"):
        paired = _paired(store, (old.name, old.version), (new.name, new.version), since)
        if mode == "auto" and not paired[0][0]:
            paired = None
    if paired is not None:
        used, (arm_old, arm_new) = "paired", paired
        labelled: dict[str, int] = {"pairs": len(arm_old[0])}
    else:
        used = "two-sample"
        arm_old = _arm(store, (old.name, old.version), "answer", since)
        arm_new = _arm(store, (new.name, new.version), "canary", since)
        labelled = {"champion": len(arm_old[0]), "challenger": len(arm_new[0])}
    regression = not classes
    decisive, guardrails = policy.resolve(criteria, regression)
    margins = {**guardrails, **decisive}
    out: dict[str, Any] = {
        "champion": old.ref,
        "challenger": new.ref,
        "refs": [champion_ref, challenger_ref],
        "mode": used,
        "since": since,
        "labelled": labelled,
        "decisive": {m: str(v) for m, v in decisive.items()},
        "guardrails": {m: str(v) for m, v in guardrails.items()},
        "alpha": policy.alpha,
    }
    fewest = min(labelled.values())
    if fewest < min_labelled:
        where = (
            "requests both answered and predicted in shadow"
            if used == "paired"
            else "answers of each (the champion's and the canary's)"
        )
        out.update(
            verdict="not enough evidence",
            summary=f"not enough evidence: {fewest} labelled {where}, fewer than"
            f" {min_labelled}; send labels back (POST /feedback) and compare again",
            decision=None,
            deltas={},
            notes=notes,
        )
        return out
    from rung.evaluation.bootstrap import paired_deltas, two_sample_deltas
    from rung.evaluation.metrics import resolve

    task = "regression" if regression else "classification"
    names = list(margins)
    fns = resolve([n for n in names if _known(n)], task)
    if used == "paired":
        y = np.asarray(arm_old[0], dtype=object if classes else float)
        deltas = paired_deltas(
            y,
            _array(arm_new[1], classes),
            _array(arm_old[1], classes),
            _probabilities(arm_new[2], classes),
            _probabilities(arm_old[2], classes),
            classes,
            fns,
            names,
            margins,
        )
    else:
        deltas = two_sample_deltas(
            _triple(arm_new, classes), _triple(arm_old, classes), classes, fns, names, margins
        )
    comparisons = [
        c for m, d in deltas.items() if (c := Comparison.from_delta(LIVE, m, d)) is not None
    ]
    decision = decide(
        policy,
        decisive=decisive,
        guardrails=guardrails,
        deciding=[LIVE],
        comparisons=comparisons,
        verdict="passed",  # the criteria are the gate's, judged when the alias moves
        champion=True,
    )
    if decision.worse:
        verdict = "worse"
        summary = f"{new.ref} is worse than {old.ref}: " + "; ".join(decision.worse)
    elif decision.decision in ("promote", "await"):
        verdict = "better"
        summary = f"{new.ref} is better than {old.ref}: " + "; ".join(decision.better)
    else:
        verdict = "not enough evidence"
        summary = (
            f"not enough evidence that {new.ref} is better or worse than {old.ref}"
            " (a tie keeps the champion): "
            + "; ".join(t.line for t in decision.tests if t.kind == "gain")
        )
    notes += decision.notes
    out.update(
        verdict=verdict,
        summary=summary,
        decision=decision.to_dict(),
        deltas={m: _plain(d) for m, d in deltas.items()},
        notes=notes,
    )
    return out


def compare_aliases(
    store: MetadataStore,
    registry: Any,
    policy: Policy,
    criteria: Sequence[Any],
    model: str,
    champion_alias: str,
    challenger_alias: str,
    mode: str = "auto",
    min_labelled: int = MIN_LABELLED,
) -> dict[str, Any]:
    """:func:`compare_live` of ``model@challenger_alias`` with ``model@champion_alias``, each
    resolved now to its version, on the traffic they served as they are now: the requests
    logged since the later of the two aliases' moves to their current versions (the
    champion's answers from before its challenger was set beside it, or answered by another
    version, are not its evidence). Raises NotFound when an alias is not set."""
    champion = registry.get(f"{model}@{champion_alias}")
    challenger = registry.get(f"{model}@{challenger_alias}")
    with store.read() as tx:
        moved = [
            tx.scalar(
                "SELECT MAX(at) FROM alias_events WHERE name = :m AND alias = :a"
                " AND to_version = :v",
                {"m": model, "a": alias, "v": version},
            )
            for alias, version in (
                (champion_alias, champion.version),
                (challenger_alias, challenger.version),
            )
        ]
    known = [float(t) for t in moved if t is not None]
    return compare_live(
        store,
        registry,
        policy,
        criteria,
        champion.ref,
        challenger.ref,
        since=max(known) if known else None,
        mode=mode,
        min_labelled=min_labelled,
    )


def counted(labelled: dict[str, int]) -> str:
    """A comparison's ``labelled`` counts in words: ``300 labelled pairs`` (paired) or ``150
    labelled answers of the champion, 148 of the canary`` (two-sample)."""
    if "pairs" in labelled:
        return f"{labelled['pairs']} labelled pairs"
    return (
        f"{labelled.get('champion', 0)} labelled answers of the champion,"
        f" {labelled.get('challenger', 0)} of the canary"
    )


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays as JSON's numbers and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _known(name: str) -> bool:
    from rung.evaluation.metrics import BUILTIN

    return name in BUILTIN or name.split("_", 1)[0] in ("precision", "recall", "f1")


def _array(values: list[Any], classes: Sequence[Any]) -> np.ndarray:
    return np.asarray(values, dtype=object if classes else float)


def _triple(arm: Arm, classes: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    return _array(arm[0], classes), _array(arm[1], classes), _probabilities(arm[2], classes)


def _probabilities(rows: list[Any], classes: Sequence[Any]) -> np.ndarray | None:
    """The logged ``{class: p}`` of each row as an (n, k) array in ``classes``' order; None
    when a row has none (a model without ``predict_proba``)."""
    if not classes or not rows:
        return None
    keys = [str(c) for c in classes]
    out = []
    for row in rows:
        if not isinstance(row, dict) or any(k not in row for k in keys):
            return None
        out.append([float(row[k]) for k in keys])
    return np.asarray(out, dtype=float)


def _rows_of(record: dict[str, Any]) -> tuple[list[Any], list[Any]] | None:
    try:
        out = outputs_of(record)
    except MalformedRecord:
        return None
    if out is None:
        return None
    probas = out.get("probabilities")
    preds = out["predictions"]
    return preds, probas if isinstance(probas, list) else [None] * len(preds)


def _labels(store: MetadataStore, ids: list[str]) -> dict[tuple[str, int], Any]:
    if not ids:
        return {}
    marks = ", ".join(f":r{i}" for i in range(len(ids)))
    with store.read() as tx:
        rows = tx.all(
            f'SELECT request_id, "row", label FROM feedback WHERE request_id IN ({marks})',
            {f"r{i}": rid for i, rid in enumerate(ids)},
        )
    return {(f["request_id"], f["row"]): json.loads(f["label"]) for f in rows}


def _records(store: MetadataStore, who: tuple[str, int], role: str, since: float | None) -> Any:
    """The answered records of version ``who`` in ``role``, oldest first, in chunks."""
    where = "model = :m AND version = :v AND role = :role AND status < 400 AND id > :last"
    params: dict[str, Any] = {"m": who[0], "v": who[1], "role": role, "n": CHUNK}
    if since is not None:
        where += " AND at >= :since"
        params["since"] = since
    last = 0
    while True:
        with store.read() as tx:
            rows = tx.all(
                "SELECT id, request_id, rows, outputs, status FROM predictions"
                f" WHERE {where} ORDER BY id LIMIT :n",
                {**params, "last": last},
            )
        if not rows:
            return
        yield rows
        last = rows[-1]["id"]


def _arm(store: MetadataStore, who: tuple[str, int], role: str, since: float | None) -> Arm:
    """The labelled rows version ``who`` answered in ``role``."""
    labels: list[Any] = []
    preds: list[Any] = []
    probas: list[Any] = []
    for chunk in _records(store, who, role, since):
        truth = _labels(store, sorted({r["request_id"] for r in chunk}))
        for r in chunk:
            got = _rows_of(r)
            if got is None:
                continue
            for row, (pred, proba) in enumerate(zip(*got, strict=True)):
                label = truth.get((r["request_id"], row))
                if label is not None:
                    labels.append(label)
                    preds.append(pred)
                    probas.append(proba)
    return labels, preds, probas


def _paired(
    store: MetadataStore, old: tuple[str, int], new: tuple[str, int], since: float | None
) -> tuple[Arm, Arm]:
    """The labelled rows of the requests ``old`` answered and ``new`` predicted in shadow."""
    arm_old: Arm = ([], [], [])
    arm_new: Arm = ([], [], [])
    for chunk in _records(store, old, "answer", since):
        ids = sorted({r["request_id"] for r in chunk})
        marks = ", ".join(f":r{i}" for i in range(len(ids)))
        with store.read() as tx:
            shadows = tx.all(
                "SELECT id, request_id, rows, outputs, status FROM predictions"
                f" WHERE model = :m AND version = :v AND role = 'shadow' AND status < 400"
                f" AND request_id IN ({marks}) ORDER BY id",
                {"m": new[0], "v": new[1], **{f"r{i}": rid for i, rid in enumerate(ids)}},
            )
        shadow = {s["request_id"]: s for s in shadows}  # the newest per request id
        truth = _labels(store, sorted(shadow))
        for r in chunk:
            s = shadow.get(r["request_id"])
            if s is None:
                continue
            a, b = _rows_of(r), _rows_of(s)
            if a is None or b is None or len(a[0]) != len(b[0]):
                continue
            for row in range(len(a[0])):
                label = truth.get((r["request_id"], row))
                if label is None:
                    continue
                for arm, (preds, probas) in ((arm_old, a), (arm_new, b)):
                    arm[0].append(label)
                    arm[1].append(preds[row])
                    arm[2].append(probas[row])
    return arm_old, arm_new
