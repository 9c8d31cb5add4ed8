"""Benchmark (runs), rung side: run with rung's venv python, prints one JSON object on stdout.

    python runs_filter_rung.py --workdir DIR --runs N --reps K

A fresh workspace (``rung.Workspace.init``, SQLite) is filled with the N runs of
runs_filter_data.py (parameters as the pipeline's, in ``runs.params``; one logged value per
metric), written straight into its tables in one transaction (the search is what is
measured; logging is benchmark (c)). Then each filter is timed K times:

* in process: ``ws.runs.list(limit=1000, filter=F)`` — the runs with their parameters and
  last metric values, newest first (what MLflow's ``search_runs`` returns);
* the CLI: ``rung runs --filter F -n 1000 --json``, a whole process (start-up included).
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from runs_filter_data import FILTERS, arguments, generate

import rung


def fill(ws, n):
    started = 1_700_000_000.0
    with ws.store.write() as tx:
        runs = [
            {
                "name": f"run-{i}",
                "kind": "tracking",
                "status": "succeeded",
                "trigger": "manual",
                "params": json.dumps(run["params"]),
                "started_at": started + i,
                "ended_at": started + i + 1,
            }
            for i, run in enumerate(generate(n))
        ]
        tx.insert_many("runs", runs)
        first = tx.scalar("SELECT MIN(id) FROM runs")
        metrics = [
            {"run_id": first + i, "key": k, "value": v, "step": 0, "timestamp": started + i}
            for i, run in enumerate(generate(n))
            for k, v in run["metrics"].items()
        ]
        tx.insert_many("metrics", metrics)


def main():
    args = arguments()
    root = os.path.join(args.workdir, "ws")
    ws = rung.Workspace.init(root)
    t0 = time.perf_counter()
    fill(ws, args.runs)
    fill_s = time.perf_counter() - t0
    rung_bin = os.path.join(os.path.dirname(sys.executable), "rung")
    results = {}
    for name, (_mlflow_filter, rung_filter, _holds) in FILTERS.items():
        inproc, cli, found, cli_found = [], [], None, None
        for _ in range(args.reps):
            t = time.perf_counter()
            got = ws.runs.list(limit=1000, filter=rung_filter)
            inproc.append(time.perf_counter() - t)
            found = len(got)
            t = time.perf_counter()
            out = subprocess.run(
                [rung_bin, "runs", "--filter", rung_filter, "-n", "1000", "--json"],
                cwd=root,
                capture_output=True,
                text=True,
                check=True,
            )
            cli.append(time.perf_counter() - t)
            cli_found = len(json.loads(out.stdout))
        results[name] = {
            "filter": rung_filter,
            "seconds": inproc,
            "cli_seconds": cli,
            "found": found,
            "cli_found": cli_found,
        }
    ws.close()
    print(
        json.dumps(
            {"version": rung.__version__, "runs": args.runs, "fill_s": fill_s, "filters": results}
        )
    )


if __name__ == "__main__":
    main()
