"""Recorded runs: listing, details, lineage and reproduction (``ws.runs``)."""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from rung.core.errors import InvalidInput, NotFound
from rung.core.refs import parse_ref
from rung.pipelines.runner import Progress, RunResult, Stores, run_pipeline
from rung.store.schema import artifacts, datasets, metrics, params, runs, step_io, step_runs

_MAX_DEPTH = 50


@dataclass
class RunSummary:
    id: int
    name: str
    kind: str
    status: str
    trigger: str
    started_at: float
    ended_at: float | None
    steps: int
    cached: int

    @property
    def seconds(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "seconds": self.seconds}


class Runs:
    """Queries over runs and step runs."""

    def __init__(self, stores: Stores) -> None:
        self._s = stores

    # -- listing and details -------------------------------------------------------------

    def list(self, limit: int = 50, name: str | None = None) -> builtins.list[RunSummary]:
        steps_q = select(step_runs.c.run_id, step_runs.c.cache_hit)
        query = select(runs).order_by(runs.c.id.desc()).limit(limit)
        if name:
            query = query.where(runs.c.name == name)
        with self._s.metadata.read() as conn:
            rows = conn.execute(query).all()
            ids = [r.id for r in rows]
            tally: dict[int, builtins.list[int]] = {i: [0, 0] for i in ids}
            if ids:
                for run_id, hit in conn.execute(steps_q.where(step_runs.c.run_id.in_(ids))):
                    tally[run_id][0] += 1
                    tally[run_id][1] += int(bool(hit))
        return [
            RunSummary(
                r.id,
                r.name,
                r.kind,
                r.status,
                r.trigger,
                r.started_at,
                r.ended_at,
                tally[r.id][0],
                tally[r.id][1],
            )
            for r in rows
        ]

    def get(self, run_id: int | str) -> dict[str, Any]:
        """Everything recorded about one run."""
        rid = self._run_id(run_id)
        with self._s.metadata.read() as conn:
            row = conn.execute(select(runs).where(runs.c.id == rid)).first()
            if row is None:
                last = conn.execute(select(func.max(runs.c.id))).scalar()
                hint = (
                    f"run ids go from 1 to {last}" if last else "no runs yet: `rung run PIPELINE`"
                )
                raise NotFound(f"unknown run {run_id!r}", hint)
            steps = conn.execute(
                select(step_runs).where(step_runs.c.run_id == rid).order_by(step_runs.c.id)
            ).all()
            io = conn.execute(
                select(
                    step_io, artifacts.c.kind, artifacts.c.size, datasets.c.name, datasets.c.version
                )
                .join(artifacts, artifacts.c.hash == step_io.c.artifact_hash, isouter=True)
                .join(datasets, datasets.c.id == step_io.c.dataset_id, isouter=True)
                .where(step_io.c.step_run_id.in_([s.id for s in steps]))
                .order_by(step_io.c.id)
            ).all()
            metric_rows = conn.execute(
                select(metrics.c.key, metrics.c.value, metrics.c.step, metrics.c.step_run_id)
                .where(metrics.c.run_id == rid)
                .order_by(metrics.c.id)
            ).all()
            param_rows = conn.execute(select(params).where(params.c.run_id == rid)).all()
        io_by_step: dict[int, dict[str, list[dict[str, Any]]]] = {}
        for r in io:
            entry = {"name": r.name, "hash": r.artifact_hash, "kind": r.kind, "size": r.size}
            if r.dataset_id is not None:
                entry["dataset"] = f"{r.name_1}@{r.version}"
            io_by_step.setdefault(r.step_run_id, {"in": [], "out": []})[r.direction].append(entry)
        latest: dict[str, float] = {}
        history: dict[str, int] = {}
        for m in metric_rows:
            latest[m.key] = m.value
            history[m.key] = history.get(m.key, 0) + 1
        logged = {p.key: json.loads(p.value) for p in param_rows}
        return {
            "id": row.id,
            "name": row.name,
            "kind": row.kind,
            "target": row.target,
            "status": row.status,
            "trigger": row.trigger,
            "params": {**json.loads(row.params), **logged},
            "outputs": json.loads(row.outputs) if row.outputs else {},
            "code": {"commit": row.code_commit, "dirty": row.code_dirty, "hash": row.code_hash},
            "environment": json.loads(row.environment) if row.environment else {},
            "reproduces": row.reproduces,
            "error": row.error,
            "started_at": row.started_at,
            "ended_at": row.ended_at,
            "metrics": latest,
            "metric_counts": history,
            "steps": [
                {
                    "id": s.id,
                    "name": s.name,
                    "status": s.status,
                    "cache_hit": bool(s.cache_hit),
                    "cached_from": s.cached_from,
                    "cache_key": s.cache_key,
                    "code_hash": s.code_hash,
                    "code": json.loads(s.code_names),
                    "params": json.loads(s.params),
                    "inputs": io_by_step.get(s.id, {}).get("in", []),
                    "outputs": io_by_step.get(s.id, {}).get("out", []),
                    "error": s.error,
                    "traceback": s.traceback,
                    "seconds": None if s.ended_at is None else s.ended_at - s.started_at,
                }
                for s in steps
            ],
        }

    def metric_history(self, run_id: int, key: str) -> builtins.list[tuple[int, float]]:
        with self._s.metadata.read() as conn:
            rows = conn.execute(
                select(metrics.c.step, metrics.c.value)
                .where(metrics.c.run_id == run_id, metrics.c.key == key)
                .order_by(metrics.c.id)
            ).all()
        return [(r.step, r.value) for r in rows]

    def _run_id(self, run_id: int | str) -> int:
        text = str(run_id).lstrip("#")
        if not text.isdigit():
            raise InvalidInput(f"invalid run id {run_id!r}", "run ids are numbers: see `rung runs`")
        return int(text)

    def describe_artifact(self, digest: str) -> str:
        """'artifact <hash> (output X of step Y in run Z)' for error messages."""
        try:
            with self._s.metadata.read() as conn:
                row = conn.execute(
                    select(step_io.c.name, step_runs.c.name.label("step"), step_runs.c.run_id)
                    .join(step_runs, step_runs.c.id == step_io.c.step_run_id)
                    .where(step_io.c.artifact_hash == digest, step_io.c.direction == "out")
                    .order_by(step_io.c.id)
                    .limit(1)
                ).first()
                ds = conn.execute(
                    select(datasets.c.name, datasets.c.version)
                    .where(datasets.c.artifact_hash == digest)
                    .limit(1)
                ).first()
        except Exception:  # describing must never hide the real error
            return f"artifact {digest[:12]}"
        if row is not None:
            return (
                f"artifact {digest[:12]} (output {row.name!r} of step {row.step!r}"
                f" in run {row.run_id})"
            )
        if ds is not None:
            return f"artifact {digest[:12]} (dataset {ds.name}@{ds.version})"
        return f"artifact {digest[:12]}"

    # -- lineage ---------------------------------------------------------------------------

    def lineage(self, what: str) -> dict[str, Any]:
        """Back from a run or artifact to datasets and code; forward from ``DATASET@V``."""
        text = what.strip()
        if "@" in text and not text.lstrip("#").isdigit():
            return self._forward(text)
        if text.lstrip("#").isdigit():
            return self._backward_run(int(text.lstrip("#")))
        return self._backward_artifact(text)

    def _backward_run(self, run_id: int) -> dict[str, Any]:
        detail = self.get(run_id)
        with self._s.metadata.read() as conn:
            children = [
                self._producer_tree(conn, name, digest, run_id, 0)
                for name, digest in detail["outputs"].items()
            ]
            if not children:  # no declared outputs: every step's outputs
                children = [
                    self._producer_tree(conn, o["name"], o["hash"], run_id, 0)
                    for s in detail["steps"]
                    for o in s["outputs"]
                ]
        return {
            "type": "run",
            "id": run_id,
            "label": f"run {run_id} {detail['name']} ({detail['status']})",
            "code": detail["code"],
            "children": children,
        }

    def _backward_artifact(self, prefix: str) -> dict[str, Any]:
        if len(prefix) < 6 or any(c not in "0123456789abcdef" for c in prefix.lower()):
            raise InvalidInput(
                f"{prefix!r} is not a run id, an artifact hash or DATASET@VERSION",
                "pass a run id (see `rung runs`), 6+ hex digits of a hash, or a dataset like sp500@1",
            )
        with self._s.metadata.read() as conn:
            rows = conn.execute(
                select(artifacts.c.hash).where(artifacts.c.hash.like(prefix.lower() + "%")).limit(2)
            ).all()
            if not rows:
                raise NotFound(
                    f"no artifact with hash {prefix!r}", "see `rung show RUN` for hashes"
                )
            if len(rows) > 1:
                raise InvalidInput(f"hash prefix {prefix!r} is ambiguous", "give more digits")
            return self._producer_tree(conn, "artifact", rows[0].hash, None, 0)

    def _producer_tree(
        self, conn: Any, name: str, digest: str, run_id: int | None, depth: int
    ) -> dict[str, Any]:
        node: dict[str, Any] = {"type": "artifact", "name": name, "hash": digest}
        ds = conn.execute(
            select(datasets.c.name, datasets.c.version, datasets.c.id)
            .where(datasets.c.artifact_hash == digest)
            .order_by(datasets.c.version)
        ).first()
        query = (
            select(step_runs)
            .join(step_io, step_io.c.step_run_id == step_runs.c.id)
            .where(step_io.c.artifact_hash == digest, step_io.c.direction == "out")
            .order_by(step_runs.c.id.desc())
            .limit(1)
        )
        step = conn.execute(query.where(step_runs.c.run_id == run_id)).first() if run_id else None
        step = step or conn.execute(query).first()
        if step is None or depth > _MAX_DEPTH:
            if ds is not None:
                node.update(type="dataset", label=f"dataset {ds.name}@{ds.version}")
            else:
                node["label"] = f"{name} {digest[:12]}"
            return node
        origin = step.cached_from or step.id
        node["label"] = f"{name} {digest[:12]}"
        node["step"] = {
            "id": step.id,
            "name": step.name,
            "run_id": step.run_id,
            "cached_from": step.cached_from,
            "code_hash": step.code_hash,
            "code": json.loads(step.code_names),
            "params": json.loads(step.params),
        }
        inputs = conn.execute(
            select(step_io.c.name, step_io.c.artifact_hash, step_io.c.dataset_id)
            .where(step_io.c.step_run_id == origin, step_io.c.direction == "in")
            .order_by(step_io.c.id)
        ).all()
        children = []
        for inp in inputs:
            if inp.dataset_id is not None:
                d = conn.execute(select(datasets).where(datasets.c.id == inp.dataset_id)).first()
                children.append(
                    {
                        "type": "dataset",
                        "name": inp.name,
                        "hash": inp.artifact_hash,
                        "label": f"dataset {d.name}@{d.version}",
                        "dataset": f"{d.name}@{d.version}",
                    }
                )
            else:
                children.append(
                    self._producer_tree(conn, inp.name, inp.artifact_hash, step.run_id, depth + 1)
                )
        node["children"] = children
        return node

    def _forward(self, ref: str) -> dict[str, Any]:
        version = self._s.data.get(str(parse_ref(ref)))
        with self._s.metadata.read() as conn:
            children = self._consumers(conn, version.hash, version.id, set(), 0)
        return {
            "type": "dataset",
            "label": f"dataset {version.ref} {version.hash[:12]}",
            "hash": version.hash,
            "children": children,
        }

    def _consumers(
        self, conn: Any, digest: str, dataset_id: int | None, seen: set[str], depth: int
    ) -> builtins.list[dict[str, Any]]:
        if digest in seen or depth > _MAX_DEPTH:
            return []
        seen.add(digest)
        cond = step_io.c.artifact_hash == digest
        rows = conn.execute(
            select(step_runs.c.id, step_runs.c.name, step_runs.c.run_id, step_runs.c.cache_hit)
            .join(step_io, step_io.c.step_run_id == step_runs.c.id)
            .where(cond, step_io.c.direction == "in", step_runs.c.status == "succeeded")
            .order_by(step_runs.c.id)
        ).all()
        nodes = []
        by_step: dict[str, list[int]] = {}
        origins: dict[str, int] = {}
        for r in rows:
            by_step.setdefault(r.name, []).append(r.run_id)
            origins.setdefault(r.name, r.id)
        for name, run_ids in by_step.items():
            sid = origins[name]
            outs = conn.execute(
                select(step_io.c.name, step_io.c.artifact_hash).where(
                    step_io.c.step_run_id == sid, step_io.c.direction == "out"
                )
            ).all()
            nodes.append(
                {
                    "type": "step",
                    "label": f"step {name} (runs {', '.join(map(str, sorted(set(run_ids))))})",
                    "runs": sorted(set(run_ids)),
                    "children": [
                        {
                            "type": "artifact",
                            "label": f"{o.name} {o.artifact_hash[:12]}",
                            "hash": o.artifact_hash,
                            "children": self._consumers(
                                conn, o.artifact_hash, None, seen, depth + 1
                            ),
                        }
                        for o in outs
                    ],
                }
            )
        return nodes

    # -- reproduction ----------------------------------------------------------------------

    def reproduce(self, run_id: int | str, progress: Progress | None = None) -> dict[str, Any]:
        """Re-execute a run without the cache and compare output hashes and metrics."""
        from rung.pipelines.loader import load_pipeline

        original = self.get(run_id)
        if original["kind"] != "pipeline" or not original["target"]:
            raise InvalidInput(
                f"run {original['id']} is not a pipeline run with a known target",
                "only runs started by `rung run` or ws.run(...) can be reproduced",
            )
        pipe = load_pipeline(original["target"], self._s.root)
        params_ = {k: v for k, v in original["params"].items() if k in pipe.signature.parameters}
        result: RunResult = run_pipeline(
            self._s,
            pipe,
            params_,
            target=original["target"],
            trigger="reproduce",
            use_cache=False,
            progress=progress,
            reproduces=original["id"],
        )
        again = self.get(result.id)
        return {
            "original": original["id"],
            "reproduction": result.id,
            **compare_runs(original, again),
        }


def compare_runs(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Which step outputs and metrics of run ``b`` equal those of run ``a``."""

    def outs(run: dict[str, Any]) -> dict[str, str]:
        return {f"{s['name']}.{o['name']}": o["hash"] for s in run["steps"] for o in s["outputs"]}

    oa, ob = outs(a), outs(b)
    output_rows = [
        {
            "output": k,
            "original": oa.get(k),
            "reproduced": ob.get(k),
            "match": oa.get(k) == ob.get(k),
        }
        for k in sorted(set(oa) | set(ob))
    ]
    ma, mb = a["metrics"], b["metrics"]
    metric_rows = [
        {
            "metric": k,
            "original": ma.get(k),
            "reproduced": mb.get(k),
            "match": _same(ma.get(k), mb.get(k)),
        }
        for k in sorted(set(ma) | set(mb))
    ]
    return {
        "outputs": output_rows,
        "metrics": metric_rows,
        "reproduced": all(r["match"] for r in output_rows + metric_rows),
    }


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return x == y or (x != x and y != y)
    return bool(x == y)
