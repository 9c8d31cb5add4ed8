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

**The period.** :func:`compare_current` (``rung monitor compare``, and the automation through
:func:`compare_aliases`) judges by default the traffic since both refs reached the versions
they point to now (:func:`served_since`): the evidence of an earlier pairing never counts.
In two-sample mode the champion's answers are further kept to the canary's period (from its
first answer to its last in the window): a champion's answers from an earlier shadow run, or
from before the canary started, are another period's traffic and are left out, counted.

**What is left out.** ``excluded`` counts the champion's labelled rows of the window that the
comparison does not judge, by reason: in paired mode each labelled answer without a usable
shadow prediction (the shadow failed with a status — e.g. a signature needing a feature the
champion does not take — its outputs were unreadable, or no shadow prediction was logged:
outside its share, dropped under load); in two-sample mode the champion's labelled answers
outside the canary's period. A shadow's failures depend on the request, so the pairs left are
not a random sample: any failure is a note, and when more than :data:`EXCLUDED_WARN` of the
labelled rows are left out, ``warnings`` says the verdict covers only that part of the
traffic.
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
EXCLUDED_WARN = 0.1  # above this share of labelled rows left out, the verdict is partial
NO_SHADOW = "no shadow prediction logged (outside its share, dropped, or not running)"
UNREADABLE = "the shadow's outputs do not match the answer's rows"
OUTSIDE = "answered outside the canary's period"

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
    paired: tuple[Arm, Arm, dict[str, int]] | None = None
    who_old, who_new = (old.name, old.version), (new.name, new.version)
    canary_period: list[float] | None = None
    if mode in ("auto", "paired"):
        paired = _paired(store, who_old, who_new, since)
        if mode == "auto" and not paired[0][0]:
            paired = None
    if paired is not None:
        used, (arm_old, arm_new, excluded) = "paired", paired
        labelled: dict[str, int] = {"pairs": len(arm_old[0])}
        canaried = _count(store, who_new, "canary", since)
        if canaried:
            notes.append(
                f"{canaried} requests of this period were answered by {new.ref} as a canary;"
                " they are not judged here (--mode two-sample judges them)"
            )
    else:
        used = "two-sample"
        arm_new, at_new = _arm(store, who_new, "canary", since)
        canary_period = [min(at_new), max(at_new)] if at_new else None
        arm_all, at_old = _arm(store, who_old, "answer", since)
        keep = [canary_period is None or canary_period[0] <= t <= canary_period[1] for t in at_old]
        arm_old = _kept(arm_all, keep)
        excluded = {OUTSIDE: keep.count(False)} if not all(keep) else {}
        labelled = {"champion": len(arm_old[0]), "challenger": len(arm_new[0])}
        shadowed = _count(store, who_new, "shadow", since)
        if shadowed and mode == "auto":
            notes.append(
                f"{new.ref} predicted {shadowed} requests of this period in shadow, none of"
                " them labelled: send their labels back (POST /feedback) for a paired comparison"
            )
    failed = sum(n for why, n in excluded.items() if why.startswith("the shadow failed"))
    if failed:
        notes.append(
            f"the shadow failed on {failed} labelled request(s), left out: a refusal depends on"
            " the request, so the pairs judged are not a random sample of the traffic"
        )
    judged = labelled["pairs"] if used == "paired" else labelled["champion"]
    left_out = sum(excluded.values())
    share = left_out / (judged + left_out) if judged + left_out else 0.0
    warnings: list[str] = []
    if share > EXCLUDED_WARN:
        whose = "the champion's labelled answers"
        warnings.append(
            f"the verdict covers only {judged} of {judged + left_out} of {whose} in this"
            f" period ({1 - share:.0%}); {left_out} left out: "
            + "; ".join(f"{why}: {n}" for why, n in excluded.items())
        )
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
        "excluded": {"rows": left_out, "share": share, "reasons": excluded},
        "warnings": warnings,
        "canary_period": canary_period,
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


def served_since(store: MetadataStore, registry: Any, refs: Sequence[str]) -> float | None:
    """When the refs reached the versions they point to now: the latest, over each
    ``NAME@ALIAS`` of ``refs``, of the alias's last move to its current version (epoch
    seconds); None when no ref is an alias (``NAME@VERSION`` names no period) or no move is
    recorded. Raises NotFound when an alias is not set."""
    moved = []
    for ref in refs:
        name, _, which = ref.partition("@")
        if not which or which.isdigit():
            continue
        version = registry.get(ref).version
        with store.read() as tx:
            moved.append(
                tx.scalar(
                    "SELECT MAX(at) FROM alias_events WHERE name = :m AND alias = :a"
                    " AND to_version = :v",
                    {"m": name, "a": which, "v": version},
                )
            )
    known = [float(t) for t in moved if t is not None]
    return max(known) if known else None


def compare_current(
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
    """:func:`compare_live` on the traffic the two refs served as they are now: since
    ``since`` when given (epoch seconds), else since both reached their current versions
    (:func:`served_since`: a champion's answers from before its challenger was set beside it,
    or answered beside another version, are not its evidence). The result's ``period`` says
    which: ``{"since": seconds or None, "by": "given" | "aliases" | "all"}``."""
    by = "given"
    if since is None:
        since = served_since(store, registry, [champion_ref, challenger_ref])
        by = "aliases" if since is not None else "all"
    out = compare_live(
        store,
        registry,
        policy,
        criteria,
        champion_ref,
        challenger_ref,
        since=since,
        mode=mode,
        min_labelled=min_labelled,
    )
    out["period"] = {"since": since, "by": by}
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
    """:func:`compare_current` of ``model@challenger_alias`` with ``model@champion_alias`` on
    the traffic since both aliases reached their current versions. Raises NotFound when an
    alias is not set."""
    return compare_current(
        store,
        registry,
        policy,
        criteria,
        f"{model}@{champion_alias}",
        f"{model}@{challenger_alias}",
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


def _count(store: MetadataStore, who: tuple[str, int], role: str, since: float | None) -> int:
    """How many answered records version ``who`` logged in ``role`` at or after ``since``."""
    where = "model = :m AND version = :v AND role = :role AND status < 400"
    params: dict[str, Any] = {"m": who[0], "v": who[1], "role": role}
    if since is not None:
        where += " AND at >= :since"
        params["since"] = since
    with store.read() as tx:
        return int(tx.scalar(f"SELECT COUNT(*) FROM predictions WHERE {where}", params) or 0)


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
                "SELECT id, request_id, rows, outputs, status, at FROM predictions"
                f" WHERE {where} ORDER BY id LIMIT :n",
                {**params, "last": last},
            )
        if not rows:
            return
        yield rows
        last = rows[-1]["id"]


def _kept(arm: Arm, keep: list[bool]) -> Arm:
    """The rows of ``arm`` whose ``keep`` is true."""
    labels, preds, probas = ([v for v, k in zip(c, keep, strict=True) if k] for c in arm)
    return labels, preds, probas


def _arm(
    store: MetadataStore, who: tuple[str, int], role: str, since: float | None
) -> tuple[Arm, list[float]]:
    """The labelled rows version ``who`` answered in ``role``, with each one's time."""
    labels: list[Any] = []
    preds: list[Any] = []
    probas: list[Any] = []
    ats: list[float] = []
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
                    ats.append(float(r["at"]))
    return (labels, preds, probas), ats


def _paired(
    store: MetadataStore, old: tuple[str, int], new: tuple[str, int], since: float | None
) -> tuple[Arm, Arm, dict[str, int]]:
    """The labelled rows of the requests ``old`` answered and ``new`` predicted in shadow,
    and the count of ``old``'s labelled rows left out, by reason."""
    arm_old: Arm = ([], [], [])
    arm_new: Arm = ([], [], [])
    excluded: dict[str, int] = {}
    for chunk in _records(store, old, "answer", since):
        ids = sorted({r["request_id"] for r in chunk})
        marks = ", ".join(f":r{i}" for i in range(len(ids)))
        with store.read() as tx:
            shadows = tx.all(
                "SELECT id, request_id, rows, outputs, status FROM predictions"
                f" WHERE model = :m AND version = :v AND role = 'shadow'"
                f" AND request_id IN ({marks}) ORDER BY id",
                {"m": new[0], "v": new[1], **{f"r{i}": rid for i, rid in enumerate(ids)}},
            )
        shadow = {s["request_id"]: s for s in shadows}  # the newest per request id
        truth = _labels(store, ids)
        labelled: dict[str, list[int]] = {}
        for (rid, row), y in truth.items():
            if y is not None:
                labelled.setdefault(rid, []).append(row)
        for r in chunk:
            rows = labelled.get(r["request_id"])
            if not rows:
                continue
            a, s = _rows_of(r), shadow.get(r["request_id"])
            if a is None:
                continue  # the answer itself is unreadable: no row of it is labelled evidence
            b = _rows_of(s) if s is not None and s["status"] < 400 else None
            why = (
                NO_SHADOW
                if s is None
                else _failure(s)
                if s["status"] >= 400
                else UNREADABLE
                if b is None or len(a[0]) != len(b[0])
                else None
            )
            for row in sorted(rows):
                if row >= len(a[0]):
                    continue
                if why is not None or b is None:
                    excluded[why or UNREADABLE] = excluded.get(why or UNREADABLE, 0) + 1
                    continue
                label = truth[(r["request_id"], row)]
                for arm, (preds, probas) in ((arm_old, a), (arm_new, b)):
                    arm[0].append(label)
                    arm[1].append(preds[row])
                    arm[2].append(probas[row])
    return arm_old, arm_new, excluded


def _failure(record: dict[str, Any]) -> str:
    """A failed shadow record's reason: ``the shadow failed: 422 PayloadError``."""
    outputs = record["outputs"]
    try:
        got = json.loads(outputs) if isinstance(outputs, str | bytes) else outputs
    except ValueError:
        got = None
    error = got.get("error") if isinstance(got, dict) else None
    return f"the shadow failed: {record['status']}" + (f" {error}" if error else "")
