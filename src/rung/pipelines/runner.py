"""Executing a pipeline: the cache, the step runs, their inputs and outputs.

A run calls the pipeline function with its parameters while an :class:`Executor` is active.
Each step call computes a cache key from

* the step's code fingerprint (:mod:`rung.core.codehash`),
* its parameters (arguments that are plain JSON values), and
* the content hashes of its inputs (outputs of earlier steps, dataset versions, or other
  values, which are stored as artifacts first).

A hit records a step run that points at the earlier one and returns its outputs *without
loading them*, so an unchanged pipeline re-runs in the time it takes to read a few rows. Since
inputs count by content, a re-executed step that produces identical bytes leaves every step
downstream cached.
"""

from __future__ import annotations

import contextvars
import inspect
import json
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from rung.core.codehash import Fingerprint, code_fingerprint, fingerprint, referenced
from rung.core.errors import InvalidInput, RungError, StepFailed, UnsupportedType
from rung.core.hashing import canonical_json, hash_json, is_jsonable, ordered_json
from rung.data import reads as data_reads
from rung.data.reads import DataReads
from rung.pipelines import materialize
from rung.pipelines.environment import (
    code_version,
    environment,
    package_versions,
    with_packages,
)
from rung.pipelines.liveness import Heartbeat, process_identity
from rung.pipelines.steps import Pipeline, Step
from rung.pipelines.tracking import ActiveRun, activate, deactivate
from rung.store.records import ensure_artifact

if TYPE_CHECKING:
    from pathlib import Path

    from rung.data.datasets import Datasets
    from rung.store.artifacts import ArtifactStore
    from rung.store.metadata import MetadataStore, Tx


class Progress(Protocol):
    """What a display implements to follow a run."""

    def step_started(self, name: str) -> None: ...
    def step_finished(self, name: str, outcome: str, seconds: float) -> None: ...


class _Quiet:
    def step_started(self, name: str) -> None:
        pass

    def step_finished(self, name: str, outcome: str, seconds: float) -> None:
        pass


@dataclass
class Output:
    """A handle on a stored value: an output of a step, or a dataset version."""

    hash: str
    kind: str
    name: str
    dataset_id: int | None = None
    _executor: Executor | None = field(default=None, repr=False, compare=False)
    allow_pickle: bool = False  # produced by a @step(pickle=True): its pipeline may load it

    def load(self) -> Any:
        if self._executor is None:
            raise InvalidInput(f"output {self.name} is detached from its run", "use ws.artifact()")
        return self._executor.load(self)


@dataclass
class StepRecord:
    name: str
    outcome: str  # executed | cached | failed
    seconds: float


@dataclass
class RunResult:
    """What :meth:`Workspace.run` returns."""

    id: int
    status: str
    steps: list[StepRecord]
    outputs: dict[str, str]

    @property
    def executed(self) -> int:
        return sum(s.outcome == "executed" for s in self.steps)

    @property
    def cached(self) -> int:
        return sum(s.outcome == "cached" for s in self.steps)


@dataclass
class Stores:
    """The parts of a workspace a run needs (passed in, so this layer never imports it)."""

    metadata: MetadataStore
    artifacts: ArtifactStore
    data: Datasets
    root: Path


_current: contextvars.ContextVar[Executor | None] = contextvars.ContextVar(
    "rung_executor", default=None
)


def current_executor() -> Executor | None:
    return _current.get()


def dataset(ref: str) -> Output:
    """Inside a pipeline: a handle on dataset version ``ref`` (``NAME`` means the latest)."""
    executor = current_executor()
    if executor is None:
        raise InvalidInput(
            f"rung.dataset({ref!r}) was called outside a running pipeline",
            "call it inside a @pipeline function, or use ws.data.get(ref).load()",
        )
    return executor.dataset(ref)


def check_schema(data: Any, schema: Any, source: str = "data") -> Any:
    """Stop the run when ``data`` has schema skew against ``schema``.

    ``schema`` is a dict, a JSON file from ``rung data schema``, or inside a running pipeline a
    dataset version such as ``"sp500@1"`` whose inferred schema is used.
    """
    from rung.data.validation import check_schema as check

    executor = current_executor()
    if isinstance(schema, str) and "@" in schema and not schema.endswith(".json") and executor:
        schema = executor.stores.data.schema(schema)
    return check(data, schema, source)


class Executor:
    """Runs the steps of one pipeline run."""

    def __init__(
        self,
        stores: Stores,
        run_id: int,
        use_cache: bool,
        progress: Progress,
        reads: DataReads | None = None,
    ) -> None:
        self.stores = stores
        self.run_id = run_id
        self.use_cache = use_cache
        self.progress = progress
        self.reads = reads if reads is not None else DataReads()
        self.records: list[StepRecord] = []
        self.code_hashes: dict[str, str] = {}
        self.packages: dict[str, str] = {}  # installed packages the steps' code refers to
        self._fingerprints: dict[int, Fingerprint] = {}
        self._values: dict[str, Any] = {}  # outputs computed in this process, by hash

    # -- inputs --------------------------------------------------------------------------

    def dataset(self, ref: str) -> Output:
        version = self.stores.data.get(ref)
        return Output(version.hash, f"dataset:{version.format}", version.ref, version.id, self)

    def load(self, out: Output) -> Any:
        if out.hash in self._values:
            return self._values[out.hash]
        if out.kind.startswith("dataset:"):
            value = self.stores.data.by_id(out.dataset_id or 0).load()
        else:
            value = materialize.load(
                out.kind,
                self.stores.artifacts.get_bytes(out.hash),
                allow_pickle=out.allow_pickle,
                what=f"output {out.name} ({out.hash[:12]})",
                opt_in=materialize.OPT_IN_STEP,
            )
        return value

    # -- a step call ----------------------------------------------------------------------

    def call(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            bound = step.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(f"step {step.name!r} was called wrongly: {exc}") from exc
        bound.apply_defaults()
        params: dict[str, Any] = {}
        inputs: dict[str, Output] = {}
        for arg, value in bound.arguments.items():
            if isinstance(value, Output):
                inputs[arg] = value
            elif is_jsonable(value):
                params[arg] = value
            else:
                inputs[arg] = self._store_value(value, f"argument {arg!r} of step {step.name!r}")
        found = self._fingerprint(step)
        code_hash = found.hash
        self.code_hashes[step.name] = code_hash
        packages = package_versions(found.modules)
        self.packages.update(packages)
        detail = {"functions": [list(p) for p in found.parts], "packages": packages}
        key = hash_json(
            {
                "step": step.name,
                "code": code_hash,
                "params": params,
                "inputs": {k: v.hash for k, v in inputs.items()},
                "outputs": list(step.outputs),
                "pickle": step.pickle,
            }
        )
        call = _Call(step, key, code_hash, found.names, params, inputs, canonical_json(detail))
        self.progress.step_started(step.name)
        started = time.perf_counter()
        outs = None
        if self.use_cache and step.cache:
            outs = self._from_cache(call)
        outcome = "cached"
        if outs is None:
            outcome = "executed"
            try:
                outs = self._execute(call)
            except BaseException:
                seconds = time.perf_counter() - started
                self.records.append(StepRecord(step.name, "failed", seconds))
                self.progress.step_finished(step.name, "failed", seconds)
                raise
        seconds = time.perf_counter() - started
        self.records.append(StepRecord(step.name, outcome, seconds))
        self.progress.step_finished(step.name, outcome, seconds)
        return outs[0] if len(step.outputs) == 1 else tuple(outs)

    def step_hash(self, step: Step) -> str:
        """The fingerprint hash of ``step``'s code (computed once per run)."""
        return self._fingerprint(step).hash

    def _fingerprint(self, step: Step) -> Fingerprint:
        if id(step) not in self._fingerprints:
            self._fingerprints[id(step)] = fingerprint(step.func)
        return self._fingerprints[id(step)]

    def _store_value(self, value: Any, where: str) -> Output:
        kind, data = materialize.dump(value, where=where)
        digest = self.stores.artifacts.put_bytes(data)
        with self.stores.metadata.write() as tx:
            ensure_artifact(tx, digest, kind, len(data), materialize.MEDIA_TYPES[kind], None)
        self._values[digest] = value
        return Output(digest, kind, where, None, self)

    def _from_cache(self, call: _Call) -> list[Output] | None:
        step, key, inputs = call.step, call.key, call.inputs
        now = time.time()
        with self.stores.metadata.write() as tx:
            hit = tx.one(
                "SELECT id, cached_from FROM step_runs WHERE cache_key = :key"
                " AND status = 'succeeded' ORDER BY id DESC LIMIT 1",
                {"key": key},
            )
            if hit is None:
                return None
            origin = hit["cached_from"] or hit["id"]
            read = self._reads_of(tx, origin, step.name)
            if not self._still_resolve(tx, read):
                return None  # the step read a dataset by name and that name moved on
            rows = tx.all(
                "SELECT step_io.name, step_io.artifact_hash, artifacts.kind FROM step_io"
                " JOIN artifacts ON artifacts.hash = step_io.artifact_hash"
                " WHERE step_io.step_run_id = :id AND step_io.direction = 'out'",
                {"id": hit["id"]},
            )
            by_name = {r["name"]: r for r in rows}
            if set(by_name) != set(step.outputs) or not all(
                self.stores.artifacts.exists(r["artifact_hash"]) for r in rows
            ):
                return None  # outputs lost from the store: execute again
            step_id = tx.insert(
                "step_runs",
                call.row(
                    self.run_id,
                    status="succeeded",
                    cache_hit=True,
                    cached_from=origin,
                    started_at=now,
                    ended_at=now,
                ),
            )
            outs = [
                Output(
                    by_name[n]["artifact_hash"],
                    by_name[n]["kind"],
                    f"{step.name}.{n}",
                    None,
                    self,
                    allow_pickle=step.pickle,  # the cache key covers step.pickle
                )
                for n in step.outputs
            ]
            tx.insert_many(
                "step_io",
                [_io(step_id, "in", k, v) for k, v in inputs.items()]
                + [_io(step_id, "out", n, o) for n, o in zip(step.outputs, outs, strict=True)],
            )
            _copy_metrics(tx, origin, self.run_id, step_id)
            # the run records what its origin read inside the step: reproducing it pins that
            previous = self.reads.step, self.reads.step_run
            self.reads.step, self.reads.step_run = step.name, step_id
            try:
                for entry in read:
                    self.reads.record(entry["ref"], entry["dataset"])
            finally:
                self.reads.step, self.reads.step_run = previous
        return outs

    def _reads_of(self, tx: Tx, origin_step: int, name: str) -> list[dict[str, Any]]:
        """The dataset reads step run ``origin_step`` made inside its body."""
        recorded = tx.scalar(
            "SELECT runs.data_reads FROM runs JOIN step_runs ON step_runs.run_id = runs.id"
            " WHERE step_runs.id = :id",
            {"id": origin_step},
        )
        return [
            e
            for e in (json.loads(recorded) if recorded else [])
            if e.get("step_run", origin_step) == origin_step and e.get("step") == name
        ]

    def _still_resolve(self, tx: Tx, read: list[dict[str, Any]]) -> bool:
        """Whether every bare ``NAME`` a step read inside its body resolves as it did then
        (to its pin, or to the latest version): the cache key cannot cover such reads."""
        for entry in read:
            if not data_reads.unversioned(entry):
                continue
            name = str(entry["ref"])
            version = self.reads.pinned(name)
            if version is None:
                version = tx.scalar(
                    "SELECT MAX(version) FROM datasets WHERE name = :name", {"name": name}
                )
            if f"{name}@{version}" != entry["dataset"]:
                return False
        return True

    def _execute(self, call: _Call) -> list[Output]:
        step, params, inputs = call.step, call.params, call.inputs
        store = self.stores.metadata
        with store.write() as tx:
            step_id = tx.insert(
                "step_runs",
                call.row(self.run_id, status="running", cache_hit=False, started_at=time.time()),
            )
        try:
            values = {k: self.load(v) for k, v in inputs.items()}
            token = activate(ActiveRun(store, self.run_id, step_id))
            reader = self.reads.step, self.reads.step_run
            self.reads.step, self.reads.step_run = step.name, step_id
            try:
                result = step.func(**params, **values)
            except RungError as exc:  # e.g. check_schema: say which step stopped the run
                raise type(exc)(f"step {step.name!r} stopped: {exc.message}", exc.hint) from exc
            finally:
                self.reads.step, self.reads.step_run = reader
                deactivate(token)
            outputs = self._store_outputs(step, result)
        except KeyboardInterrupt:
            self._fail(step_id, "KeyboardInterrupt: interrupted", traceback.format_exc())
            raise
        except RungError as exc:
            self._fail(step_id, str(exc), traceback.format_exc())
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self._fail(step_id, error, traceback.format_exc())
            if isinstance(exc, OSError):  # storing the output found no space: say where
                from rung.store.failures import explain

                known = explain(exc, self.stores.artifacts.root)
                if known is not None:
                    raise known from exc
            raise StepFailed(
                f"step {step.name!r} failed with {error}",
                f"see `rung show {self.run_id}` for the traceback; the next run resumes"
                " from the cached steps",
            ) from exc
        try:  # a failure to record the outputs fails the step: it never stays 'running'
            with store.write() as tx:
                for out, size in outputs:
                    media = materialize.MEDIA_TYPES[out.kind]
                    ensure_artifact(tx, out.hash, out.kind, size, media, step_id)
                tx.insert_many(
                    "step_io",
                    [_io(step_id, "in", k, v) for k, v in inputs.items()]
                    + [
                        _io(step_id, "out", n, o)
                        for n, (o, _) in zip(step.outputs, outputs, strict=True)
                    ],
                )
                tx.execute(
                    "UPDATE step_runs SET status = 'succeeded', ended_at = :t WHERE id = :id",
                    {"t": time.time(), "id": step_id},
                )
        except BaseException as exc:
            self._fail(step_id, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            raise
        return [o for o, _ in outputs]

    def _store_outputs(self, step: Step, result: Any) -> list[tuple[Output, int]]:
        if len(step.outputs) > 1:
            if not isinstance(result, tuple) or len(result) != len(step.outputs):
                raise UnsupportedType(
                    f"step {step.name!r} declares outputs {list(step.outputs)} but returned"
                    f" {type(result).__name__}",
                    f"return a tuple of {len(step.outputs)} values",
                )
            values = list(result)
        else:
            values = [result]
        stored = []
        for name, value in zip(step.outputs, values, strict=True):
            kind, data = materialize.dump(
                value, allow_pickle=step.pickle, where=f"step {step.name!r}"
            )
            digest = self.stores.artifacts.put_bytes(data)
            self._values[digest] = value
            out = Output(digest, kind, f"{step.name}.{name}", None, self, allow_pickle=step.pickle)
            stored.append((out, len(data)))
        return stored

    def _fail(self, step_id: int, error: str, tb: str) -> None:
        with self.stores.metadata.write() as tx:
            tx.execute(
                "UPDATE step_runs SET status = 'failed', error = :error, traceback = :tb,"
                " ended_at = :t WHERE id = :id",
                {"error": error, "tb": tb, "t": time.time(), "id": step_id},
            )


@dataclass
class _Call:
    """One call of a step: what its cache key covers, and its step_runs row."""

    step: Step
    key: str
    code_hash: str
    code_names: list[str]
    params: dict[str, Any]
    inputs: dict[str, Output]
    code_detail: str  # JSON: per-function hashes and package versions

    def row(self, run_id: int, **fields: Any) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "name": self.step.name,
            "cache_key": self.key,
            "code_hash": self.code_hash,
            "code_names": canonical_json(self.code_names),
            "params": canonical_json(self.params),
            "code_detail": self.code_detail,
            **fields,
        }


def _io(step_id: int, direction: str, name: str, out: Output) -> dict[str, Any]:
    return {
        "step_run_id": step_id,
        "direction": direction,
        "name": name,
        "artifact_hash": out.hash,
        "dataset_id": out.dataset_id,
    }


def _copy_metrics(tx: Tx, origin_step: int, run_id: int, step_id: int) -> None:
    """A cached step's run shows the metrics its origin logged."""
    tx.execute(
        "INSERT INTO metrics (run_id, step_run_id, key, value, step, timestamp)"
        " SELECT :run_id, :step_id, key, value, step, timestamp FROM metrics"
        " WHERE step_run_id = :origin ORDER BY id",
        {"run_id": run_id, "step_id": step_id, "origin": origin_step},
    )


# -- a whole run --------------------------------------------------------------------------


def resolve_params(pipe: Pipeline, given: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's defaults overridden by ``given``, coerced to the defaults' types."""
    accepted = pipe.signature.parameters
    unknown = [k for k in given if k not in accepted]
    if unknown:
        names = ", ".join(accepted) or "none"
        raise InvalidInput(
            f"pipeline {pipe.name!r} has no parameter {unknown[0]!r}",
            f"its parameters are: {names}",
        )
    params = pipe.defaults()
    for k, v in given.items():
        default = params.get(k, inspect.Parameter.empty)
        params[k] = _coerce(k, v, default)
    missing = [k for k in accepted if k not in params]
    if missing:
        raise InvalidInput(
            f"pipeline {pipe.name!r} needs parameter {missing[0]!r}", f"pass -p {missing[0]}=VALUE"
        )
    return params


def _coerce(key: str, value: Any, default: Any) -> Any:
    if default is inspect.Parameter.empty or default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, float) and isinstance(value, int | float):
        return float(value)
    elif isinstance(default, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif isinstance(default, str):
        return value if isinstance(value, str) else str(value)
    elif isinstance(value, type(default)):
        return value
    raise InvalidInput(
        f"parameter {key}={value!r} should be a {type(default).__name__} like its default {default!r}",
        f"pass -p {key}=<{type(default).__name__}>",
    )


def run_pipeline(
    stores: Stores,
    pipe: Pipeline,
    params: dict[str, Any] | None = None,
    *,
    target: str | None = None,
    trigger: str = "manual",
    use_cache: bool = True,
    progress: Progress | None = None,
    reproduces: int | None = None,
    pins: dict[str, int] | None = None,
) -> RunResult:
    """Run ``pipe`` and record everything about it; raise :class:`StepFailed` on failure.

    ``pins`` maps dataset names to versions: an unversioned reference to one of them, made
    anywhere while the run executes, resolves to that version (:mod:`rung.data.reads`).
    """
    resolved = resolve_params(pipe, params or {})
    commit, dirty = code_version(stores.root)
    now = time.time()
    with stores.metadata.write() as tx:
        run_id = tx.insert(
            "runs",
            {
                **process_identity(),
                "heartbeat_at": now,
                "name": pipe.name,
                "kind": "pipeline",
                "target": target,
                "status": "running",
                "trigger": trigger,
                "params": ordered_json(resolved),  # the pipeline's order, as shown
                "code_commit": commit,
                "code_dirty": dirty,
                "environment": canonical_json(environment()),
                "reproduces": reproduces,
                "started_at": now,
            },
        )
    reads = DataReads(dict(pins or {}))
    executor = Executor(stores, run_id, use_cache, progress or _Quiet(), reads)
    with Heartbeat(stores.metadata, run_id):
        token = _current.set(executor)
        reading = data_reads.activate(reads)
        try:
            returned = pipe.func(**resolved)
        except BaseException as exc:
            _finish(stores, run_id, executor, pipe, "failed", None, _describe(exc))
            if isinstance(exc, RungError | KeyboardInterrupt):
                raise
            raise StepFailed(
                f"pipeline {pipe.name!r} failed outside its steps with {type(exc).__name__}: {exc}",
                f"see `rung show {run_id}`",
            ) from exc
        finally:
            data_reads.deactivate(reading)
            _current.reset(token)
        outputs = _named_outputs(returned)
        _finish(stores, run_id, executor, pipe, "succeeded", outputs, None)
    return RunResult(run_id, "succeeded", executor.records, outputs)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RungError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"


def _named_outputs(returned: Any) -> dict[str, str]:
    if isinstance(returned, Output):
        return {returned.name: returned.hash}
    if isinstance(returned, tuple | list):
        return {o.name: o.hash for o in returned if isinstance(o, Output)}
    if isinstance(returned, dict):
        return {str(k): o.hash for k, o in returned.items() if isinstance(o, Output)}
    return {}


def run_code_hash(pipe: Pipeline, executor: Executor) -> str:
    """The run's ``code.hash``: the pipeline function's fingerprint and that of every step
    its code names (:func:`rung.core.codehash.referenced`), plus any other step the run
    called — so that the same code has the same hash however far a run got (a run failing
    in its first step once hashed only the steps it had reached)."""
    pipe_hash, _ = code_fingerprint(pipe.func)
    steps = {s.name: executor.step_hash(s) for s in referenced(pipe.func, Step)}
    steps.update(executor.code_hashes)
    return hash_json({"pipeline": pipe_hash, "steps": steps})


def _finish(
    stores: Stores,
    run_id: int,
    executor: Executor,
    pipe: Pipeline,
    status: str,
    outputs: dict[str, str] | None,
    error: str | None,
) -> None:
    code_hash = run_code_hash(pipe, executor)
    env = with_packages(environment(), executor.packages)
    with stores.metadata.write() as tx:
        tx.execute(
            "UPDATE runs SET status = :status, outputs = :outputs, code_hash = :code_hash,"
            " environment = :env, data_reads = :reads, error = :error, ended_at = :ended"
            " WHERE id = :id",
            {
                "status": status,
                "outputs": canonical_json(outputs) if outputs is not None else None,
                "code_hash": code_hash,
                "env": canonical_json(env),
                "reads": canonical_json(executor.reads.reads),
                "error": error,
                "ended": time.time(),
                "id": run_id,
            },
        )
