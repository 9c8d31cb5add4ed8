"""Benchmark (d), rung side, in the library: run with rung's venv python, prints one JSON object.

    python eval_rung.py export --workspace WS --run RUN_ID --out model.pkl
    python eval_rung.py time --workspace WS --run RUN_ID --on d1@1 ... --label y --reps K

``export`` loads the run's model artifact (the skops file `rung eval` evaluates) and pickles
the very same estimator for MLflow to log; it also prints the model's description.

``time`` opens the workspace, evaluates once on the first dataset as a warm-up (lazy imports,
first-call costs), then times K calls of ``ws.evaluate(RUN_ID, [all datasets], label=...)``
in this process, after ``import rung``. Each call reads the dataset versions from the store,
scores them in rung's worker processes, builds Table 2 (rows, Total, Mean, Std) and records
the evaluation. The last one is read back with ``ws.evals.get`` (untimed) and printed whole.
"""

import argparse
import json
import pickle
import sys
import time

t_import = time.perf_counter()
import rung  # noqa: E402

import_s = time.perf_counter() - t_import
HEAVY = ("pandas", "sklearn", "numpy", "pyarrow")


def export(a) -> None:
    from rung.evaluation import worker

    with rung.Workspace.open(a.workspace) as ws:
        ref = ws.evals.resolve_model(a.run)
        model = worker.load_model(str(ws.artifacts.local_path(ref.hash)), ref.kind)
    with open(a.out, "wb") as f:
        pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)
    json.dump({"model": repr(model), "hash": ref.hash, "kind": ref.kind}, sys.stdout)
    print()


def time_evaluate(a) -> None:
    with rung.Workspace.open(a.workspace) as ws:
        t0 = time.perf_counter()
        ws.evaluate(a.run, a.on[:1], label=a.label)  # warm-up, not measured
        warmup_s = time.perf_counter() - t0
        heavy_in_parent = sorted(m for m in HEAVY if m in sys.modules)
        samples = []
        ev = None
        for _ in range(a.reps):
            t0 = time.perf_counter()
            ev = ws.evaluate(a.run, a.on, label=a.label)
            samples.append(time.perf_counter() - t0)
        back = ws.evals.get(ev.id)  # recorded: read it back
        assert [n for n, _ in back.table()] == [*a.on, "Total", "Mean", "Std"], back.table()
        json.dump(
            {
                "tool": "rung",
                "version": rung.__version__,
                "import_s": import_s,
                "warmup_s": warmup_s,
                "heavy_modules_in_parent": heavy_in_parent,
                "samples": samples,
                "evaluation": back.to_dict(),
            },
            sys.stdout,
            default=str,
        )
        print()


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--workspace", required=True)
    e.add_argument("--run", required=True)
    e.add_argument("--out", required=True)
    t = sub.add_parser("time")
    t.add_argument("--workspace", required=True)
    t.add_argument("--run", required=True)
    t.add_argument("--on", action="append", required=True)
    t.add_argument("--label", default="y")
    t.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    export(a) if a.cmd == "export" else time_evaluate(a)


if __name__ == "__main__":
    main()
