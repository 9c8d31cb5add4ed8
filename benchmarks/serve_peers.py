#!/usr/bin/env python
"""Benchmark (serve): `rung serve` against MLServer (adaptive batching) and `mlflow models serve`.

run.py calls :func:`bench_serve` (rung's venv) for ``--only serve`` (``bash benchmarks/run.sh
serve``); the same file is the helper each peer's venv runs:

    python serve_peers.py mlserver-prepare --data data.csv --repo DIR ...   # MLServer's venv
    python serve_peers.py mlflow-log --data data.csv --store DIR ...        # peers' venv

* **Models**: the light model is (e)'s pipeline (``serve_bench.make_model``: StandardScaler
  and OneHotEncoder in a ColumnTransformer, then LogisticRegression); the heavy one the same
  preprocessing before a ``RandomForestClassifier(n_estimators=100, random_state=0)``
  (:func:`make_forest`). Each tool fits them on the same seeded CSV with the same
  scikit-learn; their predictions on a 1,000-row batch must agree.
* **Servers**, each on 127.0.0.1 with the same number ``W`` of worker processes:
  ``rung serve NAME@champion --workers W`` (one per model; tokens on when ``rung token``
  exists, prediction log on); MLServer 1.7.1 (``mlserver start REPO``, both models,
  ``parallel_workers: W``, adaptive batching ``max_batch_size`` 64 / ``max_batch_time``
  10 ms in each model-settings.json); ``mlflow models serve -w W`` (one per model). When
  ``rung serve --help`` lists ``--shadow``, one more rung server runs
  ``bench@champion --shadow bench@challenger``.
* **Load** (:mod:`loadgen`, its own process, 127.0.0.1 only, stops by itself): the light model
  with single rows at concurrency 1, 8 and 64 and 1,000-row batches at concurrency 8; the
  forest with single rows at concurrency 64. In each repetition every scenario runs on every
  server, the order rotating; medians over the repetitions.
* **Goals** (issue 12, part 6): light model at concurrency 64, rung ≥ 2× MLServer's
  throughput with ≤ half its p99; forest at concurrency 64, rung ≥ MLServer's (batched)
  throughput at no higher p99; shadow mode costs ≤ 10 % of throughput (concurrency 64) and
  ≤ 1 ms of p50 (concurrency 1) against plain serving.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import serve_bench as sb

HERE = Path(__file__).resolve().parent
TOOLS = ("rung", "mlserver", "mlflow")
TOOL_LABEL = {
    "rung": "rung serve",
    "mlserver": "MLServer (batching)",
    "mlflow": "mlflow models serve",
    "rung_shadow": "rung serve --shadow",
}
MODELS = {"light": "bench", "forest": "forest"}  # our model key -> rung's registered name
CHALLENGER = "bench@challenger"
MAX_BATCH_SIZE = 64  # MLServer's adaptive batching (model-settings.json)
MAX_BATCH_TIME = 0.01  # seconds
FOREST_TREES = 100

# key, label, model, body kind, concurrency
SCENARIOS = [
    ("light_c1", "light, 1 row, concurrency 1", "light", "single", 1),
    ("light_c8", "light, 1 row, concurrency 8", "light", "single", 8),
    ("light_c64", "light, 1 row, concurrency 64", "light", "single", 64),
    ("light_batch", f"light, {sb.BATCH_ROWS:,}-row batch, concurrency 8", "light", "batch", 8),
    ("forest_c64", f"forest ({FOREST_TREES} trees), 1 row, concurrency 64", "forest", "single", 64),
]
SHADOW_SCENARIOS = ("light_c1", "light_c64")
FORCE = ("--force", "--reason", "benchmark")  # no evaluation before promotion
GOAL_LIGHT_RPS, GOAL_LIGHT_P99 = 2.0, 0.5  # light, c64: rung ≥ 2× MLServer, p99 ≤ 0.5×
GOAL_FOREST_RPS, GOAL_FOREST_P99 = 1.0, 1.0  # forest, c64: rung ≥ MLServer, p99 ≤
GOAL_SHADOW_RPS, GOAL_SHADOW_P50_MS = 0.9, 1.0  # shadow: ≥ 90 % throughput, ≤ +1 ms p50

PIPELINES = '''"""Benchmark (serve): the serving benchmark's models (written by serve_peers.py)."""

from typing import Any

import rung
from rung import pipeline, step

NUMERIC = {numeric!r}
CATEGORICAL = {categorical!r}
LABEL = {label!r}


{make_model}

{make_forest}

def _xy(frame):
    return frame[[*NUMERIC, CATEGORICAL]], frame[LABEL]


@step
def fit_light(frame):
    return make_model(NUMERIC, CATEGORICAL).fit(*_xy(frame))


@step
def fit_challenger(frame):
    model = make_model(NUMERIC, CATEGORICAL)
    model.set_params(clf__C=0.5)
    return model.fit(*_xy(frame))


@step
def fit_forest(frame):
    return make_forest(NUMERIC, CATEGORICAL).fit(*_xy(frame))


@pipeline
def light():
    return fit_light(rung.dataset("train"))


@pipeline
def challenger():
    return fit_challenger(rung.dataset("train"))


@pipeline
def forest():
    return fit_forest(rung.dataset("train"))
'''


def make_forest(numeric: list[str], categorical: str) -> Any:
    """The heavy model: (e)'s preprocessing, then a random forest of 100 trees (one thread)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), [categorical]),
        ]
    )
    forest = RandomForestClassifier(n_estimators=100, random_state=0)
    return Pipeline([("prep", prep), ("clf", forest)])


def oip_body(records: list[dict[str, Any]]) -> dict[str, Any]:
    """An Open Inference Protocol v2 request for MLServer's scikit-learn runtime: one input per
    column, shape [N, 1], decoded into a DataFrame (request content type ``pd``); the
    category as BYTES with content type ``str``. Outputs: the runtime's default (predict)."""
    n = len(records)
    inputs: list[dict[str, Any]] = [
        {"name": k, "shape": [n, 1], "datatype": "FP64", "data": [r[k] for r in records]}
        for k in sb.NUMERIC
    ]
    inputs.append(
        {
            "name": sb.CATEGORICAL,
            "shape": [n, 1],
            "datatype": "BYTES",
            "data": [r[sb.CATEGORICAL] for r in records],
            "parameters": {"content_type": "str"},
        }
    )
    return {"parameters": {"content_type": "pd"}, "inputs": inputs}


def _fit_both(data: str) -> tuple[Any, dict[str, Any]]:
    import pandas as pd

    frame = pd.read_csv(data)
    x, y = frame[[*sb.NUMERIC, sb.CATEGORICAL]], frame[sb.LABEL]
    fitted, fit_s = {}, {}
    for key, make in (("light", sb.make_model), ("forest", make_forest)):
        t0 = time.perf_counter()
        fitted[key] = make(sb.NUMERIC, sb.CATEGORICAL).fit(x, y)
        fit_s[key] = time.perf_counter() - t0
    return x, {"models": fitted, "fit_s": fit_s}


def _batch_predictions(models: dict[str, Any], batch: str) -> dict[str, list[str]]:
    import pandas as pd

    frame = pd.DataFrame.from_records(
        json.loads(Path(batch).read_text()), columns=[*sb.NUMERIC, sb.CATEGORICAL]
    )
    return {k: [str(p) for p in m.predict(frame)] for k, m in models.items()}


def cmd_mlserver_prepare(a: argparse.Namespace) -> None:
    """MLServer's venv: fit both models, write the model repository and settings, print JSON."""
    import joblib
    import mlserver
    import sklearn

    _, fit = _fit_both(a.data)
    repo = Path(a.repo)
    for key, model in fit["models"].items():
        d = repo / key
        d.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, d / "model.joblib")
        settings = {
            "name": key,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "max_batch_size": a.max_batch_size,
            "max_batch_time": a.max_batch_time,
            "parameters": {"uri": "./model.joblib"},
        }
        (d / "model-settings.json").write_text(json.dumps(settings, indent=2))
    server = {
        "host": "127.0.0.1",
        "http_port": a.http_port,
        "grpc_port": a.grpc_port,
        "metrics_port": a.metrics_port,
        "parallel_workers": a.workers,
    }
    (repo / "settings.json").write_text(json.dumps(server, indent=2))
    print(
        json.dumps(
            {
                "mlserver": mlserver.__version__,
                "sklearn": sklearn.__version__,
                "fit_s": fit["fit_s"],
                "settings": server,
                "model_settings": {
                    "max_batch_size": a.max_batch_size,
                    "max_batch_time": a.max_batch_time,
                },
                "stack": sb.server_stack(),
                "batch_predictions": _batch_predictions(fit["models"], a.batch),
            }
        )
    )


def cmd_mlflow_log(a: argparse.Namespace) -> None:
    """Peers' venv: fit both models, log each with mlflow.sklearn.log_model, print JSON."""
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    import mlflow
    import sklearn
    from mlflow.models import infer_signature

    x, fit = _fit_both(a.data)
    store = Path(a.store)
    store.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    exp = "bench-serve-peers"
    if mlflow.get_experiment_by_name(exp) is None:
        mlflow.create_experiment(exp, artifact_location=str(store / "artifacts"))
    mlflow.set_experiment(exp)
    uris = {}
    for key, model in fit["models"].items():
        signature = infer_signature(x, model.predict(x))
        # MLflow 3.x saves with skops, which refuses a forest's tree storage unless trusted:
        # "The saved sklearn model references untrusted types ... sklearn.tree._tree.Tree"
        trusted = ["sklearn.tree._tree.Tree"] if key == "forest" else None
        with mlflow.start_run(run_name=f"serve-{key}"):
            info = mlflow.sklearn.log_model(
                model, name="model", signature=signature, skops_trusted_types=trusted
            )
        uris[key] = info.model_uri
    print(
        json.dumps(
            {
                "mlflow": mlflow.__version__,
                "sklearn": sklearn.__version__,
                "tracking_uri": mlflow.get_tracking_uri(),
                "model_uris": uris,
                "fit_s": fit["fit_s"],
                "stack": sb.server_stack(),
                "batch_predictions": _batch_predictions(fit["models"], a.batch),
            }
        )
    )


# -- the benchmark (rung's venv) ---------------------------------------------------------------


def http(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 30
) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_ready(
    server: sb.Server,
    paths: list[str],
    headers: dict[str, str],
    timeout: float,
    error: type[Exception],
) -> float:
    """Seconds until every path answers 200 (the process must stay alive meanwhile)."""
    deadline = time.perf_counter() + timeout
    pending = list(paths)
    while pending and time.perf_counter() < deadline:
        if server.proc.poll() is not None:
            raise error(f"{server.name} exited with {server.proc.returncode}:\n{server.tail()}")
        with contextlib.suppress(OSError):
            if http(server.base + pending[0], headers=headers, timeout=2)[0] == 200:
                pending.pop(0)
                continue
        time.sleep(0.25)
    if pending:
        raise error(
            f"{server.name}: {pending[0]} not ready after {timeout:.0f} s:\n{server.tail()}"
        )
    server.ready_s = time.perf_counter() - server.started
    return server.ready_s


def probe(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[bool, str]:
    """(exit status 0, stdout + stderr) of a short command."""
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return p.returncode == 0, p.stdout + p.stderr


def create_token(cmd: list[str], cwd: Path, env: dict[str, str]) -> str | None:
    """The token a ``rung token create`` prints on stdout (its last line; notes go to stderr)."""
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    lines = [ln.strip() for ln in p.stdout.splitlines() if ln.strip()]
    if p.returncode != 0 or not lines:
        return None
    token = lines[-1].split()[-1]
    return token if token.isascii() and token.isprintable() else None


def settled_count(db: Path, timeout: float = 15.0, quiet: float = 3.0) -> int:
    """Records in rung's prediction log once the count has not moved for ``quiet`` seconds
    (longer than a shadow's 2 s gathering window: its records are written after the answers,
    and a record landing after this count would be counted for the next run)."""
    n = sb.predictions_logged(db)[0]
    deadline = time.perf_counter() + timeout
    still = time.perf_counter()
    while time.perf_counter() < deadline:
        time.sleep(0.3)
        m = sb.predictions_logged(db)[0]
        if m != n:
            n, still = m, time.perf_counter()
        elif time.perf_counter() - still >= quiet:
            break
    return n


def predictions(tool: str, raw: bytes) -> list[str]:
    """The predicted labels of one answer, in request order."""
    ans = json.loads(raw)
    if tool == "mlserver":
        out = next(o for o in ans["outputs"] if o["name"] == "predict")
        return [str(p) for p in out["data"]]
    return [str(p) for p in ans["predictions"]]


def bench_serve(env: Any, args: argparse.Namespace, run_cmd: Any, error: type[Exception]) -> dict:
    """Run the serving benchmark. ``env`` is run.py's Env; ``run_cmd`` and ``error`` its helpers."""

    def log(msg: str) -> None:
        print(msg, flush=True)

    quick = args.quick
    # 5 by default: on the shared 2-core machine one server's figure moves by 10-15 % between
    # repetitions, and a ratio of medians of 3 swung across the goals from one run to the next
    reps = args.reps if getattr(args, "reps_given", False) else 5
    workers = args.serve_workers
    duration = args.serve_duration if args.serve_duration else (1.5 if quick else 5.0)
    warmup = 0.5 if quick else 1.0
    root = env.fresh_dir("serve-peers")
    ws, store, repo, bodies, logs = (
        root / n for n in ("rung", "mlflow", "mlserver", "bodies", "logs")
    )
    for d in (ws, store, repo, bodies, logs):
        d.mkdir()
    notes: dict[str, str] = {}
    res: dict[str, Any] = {
        "reps": reps,
        "workers": workers,
        "duration_s": duration,
        "warmup_s": warmup,
        "load_generator": "benchmarks/loadgen.py (pure-Python asyncio, raw sockets, keep-alive)",
        "mlserver_batching": {"max_batch_size": MAX_BATCH_SIZE, "max_batch_time_s": MAX_BATCH_TIME},
    }
    peer_env = {k: v for k, v in env.env.items() if k != "PYTHONPATH"}

    # data and request bodies
    data = root / "data.csv"
    sb.write_dataset(data)
    single = sb.request_records(data, 1)
    batch = sb.request_records(data, sb.BATCH_ROWS)
    batch_records = bodies / "batch-records.json"
    batch_records.write_text(json.dumps(batch))
    body: dict[tuple[str, str], Path] = {}
    for kind, recs in (("single", single), ("batch", batch)):
        for tool, obj in (
            ("rung", {"records": recs}),
            ("mlflow", {"dataframe_records": recs}),
            ("mlserver", oip_body(recs)),
        ):
            p = bodies / f"{tool}-{kind}.json"
            p.write_text(json.dumps(obj, separators=(",", ":")))
            body[tool, kind] = p

    # rung: workspace, dataset, three pipeline runs, registered and promoted
    t0 = time.perf_counter()
    rung = env.rung
    run_cmd([*rung, "init", "."], ws, env.env, 120)
    run_cmd([*rung, "data", "add", str(data), "--name", "train"], ws, env.env, 300)
    import inspect

    (ws / "serve_models.py").write_text(
        PIPELINES.format(
            numeric=sb.NUMERIC,
            categorical=sb.CATEGORICAL,
            label=sb.LABEL,
            make_model=inspect.getsource(sb.make_model),
            make_forest=inspect.getsource(make_forest),
        )
    )
    for pipe, name, alias in (
        ("light", "bench", "champion"),
        ("challenger", "bench", "challenger"),
        ("forest", "forest", "champion"),
    ):
        _, out = run_cmd([*rung, "run", f"serve_models.py:{pipe}", "--json"], ws, env.env, 900)
        run_id = str(sb.json_in(out, error)["run"])
        _, out = run_cmd(
            [*rung, "model", "register", run_id, "--name", name, "--json"], ws, env.env, 120
        )
        version = str(sb.json_in(out, error)["version"])
        run_cmd(
            [*rung, "model", "promote", name, version, "--alias", alias, *FORCE],
            ws,
            env.env,
            120,
        )
    res["setup_rung_s"] = time.perf_counter() - t0
    res["rung_source"] = sb.source_state()

    # rung's options: tokens (`rung token`) and shadow mode (`rung serve --shadow`), when present
    has_token, _ = probe([*rung, "token", "--help"], ws, env.env)
    _, serve_help = probe([*rung, "serve", "--help"], ws, env.env)
    has_shadow = "--shadow" in serve_help
    auth: dict[str, str] = {}
    if has_token:
        token = create_token([*rung, "token", "create", "bench", "--scope", "predict"], ws, env.env)
        if token is None:
            raise error("`rung token create bench --scope predict` printed no token on stdout")
        auth = {"Authorization": f"Bearer {token}"}
    res["rung_tokens"] = "on" if has_token else "off (`rung token` is not in this rung)"
    res["rung_shadow"] = "on" if has_shadow else "skipped (`rung serve --help` has no --shadow)"
    log(
        f"  rung: tokens {res['rung_tokens']}; shadow {res['rung_shadow']} ({res['setup_rung_s']:.0f} s)"
    )

    # MLServer and MLflow: the same fits in their venvs
    ports = {k: sb.free_port() for k in ("mls_http", "mls_grpc", "mls_metrics")}
    _, out = run_cmd(
        [
            env.mlserver_python,
            str(Path(__file__)),
            "mlserver-prepare",
            *("--data", str(data), "--repo", str(repo), "--batch", str(batch_records)),
            *("--workers", str(workers), "--http-port", str(ports["mls_http"])),
            *("--grpc-port", str(ports["mls_grpc"]), "--metrics-port", str(ports["mls_metrics"])),
            *("--max-batch-size", str(MAX_BATCH_SIZE), "--max-batch-time", str(MAX_BATCH_TIME)),
        ],
        repo,
        peer_env,
        900,
    )
    mls = sb.json_in(out, error)
    _, out = run_cmd(
        [
            env.peer_python,
            str(Path(__file__)),
            "mlflow-log",
            *("--data", str(data), "--store", str(store), "--batch", str(batch_records)),
        ],
        store,
        peer_env,
        900,
    )
    ml = sb.json_in(out, error)
    res["versions"] = {
        "mlserver": mls["mlserver"],
        "mlserver_sklearn": mls["sklearn"],
        "mlserver_stack": mls["stack"],
        "mlflow": ml["mlflow"],
        "mlflow_sklearn": ml["sklearn"],
        "mlflow_stack": ml["stack"],
    }
    log(f"  MLServer {mls['mlserver']} and MLflow {ml['mlflow']}: models fitted and stored")

    # servers, started once and kept for every repetition
    menv = dict(peer_env)
    menv["PATH"] = f"{env.peer_bin}{os.pathsep}{menv.get('PATH', '')}"
    menv["MLFLOW_TRACKING_URI"] = ml["tracking_uri"]
    menv["UVICORN_HTTP"], menv["UVICORN_LOOP"] = "httptools", "uvloop"
    servers: dict[str, sb.Server] = {}
    ready: dict[str, list[str]] = {}
    hdrs: dict[str, dict[str, str]] = {}

    def rung_server(key: str, ref: str, extra: list[str]) -> None:
        port = sb.free_port()
        cmd = [*rung, "serve", ref, *extra, "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--workers", str(workers)]
        servers[key] = sb.Server(key, cmd, ws, env.env, port, "/", logs / f"{key}.log")
        ready[key], hdrs[key] = ["/v2/health/ready"], auth

    db = ws / ".rung" / "rung.db"
    try:
        rung_server("rung-light", "bench@champion", [])
        rung_server("rung-forest", "forest@champion", [])
        if has_shadow:
            rung_server("rung-shadow", "bench@champion", ["--shadow", CHALLENGER])
        servers["mlserver"] = sb.Server(
            "mlserver",
            [str(Path(env.mlserver_python).parent / "mlserver"), "start", "."],
            repo,
            peer_env,
            ports["mls_http"],
            "/",
            logs / "mlserver.log",
        )
        ready["mlserver"] = [f"/v2/models/{m}/ready" for m in MODELS]
        for model, uri in ml["model_uris"].items():
            port = sb.free_port()
            key = f"mlflow-{model}"
            servers[key] = sb.Server(
                key,
                [
                    *(env.peer("mlflow"), "models", "serve", "-m", uri),
                    *("--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)),
                    *("-w", str(workers)),
                ],
                store,
                menv,
                port,
                "/",
                logs / f"{key}.log",
            )
            ready[key] = ["/ping"]
        for key, s in servers.items():
            wait_ready(s, ready[key], hdrs.get(key, {}), 300, error)
        res["server_start_s"] = {k: s.ready_s for k, s in servers.items()}
        log("  servers ready: " + ", ".join(f"{k} {s.ready_s:.0f} s" for k, s in servers.items()))

        def target(tool: str, model: str) -> tuple[str, dict[str, str]]:
            if tool == "mlserver":
                return f"{servers['mlserver'].base}/v2/models/{model}/infer", {}
            if tool == "mlflow":
                return f"{servers[f'mlflow-{model}'].base}/invocations", {}
            key = "rung-shadow" if tool == "rung_shadow" else f"rung-{model}"
            return f"{servers[key].base}/predict", auth

        # every server answers the batch, with the same predictions as its fitted model
        agree: dict[str, Any] = {}
        answer_tools = (*TOOLS, "rung_shadow") if has_shadow else TOOLS
        for model in MODELS:
            got = {}
            for tool in answer_tools:
                if tool == "rung_shadow" and model != "light":
                    continue
                url, h = target(tool, model)
                src = "rung" if tool == "rung_shadow" else tool
                status, raw = http(url, body[src, "batch"].read_bytes(), h, timeout=120)
                if status != 200:
                    raise error(f"{tool} answered the {model} batch with {status}: {raw[:400]!r}")
                got[tool] = predictions(tool, raw)
                status, raw = http(url, body[src, "single"].read_bytes(), h, timeout=60)
                if status != 200:
                    raise error(f"{tool} answered a {model} row with {status}: {raw[:400]!r}")
            fitted_same = mls["batch_predictions"][model] == ml["batch_predictions"][model]
            agree[model] = {
                "answers_identical": all(v == got["rung"] for v in got.values()),
                "peer_fits_identical": fitted_same,
            }
            if not agree[model]["answers_identical"] or not fitted_same:
                notes[f"agree_{model}"] = f"the servers' {model} predictions differ"
        res["agreement"] = agree
        # tokens: a request without one must be refused
        if has_token:
            url, _ = target("rung", "light")
            status, _ = http(url, body["rung", "single"].read_bytes(), {}, timeout=30)
            res["rung_refuses_without_token"] = status == 401
            if status != 401:
                notes["tokens"] = f"rung answered {status} to a request without a token"

        def load(url: str, h: dict[str, str], path: Path, conc: int) -> dict[str, Any]:
            cmd = [str(env.rung_python), str(sb.LOADGEN), "run", "--url", url, "--body", str(path)]
            cmd += [
                "--concurrency",
                str(conc),
                "--duration",
                str(duration),
                "--warmup",
                str(warmup),
            ]
            for k, v in h.items():
                cmd += ["--header", f"{k}: {v}"]
            _, out = run_cmd(cmd, root, env.env, duration + warmup + 120)
            return sb.json_in(out, error)

        runs: dict[str, dict[str, list[dict[str, Any]]]] = {
            key: {t: [] for t in (*TOOLS, "rung_shadow")} for key, *_ in SCENARIOS
        }
        logged = {
            "records": 0,
            "ok_responses": 0,
            "sent": 0,
            "shadow_records": 0,
            "shadow_ok": 0,
            "shadow_sent": 0,
        }
        counted: int | None = None  # records in the log after the last rung run, settled
        for rep in range(reps):
            for i, (key, _label, model, kind, conc) in enumerate(SCENARIOS):
                tools: list[str] = list(TOOLS)
                if has_shadow and key in SHADOW_SCENARIOS:
                    tools.insert(1, "rung_shadow")  # next to plain rung
                shift = (rep + i) % len(tools)
                order = tools[shift:] + tools[:shift]
                line = []
                for tool in order:
                    url, h = target(tool, model)
                    src = "rung" if tool == "rung_shadow" else tool
                    if src == "rung" and counted is None:
                        counted = settled_count(db)  # the harness's own requests' records
                    r = load(url, h, body[src, kind], conc)
                    if src == "rung":
                        before, counted = counted or 0, settled_count(db)
                        n = counted - before
                        r["logged_records"] = n
                        pre = "shadow_" if tool == "rung_shadow" else ""
                        logged[f"{pre}records"] += n
                        logged["shadow_ok" if pre else "ok_responses"] += r["ok_total"]
                        logged["shadow_sent" if pre else "sent"] += r["sent_total"]
                    runs[key][tool].append(sb.slim(r))
                    line.append(
                        f"{tool} {r['rps']:6.0f} rps p50 {r['p50_ms'] or 0:6.1f}"
                        f" p99 {r['p99_ms'] or 0:6.1f} err {r['errors']}"
                    )
                log(f"    rep {rep + 1}/{reps} {key:11s}: " + " | ".join(line))
        res["logging"] = sb.logging_checked(logged, notes)
    finally:
        for s in servers.values():
            s.stop()
        res["server_logs_tail"] = {k: s.tail(8) for k, s in servers.items()}

    res["scenarios"] = summarise(runs)
    res["goals"] = goals(res["scenarios"], has_shadow)
    if notes:
        res["warnings"] = notes
        for k, n in notes.items():
            log(f"  WARNING {k}: {n}")
    return res


def summarise(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Medians per scenario and server; ratios of rung to each peer (and shadow to plain)."""
    out: dict[str, Any] = {}
    for key, label, model, kind, conc in SCENARIOS:
        row: dict[str, Any] = {"label": label, "model": model, "kind": kind, "concurrency": conc}
        for tool, rs in runs[key].items():
            if not rs:
                continue
            row[tool] = {
                "rps": sb.med([r["rps"] for r in rs]),
                "p50_ms": sb.med([r["p50_ms"] for r in rs]),
                "p99_ms": sb.med([r["p99_ms"] for r in rs]),
                "errors": sum(r["errors"] for r in rs),
                "loadgen_cpu_share": sb.med([r["loadgen_cpu_share"] for r in rs]),
                "samples": rs,
            }
        g = row["rung"]
        for peer in ("mlserver", "mlflow", "rung_shadow"):
            p = row.get(peer)
            if p is None:
                continue
            if peer == "rung_shadow":  # the cost of shadow mode: shadow vs plain
                row["shadow_cost"] = {
                    "rps_ratio": _div(p["rps"], g["rps"]),
                    "p50_delta_ms": None
                    if p["p50_ms"] is None or g["p50_ms"] is None
                    else p["p50_ms"] - g["p50_ms"],
                }
                continue
            row[f"vs_{peer}"] = {m: _div(g[m], p[m]) for m in ("rps", "p50_ms", "p99_ms")}
        out[key] = row
    return out


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def goals(scen: dict[str, Any], has_shadow: bool) -> list[dict[str, Any]]:
    """The issue's three goals, each with what was measured and PASS/FAIL (or SKIPPED)."""
    out = []
    for key, name, rps_goal, p99_goal in (
        (
            "light_c64",
            "light model, concurrency 64: rung ≥ 2× MLServer's rps, p99 ≤ ½×",
            GOAL_LIGHT_RPS,
            GOAL_LIGHT_P99,
        ),
        (
            "forest_c64",
            "forest, concurrency 64: rung ≥ MLServer's batched rps, p99 ≤",
            GOAL_FOREST_RPS,
            GOAL_FOREST_P99,
        ),
    ):
        v, g = scen[key]["vs_mlserver"], scen[key]["rung"]
        ok = (
            v["rps"] is not None
            and v["p99_ms"] is not None
            and v["rps"] >= rps_goal
            and v["p99_ms"] <= p99_goal
            and g["errors"] == 0
        )
        out.append(
            {
                "goal": name,
                "measured": f"rps {_x(v['rps'])}, p99 {_x(v['p99_ms'])}",
                "status": "PASS" if ok else "FAIL",
            }
        )
    name = "shadow mode: ≥ 90 % of plain throughput (c64), p50 ≤ +1 ms (c1)"
    if not has_shadow:
        out.append({"goal": name, "measured": "—", "status": "SKIPPED (no --shadow in this rung)"})
    else:
        rps = scen["light_c64"]["shadow_cost"]["rps_ratio"]
        d50 = scen["light_c1"]["shadow_cost"]["p50_delta_ms"]
        errs = sum(scen[k]["rung_shadow"]["errors"] for k in SHADOW_SCENARIOS)
        ok = (
            rps is not None
            and d50 is not None
            and rps >= GOAL_SHADOW_RPS
            and d50 <= GOAL_SHADOW_P50_MS
            and errs == 0
        )
        out.append(
            {
                "goal": name,
                "measured": f"rps {_x(rps)}, p50 {'—' if d50 is None else f'{d50:+.2f} ms'}",
                "status": "PASS" if ok else "FAIL",
            }
        )
    return out


def _x(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}×"


HEADER = [
    "scenario",
    "server",
    "rps",
    "p50",
    "p99",
    "errors",
    "rung rps / this",
    "rung p50 / this",
    "rung p99 / this",
]


def rows(r: dict[str, Any]) -> list[list[str]]:
    out = []
    for row in r["scenarios"].values():
        for tool in ("rung", "rung_shadow", "mlserver", "mlflow"):
            x = row.get(tool)
            if x is None:
                continue
            rps = sb._rps(x["rps"])
            if row["kind"] == "batch" and x["rps"] is not None:
                rps += f" ({x['rps'] * sb.BATCH_ROWS:,.0f} rows/s)"
            v = row.get(f"vs_{tool}", {})
            if tool == "rung_shadow":
                c = row["shadow_cost"]
                d50 = c["p50_delta_ms"]
                ratio = [
                    f"shadow/plain {_x(c['rps_ratio'])}",
                    f"{d50:+.2f} ms" if d50 is not None else "—",
                    "",
                ]
            elif tool == "rung":
                ratio = ["", "", ""]
            else:
                ratio = [_x(v.get("rps")), _x(v.get("p50_ms")), _x(v.get("p99_ms"))]
            out.append(
                [
                    row["label"],
                    TOOL_LABEL[tool],
                    rps,
                    sb._ms(x["p50_ms"]),
                    sb._ms(x["p99_ms"]),
                    str(x["errors"]),
                    *ratio,
                ]
            )
    return out


def notes(r: dict[str, Any]) -> str:
    """Goals (PASS/FAIL) and how it ran, as Markdown."""
    lines = ["| goal | measured | result |", "|---|---|---|"]
    lines += [f"| {g['goal']} | {g['measured']} | **{g['status']}** |" for g in r["goals"]]
    v, lg, w = r["versions"], r.get("logging", {}), r["workers"]
    agree = r.get("agreement", {})
    same = all(a.get("answers_identical") and a.get("peer_fits_identical") for a in agree.values())
    shadow_line = ""
    if lg.get("shadow_ok"):
        shadow_line = (
            f" Shadow server: {lg['shadow_records']:,} records for {lg['shadow_ok']:,} 2xx"
            " responses (the answer's and the challenger's)."
        )
    bullets = [
        f'rung: `rung serve NAME@champion --workers {w}`, `POST /predict` `{{"records": [...]}}`'
        f" (predictions, probabilities, version, request id); tokens {r['rung_tokens']}"
        + (
            "; a request without a token got 401"
            if r.get("rung_refuses_without_token")
            else (
                "; a request without a token was NOT refused"
                if "rung_refuses_without_token" in r
                else ""
            )
        )
        + f"; shadow mode {r['rung_shadow']}. Prediction log on: {lg.get('records', 0):,}"
        f" records for {lg.get('ok_responses', 0):,} 2xx responses read and"
        f" {lg.get('sent', 0):,} requests sent, warm-ups included"
        + (
            " (every answer logged; the difference: requests in flight when the generator"
            " stopped, answered and logged but never read)."
            if lg.get("complete")
            else " (**MISMATCH**)."
        )
        + shadow_line,
        f"MLServer {v['mlserver']} with mlserver-sklearn (`mlserver start`, both models,"
        f" `parallel_workers: {w}`, adaptive batching `max_batch_size`"
        f" {r['mlserver_batching']['max_batch_size']}, `max_batch_time`"
        f" {r['mlserver_batching']['max_batch_time_s']} s), `POST /v2/models/NAME/infer` with one"
        " input per column (request content type `pd`), default output `predict`;"
        f" {sb.stack_text(v['mlserver_stack'])}, its default access log on.",
        f"MLflow {v['mlflow']}: `mlflow models serve -m models:/… --env-manager local -w {w}`"
        f' per model, `POST /invocations` `{{"dataframe_records": [...]}}`, uvicorn forced onto'
        " httptools + uvloop (as in (e)).",
        f"Same models (scikit-learn {v['mlserver_sklearn']} everywhere, fitted on the same CSV):"
        + (
            " every server gave identical predictions on the 1,000-row batch."
            if same
            else " the servers' answers DIFFER."
        )
        + f" Medians of {r['reps']} repetitions of {r['duration_s']:g} s after {r['warmup_s']:g} s of"
        " warm-up; load from `benchmarks/loadgen.py` (one process, 127.0.0.1, stops by itself),"
        " the order of the servers rotating per scenario and repetition.",
    ]
    return "\n".join(lines) + "\n\n" + "\n".join("* " + b for b in bullets)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mlserver-prepare", help="MLServer's venv: fit, write the model repository")
    m.add_argument("--data", required=True)
    m.add_argument("--repo", required=True)
    m.add_argument("--batch", required=True, help="JSON list of records, for the agreement check")
    m.add_argument("--workers", type=int, required=True)
    m.add_argument("--http-port", type=int, required=True)
    m.add_argument("--grpc-port", type=int, required=True)
    m.add_argument("--metrics-port", type=int, required=True)
    m.add_argument("--max-batch-size", type=int, default=MAX_BATCH_SIZE)
    m.add_argument("--max-batch-time", type=float, default=MAX_BATCH_TIME)
    f = sub.add_parser("mlflow-log", help="peers' venv: fit and log both models with MLflow")
    f.add_argument("--data", required=True)
    f.add_argument("--store", required=True)
    f.add_argument("--batch", required=True)
    a = ap.parse_args(argv)
    {"mlserver-prepare": cmd_mlserver_prepare, "mlflow-log": cmd_mlflow_log}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
