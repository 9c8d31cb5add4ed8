"""Metrics and parameters logged from inside steps or tracking runs.

``rung.log_metric`` and ``rung.log_params`` write to the run that is active in the current
context (a :mod:`contextvars` variable, so threads and async tasks each see their own). Each
call is one short write transaction, durable when it returns.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rung.core.errors import InvalidInput
from rung.core.hashing import canonical_json, ordered_json
from rung.core.limits import KEY, NAME, check_length

if TYPE_CHECKING:
    from pathlib import Path

    from rung.store.metadata import MetadataStore


@dataclass
class ActiveRun:
    store: MetadataStore
    run_id: int
    step_run_id: int | None = None
    _steps: dict[str, int] | None = None

    def next_step(self, key: str) -> int:
        if self._steps is None:
            self._steps = {}
        n = self._steps.get(key, -1) + 1
        self._steps[key] = n
        return n


_active: contextvars.ContextVar[ActiveRun | None] = contextvars.ContextVar(
    "rung_active_run", default=None
)


def active() -> ActiveRun:
    run = _active.get()
    if run is None:
        raise InvalidInput(
            "no active run to log to",
            "call this inside a @step of a running pipeline or inside `with ws.start_run(...)`",
        )
    return run


def activate(run: ActiveRun | None) -> contextvars.Token[ActiveRun | None]:
    return _active.set(run)


def deactivate(token: contextvars.Token[ActiveRun | None]) -> None:
    _active.reset(token)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Record one value of metric ``key`` on the active run (``step`` counts up by default).

    ``value`` is any real number — an int, a float, a numpy scalar, a Decimal — and NaN and
    ±infinity are values like any other (a diverging loss): stored as such on SQLite and
    PostgreSQL, shown as ``nan``/``inf``/``-inf``. Raises :class:`InvalidInput` for a name
    that is not a non-empty string or a value that is not a number.
    """
    log_metrics({key: value}, step)


def log_metrics(values: dict[str, float], step: int | None = None) -> None:
    """Record several metrics at once, in one transaction (values as for :func:`log_metric`)."""
    run = active()
    now = time.time()
    checked = {k: _number(k, v) for k, v in values.items()}
    if not checked:
        return
    with run.store.write(durable=False) as tx:  # durable with the run's next commit
        tx.insert_many(
            "metrics",
            [
                {
                    "run_id": run.run_id,
                    "step_run_id": run.step_run_id,
                    "key": k,
                    "value": tx.real(v),
                    "step": run.next_step(k) if step is None else int(step),
                    "timestamp": now,
                }
                for k, v in checked.items()
            ],
        )


def _number(key: Any, value: Any) -> float:
    """The float of one metric value, or :class:`InvalidInput` naming the metric."""
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"invalid metric name {key!r}", "use a non-empty string")
    check_length(key, KEY, "metric name")
    if isinstance(value, str | bytes) or hasattr(value, "__len__"):
        raise InvalidInput(
            f"metric {key!r} got {value!r}, which is not a number", "log a float or an int"
        )
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(
            f"metric {key!r} got {value!r}, which is not a number", "log a float or an int"
        ) from exc


def _json(what: str, key: str, value: Any, ordered: bool = False) -> str:
    """``canonical_json(value)`` (numpy, pandas and Decimal scalars included; ``ordered``:
    key order kept, :func:`ordered_json`), or :class:`InvalidInput` naming the parameter."""
    try:
        return ordered_json(value) if ordered else canonical_json(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{what} {key!r} is a {type(value).__name__}, which rung cannot store as JSON",
            "log numbers, strings, booleans, or lists and dicts of them",
        ) from exc


def log_params(values: dict[str, Any]) -> None:
    """Record parameters on the active run; logging a key again overwrites it. Values are
    stored as canonical JSON: numpy and pandas scalars, timestamps and Decimals are written
    as their plain JSON form (:func:`rung.core.columns.plain`)."""
    run = active()
    for k in values:
        check_length(str(k), KEY, "parameter name")
    rows = [
        {"run_id": run.run_id, "key": k, "value": _json("parameter", k, v)}
        for k, v in values.items()
    ]
    if not rows:
        return
    with run.store.write() as tx:
        for r in rows:
            tx.execute("DELETE FROM params WHERE run_id = :run_id AND key = :key", r)
        tx.insert_many("params", rows)


class TrackingRun:
    """A run opened with ``ws.start_run(...)``: log to it directly or through ``rung.log_*``."""

    def __init__(self, active_run: ActiveRun) -> None:
        self._active = active_run
        self.id = active_run.run_id

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        token = activate(self._active)
        try:
            log_metric(key, value, step)
        finally:
            deactivate(token)

    def log_params(self, values: dict[str, Any]) -> None:
        token = activate(self._active)
        try:
            log_params(values)
        finally:
            deactivate(token)


@contextmanager
def tracking_run(
    store: MetadataStore, root: Path, name: str, params_: dict[str, Any]
) -> Iterator[TrackingRun]:
    """Record a run of kind ``tracking``; it fails if the block raises."""
    from rung.pipelines.environment import code_version, environment
    from rung.pipelines.liveness import Heartbeat, process_identity

    check_length(name, NAME, "run name")
    for k in params_:
        check_length(str(k), KEY, "parameter name")
    commit, dirty = code_version(root)
    now = time.time()
    with store.write() as tx:
        run_id = tx.insert(
            "runs",
            {
                **process_identity(),
                "heartbeat_at": now,
                "name": name,
                "kind": "tracking",
                "status": "running",
                "trigger": "manual",
                "params": _json("parameters", name, params_, ordered=True),
                "code_commit": commit,
                "code_dirty": dirty,
                "environment": canonical_json(environment()),
                "started_at": now,
            },
        )
    run = ActiveRun(store, run_id)
    token = activate(run)
    status, error = "succeeded", None
    with Heartbeat(store, run_id):
        try:
            if params_:
                log_params(params_)
            yield TrackingRun(run)
        except BaseException as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            deactivate(token)
            with store.write() as tx:
                tx.execute(
                    "UPDATE runs SET status = :status, error = :error, ended_at = :ended"
                    " WHERE id = :id",
                    {"status": status, "error": error, "ended": time.time(), "id": run_id},
                )
