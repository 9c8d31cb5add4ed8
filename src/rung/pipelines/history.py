"""Recorded runs: listing, details, lineage and reproduction (``ws.runs``)."""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rung.core.errors import InvalidInput, NotFound
from rung.core.limits import check_int, is_digits, parse_int
from rung.core.refs import parse_ref
from rung.core.suggest import closest, unknown
from rung.pipelines.liveness import reap, reap_steps
from rung.pipelines.runner import Progress, Stores
from rung.store.metadata import Tx

_MAX_DEPTH = 50
_HEX = frozenset("0123456789abcdef")
MIN_PREFIX = 6  # the fewest hex digits of an artifact hash a user may type


def is_hash_prefix(text: str) -> bool:
    """True when ``text`` could be the start of an artifact hash (6+ hex digits)."""
    return len(text) >= MIN_PREFIX and all(c in _HEX for c in text.lower())


def artifacts_by_prefix(tx: Tx, prefix: str) -> builtins.list[dict[str, Any]]:
    """Up to two artifacts (``hash``, ``kind``) whose hash starts with ``prefix``: two means
    the prefix is ambiguous. Empty when ``prefix`` is not a hash prefix."""
    if not is_hash_prefix(prefix):
        return []
    return tx.all(
        "SELECT hash, kind FROM artifacts WHERE hash LIKE :p ORDER BY hash LIMIT 2",
        {"p": prefix.lower() + "%"},
    )


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
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # the last value of each

    @property
    def seconds(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "seconds": self.seconds}


_CHUNK = 500  # run ids bound in one IN (...) at most
_EVERY = 2**62  # a query that reads every run a filter selects (a count, a sorted listing)


def worth_columns(
    items: Sequence[RunSummary], metrics_at_most: int = 4, params_at_most: int = 3
) -> tuple[builtins.list[str], builtins.list[str]]:
    """The metrics and parameters of listed runs worth a column (``rung runs``, the UI's
    runs table before a column is chosen): the metrics most runs logged (at most
    ``metrics_at_most``), then the parameters whose values differ between the runs (at most
    ``params_at_most``; every parameter when one run is listed); metrics in the order of
    their last values, parameters in the pipeline's order."""
    metric_count: dict[str, int] = {}
    for r in items:
        for k in r.metrics:
            metric_count[k] = metric_count.get(k, 0) + 1
    metrics = sorted(metric_count, key=lambda k: -metric_count[k])[:metrics_at_most]
    values: dict[str, set[str]] = {}
    for r in items:
        for k, v in r.params.items():
            values.setdefault(k, set()).add(repr(v))
    params = [k for k, seen in values.items() if len(items) == 1 or len(seen) > 1]
    return metrics, params[:params_at_most]


class Runs:
    """Queries over runs and step runs."""

    def __init__(self, stores: Stores) -> None:
        self._s = stores

    # -- listing and details -------------------------------------------------------------

    def list(
        self,
        limit: int = 50,
        name: str | None = None,
        filter: str | Sequence[str] | None = None,
        *,
        offset: int = 0,
        order: str | None = None,
        upto: int | None = None,
    ) -> builtins.list[RunSummary]:
        """The latest ``limit`` runs (of pipeline or tracking-run ``name``, if given; those
        ``filter`` selects, if given — :mod:`rung.core.query`; several filters select the
        runs every one of them selects), newest first, each with its parameters and the last
        value of each of its metrics; ``offset`` runs skipped first (pages); ``order`` a sort
        key (:func:`rung.pipelines.run_order.order_by`: an attribute or ``metrics.KEY``,
        ``-`` before it for descending; ties newest first); ``upto`` the newest run id
        listed (a listing's pages stay the same while runs are added: :meth:`newest`).
        ``rung runs`` lists 20 by default; this, 50.

        Raises :class:`NotFound` (with the nearest names) when no run has ``name``, and
        :class:`~rung.core.errors.InvalidInput` for a malformed ``filter`` (the position and
        the fix) or one that names a ``status``/``kind`` value that never occurs or a dataset
        that does not exist (the nearest names: :mod:`rung.pipelines.filter_names`), and for
        a malformed ``order``. Why a filter selected nothing: :meth:`filter_hints`.
        """
        from rung.pipelines.run_order import order_by

        check_int(limit, "limit")
        check_int(offset, "offset", 0)
        sort, sort_args = order_by(order, self._s.metadata.dialect)
        with self._s.metadata.read() as tx:
            # the filter's shape is chosen for the runs this query reads: the newest `limit`
            # (after `offset`) in the default order, every selected run in any other
            reads = limit + offset if (order or "-id") == "-id" else _EVERY
            clause, args = self._where(tx, name, filter, upto, reads)
            if "o1" in sort_args:  # a metric or parameter no run has sorts nothing: say so
                from rung.pipelines.run_order import sort_key

                self.check_fields([sort_key(order)[0]], "sort runs by", tx)
            args.update(sort_args, limit=limit, offset=offset)
            rows = tx.all(
                f"SELECT * FROM runs {clause}ORDER BY {sort} LIMIT :limit OFFSET :offset", args
            )
            if name and not rows and not tx.all("SELECT 1 FROM runs WHERE name = :n", {"n": name}):
                names = [r["name"] for r in tx.all("SELECT DISTINCT name FROM runs")]
                raise unknown("run name", name, names, "see `rung runs`")
            tally: dict[int, builtins.list[int]] = {r["id"]: [0, 0] for r in rows}
            params: dict[int, dict[str, Any]] = {r["id"]: json.loads(r["params"]) for r in rows}
            metrics: dict[int, dict[str, float]] = {r["id"]: {} for r in rows}
            ids = sorted(tally)
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                among = ", ".join(f":r{i}" for i in range(len(chunk)))
                span = {f"r{i}": run_id for i, run_id in enumerate(chunk)}
                for p in tx.all(
                    f"SELECT run_id, key, value FROM params WHERE run_id IN ({among})", span
                ):
                    params[p["run_id"]][p["key"]] = json.loads(p["value"])
                for m in tx.all(  # the last value of each (migration 0018), in logged order
                    "SELECT run_id, key, value FROM latest_metrics"
                    f" WHERE run_id IN ({among}) ORDER BY metric_id",
                    span,
                ):
                    metrics[m["run_id"]][m["key"]] = tx.read_real(m["value"])
                for c in tx.all(
                    "SELECT run_id, COUNT(*) AS steps,"
                    " SUM(CASE WHEN cache_hit THEN 1 ELSE 0 END) AS cached"
                    f" FROM step_runs WHERE run_id IN ({among}) GROUP BY run_id",
                    span,
                ):
                    tally[c["run_id"]] = [int(c["steps"]), int(c["cached"] or 0)]
        reap(self._s.metadata, rows)  # a `running` run whose process is gone is dead
        return [
            RunSummary(
                r["id"],
                r["name"],
                r["kind"],
                r["status"],
                r["trigger"],
                r["started_at"],
                r["ended_at"],
                tally[r["id"]][0],
                tally[r["id"]][1],
                params[r["id"]],
                metrics[r["id"]],
            )
            for r in rows
        ]

    def count(
        self,
        name: str | None = None,
        filter: str | Sequence[str] | None = None,
        upto: int | None = None,
    ) -> int:
        """How many runs :meth:`list` would page through with the same ``name``, ``filter``
        and ``upto`` (same errors)."""
        with self._s.metadata.read() as tx:
            # counting reads every match: from an indexed condition's set when there is one
            clause, args = self._where(tx, name, filter, upto, _EVERY, drive=True)
            row = tx.one(f"SELECT COUNT(*) AS n FROM runs {clause}", args)
        return int(row["n"]) if row else 0

    def newest(self) -> int:
        """The id of the newest run (0 with none): a listing's ``upto``."""
        with self._s.metadata.read() as tx:
            return int(tx.scalar("SELECT MAX(id) FROM runs") or 0)

    def check_fields(self, fields: Sequence[Any], doing: str, tx: Tx | None = None) -> None:
        """Refuse a metric or parameter field (:class:`rung.core.query.Field`) no run has,
        naming the nearest ones: ``cannot show column params.frc: no run has a parameter
        'frc' — did you mean 'params.frac'?``. ``doing``: ``sort runs by``, ``show column``.
        One indexed lookup per field; the nearest names are read only for a refusal."""
        if tx is None:
            with self._s.metadata.read() as tx:
                self.check_fields(fields, doing, tx)
            return
        from rung.core.query import Field
        from rung.core.suggest import closest

        for fld in fields:
            if fld.space not in ("metrics", "params"):
                continue
            table = "run_params" if fld.space == "params" else "latest_metrics"
            if tx.one(f"SELECT 1 AS x FROM {table} WHERE key = :k LIMIT 1", {"k": fld.key}):
                continue
            known = [r["key"] for r in tx.all(f"SELECT DISTINCT key FROM {table}")]
            near = " or ".join(repr(str(Field(fld.space, k))) for k in closest(fld.key, known))
            noun = "parameter" if fld.space == "params" else "metric"
            raise InvalidInput(
                f"cannot {doing} {fld}: no run has a {noun} {fld.key!r}",
                f"did you mean {near}?" if near else f"name a {noun} some run has",
            )

    def _where(
        self,
        tx: Tx,
        name: str | None,
        filter: str | Sequence[str] | None,
        upto: int | None = None,
        reads: int = _EVERY,
        drive: bool | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """The ``WHERE`` clause (with its trailing space, or empty) of a listing and its
        parameters; refuses a filter naming what can never occur
        (:func:`rung.pipelines.filter_names.refuse_impossible`). ``reads`` and ``drive``
        shape the filter's SQL (:func:`rung.pipelines.run_filter.where`)."""
        conditions, args = [], {"name": name, "upto": upto}
        if name:
            conditions.append("name = :name")
        if upto is not None:
            conditions.append("id <= :upto")
        exprs = self._filters(filter)
        if exprs:
            from rung.core.query import And
            from rung.pipelines.filter_names import refuse_impossible
            from rung.pipelines.run_filter import where

            for expr, text in exprs:
                refuse_impossible(tx, expr, text)
            met = exprs[0][0] if len(exprs) == 1 else And(tuple(e for e, _ in exprs))
            # shaped by the sizes of its conditions (run_filter.where)
            cond, bound = where(met, self._s.metadata.dialect, tx, limit=reads, drive=drive)
            conditions.append(cond)
            args.update(bound)
        return (f"WHERE {' AND '.join(conditions)} " if conditions else ""), args

    def filter_hints(self, filter: str | Sequence[str]) -> builtins.list[str]:
        """Why ``filter`` may select no run: one line per metric or parameter key it names
        that no run has, and per ``name`` or ``trigger`` value no run holds, with the nearest
        known ones (``no run has a metric 'acuracy' — did you mean 'accuracy'?``); [] when
        every name is known. Reads every distinct key: meant for an empty result."""
        from rung.pipelines.filter_names import unknown_names

        lines: builtins.list[str] = []
        with self._s.metadata.read() as tx:
            for expr, _ in self._filters(filter):
                lines.extend(
                    h for h in unknown_names(tx, expr, self._s.metadata.dialect) if h not in lines
                )
        return lines

    @staticmethod
    def _filters(filter: str | Sequence[str] | None) -> builtins.list[tuple[Any, str]]:
        """Each filter parsed, with its text (one text, or several to be met together)."""
        from rung.core.query import parse

        texts = (
            [] if filter is None else [filter] if isinstance(filter, str) else builtins.list(filter)
        )
        return [(parse(t), t) for t in texts]

    def compare(
        self, run_ids: Sequence[int | str], only_differences: bool = True
    ) -> dict[str, Any]:
        """Two or more runs side by side (:mod:`rung.pipelines.compare`): ``{"runs": [ids],
        "rows": [{"section", "key", "values", "differs"}]}``, only the rows that differ
        unless ``only_differences`` is False (as ``rung compare`` without and with ``--all``).

        Raises :class:`~rung.core.errors.InvalidInput` for fewer than two runs or one named
        twice, :class:`NotFound` for an unknown run."""
        from rung.core.errors import InvalidInput
        from rung.pipelines.compare import compare

        ids = [self._run_id(r) for r in run_ids]
        if len(ids) < 2:
            raise InvalidInput(
                f"compare needs two runs or more, got {len(ids)}", "name them: rung compare 3 7"
            )
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise InvalidInput(
                f"run {twice[0]} is named twice", "name each run once: rung compare 3 7"
            )
        runs = [self.get(i) for i in ids]
        rows = compare(runs, only_differences)
        return {"runs": ids, "rows": [r.to_dict() for r in rows]}

    def get(self, run_id: int | str) -> dict[str, Any]:
        """Everything recorded about one run."""
        rid = self._run_id(run_id)
        with self._s.metadata.read() as tx:
            row = tx.one("SELECT * FROM runs WHERE id = :id", {"id": rid})
            if row is None:
                raise _unknown_run(tx, run_id)
            steps = tx.all("SELECT * FROM step_runs WHERE run_id = :id ORDER BY id", {"id": rid})
            io = tx.all(
                "SELECT step_io.*, artifacts.kind, artifacts.size, datasets.name AS dataset_name,"
                " datasets.version AS dataset_version FROM step_io"
                " JOIN step_runs ON step_runs.id = step_io.step_run_id"
                " LEFT JOIN artifacts ON artifacts.hash = step_io.artifact_hash"
                " LEFT JOIN datasets ON datasets.id = step_io.dataset_id"
                " WHERE step_runs.run_id = :id ORDER BY step_io.id",
                {"id": rid},
            )
            metric_rows = tx.all(
                "SELECT key, value, step FROM metrics WHERE run_id = :id ORDER BY id", {"id": rid}
            )
            param_rows = tx.all("SELECT key, value FROM params WHERE run_id = :id", {"id": rid})
        reap(self._s.metadata, [row])
        if row["status"] != "running":  # its steps cannot be running either
            reap_steps(self._s.metadata, rid, steps, row["ended_at"] or row["started_at"])
        io_by_step: dict[int, dict[str, builtins.list[dict[str, Any]]]] = {}
        for r in io:
            entry = {
                "name": r["name"],
                "hash": r["artifact_hash"],
                "kind": r["kind"],
                "size": r["size"],
            }
            if r["dataset_id"] is not None:
                entry["dataset"] = f"{r['dataset_name']}@{r['dataset_version']}"
            io_by_step.setdefault(r["step_run_id"], {"in": [], "out": []})[r["direction"]].append(
                entry
            )
        latest: dict[str, float] = {}
        history: dict[str, int] = {}
        for m in metric_rows:
            latest[m["key"]] = Tx.read_real(m["value"])
            history[m["key"]] = history.get(m["key"], 0) + 1
        logged = {p["key"]: json.loads(p["value"]) for p in param_rows}
        return {
            "id": row["id"],
            "name": row["name"],
            "kind": row["kind"],
            "target": row["target"],
            "status": row["status"],
            "trigger": row["trigger"],
            "params": {**json.loads(row["params"]), **logged},
            "outputs": json.loads(row["outputs"]) if row["outputs"] else {},
            "code": {
                "commit": row["code_commit"],
                "dirty": None if row["code_dirty"] is None else bool(row["code_dirty"]),
                "hash": row["code_hash"],
            },
            "environment": json.loads(row["environment"]) if row["environment"] else {},
            # dataset references resolved while it ran (None: recorded before rung kept them)
            "data_reads": json.loads(row["data_reads"]) if row.get("data_reads") else None,
            "reproduces": row["reproduces"],
            "error": row["error"],
            "started_at": row["started_at"],
            "ended_at": row["ended_at"],
            "process": {
                "host": row.get("host"),
                "pid": row.get("pid"),
                "heartbeat_at": row.get("heartbeat_at"),
            },
            "metrics": latest,
            "metric_counts": history,
            "steps": [
                {
                    "id": st["id"],
                    "name": st["name"],
                    "status": st["status"],
                    "cache_hit": bool(st["cache_hit"]),
                    "cached_from": st["cached_from"],
                    "cache_key": st["cache_key"],
                    "code_hash": st["code_hash"],
                    "code": json.loads(st["code_names"]),
                    "code_detail": json.loads(st["code_detail"]) if st.get("code_detail") else None,
                    "params": json.loads(st["params"]),
                    "inputs": io_by_step.get(st["id"], {}).get("in", []),
                    "outputs": io_by_step.get(st["id"], {}).get("out", []),
                    "error": st["error"],
                    "traceback": st["traceback"],
                    "seconds": None
                    if st["ended_at"] is None
                    else st["ended_at"] - st["started_at"],
                }
                for st in steps
            ],
        }

    def metric_history(self, run_id: int, key: str) -> builtins.list[tuple[int, float]]:
        with self._s.metadata.read() as tx:
            rows = tx.all(
                "SELECT step, value FROM metrics WHERE run_id = :id AND key = :key"
                " ORDER BY step, id",
                {"id": run_id, "key": key},
            )
        return [(r["step"], Tx.read_real(r["value"])) for r in rows]

    def metric_histories(
        self, run_ids: Sequence[int]
    ) -> dict[int, dict[str, builtins.list[tuple[int, float]]]]:
        """Every metric's history of each run in ``run_ids``, in one query per 500 runs:
        ``{run id: {key: [(step, value)]}}`` in step order, values of one step in the order
        logged (as :meth:`metric_history` answers for one run and key); a run that logged
        nothing maps to ``{}``."""
        ids = sorted({int(i) for i in run_ids})
        out: dict[int, dict[str, builtins.list[tuple[int, float]]]] = {i: {} for i in ids}
        with self._s.metadata.read() as tx:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                among = ", ".join(f":r{i}" for i in range(len(chunk)))
                span = {f"r{i}": run_id for i, run_id in enumerate(chunk)}
                for m in tx.all(
                    f"SELECT run_id, key, step, value FROM metrics WHERE run_id IN ({among})"
                    " ORDER BY step, id",
                    span,
                ):
                    out[m["run_id"]].setdefault(m["key"], []).append(
                        (m["step"], Tx.read_real(m["value"]))
                    )
        return out

    def resolve(self, text: str) -> tuple[str, Any]:
        """What a user's ``text`` names: ``("run", id)`` or ``("artifact", row)``.

        A run id and a hash prefix can both be all digits (a 12-digit prefix is all digits for
        about one hash in 300), so digits are a run when that run exists, an artifact when a hash
        starts with them, and refused as ambiguous when both are true. ``#N`` is always run N.
        Raises :class:`NotFound` when nothing matches, :class:`InvalidInput` when ambiguous."""
        text = text.strip()
        forced = text.startswith("#")
        body = text.lstrip("#")
        with self._s.metadata.read() as tx:
            run = None
            if is_digits(body) and body:
                rid = int(body) if len(body) <= 18 else None
                if rid is not None and tx.one("SELECT id FROM runs WHERE id = :id", {"id": rid}):
                    run = rid
            rows = [] if forced else artifacts_by_prefix(tx, body)
        if len(rows) > 1:
            raise InvalidInput(f"hash prefix {body!r} is ambiguous", "give more digits")
        if run is not None and rows:
            raise InvalidInput(
                f"{body!r} is both run {run} and the start of artifact {rows[0]['hash'][:16]}",
                f"write #{run} for the run, or more digits of the hash",
            )
        if rows:
            return "artifact", rows[0]
        if is_digits(body) and body:
            return "run", self._run_id(body)  # unknown: Runs.get names the known range
        if forced:
            raise InvalidInput(
                f"{text!r} is not a run id", "write #N with N a run id (see `rung runs`)"
            )
        return "none", None

    def _run_id(self, run_id: int | str) -> int:
        """``run_id`` as a run id: :class:`NotFound` for 0 (as for any id no run has); for a
        text that is not a number, :class:`InvalidInput` naming the ids of the runs of that
        name, or the nearest run name."""
        if isinstance(run_id, int) and not isinstance(run_id, bool):
            if run_id == 0:
                with self._s.metadata.read() as tx:
                    raise _unknown_run(tx, run_id)
            return check_int(run_id, "run id", hint="run ids are numbers: see `rung runs`")
        text = str(run_id).lstrip("#")
        if is_digits(text) and text and int(text) == 0:
            with self._s.metadata.read() as tx:
                raise _unknown_run(tx, int(text))
        if not is_digits(text) and text.strip():
            with self._s.metadata.read() as tx:
                ids = _ids_named(tx, text)
                if ids:
                    raise InvalidInput(
                        f"{text!r} is a run name, not a run id",
                        f"write the id of a run named so: {ids}",
                    )
                near = closest(text, [r["name"] for r in tx.all("SELECT DISTINCT name FROM runs")])
                if near:
                    raise InvalidInput(
                        f"run id {text!r} is not a whole number",
                        f"did you mean a run named {near[0]!r}? its ids: {_ids_named(tx, near[0])}",
                    )
        return parse_int(text, "run id", hint="run ids are numbers: see `rung runs`")

    def artifact(self, digest: str) -> dict[str, Any]:
        """The recorded artifact with the full hash ``digest`` (64 hex digits, case-insensitive):
        ``{"hash", "kind", "size" (bytes), "media_type"}`` — kinds as
        :func:`rung.pipelines.materialize.dump` stores them, or ``dataset``.

        Raises :class:`~rung.core.errors.InvalidInput` when ``digest`` is not 64 hex digits,
        :class:`NotFound` when no artifact has it (its bytes are not read here)."""
        text = digest.strip().lower()
        if len(text) != 64 or not all(c in _HEX for c in text):
            raise InvalidInput(
                f"artifact hash {digest[:80]!r} is not 64 hex digits",
                "use the full hash that `rung show RUN --json` lists for an output",
            )
        with self._s.metadata.read() as tx:
            row = tx.one(
                "SELECT hash, kind, size, media_type FROM artifacts WHERE hash = :h", {"h": text}
            )
        if row is None:
            raise NotFound(
                f"unknown artifact {text[:12]}", "`rung show RUN` lists each step's outputs"
            )
        return {k: row[k] for k in ("hash", "kind", "size", "media_type")}

    def describe_artifact(self, digest: str) -> str:
        """'artifact <hash> (output X of step Y in run Z)' for error messages."""
        try:
            with self._s.metadata.read() as tx:
                row = tx.one(
                    "SELECT step_io.name, step_runs.name AS step, step_runs.run_id FROM step_io"
                    " JOIN step_runs ON step_runs.id = step_io.step_run_id"
                    " WHERE step_io.artifact_hash = :h AND step_io.direction = 'out'"
                    " ORDER BY step_io.id LIMIT 1",
                    {"h": digest},
                )
                ds = tx.one(
                    "SELECT name, version FROM datasets WHERE artifact_hash = :h"
                    " ORDER BY version LIMIT 1",
                    {"h": digest},
                )
        except Exception:  # describing must never hide the real error
            return f"artifact {digest[:12]}"
        if row is not None:
            return (
                f"artifact {digest[:12]} (output {row['name']!r} of step {row['step']!r}"
                f" in run {row['run_id']})"
            )
        if ds is not None:
            return f"artifact {digest[:12]} (dataset {ds['name']}@{ds['version']})"
        return f"artifact {digest[:12]}"

    def read_by(self, ref: str, limit: int = 200) -> builtins.list[dict[str, Any]]:
        """The runs that read dataset version ``ref`` (``NAME@V``; ``NAME``: the latest),
        newest first, at most ``limit``: ``{"id", "name", "status", "trigger",
        "started_at", "steps": [step names], "how": [...]}`` with ``how`` holding "input"
        when a step received it (passed to a step, or the same bytes as an input),
        "pipeline" when the pipeline resolved it (``rung.dataset(...)``) and "inside" when a
        step's body loaded it — the last two as recorded in the run's ``data_reads``. Raises :class:`NotFound` for an unknown dataset or version."""
        version = self._s.data.get(ref)
        check_int(limit, "limit")
        found: dict[int, dict[str, Any]] = {}
        with self._s.metadata.read() as tx:
            rows = tx.all(
                "SELECT runs.id, runs.name, runs.status, runs.trigger, runs.started_at,"
                " step_runs.name AS step FROM runs"
                " JOIN step_runs ON step_runs.run_id = runs.id"
                " JOIN step_io ON step_io.step_run_id = step_runs.id"
                " WHERE step_io.artifact_hash = :h AND step_io.direction = 'in'"
                " ORDER BY runs.id DESC, step_runs.id",
                {"h": version.hash},  # a dataset input is recorded with its hash (indexed)
            )
            # a LIKE narrows (its '_' matches any character), the JSON decides
            inside = tx.all(
                "SELECT id, name, status, trigger, started_at, data_reads FROM runs"
                " WHERE data_reads LIKE :p ORDER BY id DESC",
                {"p": f'%"dataset":"{version.ref}"%'},
            )
            step_names = {
                r["id"]: r["name"]
                for r in tx.all(
                    "SELECT step_runs.id, step_runs.name FROM step_runs"
                    " WHERE step_runs.run_id IN (SELECT id FROM runs WHERE data_reads LIKE :p)",
                    {"p": f'%"dataset":"{version.ref}"%'},
                )
            }
        for r in rows:
            entry = found.setdefault(r["id"], _reader(r))
            if r["step"] not in entry["steps"]:
                entry["steps"].append(r["step"])
            if "input" not in entry["how"]:
                entry["how"].append("input")
        for r in inside:
            entries = [e for e in json.loads(r["data_reads"]) if e.get("dataset") == version.ref]
            if not entries:
                continue
            entry = found.setdefault(r["id"], _reader(r))
            for e in entries:
                step = step_names.get(e.get("step_run") or -1)
                if step and step not in entry["steps"]:
                    entry["steps"].append(step)
            for how in ("inside" if e.get("step_run") else "pipeline" for e in entries):
                if how not in entry["how"]:
                    entry["how"].append(how)
        return sorted(found.values(), key=lambda e: -int(e["id"]))[:limit]

    # -- lineage ---------------------------------------------------------------------------

    def lineage(self, what: str) -> dict[str, Any]:
        """Back from a run or artifact to datasets and code; forward from ``DATASET@V``."""
        text = what.strip()
        if "@" in text and not is_digits(text.lstrip("#")):
            return self._forward(text)
        what_kind, found = self.resolve(text)
        if what_kind == "run":
            return self._backward_run(found)
        if what_kind == "artifact":
            with self._s.metadata.read() as tx:
                return self._producer_tree(tx, "artifact", found["hash"], None, 0)
        return self._backward_artifact(text)

    def _backward_run(self, run_id: int) -> dict[str, Any]:
        detail = self.get(run_id)
        with self._s.metadata.read() as tx:
            children = [
                self._producer_tree(tx, name, digest, run_id, 0)
                for name, digest in detail["outputs"].items()
            ]
            if not children:  # no declared outputs: every step's outputs
                children = [
                    self._producer_tree(tx, o["name"], o["hash"], run_id, 0)
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
        raise NotFound(f"no artifact with hash {prefix!r}", "see `rung show RUN` for hashes")

    def _producer_tree(
        self, tx: Tx, name: str, digest: str, run_id: int | None, depth: int
    ) -> dict[str, Any]:
        node: dict[str, Any] = {"type": "artifact", "name": name, "hash": digest}
        ds = tx.one(
            "SELECT name, version FROM datasets WHERE artifact_hash = :h ORDER BY version LIMIT 1",
            {"h": digest},
        )
        query = (
            "SELECT step_runs.* FROM step_runs JOIN step_io ON step_io.step_run_id = step_runs.id"
            " WHERE step_io.artifact_hash = :h AND step_io.direction = 'out'{extra}"
            " ORDER BY step_runs.id DESC LIMIT 1"
        )
        step = None
        if run_id:
            step = tx.one(
                query.format(extra=" AND step_runs.run_id = :run"), {"h": digest, "run": run_id}
            )
        step = step or tx.one(query.format(extra=""), {"h": digest})
        if step is None or depth > _MAX_DEPTH:
            if ds is not None:
                node.update(type="dataset", label=f"dataset {ds['name']}@{ds['version']}")
            else:
                node["label"] = f"{name} {digest[:12]}"
            if step is not None:  # deeper than the limit: said, never silently left out
                node["cut"] = True
                node["label"] += f" (made {_MAX_DEPTH}+ steps back: not followed further)"
            return node
        origin = step["cached_from"] or step["id"]
        node["label"] = f"{name} {digest[:12]}"
        cached_run = None
        if step["cached_from"]:
            cached_run = tx.scalar("SELECT run_id FROM step_runs WHERE id = :id", {"id": origin})
        node["step"] = {
            "id": step["id"],
            "name": step["name"],
            "run_id": step["run_id"],
            "cached_from": step["cached_from"],
            "cached_from_run": cached_run,
            "code_hash": step["code_hash"],
            "code": json.loads(step["code_names"]),
            "params": json.loads(step["params"]),
        }
        inputs = tx.all(
            "SELECT step_io.name, step_io.artifact_hash, datasets.name AS dataset_name,"
            " datasets.version AS dataset_version, step_io.dataset_id FROM step_io"
            " LEFT JOIN datasets ON datasets.id = step_io.dataset_id"
            " WHERE step_io.step_run_id = :id AND step_io.direction = 'in' ORDER BY step_io.id",
            {"id": origin},
        )
        children = []
        for inp in inputs:
            if inp["dataset_id"] is not None:
                ref = f"{inp['dataset_name']}@{inp['dataset_version']}"
                children.append(
                    {
                        "type": "dataset",
                        "name": inp["name"],
                        "hash": inp["artifact_hash"],
                        "label": f"dataset {ref}",
                        "dataset": ref,
                    }
                )
            else:
                children.append(
                    self._producer_tree(
                        tx, inp["name"], inp["artifact_hash"], step["run_id"], depth + 1
                    )
                )
        children.extend(_read_inside(tx, origin))
        node["children"] = children
        return node

    def _forward(self, ref: str) -> dict[str, Any]:
        version = self._s.data.get(str(parse_ref(ref)))
        with self._s.metadata.read() as tx:
            children = self._consumers(tx, version.hash, set(), 0)
        return {
            "type": "dataset",
            "label": f"dataset {version.ref} {version.hash[:12]}",
            "hash": version.hash,
            "children": children,
        }

    def _consumers(
        self, tx: Tx, digest: str, seen: set[str], depth: int
    ) -> builtins.list[dict[str, Any]]:
        if digest in seen:
            return []
        if depth > _MAX_DEPTH:  # said, never silently left out
            return [
                {
                    "type": "cut",
                    "hash": digest,
                    "label": f"… more than {_MAX_DEPTH} steps on: not followed further",
                }
            ]
        seen.add(digest)
        rows = tx.all(
            "SELECT step_runs.id, step_runs.name, step_runs.run_id FROM step_runs"
            " JOIN step_io ON step_io.step_run_id = step_runs.id"
            " WHERE step_io.artifact_hash = :h AND step_io.direction = 'in'"
            " AND step_runs.status = 'succeeded' ORDER BY step_runs.id",
            {"h": digest},
        )
        # one node per step and distinct outputs: the same step run with other parameters
        # (or other code) is another branch of what was derived from this input
        groups: dict[tuple[str, tuple[tuple[str, str], ...]], builtins.list[int]] = {}
        for r in rows:
            outs = tx.all(
                "SELECT name, artifact_hash FROM step_io WHERE step_run_id = :id"
                " AND direction = 'out' ORDER BY name",
                {"id": r["id"]},
            )
            key = (r["name"], tuple((o["name"], o["artifact_hash"]) for o in outs))
            groups.setdefault(key, []).append(r["run_id"])
        nodes = []
        for (name, outs_key), run_ids in groups.items():
            runs_ = sorted(set(run_ids))
            nodes.append(
                {
                    "type": "step",
                    "name": name,
                    "label": f"step {name} (runs {', '.join(map(str, runs_))})",
                    "runs": runs_,
                    "children": [
                        {
                            "type": "artifact",
                            "label": f"{out_name} {digest_[:12]}",
                            "hash": digest_,
                            "children": self._consumers(tx, digest_, seen, depth + 1),
                        }
                        for out_name, digest_ in outs_key
                    ],
                }
            )
        return nodes

    # -- reproduction ----------------------------------------------------------------------

    def reproduce(self, run_id: int | str, progress: Progress | None = None) -> dict[str, Any]:
        """Re-execute a run without the cache, pinned to the parameters and dataset versions it
        recorded; compare every step's outputs and metrics and explain the first difference.
        See :func:`rung.pipelines.reproduce.reproduce` for the report's keys."""
        from rung.pipelines.reproduce import reproduce

        return reproduce(self, self._s, run_id, progress)


def _ids_named(tx: Tx, name: str) -> str:
    """The ids of the latest runs named ``name``, newest first (``"9, 7"``; ``""``: none)."""
    rows = tx.all("SELECT id FROM runs WHERE name = :n ORDER BY id DESC LIMIT 6", {"n": name})
    ids = [str(r["id"]) for r in rows]
    return ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")


def _unknown_run(tx: Tx, run_id: int | str) -> NotFound:
    """The error for an id no run has, naming the range of those that exist."""
    last = tx.scalar("SELECT MAX(id) FROM runs")
    hint = f"run ids go from 1 to {last}" if last else "no runs yet: `rung run PIPELINE`"
    return NotFound(f"unknown run {run_id!r}", hint)


def _reader(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "status": row["status"],
        "trigger": row["trigger"],
        "started_at": row["started_at"],
        "steps": [],
        "how": [],
    }


def _read_inside(tx: Tx, step_run: int) -> builtins.list[dict[str, Any]]:
    """The datasets step run ``step_run`` read inside its body (``rung.dataset("x").load()``,
    ``ws.data.get``), as recorded in its run's ``data_reads``: lineage nodes."""
    recorded = tx.scalar(
        "SELECT runs.data_reads FROM runs JOIN step_runs ON step_runs.run_id = runs.id"
        " WHERE step_runs.id = :id",
        {"id": step_run},
    )
    nodes = []
    for entry in json.loads(recorded) if recorded else []:
        if entry.get("step_run") != step_run:
            continue
        nodes.append(
            {
                "type": "dataset",
                "name": entry["ref"],
                "label": f"dataset {entry['dataset']} (read inside the step as {entry['ref']!r})",
                "dataset": entry["dataset"],
            }
        )
    return nodes
