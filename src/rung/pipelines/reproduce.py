"""``rung reproduce``: re-execute a run as it was recorded, compare, and explain a difference.

A reproduction

* imports the run's pipeline again (its recorded ``target``) and executes every step, without
  the cache;
* pins what the run used: its recorded parameters (not the pipeline's current defaults), and
  every dataset reference that resolves at run time — ``rung.dataset("x")``, or ``x`` read
  inside a step through ``rung.dataset`` / ``ws.data.get`` / any rung API — to the version the
  run resolved it to (:mod:`rung.data.reads`);
* compares every step's outputs (content hashes) and the metrics it logged, matching steps by
  name and call (the second call of ``clean`` is ``clean#2``);
* when something differs, names the **first** step that diverged, in the order the steps ran
  (a topological order: a step runs after the steps whose outputs it takes), and what changed
  for it: ``code`` (the functions whose recorded hashes differ), ``data`` (the dataset
  versions it read, or an input built in the pipeline body), ``parameters``, ``environment``
  (Python and the packages whose versions differ from the recorded ones) — or, when none of
  these changed, ``none``: the step read something rung does not track (a file opened
  directly, the network, the environment) or is not deterministic.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rung.core.errors import InvalidInput, RungError
from rung.data.reads import pins_from
from rung.pipelines.environment import installed_version

if TYPE_CHECKING:
    from rung.pipelines.history import Runs
    from rung.pipelines.runner import Progress, Stores

NONDETERMINISM_HINT = (
    "seed its randomness (np.random.default_rng(seed), random_state=seed in scikit-learn)"
    " and avoid the clock, unordered sets and thread timing in what it returns"
)


def reproduce(
    runs: Runs, stores: Stores, run_id: int | str, progress: Progress | None = None
) -> dict[str, Any]:
    """Re-execute run ``run_id`` pinned to what it recorded; return the comparison report.

    Keys: ``original`` and ``reproduction`` (run ids), ``reproduced`` (bool), ``pinned``
    (``datasets``: name → the version unversioned references resolved to; ``params``: the
    recorded parameters passed; ``not_recorded``: pipeline parameters the run did not record,
    left at their defaults; ``dropped``: recorded parameters the pipeline no longer has),
    ``error`` (None, or the error a step of the reproduction failed with: the report then
    compares what ran until then), ``outputs`` and ``metrics`` (one row per step output /
    metric: ``original``, ``reproduced``, ``match``), ``diverged`` (None, or the first step
    that differs with its ``causes``), ``later`` (the other steps that differ) and
    ``summary`` (one line).

    Raises :class:`InvalidInput` for a run that is not a pipeline run with a target, and the
    reproduction's error when a run that had failed fails again.
    """
    from rung.pipelines.loader import load_pipeline
    from rung.pipelines.runner import run_pipeline

    original = runs.get(run_id)
    if original["kind"] != "pipeline" or not original["target"]:
        raise InvalidInput(
            f"run {original['id']} is not a pipeline run with a known target",
            "only runs started by `rung run` or ws.run(...) can be reproduced",
        )
    pipe = load_pipeline(original["target"], stores.root)
    recorded = _recorded_params(stores, original["id"])
    accepted = pipe.signature.parameters
    params = {k: v for k, v in recorded.items() if k in accepted}
    pins = _pins(original)
    with stores.metadata.read() as tx:
        before = tx.scalar("SELECT MAX(id) FROM runs") or 0
    failure = None
    try:
        reproduction = run_pipeline(
            stores,
            pipe,
            params,
            target=original["target"],
            trigger="reproduce",
            use_cache=False,
            progress=progress,
            reproduces=original["id"],
            pins=pins,
        ).id
    except RungError as exc:  # a step that fails now: the report says which, and why
        if original["status"] != "succeeded":  # it failed then too: the error is the answer
            raise
        with stores.metadata.read() as tx:
            found = tx.scalar(
                "SELECT MAX(id) FROM runs WHERE reproduces = :id AND id > :before",
                {"id": original["id"], "before": before},
            )
        if found is None:  # it failed before it started: nothing to compare
            raise
        reproduction, failure = int(found), str(exc)
    again = runs.get(reproduction)
    pinned = {
        "datasets": {name: f"{name}@{v}" for name, v in sorted(pins.items())},
        "params": params,
        "not_recorded": [k for k in accepted if k not in recorded],
        "dropped": [k for k in recorded if k not in accepted],
    }
    report = {
        "original": original["id"],
        "reproduction": reproduction,
        "pinned": pinned,
        "error": failure,
        **compare(original, again, _step_metrics(stores, original), _step_metrics(stores, again)),
    }
    report["summary"] = summary(report)
    return report


def _recorded_params(stores: Stores, run_id: int) -> dict[str, Any]:
    """The pipeline parameters the run recorded (not the params its steps logged)."""
    with stores.metadata.read() as tx:
        text = tx.scalar("SELECT params FROM runs WHERE id = :id", {"id": run_id})
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {}


def _pins(original: dict[str, Any]) -> dict[str, int]:
    """Name → version for unversioned references: from the reads the run recorded, or for a
    run recorded before rung kept them, from the dataset versions its steps took as inputs
    (the newest of them when a name appears at several versions)."""
    if original.get("data_reads") is not None:
        return pins_from(original["data_reads"])
    pins: dict[str, int] = {}
    for st in original["steps"]:
        for inp in st["inputs"]:
            name, _, version = str(inp.get("dataset") or "").rpartition("@")
            if name and version.isdigit():
                pins[name] = max(pins.get(name, 0), int(version))
    return pins


def _step_metrics(stores: Stores, run: dict[str, Any]) -> dict[int, dict[str, float]]:
    """Step run id → the last value of each metric the step logged."""
    found: dict[int, dict[str, float]] = {}
    with stores.metadata.read() as tx:
        for m in tx.all(
            "SELECT step_run_id, key, value FROM metrics WHERE run_id = :id"
            " AND step_run_id IS NOT NULL ORDER BY id",
            {"id": run["id"]},
        ):
            found.setdefault(m["step_run_id"], {})[m["key"]] = float(m["value"])
    return found


# -- comparing ------------------------------------------------------------------------------


def _keyed_steps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Steps by ``name`` (first call) or ``name#N`` (N-th call), in the order they ran."""
    seen: dict[str, int] = {}
    keyed: dict[str, dict[str, Any]] = {}
    for st in run["steps"]:
        seen[st["name"]] = seen.get(st["name"], 0) + 1
        n = seen[st["name"]]
        keyed[st["name"] if n == 1 else f"{st['name']}#{n}"] = st
    return keyed


def compare(
    a: dict[str, Any],
    b: dict[str, Any],
    metrics_a: dict[int, dict[str, float]] | None = None,
    metrics_b: dict[int, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """Compare run ``b`` (the reproduction) with run ``a`` (as :meth:`Runs.get` returns them):
    rows per output and per metric, the first step that diverged with its causes, and the
    later ones. ``metrics_a``/``metrics_b`` are the metrics per step run (step run id → key →
    last value); without them only the runs' metrics are compared."""
    sa, sb = _keyed_steps(a), _keyed_steps(b)
    ma, mb = metrics_a or {}, metrics_b or {}
    output_rows: list[dict[str, Any]] = []
    diverging: list[str] = []
    order = _merged_order(list(sa), list(sb))
    for key in order:
        oa = {o["name"]: o["hash"] for o in (sa[key]["outputs"] if key in sa else [])}
        ob = {o["name"]: o["hash"] for o in (sb[key]["outputs"] if key in sb else [])}
        step_differs = key not in sa or key not in sb
        for name in sorted(set(oa) | set(ob)):
            match = oa.get(name) == ob.get(name)
            step_differs |= not match
            output_rows.append(
                {
                    "output": f"{key}.{name}",
                    "step": key,
                    "original": oa.get(name),
                    "reproduced": ob.get(name),
                    "match": match,
                }
            )
        if key in sa and key in sb:
            step_differs |= not _same_metrics(ma.get(sa[key]["id"], {}), mb.get(sb[key]["id"], {}))
        if step_differs:
            diverging.append(key)
    run_a, run_b = a["metrics"], b["metrics"]
    metric_rows = [
        {
            "metric": k,
            "original": run_a.get(k),
            "reproduced": run_b.get(k),
            "match": _same(run_a.get(k), run_b.get(k)),
        }
        for k in sorted(set(run_a) | set(run_b))
    ]
    reproduced = not diverging and all(r["match"] for r in output_rows + metric_rows)
    first = None
    if diverging:
        key = diverging[0]
        first = _diagnose(key, a, b, sa.get(key), sb.get(key), ma, mb)
    return {
        "outputs": output_rows,
        "metrics": metric_rows,
        "reproduced": reproduced,
        "diverged": first,
        "later": diverging[1:],
    }


def _merged_order(a: list[str], b: list[str]) -> list[str]:
    """The reproduction's order, with each step only the original ran placed where it ran."""
    order: list[str] = []
    only_a = [k for k in a if k not in set(b)]
    for key in b:
        if key in a:
            for missing in only_a:
                if a.index(missing) < a.index(key) and missing not in order:
                    order.append(missing)
        order.append(key)
    return order + [k for k in only_a if k not in order]


def _same_metrics(x: dict[str, float], y: dict[str, float]) -> bool:
    return set(x) == set(y) and all(_same(x[k], y[k]) for k in x)


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return x == y or (x != x and y != y)
    return bool(x == y)


# -- explaining -----------------------------------------------------------------------------


def _diagnose(
    key: str,
    a: dict[str, Any],
    b: dict[str, Any],
    sa: dict[str, Any] | None,
    sb: dict[str, Any] | None,
    ma: dict[int, dict[str, float]],
    mb: dict[int, dict[str, float]],
) -> dict[str, Any]:
    """The first diverging step: what of it differs and why."""
    found: dict[str, Any] = {"step": key}
    if sa is None or sb is None:
        change = "calls a new step" if sa is None else "no longer calls step"
        found["causes"] = [
            {"kind": "code", "text": f"the pipeline {change} {key!r}", "functions": []}
        ]
        return found
    if sb["status"] != "succeeded":
        found["error"] = sb["error"]
    outs_a = {o["name"]: o["hash"] for o in sa["outputs"]}
    outs_b = {o["name"]: o["hash"] for o in sb["outputs"]}
    found["outputs"] = sorted(
        n for n in set(outs_a) | set(outs_b) if outs_a.get(n) != outs_b.get(n)
    )
    met_a, met_b = ma.get(sa["id"], {}), mb.get(sb["id"], {})
    found["metrics"] = sorted(
        k for k in set(met_a) | set(met_b) if not _same(met_a.get(k), met_b.get(k))
    )
    causes = [
        c
        for c in (
            _code_cause(sa, sb),
            _data_cause(a, b, sa, sb),
            _params_cause(sa, sb),
            _environment_cause(a["environment"], b["environment"], sa, sb),
        )
        if c is not None
    ]
    if not causes and sb["status"] != "succeeded":
        causes.append({"kind": "none", "text": f"none of these: it failed with {sb['error']}"})
    if not causes:
        causes.append(
            {
                "kind": "none",
                "text": (
                    f"none of these: step {sa['name']!r} ran the same code on the same datasets"
                    " with the same parameters in the same environment and returned something"
                    " else, so it read something rung does not track (a file opened directly,"
                    " the network, an environment variable, the clock) or it is not"
                    f" deterministic — add such files as datasets (rung.dataset); {NONDETERMINISM_HINT}"
                ),
            }
        )
    found["causes"] = causes
    return found


def _functions(step: dict[str, Any]) -> list[tuple[str, str]] | None:
    detail = step.get("code_detail")
    if not detail or "functions" not in detail:
        return None
    return [(str(n), str(h)) for n, h in detail["functions"]]


def _code_cause(sa: dict[str, Any], sb: dict[str, Any]) -> dict[str, Any] | None:
    fa, fb = _functions(sa), _functions(sb)
    if fa is None or fb is None:  # recorded before rung kept per-function hashes
        if sa["code_hash"] == sb["code_hash"]:
            return None
        return {
            "kind": "code",
            "functions": [],
            "text": (
                f"code: step {sa['name']!r} or what it calls changed (one of"
                f" {', '.join(sa['code'])}: the original run recorded no per-function hashes)"
            ),
        }
    da: dict[str, list[str]] = {}
    db: dict[str, list[str]] = {}
    for n, h in fa:
        da.setdefault(n, []).append(h)
    for n, h in fb:
        db.setdefault(n, []).append(h)
    changes: list[dict[str, str]] = []
    for name in [n for n, _ in fa] + [n for n, _ in fb]:
        if any(c["name"] == name for c in changes):
            continue
        if name not in db:
            changes.append({"name": name, "change": "no longer uses"})
        elif name not in da:
            changes.append({"name": name, "change": "newly uses"})
        elif da[name] != db[name]:
            changes.append({"name": name, "change": "changed"})
    if not changes:
        return None
    text = "; ".join(f"{c['change']} {c['name']}" for c in changes)
    return {"kind": "code", "functions": changes, "text": f"code: {text}"}


def _reads_of(run: dict[str, Any], step_name: str) -> dict[str, str]:
    return {
        str(r["ref"]): str(r["dataset"])
        for r in run.get("data_reads") or []
        if r.get("step") == step_name
    }


def _data_cause(
    a: dict[str, Any], b: dict[str, Any], sa: dict[str, Any], sb: dict[str, Any]
) -> dict[str, Any] | None:
    ia = {i["name"]: i for i in sa["inputs"]}
    ib = {i["name"]: i for i in sb["inputs"]}
    changes: list[dict[str, Any]] = []
    for name in list(ia) + [n for n in ib if n not in ia]:
        x, y = ia.get(name), ib.get(name)
        if x is not None and y is not None and x["hash"] == y["hash"]:
            continue
        if y is None and sb["status"] != "succeeded":  # a failed step records no inputs
            continue
        if (x and x.get("dataset")) or (y and y.get("dataset")):
            changes.append(
                {
                    "input": name,
                    "original": x.get("dataset") if x else None,
                    "reproduced": y.get("dataset") if y else None,
                }
            )
        else:  # every step before this one matched: a value built in the pipeline body
            changes.append(
                {
                    "input": name,
                    "original": x["hash"][:12] if x else None,
                    "reproduced": y["hash"][:12] if y else None,
                    "built_in_pipeline": True,
                }
            )
    ra, rb = _reads_of(a, sa["name"]), _reads_of(b, sb["name"])
    for ref in list(ra) + [r for r in rb if r not in ra]:
        if ra.get(ref) != rb.get(ref):
            changes.append({"read": ref, "original": ra.get(ref), "reproduced": rb.get(ref)})
    if not changes:
        return None
    parts = []
    for c in changes:
        what = f"input {c['input']}" if "input" in c else f"{c['read']!r} read in the step"
        if c.get("built_in_pipeline"):
            what += " (a value built in the pipeline body)"
        parts.append(f"{what}: {c['original'] or '-'} → {c['reproduced'] or '-'}")
    return {"kind": "data", "changes": changes, "text": "data: " + "; ".join(parts)}


def _params_cause(sa: dict[str, Any], sb: dict[str, Any]) -> dict[str, Any] | None:
    pa, pb = sa["params"], sb["params"]
    changes = [
        {"name": k, "original": pa.get(k), "reproduced": pb.get(k)}
        for k in list(pa) + [k for k in pb if k not in pa]
        if k not in pa or k not in pb or not _same(pa[k], pb[k])
    ]
    if not changes:
        return None
    text = "; ".join(
        f"{c['name']} {_shown(c['original'], c['name'] in pa)} → "
        f"{_shown(c['reproduced'], c['name'] in pb)}"
        for c in changes
    )
    return {"kind": "parameters", "changes": changes, "text": f"parameters: {text}"}


def _shown(value: Any, present: bool) -> str:
    return json.dumps(value) if present else "(none)"


def _environment_cause(
    env_a: dict[str, Any], env_b: dict[str, Any], sa: dict[str, Any], sb: dict[str, Any]
) -> dict[str, Any] | None:
    """Python and package versions that differ: the run's key packages, and the packages the
    step's own code refers to (recorded per step). The platform string (which includes the
    kernel's release) is not compared."""
    changes: list[dict[str, Any]] = []
    for field in ("implementation", "python"):
        if env_a.get(field) and env_a.get(field) != env_b.get(field):
            changes.append(
                {"package": field, "original": env_a.get(field), "reproduced": env_b.get(field)}
            )
    pa = dict(env_a.get("packages") or {})
    pb = dict(env_b.get("packages") or {})
    pa.update((sa.get("code_detail") or {}).get("packages") or {})
    pb.update((sb.get("code_detail") or {}).get("packages") or {})
    for name in sorted(pa):
        # a package the reproduction's code no longer refers to: its installed version counts
        now = pb[name] if name in pb else installed_version(name)
        if pa[name] != now:
            changes.append({"package": name, "original": pa[name], "reproduced": now})
    if not changes:
        return None
    text = "; ".join(
        f"{c['package']} {c['original'] or '(absent)'} → {c['reproduced'] or '(absent)'}"
        for c in changes
    )
    return {"kind": "environment", "packages": changes, "text": f"environment: {text}"}


def summary(report: dict[str, Any]) -> str:
    """One line: the verdict, and for a difference the first diverging step and its causes."""
    head = f"run {report['reproduction']} re-executed run {report['original']}"
    if report["reproduced"]:
        return f"{head}: reproduced exactly"
    first = report.get("diverged")
    if first is None:
        return f"{head}: did NOT reproduce (the run's metrics differ)"
    causes = " | ".join(c["text"] for c in first["causes"])
    failed = f" (it failed: {first['error']})" if first.get("error") else ""
    return (
        f"{head}: did NOT reproduce — first difference at step {first['step']!r}{failed}: {causes}"
    )
