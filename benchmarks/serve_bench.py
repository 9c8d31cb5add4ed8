#!/usr/bin/env python
"""Benchmark (e), serving: `rung serve` against `mlflow models serve`, side by side.

run.py calls :func:`bench_e` (rung's venv); the same file is also the helper each venv runs:

    python serve_bench.py mlflow-log --data data.csv --store DIR --batch batch.json  # peers' venv
    python serve_bench.py floor --workspace DIR --ref bench@champion --single s.json --batch b.json

* **Model and data**: a deterministic table (20,000 rows; 10 numeric features, one
  categorical feature with 5 string categories, a "yes"/"no" label), written once as CSV.
  Both tools fit the same scikit-learn pipeline (:func:`make_model`: a ColumnTransformer with
  StandardScaler and OneHotEncoder(handle_unknown="ignore"), then LogisticRegression) on the
  same file. rung: a one-step pipeline (``rung run``), ``rung model register``,
  ``rung model promote --force``, ``rung serve bench@champion``. MLflow: the same fit in the
  peers' venv, ``mlflow.sklearn.log_model`` with an inferred signature into a SQLite tracking
  store, ``mlflow models serve -m models:/… --env-manager local``. Both with the same number of
  uvicorn workers. Both servers answer the 1,000-row batch and the results are compared.
* **Load** (:mod:`loadgen`, its own process): single rows at concurrency 1, 8 and 64, and
  1,000-row batches at concurrency 8, for a fixed time after a warm-up; rung and MLflow
  alternate within each repetition; medians over the repetitions.
* **Floor**: the in-process cost of what rung's service does per request (a DataFrame from
  the records, ``predict`` and ``predict_proba``), on the registered model loaded with
  ``Workspace.models.load``. Serving overhead = rung's concurrency-1 p50 minus the floor.
* **Prediction log**: rung logs every prediction durably before answering (always on); the
  ``predictions`` table is counted around every load run and must hold one record per 2xx
  response.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LOADGEN = HERE / "loadgen.py"

ROWS = 20_000
SEED = 20240611
NUMERIC = [f"x{i:02d}" for i in range(10)]
CATEGORICAL = "segment"
CATEGORIES = ["north", "south", "east", "west", "central"]
LABEL = "label"
BATCH_ROWS = 1000
MODEL_NAME = "bench"
REF = f"{MODEL_NAME}@champion"

# key, label, body, concurrency
SCENARIOS = [
    ("single_c1", "single row, concurrency 1", "single", 1),
    ("single_c8", "single row, concurrency 8", "single", 8),
    ("single_c64", "single row, concurrency 64", "single", 64),
    ("batch_c8", f"{BATCH_ROWS:,}-row batch, concurrency 8", "batch", 8),
]
GOAL_SCENARIOS = ("single_c8", "single_c64")  # the single-row goals
GOAL_RPS = 2.0  # rung ≥ 2× MLflow's single-row throughput
GOAL_P99 = 0.5  # rung's p99 ≤ half of MLflow's
GOAL_OVERHEAD_MS = 2.0  # rung's single-row p50 within 2 ms of the in-process floor
NAGLE_MS = 20.0  # a trivial GET slower than this at concurrency 1: a delayed-ACK stall


def make_model(numeric: list[str], categorical: str) -> Any:
    """The model both tools fit (its source is copied into rung's pipeline file)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), [categorical]),
        ]
    )
    return Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=1000))])


PIPELINE = '''"""Benchmark (e): fit the serving benchmark's model (written by serve_bench.py)."""

from typing import Any

import rung
from rung import pipeline, step

NUMERIC = {numeric!r}
CATEGORICAL = {categorical!r}
LABEL = {label!r}


{make_model}

@step
def fit(frame):
    return make_model(NUMERIC, CATEGORICAL).fit(frame[[*NUMERIC, CATEGORICAL]], frame[LABEL])


@pipeline
def train():
    return fit(rung.dataset("train"))
'''


def write_dataset(path: Path, rows: int = ROWS, seed: int = SEED) -> None:
    """A deterministic classification table as CSV (numpy, seeded)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    scales = np.linspace(0.5, 5.0, len(NUMERIC))
    shifts = np.linspace(-2.0, 2.0, len(NUMERIC))
    x = rng.normal(size=(rows, len(NUMERIC))) * scales + shifts
    seg = rng.choice(len(CATEGORIES), size=rows, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    w = rng.normal(size=len(NUMERIC)) / scales
    effect = np.array([0.8, -0.4, 0.0, 0.5, -1.0])
    logit = (x - shifts) @ w + effect[seg] + rng.logistic(size=rows) * 0.8
    y = np.where(logit > 0, "yes", "no")
    with open(path, "w") as f:
        f.write(",".join([*NUMERIC, CATEGORICAL, LABEL]) + "\n")
        for i in range(rows):
            nums = ",".join(f"{v:.6f}" for v in x[i])
            f.write(f"{nums},{CATEGORIES[seg[i]]},{y[i]}\n")


def request_records(path: Path, n: int) -> list[dict[str, Any]]:
    """The first ``n`` rows' features, as JSON records (numbers as floats, category as text)."""
    import csv

    out = []
    with open(path, newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i >= n:
                break
            rec: dict[str, Any] = {k: float(row[k]) for k in NUMERIC}
            rec[CATEGORICAL] = row[CATEGORICAL]
            out.append(rec)
    return out


# -- helper processes (run with a venv's python) -----------------------------------------------


def server_stack() -> dict[str, str | None]:
    """Versions of the serving stack in this venv (uvicorn picks httptools and uvloop by itself
    when they are installed; otherwise h11 and asyncio)."""
    import importlib.metadata as md

    out: dict[str, str | None] = {}
    for name in ("uvicorn", "fastapi", "starlette", "h11", "httptools", "uvloop", "orjson"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def stack_text(st: dict[str, Any]) -> str:
    http = "httptools" if st.get("httptools") else "h11"
    loop = "uvloop" if st.get("uvloop") else "asyncio"
    return f"uvicorn {st.get('uvicorn')} with {http} and {loop}"


def cmd_mlflow_log(a: argparse.Namespace) -> None:
    """Peers' venv: fit the same model, log it with mlflow.sklearn.log_model, print JSON."""
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    t0 = time.perf_counter()
    import mlflow
    import pandas as pd
    import sklearn
    from mlflow.models import infer_signature

    import_s = time.perf_counter() - t0
    frame = pd.read_csv(a.data)
    features = frame[[*NUMERIC, CATEGORICAL]]
    t0 = time.perf_counter()
    model = make_model(NUMERIC, CATEGORICAL).fit(features, frame[LABEL])
    fit_s = time.perf_counter() - t0
    store = Path(a.store)
    store.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    exp = "bench-serve"
    if mlflow.get_experiment_by_name(exp) is None:
        mlflow.create_experiment(exp, artifact_location=str(store / "artifacts"))
    mlflow.set_experiment(exp)
    t0 = time.perf_counter()
    signature = infer_signature(features, model.predict(features))
    with mlflow.start_run(run_name="serve-model"):
        info = mlflow.sklearn.log_model(model, name="model", signature=signature)
    log_s = time.perf_counter() - t0
    batch = pd.DataFrame.from_records(
        json.loads(Path(a.batch).read_text())["records"], columns=[*NUMERIC, CATEGORICAL]
    )
    print(
        json.dumps(
            {
                "model_uri": info.model_uri,
                "tracking_uri": mlflow.get_tracking_uri(),
                "mlflow": mlflow.__version__,
                "sklearn": sklearn.__version__,
                "pandas": pd.__version__,
                "import_s": import_s,
                "fit_s": fit_s,
                "log_model_s": log_s,
                "signature_inputs": str(signature.inputs),
                "stack": server_stack(),
                "batch_predictions": [str(p) for p in model.predict(batch)],
                "batch_proba": model.predict_proba(batch).tolist(),
            }
        )
    )


def cmd_floor(a: argparse.Namespace) -> None:
    """rung's venv: the in-process cost of one request's work, on the registered model."""
    import pandas as pd
    import sklearn

    import rung

    version, model = rung.Workspace.open(a.workspace).models.load(a.ref)
    features = version.signature["features"]
    single = json.loads(Path(a.single).read_text())["records"]
    batch = json.loads(Path(a.batch).read_text())["records"]

    # a Pipeline's transformers and its final estimator, to run the transformers only once
    head, final = (model[:-1], model[-1]) if hasattr(model, "steps") else (None, model)

    def once(records: list[dict[str, Any]], mode: str) -> float:
        t0 = time.perf_counter()
        frame = pd.DataFrame.from_records(records, columns=features)
        if mode == "one_pass":  # the same outputs, the transformers run once
            x = frame if head is None else head.transform(frame)
            final.predict(x)
            final.predict_proba(x)
        else:
            model.predict(frame)
            if mode == "both":
                model.predict_proba(frame)
        return time.perf_counter() - t0

    def timed(records: list[dict[str, Any]], n: int, modes: tuple[str, ...]) -> dict[str, Any]:
        """Median per mode; the modes interleaved so that noise hits them alike."""
        for _ in range(max(5, n // 20)):
            for mode in modes:
                once(records, mode)
        xs: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(n):
            for mode in modes:
                xs[mode].append(once(records, mode))
        out = {}
        for mode, v in xs.items():
            v.sort()
            out[mode] = {
                "n": n,
                "median_ms": statistics.median(v) * 1000,
                "p99_ms": v[min(n - 1, int(n * 0.99))] * 1000,
                "min_ms": v[0] * 1000,
            }
        return out

    one = timed(single, a.n, ("both", "predict", "one_pass"))
    many = timed(batch, a.batch_n, ("both", "one_pass"))
    frame = pd.DataFrame.from_records(batch, columns=features)
    print(
        json.dumps(
            {
                "version": version.version,
                "features": features,
                "sklearn": sklearn.__version__,
                "pandas": pd.__version__,
                "model": repr(model),
                "stack": server_stack(),
                "single": one["both"],
                "single_predict_only": one["predict"],
                "single_one_pass": one["one_pass"],
                "batch": many["both"],
                "batch_one_pass": many["one_pass"],
                "batch_predictions": [str(p) for p in model.predict(frame)],
                "batch_proba": model.predict_proba(frame).tolist(),
            }
        )
    )


# -- servers -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(url: str, body: bytes | None = None, timeout: float = 30) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Server:
    """One server process group we started (killed by its own pid / process group only)."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        cwd: Path,
        env: dict[str, str],
        port: int,
        ready_path: str,
        log_path: Path,
    ) -> None:
        self.name, self.cmd, self.port = name, cmd, port
        self.base = f"http://127.0.0.1:{port}"
        self.ready_path = ready_path
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: uvicorn's workers go with it
        )
        self.started = time.perf_counter()
        self.ready_s: float | None = None

    def wait_ready(self, timeout: float, error: type[Exception]) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise error(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            with contextlib.suppress(OSError):
                status, _ = http(self.base + self.ready_path, timeout=2)
                if status == 200:
                    self.ready_s = time.perf_counter() - self.started
                    return self.ready_s
            time.sleep(0.25)
        raise error(f"{self.name} not ready after {timeout:.0f} s:\n{self.tail()}")

    def tail(self, n: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # workers left in the group after the supervisor exited
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()


def logging_checked(logged: dict[str, int], notes: dict[str, str]) -> dict[str, Any]:
    """``logged`` (records, ok_responses, sent: summed over rung's load runs) with
    ``complete``: every 2xx response read has its record, and there are no more records than
    requests sent (a request in flight when the generator stopped is answered and logged, its
    response never read). A mismatch is also a line of ``notes``."""
    complete = logged["ok_responses"] <= logged["records"] <= logged["sent"]
    if not complete:
        notes["logging"] = (
            f"rung logged {logged['records']} records for {logged['ok_responses']} 2xx"
            f" responses of {logged['sent']} requests sent"
        )
    return {**logged, "complete": complete}


def predictions_logged(db: Path) -> tuple[int, int]:
    """(records, rows) in rung's prediction log."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        n, rows = con.execute("SELECT COUNT(*), COALESCE(SUM(rows), 0) FROM predictions").fetchone()
    finally:
        con.close()
    return int(n), int(rows)


# -- the benchmark -------------------------------------------------------------------------------


def med(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


def bench_e(env: Any, args: argparse.Namespace, run_cmd: Any, error: type[Exception]) -> dict:
    """Run benchmark (e). ``env`` is run.py's Env; ``run_cmd`` and ``error`` its helpers."""

    def log(msg: str) -> None:
        print(msg, flush=True)

    quick = args.quick
    reps = args.reps if getattr(args, "reps_given", False) else 3
    workers = args.serve_workers
    duration, warmup = (1.5, 0.5) if quick else (10.0, 2.0)
    ceiling_duration, ceiling_warmup = (1.0, 0.3) if quick else (3.0, 0.5)
    floor_n, floor_batch_n = (300, 30) if quick else (2000, 100)
    root = env.fresh_dir("e-serve")
    ws = root / "rung"
    store = root / "mlflow"
    bodies = root / "bodies"
    logs = root / "logs"
    for d in (ws, store, bodies, logs):
        d.mkdir()
    res: dict[str, Any] = {
        "reps": reps,
        "workers": workers,
        "duration_s": duration,
        "warmup_s": warmup,
        "dataset": {
            "rows": ROWS,
            "numeric": len(NUMERIC),
            "categorical": {CATEGORICAL: CATEGORIES},
            "label": LABEL,
            "seed": SEED,
        },
        "load_generator": "benchmarks/loadgen.py (pure-Python asyncio, raw sockets, keep-alive)",
        "prediction_logging": "on (rung always logs every prediction durably before answering)",
    }
    notes: dict[str, str] = {}

    # data and request bodies
    data = root / "data.csv"
    write_dataset(data)
    single = request_records(data, 1)
    batch = request_records(data, BATCH_ROWS)
    body_files = {}
    for tool, key in (("rung", "records"), ("mlflow", "dataframe_records")):
        for kind, recs in (("single", single), ("batch", batch)):
            p = bodies / f"{tool}-{kind}.json"
            p.write_text(json.dumps({key: recs}, separators=(",", ":")))
            body_files[tool, kind] = p
    res["request_bytes"] = {f"{t}-{k}": p.stat().st_size for (t, k), p in body_files.items()}

    # rung: workspace, dataset, pipeline run, register, promote
    t0 = time.perf_counter()
    run_cmd([*env.rung, "init", "."], ws, env.env, 120)
    run_cmd([*env.rung, "data", "add", str(data), "--name", "train"], ws, env.env, 300)
    src = inspect.getsource(make_model)
    (ws / "serve_train.py").write_text(
        PIPELINE.format(numeric=NUMERIC, categorical=CATEGORICAL, label=LABEL, make_model=src)
    )
    _, out = run_cmd([*env.rung, "run", "serve_train.py:train", "--json"], ws, env.env, 600)
    run_id = str(json_in(out, error)["run"])
    _, out = run_cmd(
        [*env.rung, "model", "register", run_id, "--name", MODEL_NAME, "--json"], ws, env.env, 120
    )
    reg = json_in(out, error)
    run_cmd(
        [
            *env.rung,
            *("model", "promote", MODEL_NAME, str(reg["version"])),
            *("--alias", "champion", "--force", "--reason", "benchmark"),
        ],
        ws,
        env.env,
        120,
    )
    res["setup_rung_s"] = time.perf_counter() - t0
    res["rung_source"] = source_state()
    log(
        f"  rung: run {run_id} → {MODEL_NAME}@{reg['version']} → {REF}"
        f" ({res['setup_rung_s']:.1f} s)"
    )

    # MLflow: the same fit, logged to a SQLite tracking store
    _, out = run_cmd(
        [
            env.peer_python,
            str(Path(__file__)),
            "mlflow-log",
            *("--data", str(data), "--store", str(store)),
            *("--batch", str(body_files["rung", "batch"])),
        ],
        store,
        env.env,
        900,
    )
    ml = json_in(out, error)
    log(
        f"  mlflow {ml['mlflow']}: fitted in {ml['fit_s']:.1f} s, logged in"
        f" {ml['log_model_s']:.1f} s ({ml['model_uri']}); import {ml['import_s']:.1f} s"
    )

    # the floor, on a quiet machine (before the servers start)
    _, out = run_cmd(
        [
            str(env.rung_python),
            str(Path(__file__)),
            "floor",
            *("--workspace", str(ws), "--ref", REF),
            *("--single", str(body_files["rung", "single"])),
            *("--batch", str(body_files["rung", "batch"])),
            *("--n", str(floor_n), "--batch-n", str(floor_batch_n)),
        ],
        ws,
        env.env,
        600,
    )
    floor = json_in(out, error)
    log(
        f"  floor (in process): 1 row {floor['single']['median_ms']:.2f} ms"
        f" (predict only {floor['single_predict_only']['median_ms']:.2f} ms, transformers once"
        f" {floor['single_one_pass']['median_ms']:.2f} ms), {BATCH_ROWS:,} rows"
        f" {floor['batch']['median_ms']:.2f} ms"
    )
    same_pred = floor["batch_predictions"] == ml["batch_predictions"]
    proba_diff = max(
        abs(x - y)
        for r1, r2 in zip(floor["batch_proba"], ml["batch_proba"], strict=True)
        for x, y in zip(r1, r2, strict=True)
    )
    res["models"] = {
        "definition": "Pipeline(ColumnTransformer(StandardScaler on 10 numeric,"
        " OneHotEncoder(handle_unknown='ignore') on 'segment'), LogisticRegression(max_iter=1000))",
        "rung_sklearn": floor["sklearn"],
        "mlflow_sklearn": ml["sklearn"],
        "rung_pandas": floor["pandas"],
        "mlflow_pandas": ml["pandas"],
        "mlflow": ml["mlflow"],
        "mlflow_model_uri": ml["model_uri"],
        "mlflow_signature": ml["signature_inputs"],
        "mlflow_log_model_s": ml["log_model_s"],
        "rung_stack": floor["stack"],
        "mlflow_stack": ml["stack"],
        "rung_run": run_id,
        "rung_version": reg["version"],
        "same_batch_predictions": same_pred,
        "max_abs_proba_diff": proba_diff,
    }
    if not same_pred or proba_diff > 1e-9:
        notes["models"] = f"the two fitted models differ (max |Δproba| {proba_diff:.2e})"
    floor_info = {
        k: floor[k]
        for k in ("single", "single_predict_only", "single_one_pass", "batch", "batch_one_pass")
    }
    res["floor"] = floor_info

    # servers, started once and kept for every repetition
    senv = dict(env.env)
    menv = dict(env.env)
    # `mlflow models serve --env-manager local` execs `uvicorn` from PATH: the peers' one
    menv["PATH"] = f"{env.peer_bin}{os.pathsep}{menv.get('PATH', '')}"
    menv["MLFLOW_TRACKING_URI"] = ml["tracking_uri"]
    # MLflow's uvicorn on the stack asked for (uvicorn's CLI reads UVICORN_* variables):
    # "fast" = httptools + uvloop (installed in the peers' venv for this), the stricter
    # comparison; "default" = h11 + asyncio, what `pip install mlflow` alone gives
    mlflow_stack = getattr(args, "mlflow_stack", "fast")
    http_impl, loop_impl = ("httptools", "uvloop") if mlflow_stack == "fast" else ("h11", "asyncio")
    menv["UVICORN_HTTP"], menv["UVICORN_LOOP"] = http_impl, loop_impl
    res["mlflow_server"] = {"stack": mlflow_stack, "http": http_impl, "loop": loop_impl}
    ports = {"rung": free_port(), "mlflow": free_port(), "static": free_port()}
    servers: dict[str, Server] = {}
    db = ws / ".rung" / "rung.db"
    try:
        servers["rung"] = Server(
            "rung serve",
            [
                *env.rung,
                *("serve", REF, "--host", "127.0.0.1", "--port", str(ports["rung"])),
                *("--workers", str(workers)),
            ],
            ws,
            senv,
            ports["rung"],
            "/v2/health/ready",
            logs / "rung-serve.log",
        )
        servers["mlflow"] = Server(
            "mlflow models serve",
            [
                env.peer("mlflow"),
                *("models", "serve", "-m", ml["model_uri"], "--env-manager", "local"),
                *("-h", "127.0.0.1", "-p", str(ports["mlflow"]), "-w", str(workers)),
            ],
            store,
            menv,
            ports["mlflow"],
            "/ping",
            logs / "mlflow-serve.log",
        )
        servers["static"] = Server(
            "static endpoint",
            [str(env.rung_python), str(LOADGEN), "static-server", "--port", str(ports["static"])],
            root,
            env.env,
            ports["static"],
            "/",
            logs / "static.log",
        )
        for s in servers.values():
            s.wait_ready(180, error)
        res["server_start_s"] = {k: s.ready_s for k, s in servers.items()}
        log(
            f"  servers ready ({workers} worker(s) each): rung {servers['rung'].ready_s:.1f} s,"
            f" mlflow {servers['mlflow'].ready_s:.1f} s"
        )
        urls = {
            "rung": servers["rung"].base + "/predict",
            "mlflow": servers["mlflow"].base + "/invocations",
        }

        # both answer the batch, with the same predictions
        answers: dict[str, Any] = {}
        for tool in ("rung", "mlflow"):
            status, raw = http(urls[tool], body_files[tool, "batch"].read_bytes(), timeout=60)
            if status != 200:
                raise error(f"{tool} answered the batch with {status}: {raw[:500]!r}")
            answers[tool] = json.loads(raw)
            status, raw = http(urls[tool], body_files[tool, "single"].read_bytes(), timeout=60)
            if status != 200:
                raise error(f"{tool} answered a single row with {status}: {raw[:500]!r}")
        ml_preds = [str(p) for p in answers["mlflow"]["predictions"]]
        rung_preds = [str(p) for p in answers["rung"]["predictions"]]
        res["answers_agree"] = ml_preds == rung_preds
        res["answer_keys"] = {t: sorted(a) for t, a in answers.items()}
        if ml_preds != rung_preds:
            notes["answers"] = "the two servers' batch predictions differ"

        def load(url: str, body: Path | None, conc: int, dur: float, warm: float) -> dict:
            cmd = [
                str(env.rung_python),
                str(LOADGEN),
                "run",
                *("--url", url, "--concurrency", str(conc)),
                *("--duration", str(dur), "--warmup", str(warm)),
            ]
            if body is not None:
                cmd += ["--body", str(body)]
            _, out = run_cmd(cmd, root, env.env, dur + warm + 120)
            return json_in(out, error)

        # the generator's ceiling: a trivial endpoint (no framework), and the frameworks' own
        ceiling: dict[str, Any] = {}
        for name, label, url in (
            ("static", "trivial endpoint", servers["static"].base + "/"),
            ("rung_live", "rung /v2/health/live", servers["rung"].base + "/v2/health/live"),
            ("mlflow_ping", "mlflow /ping", servers["mlflow"].base + "/ping"),
        ):
            for conc in (1, 8, 64):
                r = load(url, None, conc, ceiling_duration, ceiling_warmup)
                ceiling[f"{name}_c{conc}"] = slim(r)
            log(
                f"  GET {label:20s}"
                + "".join(
                    f"  c{c} {ceiling[f'{name}_c{c}']['rps']:7,.0f} rps"
                    f" p50 {ceiling[f'{name}_c{c}']['p50_ms'] or 0:6.2f} ms"
                    for c in (1, 8, 64)
                )
                + ("  (the generator's ceiling)" if name == "static" else "")
            )
        res["ceiling"] = ceiling
        # a trivial GET that takes ~40 ms at concurrency 1 waits on the client's delayed ACK:
        # the server's socket has Nagle's algorithm on (no TCP_NODELAY)
        res["nagle_stall"] = {}
        for tool, name in (("rung", "rung_live"), ("mlflow", "mlflow_ping")):
            p50 = ceiling[f"{name}_c1"]["p50_ms"] or 0.0
            res["nagle_stall"][tool] = p50 > NAGLE_MS
            if p50 > NAGLE_MS:  # reported in the notes under the table
                log(
                    f"  note: {tool}: a trivial GET takes {p50:.0f} ms at concurrency 1:"
                    " keep-alive responses wait for the client's delayed ACK (Nagle's algorithm"
                    " is on: uvicorn --workers > 1 does not set TCP_NODELAY on accepted sockets)"
                )

        # the scenarios: rung and MLflow alternate within each repetition
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {
            key: {"rung": [], "mlflow": []} for key, *_ in SCENARIOS
        }
        logged = {"records": 0, "rows": 0, "ok_responses": 0, "ok_rows": 0, "sent": 0}
        for rep in range(reps):
            order = ("rung", "mlflow") if rep % 2 == 0 else ("mlflow", "rung")
            for key, _label, kind, conc in SCENARIOS:
                line = []
                for tool in order:
                    before = predictions_logged(db) if tool == "rung" else (0, 0)
                    r = load(urls[tool], body_files[tool, kind], conc, duration, warmup)
                    if tool == "rung":
                        after = predictions_logged(db)
                        r["logged_records"] = after[0] - before[0]
                        r["logged_rows"] = after[1] - before[1]
                        rows = BATCH_ROWS if kind == "batch" else 1
                        logged["records"] += r["logged_records"]
                        logged["rows"] += r["logged_rows"]
                        logged["ok_responses"] += r["ok_total"]
                        logged["sent"] += r["sent_total"]
                        logged["ok_rows"] += r["ok_total"] * rows
                    runs[key][tool].append(r)
                    p99 = r["p99_ms"]
                    line.append(
                        f"{tool} {r['rps']:7.1f} rps p50 {r['p50_ms'] or 0:7.2f} ms"
                        f" p99 {p99 or 0:7.2f} ms err {r['errors']}"
                    )
                log(f"    rep {rep + 1}/{reps} {key:10s}: " + " | ".join(line))
        res["logging"] = logging_checked(logged, notes)
    finally:
        for s in servers.values():
            s.stop()
        res["server_logs_tail"] = {k: s.tail(8) for k, s in servers.items()}

    # medians per scenario, ratios and goals
    scen: dict[str, Any] = {}
    for key, label, kind, conc in SCENARIOS:
        row: dict[str, Any] = {"label": label, "kind": kind, "concurrency": conc}
        for tool in ("mlflow", "rung"):
            rs = runs[key][tool]
            row[tool] = {
                "rps": med([r["rps"] for r in rs]),
                "p50_ms": med([r["p50_ms"] for r in rs]),
                "p99_ms": med([r["p99_ms"] for r in rs]),
                "errors": sum(r["errors"] for r in rs),
                "requests": sum(r["requests"] for r in rs),
                "loadgen_cpu_share": med([r["loadgen_cpu_share"] for r in rs]),
                "samples": [slim(r) for r in rs],
                "sample_body": rs[0].get("sample_body") if rs else None,
                "error_sample": next((r["error_sample"] for r in rs if r["error_sample"]), None),
            }
            if kind == "batch" and row[tool]["rps"] is not None:
                row[tool]["rows_per_s"] = row[tool]["rps"] * BATCH_ROWS
        m, g = row["mlflow"], row["rung"]
        row["rps_ratio"] = g["rps"] / m["rps"] if m["rps"] and g["rps"] is not None else None
        row["p99_ratio"] = g["p99_ms"] / m["p99_ms"] if m["p99_ms"] and g["p99_ms"] else None
        if key in GOAL_SCENARIOS:
            row["goal"] = f"rps ≥{GOAL_RPS:g}×, p99 ≤{GOAL_P99:g}×"
            row["goal_met"] = (
                row["rps_ratio"] is not None
                and row["p99_ratio"] is not None
                and row["rps_ratio"] >= GOAL_RPS
                and row["p99_ratio"] <= GOAL_P99
                and g["errors"] == 0
            )
        scen[key] = row
    res["scenarios"] = scen
    # overhead = concurrency-1 p50 minus the floor. rung's is judged against the cheapest
    # in-process way to compute its answer (transformers once, then predict and predict_proba);
    # against predict + predict_proba (each running the transformers) it is shown too
    c1, m1 = scen["single_c1"]["rung"]["p50_ms"], scen["single_c1"]["mlflow"]["p50_ms"]
    floor_ms = min(floor_info["single"]["median_ms"], floor_info["single_one_pass"]["median_ms"])
    res["overhead_ms"] = c1 - floor_ms if c1 is not None else None
    res["overhead_vs_two_calls_ms"] = (
        c1 - floor_info["single"]["median_ms"] if c1 is not None else None
    )
    res["overhead_mlflow_ms"] = (
        m1 - floor_info["single_predict_only"]["median_ms"] if m1 is not None else None
    )
    res["overhead_goal_met"] = (
        res["overhead_ms"] is not None and res["overhead_ms"] <= GOAL_OVERHEAD_MS
    )
    res["goals_met"] = all(scen[k]["goal_met"] for k in GOAL_SCENARIOS) and res["overhead_goal_met"]
    if notes:
        res["warnings"] = notes
        for k, n in notes.items():
            log(f"  WARNING {k}: {n}")
    return res


def source_state() -> dict[str, Any]:
    """The commit rung runs from, and whether (and how) its src/ differs from it."""
    import hashlib

    def git(*a: str) -> str:
        return subprocess.run(
            ["git", *a], cwd=HERE.parent, capture_output=True, text=True, timeout=30
        ).stdout

    with contextlib.suppress(Exception):
        diff = git("diff", "HEAD", "--", "src")
        return {
            "commit": git("rev-parse", "--short", "HEAD").strip(),
            "src_modified": bool(diff),
            "src_diff_sha256": hashlib.sha256(diff.encode()).hexdigest()[:16] if diff else None,
            "src_diff_stat": git("diff", "HEAD", "--stat", "--", "src").strip(),
        }
    return {}


def slim(r: dict[str, Any]) -> dict[str, Any]:
    """A load run's figures without its sample bodies."""
    return {k: v for k, v in r.items() if k not in ("sample_body", "url")}


def json_in(out: str, error: type[Exception]) -> Any:
    """The last JSON object a helper printed (other lines are logs)."""
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                return json.loads(line)
    dec = json.JSONDecoder()
    lines = out.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                return dec.raw_decode("\n".join(lines[i:]))[0]
    raise error("no JSON object in the output:\n" + out.strip()[-800:])


# -- table ------------------------------------------------------------------------------------


def _ms(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.2f} ms" if x < 10 else f"{x:.1f} ms"


def _rps(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def _x(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}×"


HEADER_E = [
    "scenario",
    "MLflow rps",
    "MLflow p50",
    "MLflow p99",
    "MLflow err",
    "rung rps",
    "rung p50",
    "rung p99",
    "rung err",
    "rps rung/MLflow",
    "p99 rung/MLflow",
    "goal",
    "met",
]


def rows_e(r: dict[str, Any]) -> list[list[str]]:
    rows = []
    for key, row in r["scenarios"].items():
        m, g = row["mlflow"], row["rung"]

        def rps(x: dict[str, Any]) -> str:
            s = _rps(x["rps"])
            if "rows_per_s" in x:
                s += f" ({x['rows_per_s']:,.0f} rows/s)"
            return s

        met = ""
        if "goal_met" in row:
            met = "yes" if row["goal_met"] else "NO"
        rows.append(
            [
                row["label"],
                rps(m),
                _ms(m["p50_ms"]),
                _ms(m["p99_ms"]),
                str(m["errors"]),
                rps(g),
                _ms(g["p50_ms"]),
                _ms(g["p99_ms"]),
                str(g["errors"]),
                _x(row["rps_ratio"]),
                _x(row["p99_ratio"]),
                row.get("goal", "(context)" if key == "single_c1" else ""),
                met,
            ]
        )
    f = r["floor"]

    def extra(label: str, mlflow: str, rung: str, goal: str = "", met: str = "") -> list[str]:
        return [label, "", mlflow, "", "", "", rung, "", "", "", "", goal, met]

    rows.append(
        extra(
            "floor, 1 row in process (MLflow: predict; rung: predict + predict_proba)",
            _ms(f["single_predict_only"]["median_ms"]),
            _ms(f["single"]["median_ms"]),
        )
    )
    rows.append(
        extra(
            "floor, 1 row in process: transformers once + predict + predict_proba",
            "",
            _ms(f["single_one_pass"]["median_ms"]),
        )
    )
    rows.append(
        extra(
            f"floor, {BATCH_ROWS:,} rows in process: predict + predict_proba",
            "",
            _ms(f["batch"]["median_ms"]),
        )
    )
    rows.append(
        extra(
            "serving overhead, 1 row: concurrency-1 p50 − lowest floor",
            _ms(r["overhead_mlflow_ms"]),
            _ms(r["overhead_ms"]),
            f"rung ≤ {GOAL_OVERHEAD_MS:g} ms",
            "yes" if r["overhead_goal_met"] else "NO",
        )
    )
    return rows


def e_notes(r: dict[str, Any]) -> str:
    """The notes under table (e), as Markdown bullets."""
    md, lg, c, f = r["models"], r.get("logging", {}), r["ceiling"], r["floor"]
    start = r.get("server_start_s", {})
    w = r["workers"]
    cpu = max(
        (x["loadgen_cpu_share"] or 0)
        for row in r["scenarios"].values()
        for x in (row["mlflow"], row["rung"])
    )

    def get(name: str, conc: int) -> str:
        x = c[f"{name}_c{conc}"]
        return f"{x['rps']:,.0f} rps (p50 {_ms(x['p50_ms'])})"

    agree = (
        f"identical predictions on the {BATCH_ROWS:,}-row batch, max |Δproba|"
        f" {md['max_abs_proba_diff']:.1e}"
        if md["same_batch_predictions"]
        else "they DISAGREE"
    )
    stalls = [t for t, stalled in r.get("nagle_stall", {}).items() if stalled]
    bullets = [
        "**Prediction logging: on.** rung writes every prediction to its `predictions` table"
        " (SQLite) before it answers; it cannot be turned off. Counted around every load run:"
        f" {lg.get('records', 0):,} records ({lg.get('rows', 0):,} rows) for"
        f" {lg.get('ok_responses', 0):,} 2xx responses ({lg.get('ok_rows', 0):,} rows), warm-ups"
        " included — "
        + (
            "every answer logged (beyond: requests in flight when the generator stopped)."
            if lg.get("complete")
            else "**MISMATCH**."
        )
        + " MLflow's server keeps no prediction log.",
        f"Same model: `{md['definition']}`, fitted on the same {r['dataset']['rows']:,}-row CSV"
        f" (seeded numpy) by scikit-learn {md['rung_sklearn']} in rung's venv (a one-step"
        f" `rung run`, then `rung model register`, `rung model promote --force`) and"
        f" {md['mlflow_sklearn']} in the peers' venv (`mlflow.sklearn.log_model` with an"
        f" inferred signature, SQLite tracking store); pandas {md['rung_pandas']} /"
        f" {md['mlflow_pandas']}. The fitted models agree ({agree}), and the two servers'"
        " answers to that batch " + ("are identical." if r.get("answers_agree") else "DIFFER."),
        f'rung: `rung serve {REF} --workers {w}`, `POST /predict` `{{"records": [...]}}`;'
        " it validates against the signature, answers predictions, class probabilities, the"
        " version and a request id. MLflow"
        f" {md['mlflow']}: `mlflow models serve -m {md['mlflow_model_uri']} --env-manager local"
        f' -w {w}`, `POST /invocations` `{{"dataframe_records": [...]}}`; it answers'
        " predictions only, and uvicorn's access log is on (a line per request; rung logs at"
        f" warning level). Both are FastAPI apps on uvicorn: rung's venv has"
        f" {stack_text(md['rung_stack'])} (rung's `serve` extra installs httptools and uvloop);"
        f" MLflow's uvicorn {md['mlflow_stack'].get('uvicorn')} runs with"
        f" {r['mlflow_server']['http']} and {r['mlflow_server']['loop']}"
        + (
            " (httptools and uvloop are added to the peers' venv and forced through"
            " UVICORN_HTTP/UVICORN_LOOP: the fastest MLflow setup, not the out-of-the-box one,"
            " which `--mlflow-stack default` measures)"
            if r["mlflow_server"]["stack"] == "fast"
            else " (forced through UVICORN_HTTP/UVICORN_LOOP: what `pip install mlflow` gives)"
        )
        + f". {w} worker process(es) each, started once (ready"
        f" after {start.get('rung', 0):.1f} s and {start.get('mlflow', 0):.1f} s) and kept for"
        " all repetitions.",
        "Load: `benchmarks/loadgen.py`, pure-Python asyncio (raw sockets, HTTP/1.1 keep-alive,"
        " one pre-encoded request per connection, back to back), in its own process (rung's"
        " venv python); `wrk` and the like are not used."
        f" {r['duration_s']:g} s measured after {r['warmup_s']:g} s of warm-up per run; medians"
        f" of {r['reps']} repetitions, rung and MLflow alternating. rps counts 2xx responses;"
        " errors are non-2xx responses and connection failures. Ceiling, GET at concurrency"
        f" 1 / 8 / 64 — trivial asyncio endpoint: {get('static', 1)}, {get('static', 8)},"
        f" {get('static', 64)}; rung's /v2/health/live: {get('rung_live', 1)},"
        f" {get('rung_live', 8)}, {get('rung_live', 64)}; MLflow's /ping:"
        f" {get('mlflow_ping', 1)}, {get('mlflow_ping', 8)}, {get('mlflow_ping', 64)}. During"
        f" the scenarios the generator used at most {cpu:.0%} of one core.",
        "Floor: the registered model loaded in process (`Workspace.models.load`); each call"
        " builds a DataFrame from the same record, then: predict + predict_proba (each runs"
        f" the pipeline's transformers) {_ms(f['single']['median_ms'])}; the transformers once,"
        " then the final estimator's predict and predict_proba (the same outputs)"
        f" {_ms(f['single_one_pass']['median_ms'])}; predict only (what MLflow's service"
        f" computes) {_ms(f['single_predict_only']['median_ms'])}. Per {BATCH_ROWS:,}-row batch:"
        f" {_ms(f['batch']['median_ms'])} / {_ms(f['batch_one_pass']['median_ms'])} (one pass)."
        " Overhead = concurrency-1 p50 − the lowest floor for the same outputs: rung"
        f" {_ms(r['overhead_ms'])} ({_ms(r['overhead_vs_two_calls_ms'])} against predict +"
        f" predict_proba), MLflow {_ms(r['overhead_mlflow_ms'])} against predict; the"
        f" generator's own round trip is {_ms(c['static_c1']['p50_ms'])} of it.",
    ]
    if stalls:
        bullets.append(
            f"**Delayed-ACK stall** ({', '.join(stalls)}): a trivial GET takes ~40 ms at"
            " concurrency 1. With h11 uvicorn writes a response's headers and body separately;"
            " the server's socket has Nagle's algorithm on, so the body waits for the client's"
            " delayed ACK. uvicorn with --workers > 1 binds the listening socket itself without"
            " IPPROTO_TCP, and asyncio then skips TCP_NODELAY on accepted sockets (uvloop sets"
            " it; httptools writes one buffer). It adds ~40 ms to every request whose server is"
            " not saturated."
        )
    return "\n".join("* " + b for b in bullets)


# -- helper entry point --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mlflow-log", help="peers' venv: fit and log the model with MLflow")
    m.add_argument("--data", required=True)
    m.add_argument("--store", required=True)
    m.add_argument("--batch", required=True, help="rung-form batch body, for the agreement check")
    f = sub.add_parser("floor", help="rung's venv: the in-process cost of a request's work")
    f.add_argument("--workspace", required=True)
    f.add_argument("--ref", default=REF)
    f.add_argument("--single", required=True)
    f.add_argument("--batch", required=True)
    f.add_argument("--n", type=int, default=2000)
    f.add_argument("--batch-n", type=int, default=100)
    a = ap.parse_args(argv)
    {"mlflow-log": cmd_mlflow_log, "floor": cmd_floor}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
