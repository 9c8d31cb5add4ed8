"""Benchmark (d), the data: a training set and 4 evaluation sets, written once as Parquet.

    python eval_data.py --out DIR --rows N

Run with rung's venv python (numpy, pandas, pyarrow). A binary classification problem with
20 numeric features ``f00``..``f19`` and an integer label ``y`` (0/1) drawn from a logistic
model. ``train.parquet`` and ``d1.parquet`` come from the same distribution; the other three
sets are shifted, so the model's figures differ between datasets:

  d1  no shift (a fresh sample of the training distribution)
  d2  covariate shift: the means of f00..f04 move by +0.75
  d3  scale shift: f05..f09 have standard deviation 1.8, and the base rate of y rises
  d4  concept shift: the true weights of f10..f14 change sign (the model is wrong there)

Prints one JSON object: the files, their rows and base rates.
"""

import argparse
import json
import os
import sys

import numpy as np
import pandas as pd

N_FEATURES = 20
SEED = 20261126


def weights() -> tuple[np.ndarray, float]:
    r = np.random.default_rng(SEED)
    w = r.normal(0, 1, N_FEATURES)
    w[15:] = 0.0  # five pure-noise features
    return w, -0.2


def sample(n: int, seed: int, shift: str) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    mean = np.zeros(N_FEATURES)
    std = np.ones(N_FEATURES)
    w, bias = weights()
    w = w.copy()
    if shift == "mean":
        mean[0:5] += 0.75
    elif shift == "scale":
        std[5:10] = 1.8
        bias += 0.6
    elif shift == "concept":
        w[10:15] = -w[10:15]
    x = r.normal(mean, std, (n, N_FEATURES))
    logit = x @ w + bias
    y = (r.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    frame = pd.DataFrame(x, columns=[f"f{i:02d}" for i in range(N_FEATURES)])
    frame["y"] = y
    return frame


SETS = {
    "train": (1, "none"),
    "d1": (11, "none"),
    "d2": (12, "mean"),
    "d3": (13, "scale"),
    "d4": (14, "concept"),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=20_000)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    info = {}
    for name, (seed, shift) in SETS.items():
        frame = sample(a.rows, seed, shift)
        path = os.path.join(a.out, f"{name}.parquet")
        frame.to_parquet(path, index=False)
        info[name] = {
            "path": path,
            "rows": len(frame),
            "shift": shift,
            "base_rate": float(frame["y"].mean()),
        }
    json.dump(info, sys.stdout)
    print()


if __name__ == "__main__":
    main()
