"""Benchmark (d), MLflow side: run in the peers' venv, prints one JSON object on stdout.

    python eval_mlflow.py setup --store DIR --model model.pkl
    python eval_mlflow.py once  --store DIR --model-uri URI --data d1.parquet ... [--label y]
    python eval_mlflow.py time  --store DIR --model-uri URI --data d1.parquet ... --reps K

``setup`` (untimed) creates a SQLite tracking store (``sqlite:///DIR/mlflow.db``, artifacts in
``DIR/artifacts``) and logs the pickled scikit-learn estimator once with
``mlflow.sklearn.log_model``; it prints the model URI.

``once`` is what run.py times as a whole process: import mlflow, then for each dataset read
the Parquet file and call ``mlflow.models.evaluate(model_uri, data=df, targets=label,
model_type="classifier", evaluators=["default"])`` (one call, hence one MLflow run, per
dataset). It also reports its own in-process time for the calls (after import).

``time`` times the same round of calls K times in one process, after import and after one
warm-up call on the first dataset (lazy imports, first-call costs).

MLflow's defaults are kept: the default evaluator computes its metrics and logs its plots
(SHAP explanations are skipped with a warning because the ``shap`` package is not installed).
"""

import argparse
import json
import os
import pickle
import sys
import time

os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
t_import = time.perf_counter()
import mlflow  # noqa: E402
import pandas as pd  # noqa: E402

import_s = time.perf_counter() - t_import

EXPERIMENT = "bench-eval"
REQUIRED = ("accuracy_score", "f1_score", "roc_auc", "log_loss")


def use_store(store: str) -> None:
    mlflow.set_tracking_uri("sqlite:///" + os.path.join(store, "mlflow.db"))
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        mlflow.create_experiment(EXPERIMENT, artifact_location=os.path.join(store, "artifacts"))
    mlflow.set_experiment(EXPERIMENT)


def setup(a) -> None:
    os.makedirs(a.store, exist_ok=True)
    use_store(a.store)
    with open(a.model, "rb") as f:
        model = pickle.load(f)
    t0 = time.perf_counter()
    with mlflow.start_run(run_name="log-model"):
        info = mlflow.sklearn.log_model(model, name="model")
    json.dump(
        {
            "model_uri": info.model_uri,
            "log_model_s": time.perf_counter() - t0,
            "model": repr(model),
        },
        sys.stdout,
    )
    print()


def evaluate_all(model_uri: str, paths: list[str], label: str) -> tuple[float, list[dict]]:
    """One round: read each dataset and evaluate it (one mlflow.models.evaluate call each)."""
    calls = []
    t_round = time.perf_counter()
    for path in paths:
        t0 = time.perf_counter()
        df = pd.read_parquet(path)
        result = mlflow.models.evaluate(
            model_uri,
            data=df,
            targets=label,
            model_type="classifier",
            evaluators=["default"],
        )
        calls.append(
            {
                "dataset": os.path.splitext(os.path.basename(path))[0],
                "seconds": time.perf_counter() - t0,
                "rows": len(df),
                "run_id": mlflow.last_active_run().info.run_id,
                "metrics": {k: float(v) for k, v in result.metrics.items()},
                "artifacts": sorted(result.artifacts),
            }
        )
    return time.perf_counter() - t_round, calls


def check(calls: list[dict]) -> None:
    for c in calls:
        missing = [m for m in REQUIRED if m not in c["metrics"]]
        assert not missing, f"{c['dataset']}: no {missing} among {sorted(c['metrics'])}"
    runs = {c["run_id"] for c in calls}
    assert len(runs) == len(calls), f"expected one run per call, got {len(runs)}"


def once(a) -> None:
    use_store(a.store)
    total_s, calls = evaluate_all(a.model_uri, a.data, a.label)
    check(calls)
    json.dump(
        {
            "tool": "mlflow",
            "version": mlflow.__version__,
            "import_s": import_s,
            "calls_s": total_s,
            "calls": calls,
        },
        sys.stdout,
    )
    print()


def time_rounds(a) -> None:
    use_store(a.store)
    t0 = time.perf_counter()
    evaluate_all(a.model_uri, a.data[:1], a.label)  # warm-up, not measured
    warmup_s = time.perf_counter() - t0
    samples, per_call = [], []
    calls: list[dict] = []
    for _ in range(a.reps):
        total_s, calls = evaluate_all(a.model_uri, a.data, a.label)
        check(calls)
        samples.append(total_s)
        per_call.append([c["seconds"] for c in calls])
    json.dump(
        {
            "tool": "mlflow",
            "version": mlflow.__version__,
            "import_s": import_s,
            "warmup_s": warmup_s,
            "samples": samples,
            "per_call_s": per_call,
            "calls": calls,
        },
        sys.stdout,
    )
    print()


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--store", required=True)
    s.add_argument("--model", required=True)
    for name in ("once", "time"):
        p = sub.add_parser(name)
        p.add_argument("--store", required=True)
        p.add_argument("--model-uri", required=True)
        p.add_argument("--data", action="append", required=True)
        p.add_argument("--label", default="y")
        p.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    {"setup": setup, "once": once, "time": time_rounds}[a.cmd](a)


if __name__ == "__main__":
    main()
