"""Monitoring at scale: one window of N logged rows read in bounded memory.

    .venv/bin/python benchmarks/scripts/monitor_scale.py --rows 1000000 --batch 100

Builds a throwaway workspace with a small scikit-learn model (a numeric and a categorical
feature), logs N predicted rows in requests of ``--batch`` rows through the service's own
prediction-log writer, then, in a fresh process, runs ``ws.monitor.check`` over a window of
all N rows and prints the time and the memory the check needed (peak RSS above the RSS
just before it, the references already summarised).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAIN = """
import rung
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

@rung.step
def fit(frame):
    prep = make_column_transformer((OneHotEncoder(), ["color"]), remainder="passthrough")
    return make_pipeline(prep, LogisticRegression()).fit(frame[["a", "color"]], frame["y"])

@rung.pipeline
def train():
    return fit(rung.dataset("train"))
"""

CHECK = """
import json, resource, sys, time
import rung
ws = rung.Workspace.open(sys.argv[1])
version = ws.models.get("trend@1")
ws.monitor.references(version)            # summarised once (and cached in the store)
def rss():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
before, t = rss(), time.perf_counter()
report = ws.monitor.check("trend@1", sys.argv[2], save=False)
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": report["rows"], "seconds": seconds, "rss_before_mb": before,
                  "peak_mb": peak, "drifted": report["drifted"]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    import numpy as np
    import pandas as pd

    import rung
    from rung.core import predlog
    from rung.serving.log import PredictionLog

    root = Path(tempfile.mkdtemp(prefix="rung-monitor-scale-"))
    with rung.Workspace.init(root) as ws:
        rng = np.random.default_rng(0)
        n = 5000
        a = rng.normal(0, 1, n)
        color = rng.choice(["red", "blue", "green"], n)
        y = np.where(a + (color == "red") > 0.5, "yes", "no")
        ws.data.add(pd.DataFrame({"a": a, "color": color, "y": y}), name="train")
        (root / "train.py").write_text(TRAIN)
        ws.models.register(str(ws.run("train.py:train", {}).id), "trend")
        t = time.perf_counter()
        log = PredictionLog(ws.store)
        done = []
        for i in range(0, args.rows, args.batch):
            k = min(args.batch, args.rows - i)
            done.append(
                log.submit(
                    predlog.record(
                        request_id=f"r{i}",
                        model="trend",
                        version=1,
                        inputs={
                            "a": (rng.normal(0.3, 1, k)).round(6).tolist(),
                            "color": rng.choice(["red", "blue", "green"], k).tolist(),
                        },
                        outputs={"predictions": ["yes"] * k},
                        latency_ms=float(rng.uniform(1, 5)),
                    )
                )
            )
            if len(done) >= 2000:
                for d in done:
                    d.result()
                done = []
        for d in done:
            d.result()
        log.close()
        print(
            f"logged {args.rows:,} rows in requests of {args.batch} in {time.perf_counter() - t:.1f} s"
        )
    out = subprocess.run(
        [sys.executable, "-c", CHECK, str(root), str(args.rows)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    result["size_mb"] = (root / ".rung" / "rung.db").stat().st_size / 1e6
    print(json.dumps(result))
    print(
        f"window of {result['rows']:,} rows: {result['seconds']:.1f} s"
        f" ({result['rows'] / result['seconds']:,.0f} rows/s), peak RSS {result['peak_mb']:.0f} MB,"
        f" {result['peak_mb'] - result['rss_before_mb']:.0f} MB above the process before the"
        f" check; database {result['size_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
