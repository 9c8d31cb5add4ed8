"""Benchmark (runs): the runs both sides store, and the filters both sides run (standard
library only: imported from MLflow's venv and from rung's).

Run i has parameters p0..p9, whole numbers 0..9, and metrics m0..m19 in [0, 1), from one
seeded generator. Each filter is written once per tool, with the same meaning (MLflow keeps
parameters as text, rung as JSON numbers; MLflow's search has no OR), and the number of runs
it selects is computed here, straight from the generator."""

import argparse
import random

N_PARAMS, N_METRICS = 10, 20
FILTERS = {
    # name: (MLflow's filter string, rung's filter, the predicate on one generated run)
    "1 condition, ~50 %": (
        "metrics.m0 > 0.5",
        "metrics.m0 > 0.5",
        lambda r: r["metrics"]["m0"] > 0.5,
    ),
    "2 conditions, ~1 %": (
        "metrics.m0 > 0.9 and params.p0 = '3'",
        "metrics.m0 > 0.9 and params.p0 = 3",
        lambda r: r["metrics"]["m0"] > 0.9 and r["params"]["p0"] == 3,
    ),
    "3 conditions, ~0.05 %": (
        "metrics.m0 > 0.99 and metrics.m1 < 0.5 and params.p1 = '7'",
        "metrics.m0 > 0.99 and metrics.m1 < 0.5 and params.p1 = 7",
        lambda r: r["metrics"]["m0"] > 0.99 and r["metrics"]["m1"] < 0.5 and r["params"]["p1"] == 7,
    ),
    "4 conditions, none": (
        "metrics.m0 > 0.999 and metrics.m1 > 0.999 and params.p2 = '1' and params.p3 = '2'",
        "metrics.m0 > 0.999 and metrics.m1 > 0.999 and params.p2 = 1 and params.p3 = 2",
        lambda r: (
            r["metrics"]["m0"] > 0.999
            and r["metrics"]["m1"] > 0.999
            and r["params"]["p2"] == 1
            and r["params"]["p3"] == 2
        ),
    ),
}


def generate(n, seed=42):
    """The n runs, in order: {"params": {...}, "metrics": {...}}."""
    rnd = random.Random(seed)
    for _ in range(n):
        yield {
            "params": {f"p{k}": rnd.randrange(10) for k in range(N_PARAMS)},
            "metrics": {f"m{k}": rnd.random() for k in range(N_METRICS)},
        }


def expected(n):
    """How many of the n runs each filter selects."""
    counts = dict.fromkeys(FILTERS, 0)
    for run in generate(n):
        for name, (_, _, holds) in FILTERS.items():
            counts[name] += bool(holds(run))
    return counts


def arguments():
    """The command line both sides take: ``--workdir DIR --runs N [--reps K]``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--reps", type=int, default=5)
    return ap.parse_args()
