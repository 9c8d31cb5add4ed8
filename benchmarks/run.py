#!/usr/bin/env python
"""rung against its peers (DVC, ZenML, MLflow, Evidently), side by side in one run.

Run it with rung's own venv python (``make bench``, ``bash benchmarks/run.sh`` or
``.venv/bin/python benchmarks/run.py``). Peers run from ``benchmarks/.venv-peers`` (created by
``setup_peers.sh``, called from here when needed) through subprocesses; Evidently from
``benchmarks/.venv-evidently`` (``setup_evidently.sh``).

    python benchmarks/run.py                 # everything, 5 repetitions, full sizes
    python benchmarks/run.py --quick         # smoke test: small sizes, 3 repetitions
    python benchmarks/run.py --only b        # a | b | c | d | e | serve | f | fa | cli | sync | runs (or a,b)
    python benchmarks/run.py --only serve    # serving: rung vs MLServer and MLflow (~10 min)

Comparisons (see benchmarks/README.md):
  a    versioning 1 GiB as one file and as 10,000 files of 100 KiB: `dvc add` vs `rung data add`
  b    no-op re-run of a 3-step pipeline: `dvc repro`, cached ZenML run, `rung run`
  c    tracking: 10,000 x log_metric; 500 runs x (5 params + 5 metrics): MLflow+SQLite vs rung
  d    one model on 4 datasets of 20,000 rows: `rung eval` (one call) vs 4 x mlflow.models.evaluate
  e    serving one scikit-learn model: `rung serve` vs `mlflow models serve` (serve_bench.py)
  serve  serving, issue 12: `rung serve` (tokens, prediction log, shadow mode) vs MLServer with
       adaptive batching and `mlflow models serve`; a light model and a 100-tree forest
       (serve_peers.py)
  f    data drift of 2 x 100,000 and 2 x 1,000,000 rows x 25 columns: Evidently's DataDriftPreset
       vs rung's compare_frames (time, peak memory, flagged columns; scripts/drift_bench.py)
  fa   drift false alarms of rung's default verdicts on in-distribution windows of 100, 1,000 and
       10,000 rows, and their power on (f)'s shifts (rung alone; scripts/drift_false_alarms.py)
  cli  `rung --help` wall time; `import rung` must not import pandas/sklearn/sqlalchemy/fastapi

Prints a table per comparison, a Markdown summary, and writes benchmarks/results/latest.json
(and latest.md). Exit status: 0 when every measurement ran (goals met or not), 1 when a
measurement failed, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import serve_bench
import serve_peers

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCRIPTS = HERE / "scripts"
RESULTS = HERE / "results"

GiB = 1024**3
MB = 1e6  # throughput is reported in decimal MB/s

TELEMETRY_OFF = {
    "DVC_NO_ANALYTICS": "1",
    "ZENML_ANALYTICS_OPT_IN": "false",
    "DO_NOT_TRACK": "1",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
}

HEAVY = ("pandas", "sklearn", "sqlalchemy", "fastapi")


# -- small helpers ------------------------------------------------------------------------


def log(msg: str) -> None:
    print(msg, flush=True)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def summary(xs: list[float]) -> dict[str, Any]:
    return {
        "n": len(xs),
        "median": median(xs),
        "min": min(xs),
        "max": max(xs),
        "samples": xs,
    }


class Failed(RuntimeError):
    pass


class Env:
    """Where the tools live and the environment their processes get."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.rung_python = Path(args.rung_python or sys.executable)
        rung_cli = self.rung_python.parent / "rung"
        self.rung = [str(rung_cli)] if rung_cli.exists() else None
        self.peers_venv = Path(args.peers_venv)
        self.peer_bin = self.peers_venv / "bin"
        self.peer_python = str(self.peer_bin / "python")
        self.evidently_venv = Path(args.evidently_venv)
        self.evidently_python = str(self.evidently_venv / "bin" / "python")
        self.mlserver_venv = Path(args.mlserver_venv)
        self.mlserver_python = str(self.mlserver_venv / "bin" / "python")
        self.tmp = Path(args.tmp)
        self.work = self.tmp / "work"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RUNG_")}
        self.env.update(TELEMETRY_OFF)
        # DVC keeps its stat-cache database outside the repo: keep it in our temp dir
        self.env["DVC_SITE_CACHE_DIR"] = str(self.work / "dvc-site-cache")
        self.env.setdefault("GIT_AUTHOR_NAME", "bench")
        self.env.setdefault("GIT_AUTHOR_EMAIL", "bench@example.invalid")
        self.env.setdefault("GIT_COMMITTER_NAME", "bench")
        self.env.setdefault("GIT_COMMITTER_EMAIL", "bench@example.invalid")
        self.env["PYTHONUNBUFFERED"] = "1"

    def peer(self, tool: str) -> str:
        return str(self.peer_bin / tool)

    def fresh_dir(self, name: str) -> Path:
        d = self.work / name
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        return d


def run_cmd(
    cmd: list[str],
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    check: bool = True,
) -> tuple[float, str]:
    """Run ``cmd`` to completion; return (wall seconds, stdout+stderr)."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise Failed(f"timed out after {timeout:.0f} s: {' '.join(cmd)}") from exc
    elapsed = time.perf_counter() - t0
    out = proc.stdout.decode("utf-8", "replace")
    if check and proc.returncode != 0:
        tail = "\n".join(out.strip().splitlines()[-15:])
        raise Failed(f"exit {proc.returncode}: {' '.join(cmd)} (in {cwd})\n{tail}")
    return elapsed, out


def tree_stats(path: Path) -> dict[str, int]:
    """Files, bytes and hard-linked files under ``path`` (to see how a tool stored data)."""
    files = size = linked = 0
    if not path.exists():
        return {"files": 0, "bytes": 0, "hardlinked_files": 0}
    for dirpath, _dirs, names in os.walk(path):
        for n in names:
            st = os.lstat(os.path.join(dirpath, n))
            files += 1
            size += st.st_size
            linked += st.st_nlink > 1
    return {"files": files, "bytes": size, "hardlinked_files": linked}


# -- table printing -----------------------------------------------------------------------


def fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    if x >= 100:
        return f"{x:.0f} s"
    if x >= 1:
        return f"{x:.2f} s"
    if x >= 0.01:
        return f"{x * 1000:.0f} ms"
    return f"{x * 1000:.2f} ms"


def fmt_ms(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3f} ms" if x < 1 else f"{x:.1f} ms"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.1f}×" if x < 100 else f"{x:.0f}×"


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    log("")
    log(title)
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    log(line)
    log("-" * len(line))
    for r in rows:
        log("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


def md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


# -- (a) data versioning --------------------------------------------------------------------


def make_data(env: Env, quick: bool, one_bytes: int, many_n: int, many_size: int) -> dict[str, Any]:
    """Random bytes generated once under the temp dir (reused while the spec is unchanged)."""
    base = env.tmp / "data"
    spec = f"one={one_bytes}-many={many_n}x{many_size}-v1"
    marker = base / ".complete"
    one = base / "one"
    many = base / "many"
    if not (marker.exists() and marker.read_text() == spec):
        if base.exists():
            shutil.rmtree(base)
        one.mkdir(parents=True)
        many.mkdir(parents=True)
        log(f"  generating test data in {base} ({spec}) …")
        t0 = time.perf_counter()
        rng = random.Random(20240601)
        chunk = 64 * 1024 * 1024
        with open(one / "blob.bin", "wb") as f:
            left = one_bytes
            while left:
                n = min(chunk, left)
                f.write(rng.randbytes(n))
                left -= n
        per_dir = 100
        for i in range(many_n):
            d = many / f"d{i // per_dir:03d}"
            if i % per_dir == 0:
                d.mkdir()
            (d / f"f{i:05d}.bin").write_bytes(rng.randbytes(many_size))
        os.sync()
        marker.write_text(spec)
        log(f"  generated in {time.perf_counter() - t0:.1f} s")
    return {
        "one_file": {"path": one, "bytes": one_bytes, "files": 1},
        "many_files": {"path": many, "bytes": many_n * many_size, "files": many_n},
    }


def copy_data(src: Path, dst: Path) -> None:
    if src.is_dir() and src.name == "one":  # one file: copy just the file as ``data.bin``
        shutil.copyfile(src / "blob.bin", dst)
    else:
        shutil.copytree(src, dst)
    os.sync()  # no dirty pages left to be written back while a tool is being timed


def bench_a(env: Env, args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    one_bytes = 64 * 1024 * 1024 if quick else GiB
    many_n = 500 if quick else 10_000
    many_size = 100 * 1024
    reps = args.reps
    shapes = make_data(env, quick, one_bytes, many_n, many_size)
    timeout = 1800
    result: dict[str, Any] = {"reps": reps, "shapes": {}}

    for shape, info in shapes.items():
        log(f"  {shape}: {info['files']} file(s), {info['bytes'] / MB:.0f} MB, {reps} reps")
        samples: dict[str, dict[str, list[float]]] = {
            t: {"add": [], "readd": []} for t in ("dvc", "rung")
        }
        stored: dict[str, Any] = {}
        target = "data.bin" if shape == "one_file" else "data"
        for rep in range(reps):
            order = ("dvc", "rung") if rep % 2 == 0 else ("rung", "dvc")
            for tool in order:
                d = env.fresh_dir(f"a-{tool}-{shape}-{rep}")
                if tool == "dvc":
                    run_cmd(["git", "init", "-q"], d, env.env, 60)
                    run_cmd([env.peer("dvc"), "init", "-q"], d, env.env, 120)
                    cmd = [env.peer("dvc"), "add", "-q", target]
                else:
                    run_cmd([*env.rung, "init", "."], d, env.env, 120)
                    cmd = [*env.rung, "data", "add", target, "--name", "bench"]
                copy_data(info["path"], d / target)
                t_add, out = run_cmd(cmd, d, env.env, timeout)
                t_readd, out2 = run_cmd(cmd, d, env.env, timeout)
                samples[tool]["add"].append(t_add)
                samples[tool]["readd"].append(t_readd)
                if rep == 0:
                    store = d / ".dvc" / "cache" if tool == "dvc" else d / ".rung"
                    stored[tool] = {"store": str(store.relative_to(d)), **tree_stats(store)}
                    if tool == "dvc" and not (d / f"{target}.dvc").exists():
                        raise Failed(f"dvc add left no {target}.dvc")
                    if tool == "rung":
                        stored[tool]["output_first"] = out.strip()[-300:]
                        stored[tool]["output_readd"] = out2.strip()[-300:]
                log(
                    f"    rep {rep + 1}/{reps} {tool:4s}: add {t_add:7.2f} s"
                    f" ({info['bytes'] / MB / t_add:6.0f} MB/s), re-add {t_readd:6.2f} s"
                )
                shutil.rmtree(d)
                os.sync()  # deleting 2 GB queues discards: let them finish before the next timing
        res: dict[str, Any] = {"bytes": info["bytes"], "files": info["files"], "stored": stored}
        for tool in ("dvc", "rung"):
            add = summary(samples[tool]["add"])
            add["mb_per_s"] = info["bytes"] / MB / add["median"]
            res[tool] = {"add": add, "readd": summary(samples[tool]["readd"])}
        res["throughput_ratio"] = res["rung"]["add"]["mb_per_s"] / res["dvc"]["add"]["mb_per_s"]
        res["readd_speedup"] = res["dvc"]["readd"]["median"] / res["rung"]["readd"]["median"]
        res["goal"] = "rung ≥ 3× DVC's throughput"
        res["goal_met"] = res["throughput_ratio"] >= 3
        result["shapes"][shape] = res
    return result


def rows_a(r: dict[str, Any]) -> list[list[str]]:
    rows = []
    label = {"one_file": "1 file", "many_files": "many files"}
    for shape, s in r["shapes"].items():
        what = (
            f"{s['bytes'] / MB:,.0f} MB as one file"
            if s["files"] == 1
            else f"{s['bytes'] / MB:,.0f} MB as {s['files']:,} files"
        )
        d, g = s["dvc"], s["rung"]
        rows.append(
            [
                f"add, {what}",
                f"{d['add']['mb_per_s']:.0f} MB/s ({fmt_s(d['add']['median'])})",
                f"{g['add']['mb_per_s']:.0f} MB/s ({fmt_s(g['add']['median'])})",
                fmt_ratio(s["throughput_ratio"]),
                "≥3×",
                "yes" if s["goal_met"] else "NO",
            ]
        )
        rows.append(
            [
                f"re-add unchanged, {label[shape]}",
                fmt_s(d["readd"]["median"]),
                fmt_s(g["readd"]["median"]),
                fmt_ratio(s["readd_speedup"]),
                "(secondary)",
                "",
            ]
        )
    return rows


HEADER_A = ["measure", "dvc add", "rung data add", "rung vs dvc", "goal", "met"]


# -- (b) no-op pipeline re-run ---------------------------------------------------------------


def write_csv(path: Path, rows: int = 1000) -> None:
    rng = random.Random(7)
    with open(path, "w") as f:
        f.write("a,b,c,y\n")
        for _ in range(rows):
            f.write(",".join(f"{rng.random():.6f}" for _ in range(4)) + "\n")


def bench_b(env: Env, args: argparse.Namespace) -> dict[str, Any]:
    reps = args.reps
    timeout = 600
    setups: dict[str, dict[str, Any]] = {}

    # DVC: a git + dvc repo with 3 stages, one python script each (code declared as a dep)
    d = env.fresh_dir("b-dvc")
    write_csv(d / "data.csv")
    shutil.copy(SCRIPTS / "dvc_stages.py", d)
    tmpl = (SCRIPTS / "dvc_pipeline.yaml.tmpl").read_text()
    (d / "dvc.yaml").write_text(tmpl.replace("{python}", env.peer_python))
    run_cmd(["git", "init", "-q"], d, env.env, 60)
    run_cmd([env.peer("dvc"), "init", "-q"], d, env.env, 120)
    t_first, out = run_cmd([env.peer("dvc"), "repro"], d, env.env, timeout)
    if not (d / "model.json").exists():
        raise Failed("dvc repro produced no model.json:\n" + out[-800:])
    setups["dvc"] = {
        "cmd": [env.peer("dvc"), "repro"],
        "cwd": d,
        "first_s": t_first,
        "cached": lambda o: "Running stage" not in o and "up to date" in o,
    }

    # ZenML: `zenml init` repo, default local stack; global config kept inside the folder
    d = env.fresh_dir("b-zenml")
    write_csv(d / "data.csv")
    shutil.copy(SCRIPTS / "pipeline_zenml.py", d)
    zenv = dict(env.env)
    zenv["ZENML_CONFIG_PATH"] = str(d / ".zenml-global")
    zenv["ZENML_LOGGING_COLORS_DISABLED"] = "true"
    run_cmd([env.peer("zenml"), "init"], d, zenv, 300)
    t_first, out = run_cmd([env.peer_python, "pipeline_zenml.py"], d, zenv, timeout)
    setups["zenml"] = {
        "cmd": [env.peer_python, "pipeline_zenml.py"],
        "cwd": d,
        "env": zenv,
        "first_s": t_first,
        "cached": lambda o: (
            "All steps of the pipeline run were cached" in o
            or o.count("Using cached version of step") >= 3
        ),
    }

    # rung: `rung init` workspace; the pipeline file sits in it, run from within it
    d = env.fresh_dir("b-rung")
    write_csv(d / "data.csv")
    shutil.copy(SCRIPTS / "pipeline_rung.py", d)
    run_cmd([*env.rung, "init", "."], d, env.env, 120)
    t_first, out = run_cmd([*env.rung, "run", "pipeline_rung.py:pipe"], d, env.env, timeout)
    setups["rung"] = {
        "cmd": [*env.rung, "run", "pipeline_rung.py:pipe"],
        "cwd": d,
        "first_s": t_first,
        "cached": lambda o: (
            bool(re.search(r"all 3 steps cached|nothing executed|3 cached", o))
            or len(re.findall(r"\bcached\b", o)) >= 3
        ),
    }
    for tool, s in setups.items():
        log(f"  warm first run: {tool:5s} {s['first_s']:6.2f} s")

    samples: dict[str, list[float]] = {t: [] for t in setups}
    notes: dict[str, str] = {}
    tools = list(setups)
    for rep in range(reps):
        order = tools[rep % len(tools) :] + tools[: rep % len(tools)]
        for tool in order:
            s = setups[tool]
            t, out = run_cmd(s["cmd"], s["cwd"], s.get("env", env.env), timeout)
            samples[tool].append(t)
            if not s["cached"](out):
                notes[tool] = "output did not show all steps cached: " + out.strip()[-400:]
        times = ", ".join(f"{t} {samples[t][-1]:.2f} s" for t in tools)
        log(f"    rep {rep + 1}/{reps}: {times}")
    res: dict[str, Any] = {"reps": reps}
    for tool in tools:
        res[tool] = {**summary(samples[tool]), "first_run_s": setups[tool]["first_s"]}
    res["speedup_vs_dvc"] = res["dvc"]["median"] / res["rung"]["median"]
    res["speedup_vs_zenml"] = res["zenml"]["median"] / res["rung"]["median"]
    res["goal_dvc"] = "rung ≥ 5× faster than dvc repro"
    res["goal_zenml"] = "rung ≥ 20× faster than a cached ZenML run"
    res["goal_dvc_met"] = res["speedup_vs_dvc"] >= 5
    res["goal_zenml_met"] = res["speedup_vs_zenml"] >= 20
    if notes:
        res["warnings"] = notes
        for tool, n in notes.items():
            log(f"  WARNING {tool}: {n}")
    return res


def rows_b(r: dict[str, Any]) -> list[list[str]]:
    g = r["rung"]["median"]
    return [
        [
            "no-op re-run, 3 steps",
            "dvc repro",
            fmt_s(r["dvc"]["median"]),
            fmt_s(g),
            fmt_ratio(r["speedup_vs_dvc"]),
            "≥5×",
            "yes" if r["goal_dvc_met"] else "NO",
        ],
        [
            "no-op re-run, 3 steps",
            "ZenML cached run",
            fmt_s(r["zenml"]["median"]),
            fmt_s(g),
            fmt_ratio(r["speedup_vs_zenml"]),
            "≥20×",
            "yes" if r["goal_zenml_met"] else "NO",
        ],
    ]


HEADER_B = ["measure", "peer", "peer time", "rung run", "rung faster by", "goal", "met"]


# -- (c) tracking ------------------------------------------------------------------------------


def bench_c(env: Env, args: argparse.Namespace) -> dict[str, Any]:
    reps = args.reps
    if args.quick:
        rung_n, rung_runs, ml_n, ml_runs = 1000, 50, 200, 20
    else:
        rung_n, rung_runs = 10_000, 500
        ml_n, ml_runs = (10_000, 500) if args.mlflow_full else (1000, 100)
    wd_m = env.fresh_dir("c-mlflow")
    wd_r = env.fresh_dir("c-rung")
    log(f"  mlflow: {ml_n} log_metric calls, {ml_runs} runs, {reps} reps (fresh SQLite each)")
    _, out_m = run_cmd(
        [
            env.peer_python,
            str(SCRIPTS / "tracking_mlflow.py"),
            "--workdir",
            str(wd_m),
            "--metrics",
            str(ml_n),
            "--runs",
            str(ml_runs),
            "--reps",
            str(reps),
        ],
        wd_m,
        env.env,
        3600,
    )
    log(
        f"  rung:   {rung_n} log_metric calls, {rung_runs} runs, {reps} reps (fresh workspace each)"
    )
    _, out_r = run_cmd(
        [
            str(env.rung_python),
            str(SCRIPTS / "tracking_rung.py"),
            "--workdir",
            str(wd_r),
            "--metrics",
            str(rung_n),
            "--runs",
            str(rung_runs),
            "--reps",
            str(reps),
        ],
        wd_r,
        env.env,
        1800,
    )
    m = json.loads(out_m.strip().splitlines()[-1])
    g = json.loads(out_r.strip().splitlines()[-1])
    res: dict[str, Any] = {"reps": reps}
    for name, raw in (("mlflow", m), ("rung", g)):
        met = summary(raw["metrics_s"])
        rns = summary(raw["runs_s"])
        res[name] = {
            "version": raw["version"],
            "import_s": raw["import_s"],
            "metrics_calls": raw["metrics_n"],
            "metrics_s": met,
            "per_metric_ms": met["median"] / raw["metrics_n"] * 1000,
            "runs_n": raw["runs_n"],
            "runs_s": rns,
            "per_run_ms": rns["median"] / raw["runs_n"] * 1000,
        }
        # totals for the stated workload (10,000 calls; 500 runs), measured or extrapolated
        res[name]["total_10k_metrics_s"] = res[name]["per_metric_ms"] * 10_000 / 1000
        res[name]["total_500_runs_s"] = res[name]["per_run_ms"] * 500 / 1000
        res[name]["extrapolated"] = raw["metrics_n"] != 10_000 or raw["runs_n"] != 500
        log(
            f"    {name:6s}: {res[name]['per_metric_ms']:.3f} ms/log_metric,"
            f" {res[name]['per_run_ms']:.2f} ms/run (import {raw['import_s']:.2f} s)"
        )
    res["metric_speedup"] = res["mlflow"]["per_metric_ms"] / res["rung"]["per_metric_ms"]
    res["runs_speedup"] = res["mlflow"]["per_run_ms"] / res["rung"]["per_run_ms"]
    res["goal"] = "rung ≥ 20× faster than MLflow (SQLite)"
    res["metric_goal_met"] = res["metric_speedup"] >= 20
    res["runs_goal_met"] = res["runs_speedup"] >= 20
    return res


def rows_c(r: dict[str, Any]) -> list[list[str]]:
    m, g = r["mlflow"], r["rung"]

    def tot(x: dict[str, Any], key: str, n_key: str, n: int) -> str:
        s = fmt_s(x[key])
        return s if x[n_key] == n else f"≈{s} (extrapolated from {x[n_key]:,})"

    return [
        [
            "log_metric, per call",
            fmt_ms(m["per_metric_ms"]),
            fmt_ms(g["per_metric_ms"]),
            fmt_ratio(r["metric_speedup"]),
            "≥20×",
            "yes" if r["metric_goal_met"] else "NO",
        ],
        [
            "10,000 log_metric calls, total",
            tot(m, "total_10k_metrics_s", "metrics_calls", 10_000),
            tot(g, "total_10k_metrics_s", "metrics_calls", 10_000),
            "",
            "",
            "",
        ],
        [
            "run with 5 params + 5 metrics, per run",
            fmt_ms(m["per_run_ms"]),
            fmt_ms(g["per_run_ms"]),
            fmt_ratio(r["runs_speedup"]),
            "≥20×",
            "yes" if r["runs_goal_met"] else "NO",
        ],
        [
            "500 such runs, total",
            tot(m, "total_500_runs_s", "runs_n", 500),
            tot(g, "total_500_runs_s", "runs_n", 500),
            "",
            "",
            "",
        ],
    ]


HEADER_C = ["measure", "MLflow (SQLite)", "rung", "rung faster by", "goal", "met"]


# -- (d) evaluation on 4 datasets --------------------------------------------------------------

EVAL_SETS = ("d1", "d2", "d3", "d4")
EVAL_LABEL = "y"
# rung metric -> MLflow default-evaluator metric (binary, positive label 1): compared per dataset
EVAL_SAME = {
    "accuracy": "accuracy_score",
    "precision_1": "precision_score",
    "recall_1": "recall_score",
    "f1_1": "f1_score",
    "roc_auc": "roc_auc",
    "log_loss": "log_loss",
}


def json_in(out: str) -> Any:
    """The JSON object a script or `--format json` printed (other lines are logs)."""
    lines = out.splitlines()
    dec = json.JSONDecoder()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                return dec.raw_decode("\n".join(lines[i:]))[0]
    raise Failed("no JSON object in the output:\n" + out.strip()[-800:])


def make_eval_data(env: Env, rows: int) -> tuple[Path, dict[str, Any]]:
    """The training set and d1..d4 as Parquet, generated once (kept while the spec holds)."""
    script = SCRIPTS / "eval_data.py"
    base = env.tmp / "eval-data"
    spec = f"rows={rows}-{hashlib.sha256(script.read_bytes()).hexdigest()[:12]}"
    marker = base / ".complete"
    if not (marker.exists() and marker.read_text() == spec):
        if base.exists():
            shutil.rmtree(base)
        base.mkdir(parents=True)
        log(f"  generating the training set and {len(EVAL_SETS)} datasets in {base} ({spec}) …")
        _, out = run_cmd(
            [str(env.rung_python), str(script), "--out", str(base), "--rows", str(rows)],
            base,
            env.env,
            600,
        )
        (base / "info.json").write_text(json.dumps(json_in(out), indent=2))
        marker.write_text(spec)
    return base, json.loads((base / "info.json").read_text())


def rung_produced(ev: dict[str, Any]) -> dict[str, Any]:
    """What one rung evaluation (``Evaluation.to_dict()``) holds."""
    details = ev["details"].values()
    return {
        "evaluation_id": ev["id"],
        "table_rows": [d["ref"] for d in ev["datasets"]] + list(ev["aggregates"]),
        "metric_columns": [c for c in ev["columns"] if c != "examples"],
        "confusion_matrices": sum(1 for d in details if d.get("confusion")),
        "calibration_curves": sum(1 for d in details if d.get("calibration")),
        "verdict": ev["verdict"].get("status"),
        "recorded": True,
    }


def mlflow_produced(calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "calls": len(calls),
        "runs": len({c["run_id"] for c in calls}),
        "metrics_per_call": [len(c["metrics"]) for c in calls],
        "artifacts_per_call": [len(c["artifacts"]) for c in calls],
        "metric_names": sorted(calls[0]["metrics"]) if calls else [],
        "artifact_names": calls[0]["artifacts"] if calls else [],
        "aggregate_rows": 0,  # each call stands alone: no Total / Mean / Std across datasets
    }


def agreement(rung_ev: dict[str, Any], calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Both tools scored the same model on the same rows: their shared metrics must agree."""
    by_set = {c["dataset"]: c["metrics"] for c in calls}
    diffs: dict[str, float] = {}
    for s in EVAL_SETS:
        row = rung_ev["rows"].get(f"{s}@1", {})
        for ours, theirs in EVAL_SAME.items():
            if isinstance(row.get(ours), int | float) and theirs in by_set.get(s, {}):
                d = abs(float(row[ours]) - by_set[s][theirs])
                diffs[ours] = max(diffs.get(ours, 0.0), d)
    compared = len(diffs) == len(EVAL_SAME)
    worst = max(diffs.values(), default=float("nan"))
    return {"max_abs_diff": diffs, "compared_all": compared, "agree": compared and worst < 1e-6}


def bench_d(env: Env, args: argparse.Namespace) -> dict[str, Any]:
    reps = args.reps
    rows = 5000 if args.quick else 20_000
    data, info = make_eval_data(env, rows)
    parquet = {name: str(data / f"{name}.parquet") for name in ("train", *EVAL_SETS)}
    on = [f"{s}@1" for s in EVAL_SETS]
    res: dict[str, Any] = {"reps": reps, "rows_per_dataset": rows, "datasets": info}
    notes: dict[str, str] = {}

    # rung: a workspace with the 5 tables as dataset versions, and a pipeline run fitting the model
    wr = env.fresh_dir("d-rung")
    run_cmd([*env.rung, "init", "."], wr, env.env, 120)
    for name, path in parquet.items():
        run_cmd([*env.rung, "data", "add", path, "--name", name], wr, env.env, 300)
    shutil.copy(SCRIPTS / "eval_train_rung.py", wr)
    t_train, out = run_cmd(
        [*env.rung, "run", "eval_train_rung.py:train", "--json"], wr, env.env, 600
    )
    run = json_in(out)
    run_id = str(run["run"])
    # the very same estimator for MLflow: exported from the run's artifact, logged once
    wm = env.fresh_dir("d-mlflow")
    pkl = wm / "model.pkl"
    _, out = run_cmd(
        [
            str(env.rung_python),
            str(SCRIPTS / "eval_rung.py"),
            "export",
            "--workspace",
            str(wr),
            "--run",
            run_id,
            "--out",
            str(pkl),
        ],
        wr,
        env.env,
        300,
    )
    exported = json_in(out)
    store = wm / "store"
    _, out = run_cmd(
        [
            env.peer_python,
            str(SCRIPTS / "eval_mlflow.py"),
            "setup",
            "--store",
            str(store),
            "--model",
            str(pkl),
        ],
        wm,
        env.env,
        900,
    )
    logged = json_in(out)
    res["setup"] = {
        "model": exported["model"],
        "rung_run": run_id,
        "rung_run_s": t_train,
        "rung_model_hash": exported["hash"],
        "mlflow_model_uri": logged["model_uri"],
        "mlflow_log_model_s": logged["log_model_s"],
    }
    log(
        f"  model {exported['model']}: rung run {run_id} ({t_train:.1f} s, artifact"
        f" {exported['hash'][:12]}), logged to MLflow in {logged['log_model_s']:.1f} s"
        f" ({logged['model_uri']})"
    )

    def mlflow_cmd(mode: str) -> list[str]:
        return [
            env.peer_python,
            str(SCRIPTS / "eval_mlflow.py"),
            mode,
            "--store",
            str(store),
            "--model-uri",
            logged["model_uri"],
            "--label",
            EVAL_LABEL,
            *[x for s in EVAL_SETS for x in ("--data", parquet[s])],
        ]

    # whole processes, wall clock, tools alternating
    cmds = {
        "rung": (
            [
                *env.rung,
                "eval",
                run_id,
                *[x for ref in on for x in ("--on", ref)],
                "--label",
                EVAL_LABEL,
                "--format",
                "json",
            ],
            wr,
        ),
        "mlflow": (mlflow_cmd("once"), wm),
    }
    log(f"  whole processes: {len(EVAL_SETS)} datasets x {rows:,} rows, {reps} reps")
    whole: dict[str, list[float]] = {"rung": [], "mlflow": []}
    cold_calls: list[float] = []
    last: dict[str, Any] = {}
    for rep in range(reps):
        order = ("rung", "mlflow") if rep % 2 == 0 else ("mlflow", "rung")
        for tool in order:
            cmd, cwd = cmds[tool]
            t, out = run_cmd(cmd, cwd, env.env, 1200)
            whole[tool].append(t)
            last[tool] = json_in(out)
            if tool == "mlflow":
                cold_calls.append(last[tool]["calls_s"])
        log(
            f"    rep {rep + 1}/{reps}: rung eval {whole['rung'][-1]:.2f} s,"
            f" mlflow {whole['mlflow'][-1]:.2f} s"
        )
    res["whole"] = {
        "rung": summary(whole["rung"]),
        "mlflow": {**summary(whole["mlflow"]), "import_s": last["mlflow"]["import_s"]},
        "mlflow_calls_in_fresh_process": summary(cold_calls),
    }
    res["whole"]["speedup"] = res["whole"]["mlflow"]["median"] / res["whole"]["rung"]["median"]

    # in process, after import and a warm-up call on one dataset
    log(f"  in process (after import and one warm-up call): {reps} reps each")
    _, out = run_cmd(
        [
            str(env.rung_python),
            str(SCRIPTS / "eval_rung.py"),
            "time",
            "--workspace",
            str(wr),
            "--run",
            run_id,
            *[x for ref in on for x in ("--on", ref)],
            "--label",
            EVAL_LABEL,
            "--reps",
            str(reps),
        ],
        wr,
        env.env,
        1200,
    )
    ir = json_in(out)
    _, out = run_cmd(
        [*mlflow_cmd("time"), "--reps", str(reps)],
        wm,
        env.env,
        3600,
    )
    im = json_in(out)
    per_call = [s for rnd in im["per_call_s"] for s in rnd]
    res["inproc"] = {
        "rung": {
            **summary(ir["samples"]),
            "warmup_s": ir["warmup_s"],
            "heavy_modules_in_parent": ir["heavy_modules_in_parent"],
        },
        "mlflow": {
            **summary(im["samples"]),
            "warmup_s": im["warmup_s"],
            "per_call": summary(per_call),
        },
    }
    res["inproc"]["speedup"] = res["inproc"]["mlflow"]["median"] / res["inproc"]["rung"]["median"]
    res["inproc"]["rung"]["per_dataset_s"] = res["inproc"]["rung"]["median"] / len(EVAL_SETS)
    log(
        f"    rung ws.evaluate {fmt_s(res['inproc']['rung']['median'])},"
        f" mlflow 4 x evaluate {fmt_s(res['inproc']['mlflow']['median'])}"
    )

    # what each produced, and whether they agree
    res["produced"] = {
        "rung_cli": rung_produced(last["rung"]),
        "rung_library": rung_produced(ir["evaluation"]),
        "mlflow": mlflow_produced(last["mlflow"]["calls"]),
    }
    res["agreement"] = agreement(last["rung"], last["mlflow"]["calls"])
    res["versions"] = {"rung": ir["version"], "mlflow": im["version"]}
    if not res["agreement"]["agree"]:
        notes["agreement"] = f"rung and MLflow metrics differ: {res['agreement']['max_abs_diff']}"
    p = res["produced"]["rung_cli"]
    if len(p["table_rows"]) != len(EVAL_SETS) + 3 or p["confusion_matrices"] != len(EVAL_SETS):
        notes["rung"] = f"unexpected rung output: {p}"
    if notes:
        res["warnings"] = notes
        for k, n in notes.items():
            log(f"  WARNING {k}: {n}")
    return res


def produced_text(r: dict[str, Any]) -> tuple[str, str]:
    g, m = r["produced"]["rung_cli"], r["produced"]["mlflow"]
    n_sets = len(g["table_rows"]) - 3
    rung_txt = (
        f"1 recorded evaluation: Table 2 ({n_sets} rows + Total/Mean/Std)"
        f" × {len(g['metric_columns'])} metrics, {g['confusion_matrices']} confusion matrices,"
        f" {g['calibration_curves']} calibration curves"
    )
    mets = sorted(set(m["metrics_per_call"]))
    arts = sorted(set(m["artifacts_per_call"]))
    ml_txt = (
        f"{m['runs']} separate runs, each {'/'.join(map(str, mets))} metrics"
        f" + {'/'.join(map(str, arts))} plot artifacts; no cross-dataset rows"
    )
    return ml_txt, rung_txt


def rows_d(r: dict[str, Any]) -> list[list[str]]:
    n = len(EVAL_SETS)
    w, i = r["whole"], r["inproc"]
    ml_txt, rung_txt = produced_text(r)
    a = r["agreement"]
    worst = max(a["max_abs_diff"].values(), default=float("nan"))
    return [
        [
            f"{n} datasets × {r['rows_per_dataset']:,} rows, whole process (wall)",
            fmt_s(w["mlflow"]["median"]),
            fmt_s(w["rung"]["median"]),
            fmt_ratio(w["speedup"]),
        ],
        [
            f"{n} datasets, in process (after import, warm)",
            fmt_s(i["mlflow"]["median"]),
            fmt_s(i["rung"]["median"]),
            fmt_ratio(i["speedup"]),
        ],
        [
            "per dataset, in process",
            fmt_s(i["mlflow"]["per_call"]["median"]),
            fmt_s(i["rung"]["per_dataset_s"]),
            "",
        ],
        ["what it produced", ml_txt, rung_txt, ""],
        [
            f"shared metrics agree ({len(a['max_abs_diff'])}: accuracy … log_loss)",
            "",
            f"{'yes' if a['agree'] else 'NO'} (largest difference {worst:.1e})",
            "",
        ],
    ]


def d_notes(r: dict[str, Any]) -> str:
    """The paragraph under table (d): what was run, and what each tool produced."""
    s, w, i = r["setup"], r["whole"], r["inproc"]
    m, g = r["produced"]["mlflow"], r["produced"]["rung_cli"]
    shifts = ", ".join(f"{k} {v['shift']}" for k, v in r["datasets"].items() if k != "train")
    return (
        f"One model, `{s['model']}` fitted by rung run {s['rung_run']} (a one-step pipeline"
        f" on the training set), evaluated on {len(EVAL_SETS)} Parquet datasets of"
        f" {r['rows_per_dataset']:,} rows × 20 features (shifts: {shifts}). rung: one"
        f" `rung eval {s['rung_run']} --on d1@1 … --on d4@1 --label y --format json`"
        f" process; in process, `ws.evaluate(...)` on all {len(EVAL_SETS)} (rung scores the"
        " datasets in parallel worker processes). MLflow: the same estimator, logged once"
        f" with `mlflow.sklearn.log_model` ({s['mlflow_log_model_s']:.1f} s, untimed), then"
        f" one `mlflow.models.evaluate(model_uri, data=df, targets='y',"
        " model_type='classifier', evaluators=['default'])` per dataset (Parquet read"
        " included), one process, SQLite tracking store. Whole-process times include"
        f" interpreter start and imports (`import mlflow` {w['mlflow']['import_s']:.1f} s);"
        " in-process times follow one warm-up call on one dataset. In a fresh process MLflow's"
        f" 4 calls took {fmt_s(w['mlflow_calls_in_fresh_process']['median'])} after import"
        f" (first-call imports included). MLflow produced {m['runs']} runs with"
        f" {', '.join(m['metric_names'])} and the plots {', '.join(m['artifact_names'])}"
        " (defaults kept; SHAP explanations skipped: `shap` is not installed). rung"
        f" produced evaluation #{g['evaluation_id']} with Table 2 ({', '.join(g['table_rows'])})"
        f" over {', '.join(g['metric_columns'])}, plus per-dataset confusion matrices and"
        " calibration curves. The metrics both compute (accuracy, precision, recall and F1 of"
        " class 1, ROC AUC, log loss) "
        + ("agree to 1e-6 on every dataset." if r["agreement"]["agree"] else "DO NOT agree.")
        + " First call in a fresh process (one dataset, lazy imports): rung"
        f" {fmt_s(i['rung']['warmup_s'])}, MLflow {fmt_s(i['mlflow']['warmup_s'])}."
    )


HEADER_D = ["measure", "mlflow.models.evaluate × 4", "rung eval (one call)", "rung faster by"]


# -- (e) serving: rung serve vs mlflow models serve (benchmarks/serve_bench.py) -----------------


def bench_e(env: Env, args: argparse.Namespace) -> dict[str, Any]:
    return serve_bench.bench_e(env, args, run_cmd=run_cmd, error=Failed)


def bench_serve(env: Env, args: argparse.Namespace) -> dict[str, Any]:
    return serve_peers.bench_serve(env, args, run_cmd=run_cmd, error=Failed)


# -- (f) data drift: rung's compare_frames vs Evidently's DataDriftPreset ------------------------

DRIFT_SCRIPT = SCRIPTS / "drift_bench.py"
DRIFT_TOOLS = ("rung", "evidently")
# information only: rung again with scipy.special imported before the baseline. rung imports it
# lazily, inside compare_frames, for p-values it reports but does not judge by.
DRIFT_PRELOAD = "scipy.special"


def make_drift_data(env: Env, rows: int) -> tuple[Path, dict[str, Any]]:
    """The reference and current sets of ``rows`` × 25 columns as one .npz, generated once
    under the temp dir (kept while drift_bench.py is unchanged)."""
    base = env.tmp / "drift-data"
    tag = hashlib.sha256(DRIFT_SCRIPT.read_bytes()).hexdigest()[:12]
    path = base / f"rows-{rows}-{tag}.npz"
    info = path.with_suffix(".json")
    if not (path.exists() and info.exists()):
        base.mkdir(parents=True, exist_ok=True)
        for old in base.glob(f"rows-{rows}-*"):
            old.unlink()
        log(f"  generating 2 x {rows:,} rows x 25 columns into {path} …")
        t, out = run_cmd(
            [
                str(env.rung_python),
                str(DRIFT_SCRIPT),
                "gen",
                "--rows",
                str(rows),
                "--out",
                str(path),
            ],
            base,
            env.env,
            900,
        )
        info.write_text(json.dumps({**json_in(out), "generate_s": t}, indent=2))
    return path, json.loads(info.read_text())


def drift_side(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One tool's repetitions at one size: medians, and what it flagged."""
    if not runs:
        return None
    last = runs[-1]
    return {
        "n": len(runs),
        "version": last["version"],
        "pandas": last["pandas"],
        "numpy": last["numpy"],
        "dtypes": last["dtypes"],
        "compute_s": summary([r["compute_s"] for r in runs]),
        "peak_mb": summary([r["peak_mb"] for r in runs]),
        "peak_source": last["peak_source"],
        "sampled_peak_mb": summary([r["sampled_peak_mb"] for r in runs]),
        "baseline_mb": summary([r["baseline_mb"] for r in runs]),
        "import_s": summary([r["import_s"] for r in runs]),
        "preload_s": summary([r["preload_s"] for r in runs]),
        "import_numpy_pandas_s": summary([r["import_numpy_pandas_s"] for r in runs]),
        "wall_s": summary([r["wall_s"] for r in runs]),
        "flagged": last["flagged"],
        "flagged_same_every_run": len({tuple(r["flagged"]) for r in runs}) == 1,
        "methods": sorted(set(last["method"].values())),
        "thresholds": sorted(set(last["threshold"].values())),
        "value": last["value"],
        "method": last["method"],
        "checks": [r["checks"] for r in runs],
        "lazily_imported": last["lazily_imported"],
    }


def bench_f(env: Env, args: argparse.Namespace) -> dict[str, Any]:
    reps = args.reps if args.reps_given else 3
    sizes = args.drift_rows or ([20_000] if args.quick else [100_000, 1_000_000])
    if not Path(env.evidently_python).exists():
        raise Failed(
            f"no Evidently venv at {env.evidently_venv}: run benchmarks/setup_evidently.sh"
        )
    python = {"rung": str(env.rung_python), "evidently": env.evidently_python}
    res: dict[str, Any] = {
        "reps": reps,
        "limit_s": args.drift_limit,
        "timeout_s": args.drift_timeout,
        "sizes": {},
    }
    notes: dict[str, str] = {}
    for rows in sizes:
        data, info = make_drift_data(env, rows)
        expected = sorted(info["shifted"])
        runs: dict[str, list[dict[str, Any]]] = {t: [] for t in (*DRIFT_TOOLS, "rung_preloaded")}
        stopped: dict[str, Any] | None = None
        load = os.getloadavg()
        log(
            f"  {rows:,} rows: {reps} reps, a fresh process per tool and repetition"
            f" (load average {load[0]:.1f})"
        )
        for rep in range(reps):
            order = DRIFT_TOOLS if rep % 2 == 0 else DRIFT_TOOLS[::-1]
            done = []
            for tool in order:
                if tool == "evidently" and stopped:
                    continue
                cmd = [python[tool], str(DRIFT_SCRIPT), "run", "--tool", tool, "--data", str(data)]
                try:
                    wall, out = run_cmd(cmd, HERE, env.env, args.drift_timeout)
                except Failed as exc:
                    if tool != "evidently" or "timed out" not in str(exc):
                        raise
                    stopped = {
                        "completed_runs": len(runs[tool]),
                        "stopped_at_s": args.drift_timeout,
                        "why": f"stopped after {args.drift_timeout:.0f} s (timeout), unfinished",
                    }
                    done.append(f"evidently stopped after {args.drift_timeout:.0f} s")
                    continue
                r = {**json_in(out), "wall_s": wall}
                runs[tool].append(r)
                done.append(
                    f"{tool} {fmt_s(r['compute_s'])} (peak +{r['peak_mb']:.0f} MB,"
                    f" flagged {len(r['flagged'])})"
                )
                if tool == "evidently" and wall > args.drift_limit:
                    stopped = {
                        "completed_runs": len(runs[tool]),
                        "stopped_at_s": None,
                        "why": f"one run took {wall:.0f} s (over {args.drift_limit:.0f} s):"
                        " no further repetitions",
                    }
            cmd = [python["rung"], str(DRIFT_SCRIPT), "run", "--tool", "rung", "--data", str(data)]
            wall, out = run_cmd(
                [*cmd, "--preload", DRIFT_PRELOAD], HERE, env.env, args.drift_timeout
            )
            r = {**json_in(out), "wall_s": wall}
            runs["rung_preloaded"].append(r)
            done.append(f"(rung, {DRIFT_PRELOAD} preloaded, {fmt_s(r['compute_s'])})")
            log(f"    rep {rep + 1}/{reps}: " + ", ".join(done))
        s: dict[str, Any] = {
            "rows": rows,
            "data": info,
            "expected": expected,
            "loadavg_before": load,
            "loadavg_after": os.getloadavg(),
            "evidently_stopped": stopped,
        }
        for tool in runs:
            s[tool] = drift_side(runs[tool])
        g, e = s["rung"], s["evidently"]
        if g is None:
            raise Failed(f"rung did not run at {rows:,} rows")
        if e is not None:
            s["speedup"] = e["compute_s"]["median"] / g["compute_s"]["median"]
            s["memory_ratio"] = e["peak_mb"]["median"] / max(g["peak_mb"]["median"], 1e-9)
            s["agree"] = g["flagged"] == e["flagged"]
            diffs: dict[str, float] = {}
            for col, value in g["value"].items():
                kind = "categorical" if col.startswith("cat_") else "numeric"
                d = abs(value - e["value"][col])
                diffs[kind] = max(diffs.get(kind, 0.0), d)
            s["max_abs_statistic_diff"] = diffs
            s["goal_met"] = (
                s["speedup"] >= 10
                and g["peak_mb"]["median"] <= e["peak_mb"]["median"]
                and s["agree"]
            )
        else:  # Evidently never finished (the process was stopped: no ratio to give)
            s["agree"] = None
            s["goal_met"] = None
        for tool in DRIFT_TOOLS:
            side = s[tool]
            if side is None:
                continue
            if side["flagged"] != expected:
                notes[f"{tool}@{rows}"] = f"flagged {side['flagged']}, expected {expected}"
            if not side["flagged_same_every_run"]:
                notes[f"{tool}@{rows} runs"] = "not the same columns flagged in every run"
            bad = [c for c in side["checks"] if False in c.values()]
            if bad:
                notes[f"{tool}@{rows} checks"] = f"verdict cross-checks failed: {bad[0]}"
        res["sizes"][str(rows)] = s
    if notes:
        res["warnings"] = notes
        for k, n in notes.items():
            log(f"  WARNING {k}: {n}")
    return res


def _flagged(side: dict[str, Any] | None) -> str:
    if side is None:
        return "—"
    return ", ".join(side["flagged"]) or "none"


def rows_f(r: dict[str, Any]) -> list[list[str]]:
    rows = []
    for s in r["sizes"].values():
        g, e = s["rung"], s["evidently"]
        if e is not None:
            e_time = fmt_s(e["compute_s"]["median"])
            if e["n"] < r["reps"]:
                e_time += f" ({e['n']} run{'s' if e['n'] > 1 else ''})"
            speed, e_peak = fmt_ratio(s["speedup"]), f"{e['peak_mb']['median']:,.0f} MB"
            mem = fmt_ratio(s["memory_ratio"])
            agree = "yes" if s["agree"] else "NO"
            met = "yes" if s["goal_met"] else "NO"
        else:
            e_time = f"stopped at {fmt_s(s['evidently_stopped']['stopped_at_s'])} (process)"
            speed = e_peak = mem = agree = met = "—"
        rows.append(
            [
                f"{s['rows']:,}",
                fmt_s(g["compute_s"]["median"]),
                e_time,
                speed,
                f"{g['peak_mb']['median']:,.0f} MB",
                e_peak,
                mem,
                _flagged(g),
                _flagged(e),
                agree,
                met,
            ]
        )
    return rows


HEADER_F = [
    "rows × 25 cols",
    "rung",
    "Evidently",
    "rung faster by",
    "rung peak",
    "Evidently peak",
    "memory Ev/rung",
    "rung flagged",
    "Evidently flagged",
    "agree",
    "goal met",
]


def f_notes(r: dict[str, Any]) -> str:
    """The paragraph under table (f): data, method, versions, imports, statistics."""
    first = next(iter(r["sizes"].values()))
    g, e = first["rung"], first["evidently"]
    shifts = "; ".join(f"{k} {v}" for k, v in first["data"]["shifted"].items())
    lines = [
        f"Medians of {r['reps']} repetitions, each in a fresh process per tool. Data (seeded"
        " numpy, `scripts/drift_bench.py`): a reference and a current set of N rows × 25"
        " columns, 20 numeric (normal, exponential, Student-t, rounded gamma, lognormal,"
        " uniform) and 5 categorical of 10 string categories with uneven shares; 5 numeric"
        f" columns shifted in the current set ({shifts}), the other 20 columns drawn from the"
        " same distribution in both. Time: only the computation, from two DataFrames to a dict"
        " with a verdict per column — rung `compare_frames(reference, current)`; Evidently"
        " `Dataset.from_pandas` × 2 with an explicit `DataDefinition` (20 numerical,"
        " 5 categorical), `Report([DataDriftPreset()]).run(current_data=…,"
        " reference_data=…)` and `snapshot.dict()`. Peak: the process's peak RSS during the"
        " computation (VmHWM, reset just before it) minus its RSS just before it (data and"
        " imports already loaded).",
    ]
    if e is not None:
        lines.append(
            f"rung {g['version']} (pandas {g['pandas']}, numpy {g['numpy']}) with"
            f" {', '.join(g['methods'])} at {', '.join(map(str, g['thresholds']))};"
            f" Evidently {e['version']} (pandas {e['pandas']}, numpy {e['numpy']}) with its"
            f" defaults: {', '.join(e['methods'])} at {', '.join(map(str, e['thresholds']))}."
            f" Import (information, after numpy + pandas): rung"
            f" {fmt_s(g['import_s']['median'])}, Evidently {fmt_s(e['import_s']['median'])}."
        )
    for s in r["sizes"].values():
        g, e = s["rung"], s["evidently"]
        part = f"{s['rows']:,} rows:"
        if e is not None:
            d = s["max_abs_statistic_diff"]
            part += (
                f" largest |difference| of the statistics, numeric"
                f" {d.get('numeric', 0):.4f}, categorical {d.get('categorical', 0):.4f};"
                f" whole processes (import, data, computation) rung"
                f" {fmt_s(g['wall_s']['median'])}, Evidently {fmt_s(e['wall_s']['median'])};"
            )
        if s["evidently_stopped"]:
            part += f" Evidently {s['evidently_stopped']['why']};"
        lazy = [m for m in g["lazily_imported"] if m in ("scipy", "scipy.special", "scipy.stats")]
        if lazy:
            part += f" rung imported {' and '.join(lazy)} inside the timed computation"
            p = s.get("rung_preloaded")
            if p is not None:
                part += (
                    f" (with {DRIFT_PRELOAD} imported beforehand, information only: rung"
                    f" {fmt_s(p['compute_s']['median'])}, peak +{p['peak_mb']['median']:,.0f} MB;"
                    f" that import alone took {fmt_s(p['preload_s']['median'])})"
                )
            part += ";"
        part += (
            f" both flagged the {len(s['expected'])} shifted columns"
            if s.get("agree") and g["flagged"] == s["expected"]
            else f" expected {', '.join(s['expected'])}"
        )
        part += (
            f"; load average {s['loadavg_before'][0]:.1f} before,"
            f" {s['loadavg_after'][0]:.1f} after."
        )
        lines.append(part)
    return " ".join(lines)


# -- cli ------------------------------------------------------------------------------------------


def bench_cli(env: Env, args: argparse.Namespace) -> dict[str, Any]:
    reps = 5 if args.quick else max(10, args.reps)
    peer_reps = 3 if args.quick else 5
    cwd = env.fresh_dir("cli")
    res: dict[str, Any] = {}

    def timed(cmd: list[str], n: int) -> dict[str, Any]:
        run_cmd(cmd, cwd, env.env, 120)  # warm the page cache and bytecode
        return summary([run_cmd(cmd, cwd, env.env, 120)[0] for _ in range(n)])

    res["rung_help"] = timed([*env.rung, "--help"], reps)
    res["rung_help"]["goal"] = "< 0.3 s"
    res["rung_help"]["goal_met"] = res["rung_help"]["median"] < 0.3
    log(f"  rung --help: median {fmt_s(res['rung_help']['median'])} of {reps}")

    code = f"import rung, sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    _, out = run_cmd([str(env.rung_python), "-c", code], cwd, env.env, 60)
    found = out.strip().splitlines()[-1]
    res["import_rung_heavy_modules"] = found
    res["import_rung_ok"] = found == "[]"
    code_cli = f"import rung.cli.main, sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    _, out = run_cmd([str(env.rung_python), "-c", code_cli], cwd, env.env, 60)
    res["import_rung_cli_heavy_modules"] = out.strip().splitlines()[-1]
    res["import_rung_s"] = timed([str(env.rung_python), "-c", "import rung"], reps)
    log(
        f"  import rung pulls in: {found}; rung.cli.main pulls in:"
        f" {res['import_rung_cli_heavy_modules']}"
    )

    peers = {}
    for tool in ("dvc", "zenml", "mlflow"):
        try:
            peers[tool] = timed([env.peer(tool), "--help"], peer_reps)
            log(f"  {tool} --help: median {fmt_s(peers[tool]['median'])} of {peer_reps}")
        except Failed as exc:
            peers[tool] = {"error": str(exc)}
    res["peers_help"] = peers
    return res


def rows_cli(r: dict[str, Any]) -> list[list[str]]:
    rows = [
        [
            "rung --help, wall",
            fmt_s(r["rung_help"]["median"]),
            "< 0.3 s",
            "yes" if r["rung_help"]["goal_met"] else "NO",
        ],
        [
            "heavy modules after `import rung`",
            r["import_rung_heavy_modules"],
            "[]",
            "yes" if r["import_rung_ok"] else "NO",
        ],
        ["python -c 'import rung', wall", fmt_s(r["import_rung_s"]["median"]), "", ""],
    ]
    for tool, s in r["peers_help"].items():
        rows.append(
            [
                f"{tool} --help, wall (context)",
                fmt_s(s["median"]) if "median" in s else "error",
                "",
                "",
            ]
        )
    return rows


HEADER_CLI = ["measure", "value", "goal", "met"]


# -- (runs) the run filter: rung runs --filter vs MLflow's search_runs ------------------------

RUNS_GOAL = 10.0  # issue 13: rung's filter at least 10x faster than MLflow's search


def bench_runs(env: Env, args: argparse.Namespace) -> dict[str, Any]:
    """N runs of 10 parameters and 20 metrics each on each side (SQLite), the same filters of
    increasing selectivity; medians of ``--reps`` (at least 5)."""
    sys.path.insert(0, str(SCRIPTS))
    from runs_filter_data import FILTERS, expected

    n = 10_000 if args.quick else 100_000
    reps = max(5, args.reps)
    log(f"  {n:,} runs x (10 params + 20 metrics) per tool, {len(FILTERS)} filters, {reps} reps")
    outs = {}
    for tool, python, script in (
        ("mlflow", env.peer_python, "runs_filter_mlflow.py"),
        ("rung", str(env.rung_python), "runs_filter_rung.py"),
        ("rung_ui", str(env.rung_python), "runs_ui_rung.py"),  # /api/runs and the page
    ):
        wd = env.fresh_dir(f"runs-{tool}")
        cmd = [python, str(SCRIPTS / script), "--workdir", str(wd), "--runs", str(n)]
        _, out = run_cmd([*cmd, "--reps", str(reps)], wd, env.env, 3600)
        outs[tool] = json_in(out)
        if "fill_s" in outs[tool]:
            log(f"  {tool}: filled in {outs[tool]['fill_s']:.1f} s")
    want = expected(n)
    res: dict[str, Any] = {"runs": n, "reps": reps, "filters": {}}
    for name in FILTERS:
        m, g = outs["mlflow"]["filters"][name], outs["rung"]["filters"][name]
        api = outs["rung_ui"]["api"][name]
        found = min(want[name], 1000)
        row = {
            "mlflow_s": median(m["seconds"]),
            "rung_s": median(g["seconds"]),
            "rung_cli_s": median(g["cli_seconds"]),
            "rung_api_s": median(api["seconds"]),
            "matching": want[name],
            "returned": {
                "mlflow": m["found"],
                "rung": g["found"],
                "rung_cli": g["cli_found"],
                "rung_api": api["found"],
            },
            "same": m["found"] == g["found"] == g["cli_found"] == api["found"] == found,
            "mlflow_filter": m["filter"],
            "rung_filter": g["filter"],
        }
        row["speedup"] = row["mlflow_s"] / row["rung_s"] if row["rung_s"] else None
        row["cli_speedup"] = row["mlflow_s"] / row["rung_cli_s"] if row["rung_cli_s"] else None
        row["api_speedup"] = row["mlflow_s"] / row["rung_api_s"] if row["rung_api_s"] else None
        row["goal_met"] = bool(row["same"] and row["speedup"] and row["speedup"] >= RUNS_GOAL)
        res["filters"][name] = row
        log(
            f"  {name}: MLflow {fmt_s(row['mlflow_s'])}, rung {fmt_s(row['rung_s'])}"
            f" (CLI {fmt_s(row['rung_cli_s'])}), {fmt_ratio(row['speedup'])};"
            f" {want[name]:,} match, returned {row['returned']}"
        )
    res["pages"] = outs["rung_ui"]["pages"]
    for label, p in res["pages"].items():
        p["goal_met"] = p["statuses"] == [200] and p["ttfb_p95_s"] < PAGE_GOAL_S
        log(
            f"  page {label}: TTFB p50 {fmt_s(p['ttfb_p50_s'])}, p95 {fmt_s(p['ttfb_p95_s'])}"
            f" over {p['loads']} loads (goal p95 < {PAGE_GOAL_S * 1000:.0f} ms)"
        )
    res["versions"] = {k: v["version"] for k, v in outs.items()}
    return res


PAGE_GOAL_S = 0.2  # the runs page's time to first byte, p95, at 100,000 runs (issue 13)


def rows_runs(r: dict[str, Any]) -> list[list[str]]:
    return [
        [
            f"{name} ({row['matching']:,} of {r['runs']:,} runs)",
            fmt_s(row["mlflow_s"]),
            fmt_s(row["rung_s"]),
            fmt_s(row["rung_cli_s"]),
            fmt_s(row.get("rung_api_s")),
            fmt_ratio(row["speedup"]),
            f"≥{RUNS_GOAL:g}×",
            "yes" if row["goal_met"] else ("NO" if row["same"] else "NO (results differ)"),
        ]
        for name, row in r["filters"].items()
    ] + [
        [
            f"runs page {label}: time to first byte, p95 of {p['loads']} (p50)",
            "",
            f"{fmt_s(p['ttfb_p95_s'])} ({fmt_s(p['ttfb_p50_s'])})",
            "",
            "",
            "",
            f"< {PAGE_GOAL_S * 1000:.0f} ms",
            "yes" if p["goal_met"] else "NO",
        ]
        for label, p in r.get("pages", {}).items()
    ]


HEADER_RUNS = [
    "filter (up to 1,000 runs returned, newest first)",
    "MLflow search_runs",
    "rung, ws.runs.list",
    "rung runs --filter (whole process)",
    "rung ui GET /api/runs?filter=",
    "rung faster by (in process)",
    "goal",
    "met",
]


# -- (sync) the cost of durable SQLite commits ------------------------------------------------

SYNC_PATHS = {
    "prediction_one": "prediction logged, 1 client (1 commit each)",
    "prediction_8": "prediction logged, 8 clients (group commit)",
    "alias_move": "alias move (promote --force)",
    "data_add": "data add of a small CSV",
    "log_metric": "log_metric in a run (control: durable=False)",
}


def bench_sync(env: Env, args: argparse.Namespace) -> dict[str, Any]:
    """rung's own write paths with SQLite synchronous = NORMAL and = FULL, alternating."""
    reps = 3 if args.quick else args.reps
    cwd = env.fresh_dir("sync")
    cmd = [str(env.rung_python), str(SCRIPTS / "sync_rung.py"), str(cwd), str(reps)]
    _, out = run_cmd([*cmd, "--quick"] if args.quick else cmd, cwd, env.env, 1800)
    res: dict[str, Any] = json_in(out)
    res["reps"] = reps
    for key, r in res.items():
        if isinstance(r, dict):
            log(
                f"  {key}: NORMAL {fmt_ms(r['normal_s'] * 1e3)}, FULL {fmt_ms(r['full_s'] * 1e3)},"
                f" FULL/NORMAL {r['ratio']:.2f}"
            )
    return res


def rows_sync(r: dict[str, Any]) -> list[list[str]]:
    return [
        [
            SYNC_PATHS[key],
            fmt_ms(r[key]["normal_s"] * 1e3),
            fmt_ms(r[key]["full_s"] * 1e3),
            f"{r[key]['ratio']:.2f}",
        ]
        for key in SYNC_PATHS
        if key in r
    ]


HEADER_SYNC = ["write path (per operation)", "NORMAL", "FULL (shipped)", "FULL / NORMAL"]


def bench_fa(env: Env, args: argparse.Namespace) -> dict[str, Any]:
    """rung alone: the false-alarm rate of its default drift verdicts, and their power."""
    cwd = env.fresh_dir("fa")
    out = cwd / "fa.json"
    cmd = [str(env.rung_python), str(SCRIPTS / "drift_false_alarms.py"), "--json", str(out)]
    run_cmd([*cmd, "--quick"] if args.quick else cmd, cwd, env.env, 3600)
    res: dict[str, Any] = json.loads(out.read_text())
    for size, r in res["false_alarms"].items():
        log(f"  {size} rows: {r['rate']:.2%} per feature per window (95% upper {r['upper95']:.2%})")
    return res


def rows_fa(r: dict[str, Any]) -> list[list[str]]:
    return [
        [
            f"{int(size):,}",
            str(fa["windows"]),
            f"{fa['rate']:.2%}",
            f"{fa['upper95']:.2%}",
            f"{fa['worst']} {fa['worst_rate']:.2%}",
            f"{r['noise_3pct'][size]['rate']:.2%}",
            ", ".join(f"{v:.0%}" for v in r["power"][size].values()),
        ]
        for size, fa in r["false_alarms"].items()
    ]


HEADER_FA = [
    "window rows",
    "windows",
    "false alarms / feature / window",
    "95% upper",
    "worst column",
    "+3% noise",
    "power on (f)'s 5 shifts",
]


# -- orchestration -------------------------------------------------------------------------------

BENCHES = {
    "a": ("(a) Data versioning: dvc add vs rung data add", bench_a, rows_a, HEADER_A),
    "b": (
        "(b) No-op re-run of a 3-step pipeline (whole processes, wall clock)",
        bench_b,
        rows_b,
        HEADER_B,
    ),
    "c": (
        "(c) Tracking: MLflow + SQLite vs rung (in process, after import)",
        bench_c,
        rows_c,
        HEADER_C,
    ),
    "d": (
        "(d) Evaluation on 4 datasets: mlflow.models.evaluate vs rung eval",
        bench_d,
        rows_d,
        HEADER_D,
    ),
    "e": (
        "(e) Serving one scikit-learn model: mlflow models serve vs rung serve",
        bench_e,
        serve_bench.rows_e,
        serve_bench.HEADER_E,
    ),
    "serve": (
        "(serve) Serving, issue 12: rung serve vs MLServer (adaptive batching) and mlflow models"
        " serve",
        bench_serve,
        serve_peers.rows,
        serve_peers.HEADER,
    ),
    "f": (
        "(f) Data drift: Evidently's DataDriftPreset vs rung's compare_frames",
        bench_f,
        rows_f,
        HEADER_F,
    ),
    "fa": (
        "(fa) Drift false alarms of the default verdicts (goal: <= 1% per feature per window)",
        bench_fa,
        rows_fa,
        HEADER_FA,
    ),
    "cli": ("CLI start-up and import weight", bench_cli, rows_cli, HEADER_CLI),
    "runs": (
        "(runs) Filtering runs, issue 13: rung runs --filter vs MLflow's search_runs",
        bench_runs,
        rows_runs,
        HEADER_RUNS,
    ),
    "sync": (
        "(sync) Durable SQLite commits: synchronous = NORMAL vs FULL",
        bench_sync,
        rows_sync,
        HEADER_SYNC,
    ),
}


def versions(env: Env) -> dict[str, str]:
    out: dict[str, str] = {}

    def ask(python: str, names: tuple[str, ...]) -> None:
        code = (
            "import importlib.metadata as m\n"
            f"for n in {names!r}:\n"
            "    try: print(n, m.version(n))\n"
            "    except Exception: print(n, '-')"
        )
        with contextlib.suppress(Failed):
            _, o = run_cmd([python, "-c", code], HERE, env.env, 60)
            out.update(line.split(" ", 1) for line in o.strip().splitlines() if " " in line)

    if Path(env.peer_python).exists():
        ask(env.peer_python, ("dvc", "zenml", "mlflow"))
    ask(str(env.rung_python), ("rung",))
    if Path(env.evidently_python).exists():
        ask(env.evidently_python, ("evidently",))
    return out


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = ""
    with contextlib.suppress(Exception):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
        "rung_commit": commit,
    }


def ensure_peers(env: Env, args: argparse.Namespace, selected: list[str]) -> None:
    if set(selected) <= {"sync", "fa"}:
        return  # rung alone: no peer venv needed
    need_evidently = "f" in selected
    need_mlserver = "serve" in selected
    if args.no_setup:
        if not Path(env.peer_python).exists():
            raise SystemExit(f"no peers venv at {env.peers_venv}: run benchmarks/setup_peers.sh")
        if need_evidently and not Path(env.evidently_python).exists():
            raise SystemExit(
                f"no Evidently venv at {env.evidently_venv}: run benchmarks/setup_evidently.sh"
            )
        if need_mlserver and not Path(env.mlserver_python).exists():
            raise SystemExit(
                f"no MLServer venv at {env.mlserver_venv}: run benchmarks/setup_mlserver.sh"
            )
        return
    penv = dict(env.env)
    penv["PEERS_VENV"] = str(env.peers_venv)
    r = subprocess.run(["bash", str(HERE / "setup_peers.sh")], env=penv, timeout=1800)
    if r.returncode != 0:
        raise SystemExit("setup_peers.sh failed")
    if need_evidently:
        penv["EVIDENTLY_VENV"] = str(env.evidently_venv)
        r = subprocess.run(["bash", str(HERE / "setup_evidently.sh")], env=penv, timeout=1800)
        if r.returncode != 0:
            raise SystemExit("setup_evidently.sh failed")
    if need_mlserver:
        penv["MLSERVER_VENV"] = str(env.mlserver_venv)
        r = subprocess.run(["bash", str(HERE / "setup_mlserver.sh")], env=penv, timeout=1800)
        if r.returncode != 0:
            raise SystemExit("setup_mlserver.sh failed")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, 3 reps: a smoke test")
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        help="a, b, c, d, e, serve, f, fa, cli or sync; repeat or comma-separate (default: all)",
    )
    ap.add_argument(
        "--reps", type=int, default=None, help="repetitions (default 5, quick 3; (e), (f): 3)"
    )
    ap.add_argument(
        "--mlflow-full",
        action="store_true",
        help="time MLflow on the full 10,000 calls / 500 runs (minutes)",
    )
    ap.add_argument(
        "--tmp",
        default=os.environ.get("RUNG_BENCH_TMP", "/tmp/rung-bench"),
        help="scratch folder for data and workspaces (default /tmp/rung-bench)",
    )
    ap.add_argument("--peers-venv", default=os.environ.get("PEERS_VENV", str(HERE / ".venv-peers")))
    ap.add_argument(
        "--evidently-venv",
        default=os.environ.get("EVIDENTLY_VENV", str(HERE / ".venv-evidently")),
        help="(f): Evidently's venv (made by setup_evidently.sh)",
    )
    ap.add_argument(
        "--mlserver-venv",
        default=os.environ.get("MLSERVER_VENV", str(HERE / ".venv-mlserver")),
        help="(serve): MLServer's venv (made by setup_mlserver.sh)",
    )
    ap.add_argument(
        "--serve-duration",
        type=float,
        default=None,
        help="(serve): measured seconds per load run (default 5; quick 1.5)",
    )
    ap.add_argument(
        "--drift-rows",
        type=lambda t: [int(x.replace("_", "")) for x in t.split(",") if x.strip()],
        default=None,
        help="(f): rows per set, comma-separated (default 100000,1000000; quick 20000)",
    )
    ap.add_argument(
        "--drift-limit",
        type=float,
        default=300,
        help="(f): an Evidently run longer than this many seconds ends its repetitions (300)",
    )
    ap.add_argument(
        "--drift-timeout",
        type=float,
        default=900,
        help="(f): stop one measurement process after this many seconds (900)",
    )
    ap.add_argument(
        "--rung-python",
        default=os.environ.get("RUNG_PYTHON"),
        help="python of rung's venv (default: the one running this script)",
    )
    ap.add_argument(
        "--mlflow-stack",
        choices=("fast", "default"),
        default="fast",
        help="(e) MLflow's uvicorn on httptools+uvloop (fast, default) or h11+asyncio",
    )
    ap.add_argument(
        "--serve-workers",
        type=int,
        default=2,
        help="(e), (serve): workers of every server (uvicorn workers; MLServer's"
        " parallel_workers) (default 2)",
    )
    ap.add_argument("--no-setup", action="store_true", help="do not run setup_peers.sh")
    ap.add_argument("--keep", action="store_true", help="keep the scratch workspaces")
    ap.add_argument("--out", default=str(RESULTS / "latest.json"))
    args = ap.parse_args(argv)

    only = [x.strip() for item in args.only for x in item.split(",") if x.strip()]
    bad = [x for x in only if x not in BENCHES]
    if bad:
        ap.error(f"unknown --only {bad}; choose from {list(BENCHES)}")
    selected = only or list(BENCHES)
    args.reps_given = args.reps is not None  # (e) and (f) default to 3 repetitions, not 5
    if args.reps is None:
        args.reps = 3 if args.quick or set(selected) <= {"e", "serve", "f"} else 5
    if args.reps < 1:
        ap.error("--reps must be ≥ 1")
    if args.serve_workers < 1:
        ap.error("--serve-workers must be ≥ 1")

    env = Env(args)
    if env.rung is None:
        log(f"no `rung` command next to {env.rung_python}: run this with rung's venv python")
        return 2
    try:
        run_cmd([str(env.rung_python), "-c", "import rung"], HERE, env.env, 60)
    except Failed as exc:
        log(f"`import rung` fails with {env.rung_python}: {exc}")
        return 2
    ensure_peers(env, args, selected)
    env.work.mkdir(parents=True, exist_ok=True)

    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "options": {
            "quick": args.quick,
            "reps": args.reps,
            "only": selected,
            "mlflow_full": args.mlflow_full,
            "serve_workers": args.serve_workers,
            "drift_rows": args.drift_rows,
        },
        "machine": machine(),
        "versions": versions(env),
        "results": {},
        "errors": {},
    }
    log(
        f"rung {report['versions'].get('rung', '?')} vs dvc {report['versions'].get('dvc', '?')},"
        f" zenml {report['versions'].get('zenml', '?')}, mlflow"
        f" {report['versions'].get('mlflow', '?')}, evidently"
        f" {report['versions'].get('evidently', '?')};"
        f" {report['machine']['cores']} cores; {'quick' if args.quick else 'full'} run,"
        f" {args.reps} reps"
    )

    load1 = os.getloadavg()[0]
    if load1 > 0.5:
        log(
            f"note: load average is {load1:.1f} on {os.cpu_count()} cores: other work is running,"
            " figures will be noisier (ratios within one run stay comparable)"
        )
    t_all = time.perf_counter()
    for key in selected:
        title, fn, rows_fn, header = BENCHES[key]
        log(f"\n== {title}")
        t0 = time.perf_counter()
        try:
            res = fn(env, args)
            res["elapsed_s"] = time.perf_counter() - t0
            res["loadavg_after"] = os.getloadavg()
            report["results"][key] = res
            print_table(title, header, rows_fn(res))
            if key == "e":
                log("\n" + serve_bench.e_notes(res))
            if key == "serve":
                log("\n" + serve_peers.notes(res))
            if key == "f":
                log("\n" + f_notes(res))
        except Exception as exc:  # one failing comparison does not stop the others
            report["errors"][key] = f"{type(exc).__name__}: {exc}"
            log(f"  FAILED: {type(exc).__name__}: {exc}")
            if not isinstance(exc, Failed):
                traceback.print_exc()
    report["elapsed_s"] = time.perf_counter() - t_all

    md = markdown(report)
    log("\n" + md)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(md + "\n")
    log(f"\nwrote {out} and {out.with_suffix('.md')} ({report['elapsed_s']:.0f} s in all)")
    if not args.keep and env.work.exists():
        shutil.rmtree(env.work, ignore_errors=True)
    return 1 if report["errors"] else 0


def markdown(report: dict[str, Any]) -> str:
    v, mach = report["versions"], report["machine"]
    lines = [
        "## rung vs peers — " + report["started"],
        "",
        f"rung {v.get('rung', '?')} ({mach.get('rung_commit') or 'uncommitted'}),"
        f" DVC {v.get('dvc', '?')}, ZenML {v.get('zenml', '?')}, MLflow {v.get('mlflow', '?')},"
        f" Evidently {v.get('evidently', '?')};"
        f" {mach['cores']} cores ({mach['cpu']}), Python {mach['python']}."
        f" Medians of {report['options']['reps']} repetitions"
        + (" (quick run: small sizes)." if report["options"]["quick"] else ".")
        + f" Load average at start: {mach['loadavg_at_start'][0]:.1f}.",
    ]
    for key, res in report["results"].items():
        title, _fn, rows_fn, header = BENCHES[key]
        lines += ["", f"### {title}", "", md_table(header, rows_fn(res))]
        if key == "c":
            m = res["mlflow"]
            if m["extrapolated"]:
                lines += [
                    "",
                    f"MLflow was timed on {m['metrics_calls']:,} log_metric calls and"
                    f" {m['runs_n']:,} runs per repetition; its totals for 10,000 calls"
                    " and 500 runs are extrapolated from the per-call and per-run"
                    " medians. rung was timed on"
                    f" {res['rung']['metrics_calls']:,} calls and"
                    f" {res['rung']['runs_n']:,} runs.",
                ]
        if key == "d":
            lines += ["", d_notes(res)]
        if key == "e":
            lines += ["", serve_bench.e_notes(res)]
        if key == "serve":
            lines += ["", serve_peers.notes(res)]
        if key == "f":
            lines += ["", f_notes(res)]
        if res.get("warnings"):
            lines += ["", "Warnings: " + "; ".join(f"{k}: {w}" for k, w in res["warnings"].items())]
    for key, err in report["errors"].items():
        lines += ["", f"### {BENCHES[key][0]}", "", f"**failed**: `{err.splitlines()[0]}`"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
