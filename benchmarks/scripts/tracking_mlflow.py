"""Benchmark (c), MLflow side: run in the peers' venv, prints one JSON object on stdout.

    python tracking_mlflow.py --workdir DIR --metrics N --runs R --reps K

Each repetition uses a fresh SQLite tracking database (``sqlite:///DIR/repK/mlflow.db``); its
schema is created before the clock starts. Timed inside the process, after ``import mlflow``:
  * metrics: N x ``mlflow.log_metric("loss", v, step=i)`` inside one run (start and end of the
    run included);
  * runs: R x ``with mlflow.start_run(): log_params(5 params); log_metric x 5``.
Every repetition is read back afterwards (not timed) to check that everything was stored.
"""

import argparse
import json
import logging
import os
import sys
import time

os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
t_import = time.perf_counter()
import mlflow  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

import_s = time.perf_counter() - t_import
logging.getLogger("mlflow").setLevel(logging.ERROR)
logging.getLogger("alembic").setLevel(logging.ERROR)


def fresh_store(path):
    os.makedirs(path, exist_ok=True)
    uri = "sqlite:///" + os.path.join(path, "mlflow.db")
    mlflow.set_tracking_uri(uri)
    exp_id = mlflow.create_experiment("bench")  # creates the schema (migrations), untimed
    mlflow.set_experiment(experiment_id=exp_id)
    return uri, exp_id


def bench_metrics(n):
    t0 = time.perf_counter()
    with mlflow.start_run() as run:
        for i in range(n):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    elapsed = time.perf_counter() - t0
    hist = MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert len(hist) == n, (len(hist), n)
    return elapsed


def bench_runs(r, exp_id):
    t0 = time.perf_counter()
    for k in range(r):
        with mlflow.start_run():
            mlflow.log_params({f"p{j}": k * 10 + j for j in range(5)})
            for j in range(5):
                mlflow.log_metric(f"m{j}", k + j / 10)
    elapsed = time.perf_counter() - t0
    found = MlflowClient().search_runs([exp_id], max_results=50000)
    assert len(found) >= r, (len(found), r)
    assert all(len(x.data.params) == 5 and len(x.data.metrics) == 5 for x in found[:r])
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--metrics", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()

    # warm-up in a throwaway store: lazy imports and first-call costs are not measured
    fresh_store(os.path.join(a.workdir, "warmup"))
    bench_metrics(5)
    _, exp = fresh_store(os.path.join(a.workdir, "warmup2"))
    bench_runs(2, exp)

    metrics_s, runs_s = [], []
    for rep in range(a.reps):
        fresh_store(os.path.join(a.workdir, f"metrics{rep}"))
        metrics_s.append(bench_metrics(a.metrics))
        _, exp = fresh_store(os.path.join(a.workdir, f"runs{rep}"))
        runs_s.append(bench_runs(a.runs, exp))
    json.dump(
        {
            "tool": "mlflow",
            "version": mlflow.__version__,
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
