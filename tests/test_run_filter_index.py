"""The tables the run filter reads (``latest_metrics``, ``run_params``, migration 0018) stay in
step with what they are derived from — the ``metrics``, ``params`` and ``runs`` rows — whatever
rung's write paths do, in any order, on SQLite and PostgreSQL: tracking runs with their
parameters, ``log_metric(s)``, ``log_params`` overwriting, pipeline runs with their parameters
and metrics, and cached steps copying their origin's metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rung
from rung.store.metadata import Tx

FLOW = """
import rung
from rung import pipeline, step


@step
def fit(c: float, tag: str):
    rung.log_metric("acc", c / 10)
    rung.log_metrics({"loss": 1 - c / 10, "tag_len": float(len(tag))})
    return {"c": c}


@pipeline
def flow(c: float = 1.0, tag: str = "a", extra: list = [1]):
    return fit(c, tag)
"""

KEYS = st.sampled_from(["acc", "loss", "C", "tag"])
PARAM = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([0.5, 2.0, 1e30, 10**400, -(10**400)]),
    st.sampled_from(["a", "", "x" * 300, "é"]),
    st.booleans(),
    st.none(),
    st.just([1, "a"]),
    st.just({"k": 1}),
)
METRIC = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64), st.integers(-(2**40), 2**40)
)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("start"), st.dictionaries(KEYS, PARAM, max_size=3)),
        st.tuples(st.just("metric"), KEYS, METRIC),
        st.tuples(st.just("metrics"), st.dictionaries(KEYS, METRIC, max_size=3)),
        st.tuples(st.just("params"), st.dictionaries(KEYS, PARAM, max_size=3)),
        st.tuples(st.just("pipeline"), st.sampled_from([1.0, 2.0]), st.sampled_from(["a", "bb"])),
    ),
    min_size=1,
    max_size=8,
)


def _typed(value: Any) -> tuple[float | None, str | None]:
    """A parameter's (num, text) as the filter compares it."""
    if isinstance(value, bool) or value is None:
        return None, None
    if isinstance(value, int | float):
        try:
            return float(value), None
        except OverflowError:
            return (math.inf if value > 0 else -math.inf), None
    if isinstance(value, str):
        return None, value
    return None, None


def _key(v: float | None) -> Any:
    return "nan" if v is not None and v != v else v


def derived(store: Any) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """What the two tables hold."""
    with store.read() as tx:
        metrics = {
            (r["run_id"], r["key"]): (_key(Tx.read_real(r["value"])), r["metric_id"])
            for r in tx.all("SELECT * FROM latest_metrics")
        }
        params = {
            (r["run_id"], r["key"]): (_key(r["num"]), r["text"])
            for r in tx.all("SELECT * FROM run_params")
        }
    return metrics, params


def expected(store: Any) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """The same, derived here from the source rows."""
    with store.read() as tx:
        metrics: dict[Any, Any] = {}
        for r in tx.all("SELECT id, run_id, key, value FROM metrics ORDER BY id"):
            metrics[(r["run_id"], r["key"])] = (_key(Tx.read_real(r["value"])), r["id"])
        params: dict[Any, Any] = {}
        for run in tx.all("SELECT id, params FROM runs"):
            for k, v in json.loads(run["params"]).items():
                params[(run["id"], k)] = v
        for r in tx.all("SELECT run_id, key, value FROM params"):
            params[(r["run_id"], r["key"])] = json.loads(r["value"])
    typed = {}
    for k, v in params.items():
        num, text = _typed(v)
        typed[k] = (_key(num), text)
    return metrics, typed


def test_every_write_path_keeps_the_filter_tables_in_step(ws) -> None:  # type: ignore[no-untyped-def]
    (Path(ws.root) / "flow.py").write_text(FLOW)
    runs: list[Any] = []

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(OPS)
    def check(ops: list[tuple[Any, ...]]) -> None:
        with ws.start_run("sweep", params={"C": 1, "tag": "t"}) as run:
            runs.append(run)
            for op in ops:
                if op[0] == "start":
                    with ws.start_run("inner", params=op[1]) as other:
                        other.log_metric("acc", 0.5)
                elif op[0] == "metric":
                    rung.log_metric(op[1], op[2])
                elif op[0] == "metrics":
                    rung.log_metrics(op[1])
                elif op[0] == "params":
                    rung.log_params(op[1])
                else:  # a second run with the same parameters is cached: metrics copied
                    ws.run("flow.py:flow", {"c": op[1], "tag": op[2]})
        runs[0].log_params({"late": "after the run ended"})
        assert derived(ws.store) == expected(ws.store)

    check()
    with ws.store.read() as tx:
        cached = tx.scalar("SELECT COUNT(*) FROM step_runs WHERE cache_hit")
        logged = tx.scalar("SELECT COUNT(*) FROM params")
    metrics, params = derived(ws.store)
    assert len(runs) >= 10 and cached and logged and metrics and params


def test_the_filter_reads_what_the_write_paths_wrote(ws) -> None:  # type: ignore[no-untyped-def]
    """The tables through the filter: a logged parameter overrides the run's own, the last
    metric value counts, a cached step's copied metrics count for its run."""
    (Path(ws.root) / "flow.py").write_text(FLOW)
    with ws.start_run("a", params={"C": 1, "tag": "x" * 300}) as run:
        run.log_metric("acc", 0.9)
        run.log_metric("acc", 0.2)
        run.log_params({"C": "one"})
    first = ws.run("flow.py:flow", {"c": 2.0}).id
    again = ws.run("flow.py:flow", {"c": 2.0}).id

    def ids(text: str) -> list[int]:
        return sorted(r.id for r in ws.runs.list(filter=text))

    assert ids("metrics.acc < 0.5") == [run.id, first, again]
    assert ids("metrics.acc < 0.5 and params.C = 'one'") == [run.id]
    assert ids("params.C = 1") == []
    assert ids(f"params.tag = '{'x' * 300}'") == [run.id]
    assert ids(f"params.tag > '{'x' * 299}'") == [run.id]
    assert ids("params.c = 2 and metrics.loss between 0.79 and 0.81") == [first, again]
    assert ids("params.extra = 1 or params.extra = '[1]'") == []
    assert ids("not params.extra = 1") == [run.id, first, again]


def test_sqlite_starts_from_a_selective_condition_and_walks_for_a_wide_one(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    """On a store of 4,000 runs: a condition matching a few runs becomes the set the query
    starts from (its index range), a condition matching half of them is looked up per run
    while the newest runs are walked; both ways select what the per-run form selects."""
    from rung.core.query import parse
    from rung.pipelines.run_filter import where

    n = 4000
    with sqlite_ws.store.write() as tx:
        tx.insert_many(
            "runs",
            [
                {
                    "name": "r",
                    "kind": "tracking",
                    "status": "succeeded",
                    "trigger": "manual",
                    "params": json.dumps({"p": i % 10}),
                    "started_at": float(i),
                }
                for i in range(n)
            ],
        )
        tx.insert_many(
            "metrics",
            [
                {"run_id": i + 1, "key": "m", "value": i / n, "step": 0, "timestamp": 0.0}
                for i in range(n)
            ],
        )
    cases = {
        "metrics.m > 0.5": False,  # half the runs: walk
        "metrics.m > 0.99 and params.p = 3": True,  # 40 runs, then 4
        "params.p = 3 and metrics.m < 0.01": True,
        "metrics.m > 0.5 or params.p = 3": False,
    }
    for text, starts in cases.items():
        expr = parse(text)
        with sqlite_ws.store.read() as tx:
            cond, args = where(expr, "sqlite", tx, limit=100)
            got = [r["id"] for r in tx.all(f"SELECT id FROM runs WHERE {cond} ORDER BY id", args)]
            plain, plain_args = where(expr, "sqlite", tx, drive=False)
            want = [
                r["id"]
                for r in tx.all(f"SELECT id FROM runs WHERE {plain} ORDER BY id", plain_args)
            ]
        assert cond.startswith("(runs.id IN (") is starts, (text, cond)
        assert got == want and want, text
    listed = sqlite_ws.runs.list(limit=5, filter="metrics.m > 0.99 and params.p = 3")
    assert [r.id for r in listed] == [3994, 3984, 3974, 3964]


def test_the_attributes_compared_without_coalesce_are_never_null() -> None:
    from rung.core.query import ATTRIBUTES
    from rung.pipelines.run_filter import NOT_NULL
    from rung.store.schema import runs

    assert set(ATTRIBUTES) >= NOT_NULL
    assert {c for c in NOT_NULL if runs.c[c].nullable} == set()
    assert {
        c for c in set(ATTRIBUTES) - NOT_NULL if c in runs.c and not runs.c[c].nullable
    } == set()
