"""Runs side by side (rung.pipelines.compare, ws.runs.compare, ``rung compare``): every field
of every run gets a row, a row differs exactly when its values are not all equal, and "only
differences" keeps exactly those rows."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rung.pipelines.compare import compare

VALUE = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([0.5, 1.5, math.nan, True, False, "a", "b", None]),
)
KEYS = st.sampled_from(["C", "depth", "lr", "seed"])
RUN = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["train", "sweep"]),
        "status": st.sampled_from(["succeeded", "failed"]),
        "params": st.dictionaries(KEYS, VALUE, max_size=4),
        "metrics": st.dictionaries(
            st.sampled_from(["acc", "loss"]), st.sampled_from([0.5, 0.75, math.nan]), max_size=2
        ),
        "steps": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["prep", "fit"]), "cache_hit": st.booleans()}
            ),
            max_size=2,
            unique_by=lambda s: s["name"],
        ),
    }
)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return (
        bool(a == b)
        if type(a) is type(b) or (isinstance(a, int | float) and isinstance(b, int | float))
        else False
    )


@given(st.lists(RUN, min_size=2, max_size=4))
def test_every_field_has_a_row_and_only_differences_keeps_exactly_those_that_differ(
    runs: list[dict[str, Any]],
) -> None:
    rows = compare(runs)
    keyed = {(r.section, r.key): r for r in rows}
    for i, run in enumerate(runs):
        for key, value in run["params"].items():
            assert _equal(keyed[("params", key)].values[i], value)
        for key, value in run["metrics"].items():
            assert _equal(keyed[("metrics", key)].values[i], value)
        for step in run["steps"]:
            assert keyed[("steps", step["name"])].values[i] == (
                "hit" if step["cache_hit"] else "miss"
            )
    for row in rows:
        assert len(row.values) == len(runs)
        all_equal = all(_equal(row.values[0], v) for v in row.values[1:])
        assert row.differs == (not all_equal), row
    differing = compare(runs, only_differences=True)
    assert differing == [r for r in rows if r.differs]


def test_true_is_not_one_and_nan_is_nan() -> None:
    rows = {
        r.key: r
        for r in compare(
            [
                {"params": {"flag": True, "n": 1.0}, "metrics": {"x": math.nan}},
                {"params": {"flag": 1, "n": 1}, "metrics": {"x": math.nan}},
            ]
        )
    }
    assert rows["flag"].differs and not rows["n"].differs and not rows["x"].differs


def test_rung_compare_through_the_cli_and_the_workspace(ws) -> None:  # type: ignore[no-untyped-def]
    import rung
    from conftest import rung_cli

    ids = []
    for c, acc in ((0.1, 0.9), (1.0, 0.8), (1.0, 0.8)):
        with ws.start_run("sweep", params={"C": c, "seed": 7}) as run:
            rung.log_metric("accuracy", acc)
        ids.append(str(run.id))
    got = ws.runs.compare(ids[:2], only_differences=True)
    assert ws.runs.compare(ids[:2]) == got  # differences only by default, as `rung compare`
    keys = {(r["section"], r["key"]) for r in got["rows"]}
    assert ("params", "C") in keys and ("metrics", "accuracy") in keys
    assert ("params", "seed") not in keys
    env = {"RUNG_STORE_URL": os.environ["RUNG_STORE_URL"]}
    table = rung_cli("compare", *ids, cwd=ws.root, env=env)
    assert table.returncode == 0, table.stderr
    assert "params.C" in table.stdout and "metrics.accuracy" in table.stdout
    assert "params.seed" not in table.stdout
    full = rung_cli("compare", *ids, "--all", cwd=ws.root, env=env)
    assert full.returncode == 0 and "params.seed" in full.stdout
    as_json = json.loads(rung_cli("compare", ids[1], ids[2], "--json", cwd=ws.root, env=env).stdout)
    assert as_json["runs"] == [int(ids[1]), int(ids[2])]
    assert {(r["section"], r["key"]) for r in as_json["rows"]} <= {
        ("run", "started_at"),
        ("run", "seconds"),
    }
    for args, says in (
        ((ids[0],), "compare needs two runs or more, got 1"),
        ((ids[0], ids[0]), f"run {ids[0]} is named twice"),
        ((ids[0], "999"), "unknown run 999"),
        ((ids[0], "x"), "run id 'x' is not a whole number"),
        ((ids[0], "0"), f"unknown run 0 — run ids go from 1 to {ids[-1]}"),
        ((ids[0], "#0"), f"unknown run 0 — run ids go from 1 to {ids[-1]}"),
        (
            ("sweep", ids[0]),
            f"'sweep' is a run name, not a run id — write the id of a run named"
            f" so: {', '.join(reversed(ids))}",
        ),
        (
            (ids[0], "swep"),
            "run id 'swep' is not a whole number — did you mean a run named 'sweep'? its ids:",
        ),
    ):
        bad = rung_cli("compare", *args, cwd=ws.root, env=env)
        assert bad.returncode != 0 and bad.stdout == "", (args, bad.stdout)
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0] and "Traceback" not in bad.stderr


@pytest.mark.parametrize("n", [2, 5])
def test_many_runs_each_get_a_column(sqlite_ws, n: int) -> None:  # type: ignore[no-untyped-def]
    import rung

    ids = []
    for i in range(n):
        with sqlite_ws.start_run("sweep", params={"i": i}) as run:
            rung.log_metric("m", float(i))
        ids.append(run.id)
    got = sqlite_ws.runs.compare(ids, only_differences=True)
    row = next(r for r in got["rows"] if r["key"] == "i")
    assert row["values"] == list(range(n)) and row["differs"]


CODE_PIPE = """
import rung
import stages

@rung.step
def load(fail_at: str):
    if fail_at == "load":
        raise ValueError("load failed")
    return [1.0, 2.0, 3.0]

@rung.step
def fit(values, fail_at: str):
    if fail_at == "fit":
        raise ValueError("fit failed")
    return sum(values)

@rung.step
def extra(total):
    return total * 2

def _evaluated(total, fail_at):
    return stages.evaluate(total, fail_at)

@rung.pipeline
def pipe(fail_at: str = "none", more: bool = False):
    total = fit(load(fail_at), fail_at)
    if more:
        total = extra(total)
    return _evaluated(total, fail_at)
"""
CODE_STAGES = """
import rung

@rung.step
def evaluate(total, fail_at: str):
    if fail_at == "evaluate":
        raise ValueError("evaluate failed")
    return total / 2
"""


def test_the_same_code_has_the_same_hash_however_far_a_run_got(ws) -> None:  # type: ignore[no-untyped-def]
    """A run's ``code.hash`` covers the pipeline and every step its code names — directly,
    through a helper, in another project module, behind a branch not taken — not only the
    steps the run reached: runs failing at each step, and the succeeded ones, agree; an edit to
    a step no run reached changes it."""
    import sys

    from rung.core.errors import StepFailed

    (ws.root / "pipe.py").write_text(CODE_PIPE)
    (ws.root / "stages.py").write_text(CODE_STAGES)

    def run_fresh(**params: Any) -> int:
        for name in [m for m in sys.modules if m == "stages" or m.startswith("rung_pipeline_")]:
            del sys.modules[name]  # as a new `rung run` process would import them
        try:
            return int(ws.run("pipe.py:pipe", params).id)
        except StepFailed:
            return int(ws.runs.list(limit=1)[0].id)

    def code_hash(run_id: int) -> str:
        return str(ws.runs.get(run_id)["code"]["hash"])

    try:
        ids = [run_fresh(fail_at=f) for f in ("load", "fit", "evaluate", "none")]
        ids.append(run_fresh(more=True))
        ids.append(run_fresh(fail_at="fit", more=True))
        statuses = [ws.runs.get(i)["status"] for i in ids]
        assert statuses == ["failed"] * 3 + ["succeeded"] * 2 + ["failed"]
        hashes = {code_hash(i) for i in ids}
        assert len(hashes) == 1, hashes
        got = ws.runs.compare(ids, only_differences=True)
        assert ("code", "hash") not in {(r["section"], r["key"]) for r in got["rows"]}
        for path, text, old, new in (
            ("stages.py", CODE_STAGES, "total / 2", "total / 3"),  # a step never reached
            ("pipe.py", CODE_PIPE, "total * 2", "total * 4"),  # behind a branch not taken
        ):
            (ws.root / path).write_text(text.replace(old, new))
            changed = run_fresh(fail_at="load")
            assert code_hash(changed) not in hashes, path
            (ws.root / path).write_text(text)
        assert code_hash(run_fresh(fail_at="load")) in hashes
    finally:
        sys.path[:] = [p for p in sys.path if p != str(ws.root)]
        sys.modules.pop("stages", None)


@given(st.floats(0, 2e9), st.floats(0, 2e9))
def test_started_at_differs_only_when_the_shown_seconds_do(a: float, b: float) -> None:
    """``started_at`` is compared to the second ``rung compare`` shows: two runs started
    within one second do not differ (the cells read the same), a second apart they do."""
    import time

    rows = compare([{"started_at": a}, {"started_at": b}])
    row = next(r for r in rows if r.key == "started_at")
    shown = {time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) for t in (a, b)}
    assert row.differs == (len(shown) == 2)


@pytest.mark.parametrize(("n", "columns", "cut"), [(2, 80, False), (9, 80, True), (9, 200, False)])
def test_a_table_wider_than_the_terminal_says_where_the_values_are_whole(
    sqlite_ws, n: int, columns: int, cut: bool
) -> None:  # type: ignore[no-untyped-def]
    """Every run is a column: past the terminal's width rich cuts the values short, and
    ``rung compare`` then says so and points at ``--json``; the field column stays whole."""
    import rung
    from conftest import rung_cli

    ids = []
    for i in range(n):
        with sqlite_ws.start_run("sweep", params={"test_fraction_long_name": i / 7}) as run:
            rung.log_metric("accuracy_macro_averaged", i / 3)
        ids.append(str(run.id))
    got = rung_cli("compare", *ids, cwd=sqlite_ws.root, env={"COLUMNS": str(columns)})
    assert got.returncode == 0, got.stderr
    assert "params.test_fraction_long_name" in got.stdout
    assert ("values are cut short — `--json` holds them whole" in got.stdout) == cut, got.stdout
    assert all(len(line) <= columns for line in got.stdout.splitlines() if "│" in line)
