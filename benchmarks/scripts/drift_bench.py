"""Benchmark (f), data drift: rung's ``compare_frames`` vs Evidently's ``DataDriftPreset``.

    python drift_bench.py gen --rows N --out DATA.npz        # any python with numpy
    python drift_bench.py run --tool rung --data DATA.npz    # rung's venv python
    python drift_bench.py run --tool evidently --data DATA.npz   # benchmarks/.venv-evidently

``gen`` writes a reference and a current set of N rows x 25 columns (seeded numpy; one
uncompressed .npz, one array per column and set): 20 numeric columns ``num_00``..``num_19``
of several shapes, and 5 categorical ones ``cat_0``..``cat_4`` of 10 string categories with
uneven shares. Five numeric columns are shifted in the current set (``SHIFTS``); the other
15 numeric and the 5 categorical columns are drawn from the same distribution in both.

``run`` measures one tool once, in this fresh process, and prints one JSON object:

1. ``import numpy, pandas`` (timed), the data read into two DataFrames (timed), the tool
   imported (timed: information only);
2. ``gc.collect()``, the baseline: VmRSS from /proc/self/status; then the peak-RSS mark is
   reset to the current RSS (``echo 5 > /proc/self/clear_refs``) and a thread starts sampling
   VmRSS every 5 ms (a cross-check);
3. timed: the drift computation, from the two DataFrames to a Python dict holding a verdict
   per column -- rung: ``compare_frames(reference, current)``; Evidently:
   ``Dataset.from_pandas`` x2 with an explicit ``DataDefinition``,
   ``Report([DataDriftPreset()]).run(current_data=..., reference_data=...)`` and
   ``snapshot.dict()``;
4. peak = VmHWM (the kernel's peak RSS since the reset) - baseline: the memory the
   computation itself needed on top of the data and the imported modules (modules that the
   tool imports lazily during the computation count in both time and memory).

``--preload MODULE`` imports MODULE before the baseline: a diagnosis of what a lazy import
costs (run.py runs rung once more per repetition with ``--preload scipy.special``).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.metadata
import json
import os
import sys
import threading
import time

N_NUM = 20
N_CAT = 5
CATEGORIES = [f"c{j}" for j in range(10)]
SEED = 20261127
# column -> (base distribution, how the current set differs). Chosen to drift clearly: each
# moves the normalised Wasserstein distance to ~0.3-0.6, while an unshifted column stays
# below ~0.02 at 100,000 rows (the threshold is 0.1).
SHIFTS = {
    "num_02": "mean +0.5 sd (normal)",
    "num_06": "sd x1.5, same mean (normal)",
    "num_10": "values x1.3 (lognormal: scale)",
    "num_14": "+0.15 (uniform on [0, 1): location, 0.52 sd)",
    "num_18": "20% of rows from a second mode at +3 sd (normal: mixture)",
}


def _numeric(rng, i: int, n: int, shifted: bool):
    """Column ``num_{i:02d}``: one of several shapes, shifted when asked and listed."""
    import numpy as np

    kind = i % 4
    if i == 2:
        return rng.normal(10.0, 2.0, n) + (1.0 if shifted else 0.0)
    if i == 6:
        return rng.normal(-3.0, 1.5 if shifted else 1.0, n)
    if i == 10:
        return rng.lognormal(0.0, 0.5, n) * (1.3 if shifted else 1.0)
    if i == 14:
        return rng.random(n) + (0.15 if shifted else 0.0)
    if i == 18:
        x = rng.normal(0.0, 1.0, n)
        if shifted:
            moved = rng.random(n) < 0.2
            x[moved] = rng.normal(3.0, 1.0, int(moved.sum()))
        return x
    if kind == 0:
        return rng.normal(i, 1.0 + i / 10, n)
    if kind == 1:
        return rng.exponential(1.0 + i / 5, n)
    if kind == 2:
        return rng.standard_t(5, n) * 2.0
    return rng.gamma(2.0, 1.5, n).round(2) + np.float64(i)  # rounded: ties, ~2,000 values


def generate(rows: int, out: str) -> dict:
    import numpy as np

    arrays = {}
    for part, seed_offset in (("ref", 0), ("cur", 1)):
        rng = np.random.default_rng([SEED, seed_offset])
        for i in range(N_NUM):
            name = f"num_{i:02d}"
            arrays[f"{part}/{name}"] = _numeric(rng, i, rows, part == "cur" and name in SHIFTS)
        for j in range(N_CAT):
            weights = np.arange(1, len(CATEGORIES) + 1, dtype=float) ** (-(j + 1) / 3)
            codes = rng.choice(len(CATEGORIES), rows, p=weights / weights.sum())
            arrays[f"{part}/cat_{j}"] = np.asarray(CATEGORIES)[codes]
    tmp = out + ".part.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, out)
    return {
        "rows": rows,
        "numeric": N_NUM,
        "categorical": N_CAT,
        "categories": len(CATEGORIES),
        "shifted": SHIFTS,
        "file": out,
        "bytes": os.path.getsize(out),
    }


# -- measuring one computation -------------------------------------------------------------


def _status_kb(*keys: str) -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in keys:
                out[k] = int(v.split()[0])
    return out


class Sampler(threading.Thread):
    """VmRSS every ``every`` seconds: the highest value seen (a cross-check of VmHWM)."""

    def __init__(self, every: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.peak_kb = 0
        self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak_kb = max(self.peak_kb, _status_kb("VmRSS")["VmRSS"])
            self.samples += 1
            self._done.wait(self.every)

    def stop(self) -> None:
        self._done.set()
        self.join()
        self.peak_kb = max(self.peak_kb, _status_kb("VmRSS")["VmRSS"])


def load_frames(path: str):
    import numpy as np
    import pandas as pd

    with np.load(path, allow_pickle=False) as z:
        names = sorted({k.split("/", 1)[1] for k in z.files})
        frames = [pd.DataFrame({n: z[f"{part}/{n}"] for n in names}) for part in ("ref", "cur")]
    return frames[0], frames[1]


def rung_setup():
    from rung.monitoring.drift import compare_frames

    def compute(reference, current):
        return compare_frames(reference, current)

    def verdicts(report) -> dict:
        feats = report["features"]
        return {
            "flagged": sorted(report["drifted"]),
            "method": {n: f["verdict"]["statistic"] for n, f in feats.items()},
            "threshold": {n: f["verdict"]["threshold"] for n, f in feats.items()},
            "value": {n: f["verdict"]["value"] for n, f in feats.items()},
            "checks": {
                "drifted_list_matches_verdicts": sorted(report["drifted"])
                == sorted(n for n, f in feats.items() if f["verdict"]["drift"])
            },
        }

    return compute, verdicts


# How Evidently 0.7.23 decides on its two default tests for more than 1,000 reference rows
# (legacy/calculations/stattests/): drift when the distance is >= the threshold.
EVIDENTLY_DEFAULT_TESTS = ("Wasserstein distance (normed)", "Jensen-Shannon distance")


def evidently_setup(numerical: list[str], categorical: list[str]):
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)

    def compute(reference, current):
        cur = Dataset.from_pandas(current, data_definition=definition)
        ref = Dataset.from_pandas(reference, data_definition=definition)
        snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
        return snapshot, snapshot.dict()

    def verdicts(result) -> dict:
        snapshot, d = result
        method, threshold, value = {}, {}, {}
        count = None
        for m in d["metrics"]:
            cfg = m.get("config", {})
            kind = cfg.get("type", "")
            if kind.endswith(":ValueDrift"):
                col = cfg["column"]
                method[col], threshold[col], value[col] = (
                    cfg["method"],
                    cfg["threshold"],
                    m["value"],
                )
            elif kind.endswith(":DriftedColumnsCount"):
                count = m["value"]["count"]
        unknown = sorted({m for m in method.values() if m not in EVIDENTLY_DEFAULT_TESTS})
        if unknown:
            raise SystemExit(f"not one of Evidently's default tests: {unknown}")
        flagged = sorted(c for c in value if value[c] >= threshold[c])
        checks = {"count_metric": count, "count_matches": count == len(flagged)}
        # Evidently's own per-column verdicts (legacy DataDriftTable, cached in the run's context)
        try:
            own = None
            for res, _widgets in snapshot.context._legacy_metrics.values():
                by_col = getattr(res, "drift_by_columns", None)
                if by_col:
                    own = sorted(c for c, r in by_col.items() if r.drift_detected)
            checks["legacy_table_flagged"] = own
            checks["legacy_table_matches"] = own == flagged if own is not None else None
        except Exception as exc:  # private API: a cross-check only
            checks["legacy_table_error"] = repr(exc)
        return {
            "flagged": flagged,
            "method": method,
            "threshold": threshold,
            "value": value,
            "checks": checks,
        }

    return compute, verdicts


def measure(tool: str, data: str, preload: list[str]) -> dict:
    t0 = time.perf_counter()
    import numpy as np
    import pandas as pd

    np_pd_import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    reference, current = load_frames(data)
    load_s = time.perf_counter() - t0
    numerical = [c for c in reference.columns if c.startswith("num_")]
    categorical = [c for c in reference.columns if c.startswith("cat_")]

    t0 = time.perf_counter()
    if tool == "rung":
        compute, verdicts = rung_setup()
        version = importlib.metadata.version("rung")
    else:
        compute, verdicts = evidently_setup(numerical, categorical)
        import evidently

        version = evidently.__version__
    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for name in preload:  # diagnosis: what a lazy import costs inside the computation
        importlib.import_module(name)
    preload_s = time.perf_counter() - t0

    modules_before = set(sys.modules)
    gc.collect()
    baseline_kb = _status_kb("VmRSS")["VmRSS"]
    hwm_reset = True
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # VmHWM := current RSS (Linux >= 4.0)
    except OSError:
        hwm_reset = False
    sampler = Sampler()
    sampler.start()
    t0 = time.perf_counter()
    result = compute(reference, current)
    compute_s = time.perf_counter() - t0
    sampler.stop()
    hwm_kb = _status_kb("VmHWM")["VmHWM"]
    lazily_imported = sorted(m for m in set(sys.modules) - modules_before if m.count(".") <= 1)

    v = verdicts(result)
    peak_kb = hwm_kb if hwm_reset else sampler.peak_kb
    return {
        "tool": tool,
        "version": version,
        "python": sys.version.split()[0],
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "rows": len(reference),
        "columns": {"numerical": len(numerical), "categorical": len(categorical)},
        "dtypes": sorted({str(t) for t in reference.dtypes}),
        "import_numpy_pandas_s": np_pd_import_s,
        "load_s": load_s,
        "import_s": import_s,
        "preloaded": preload,
        "preload_s": preload_s,
        "compute_s": compute_s,
        "baseline_mb": baseline_kb / 1024,
        "peak_mb": (peak_kb - baseline_kb) / 1024,
        "peak_source": "VmHWM after clear_refs" if hwm_reset else "sampled VmRSS",
        "sampled_peak_mb": (sampler.peak_kb - baseline_kb) / 1024,
        "samples": sampler.samples,
        "lazily_imported": lazily_imported[:40],
        **v,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--rows", type=int, required=True)
    g.add_argument("--out", required=True)
    r = sub.add_parser("run")
    r.add_argument("--tool", choices=("rung", "evidently"), required=True)
    r.add_argument("--data", required=True)
    r.add_argument(
        "--preload",
        action="append",
        default=[],
        help="import this module before the baseline (diagnosis; repeatable)",
    )
    a = ap.parse_args()
    out = generate(a.rows, a.out) if a.cmd == "gen" else measure(a.tool, a.data, a.preload)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
