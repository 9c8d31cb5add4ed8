"""Benchmark (runs), MLflow side: run in the peers' venv, prints one JSON object on stdout.

    python runs_filter_mlflow.py --workdir DIR --runs N --reps K

A fresh SQLite tracking store (``sqlite:///DIR/mlflow.db``, schema from MLflow itself) is
filled with N runs of 10 parameters and 20 metrics each, the same seeded values as
runs_filter_rung.py: one run is logged through MLflow's API (``log_batch``), and its rows in
``runs``, ``params``, ``metrics``, ``latest_metrics`` and ``tags`` are copied N times with
new run ids and the generated values (logging 100,000 runs through the API would take
hours; the search is what is measured). Then each filter of FILTERS is timed with
``MlflowClient.search_runs(experiment, filter, max_results=1000)`` (newest first, as
rung lists), K times; the number of runs found is checked against the generator's own
count (printed, compared by the harness with rung's).
"""

import json
import logging
import os
import sqlite3
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from runs_filter_data import FILTERS, arguments, generate

os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

logging.getLogger("mlflow").setLevel(logging.ERROR)
logging.getLogger("alembic").setLevel(logging.ERROR)


def fill(db, client, exp_id, n):
    """N runs copied from one logged through the API (its shape is MLflow's own)."""
    template = client.create_run(exp_id)
    rid = template.info.run_id
    first = next(generate(1))
    client.log_batch(
        rid,
        params=[Param(k, str(v)) for k, v in first["params"].items()],
        metrics=[Metric(k, v, 0, 0) for k, v in first["metrics"].items()],
    )
    client.set_terminated(rid)
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row

    def rows(table):
        return [dict(r) for r in con.execute(f"SELECT * FROM {table} WHERE run_uuid = ?", (rid,))]

    run_row = rows("runs")[0]
    tags = rows("tags")
    metric_row = rows("metrics")[0]
    latest_row = rows("latest_metrics")[0]
    param_row = rows("params")[0]
    con.execute("DELETE FROM params WHERE run_uuid = ?", (rid,))
    con.execute("DELETE FROM metrics WHERE run_uuid = ?", (rid,))
    con.execute("DELETE FROM latest_metrics WHERE run_uuid = ?", (rid,))
    con.execute("DELETE FROM tags WHERE run_uuid = ?", (rid,))
    con.execute("DELETE FROM runs WHERE run_uuid = ?", (rid,))

    def insert(table, template_row, many):
        cols = list(template_row)
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        con.executemany(sql, ([r[c] for c in cols] for r in many))

    runs, params, metrics, tag_rows = [], [], [], []
    for i, run in enumerate(generate(n)):
        u = uuid.uuid4().hex
        runs.append(
            {**run_row, "run_uuid": u, "name": f"run-{i}", "start_time": 1_700_000_000_000 + i}
        )
        params += [
            {**param_row, "run_uuid": u, "key": k, "value": str(v)}
            for k, v in run["params"].items()
        ]
        metrics += [
            {**metric_row, "run_uuid": u, "key": k, "value": v, "step": 0, "timestamp": 0}
            for k, v in run["metrics"].items()
        ]
        tag_rows += [{**t, "run_uuid": u} for t in tags]
    insert("runs", run_row, runs)
    insert("params", param_row, params)
    insert("metrics", metric_row, metrics)
    insert(
        "latest_metrics",
        latest_row,
        [{**latest_row, **{k: m[k] for k in latest_row if k in m}} for m in metrics],
    )
    if tags:
        insert("tags", tags[0], tag_rows)
    con.commit()
    con.close()


def main():
    args = arguments()
    os.makedirs(args.workdir, exist_ok=True)
    db = os.path.join(args.workdir, "mlflow.db")
    uri = "sqlite:///" + db
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    exp_id = client.create_experiment("bench")
    t0 = time.perf_counter()
    fill(db, client, exp_id, args.runs)
    fill_s = time.perf_counter() - t0
    results = {}
    for name, (mlflow_filter, _rung_filter, _holds) in FILTERS.items():
        times, found = [], None
        for _ in range(args.reps):
            t = time.perf_counter()
            got = client.search_runs([exp_id], mlflow_filter, max_results=1000)
            times.append(time.perf_counter() - t)
            found = len(got)
        results[name] = {"filter": mlflow_filter, "seconds": times, "found": found}
    print(
        json.dumps(
            {"version": mlflow.__version__, "runs": args.runs, "fill_s": fill_s, "filters": results}
        )
    )


if __name__ == "__main__":
    main()
