"""Benchmark (c), rung side: run with rung's venv python, prints one JSON object on stdout.

    python tracking_rung.py --workdir DIR --metrics N --runs R --reps K

Mirrors tracking_mlflow.py: each repetition uses a fresh workspace (``rung.Workspace.init``,
whose SQLite schema is created before the clock starts). Timed inside the process, after
``import rung``:
  * metrics: N x ``rung.log_metric("loss", v, step=i)`` inside one ``ws.start_run(...)``
    (start and end of the run included);
  * runs: R x ``with ws.start_run(...): rung.log_params(5 params); rung.log_metric x 5``.
Every repetition is read back afterwards (not timed, straight from the SQLite file) to check
that everything was stored.
"""

import argparse
import json
import os
import sqlite3
import sys
import time

t_import = time.perf_counter()
import rung  # noqa: E402

import_s = time.perf_counter() - t_import


def fresh_ws(path):
    ws = rung.Workspace.init(path)
    return ws


def db_path(ws):
    url = ws.config.store_url
    assert url.startswith("sqlite:///"), url
    return url[len("sqlite:///") :]


def count(ws, sql):
    con = sqlite3.connect(db_path(ws))
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def bench_metrics(ws, n):
    t0 = time.perf_counter()
    with ws.start_run("bench-metrics"):
        for i in range(n):
            rung.log_metric("loss", 1.0 / (i + 1), step=i)
    elapsed = time.perf_counter() - t0
    got = count(ws, "select count(*) from metrics where key = 'loss'")
    assert got == n, (got, n)
    return elapsed


def bench_runs(ws, r):
    t0 = time.perf_counter()
    for k in range(r):
        with ws.start_run(f"run-{k}"):
            rung.log_params({f"p{j}": k * 10 + j for j in range(5)})
            for j in range(5):
                rung.log_metric(f"m{j}", k + j / 10)
    elapsed = time.perf_counter() - t0
    got_runs = count(ws, "select count(*) from runs where name like 'run-%'")
    got_params = count(ws, "select count(*) from params")
    got_metrics = count(ws, "select count(*) from metrics where key like 'm%'")
    assert (got_runs, got_params, got_metrics) == (r, 5 * r, 5 * r), (
        got_runs,
        got_params,
        got_metrics,
        r,
    )
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--metrics", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()

    with fresh_ws(os.path.join(a.workdir, "warmup")) as ws:  # warm-up, not measured
        bench_metrics(ws, 5)
        bench_runs(ws, 2)

    metrics_s, runs_s = [], []
    for rep in range(a.reps):
        with fresh_ws(os.path.join(a.workdir, f"metrics{rep}")) as ws:
            metrics_s.append(bench_metrics(ws, a.metrics))
        with fresh_ws(os.path.join(a.workdir, f"runs{rep}")) as ws:
            runs_s.append(bench_runs(ws, a.runs))
    json.dump(
        {
            "tool": "rung",
            "version": rung.__version__,
            "import_s": import_s,
            "metrics_n": a.metrics,
            "metrics_s": metrics_s,
            "runs_n": a.runs,
            "runs_s": runs_s,
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
