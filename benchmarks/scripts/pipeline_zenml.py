"""Benchmark (b), ZenML side: a 3-step cached pipeline (load CSV -> transform -> train).

Runs in the peers' venv from a `zenml init` folder holding data.csv; `python pipeline_zenml.py`
runs the pipeline once (cached steps are skipped when source, parameters and inputs match).
"""

import csv

from zenml import pipeline, step


@step(enable_cache=True)
def load(path: str) -> list:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)  # header
        return [[float(v) for v in row] for row in reader]


@step(enable_cache=True)
def transform(rows: list) -> list:
    n = len(rows)
    means = [sum(col) / n for col in zip(*rows, strict=True)]
    return [[v - m for v, m in zip(row, means, strict=True)] for row in rows]


@step(enable_cache=True)
def train(rows: list) -> dict:
    xs = [r[0] for r in rows]
    ys = [r[-1] for r in rows]
    sxx = sum(x * x for x in xs) or 1.0
    return {"slope": sum(x * y for x, y in zip(xs, ys, strict=True)) / sxx, "n": len(rows)}


@pipeline(enable_cache=True)
def pipe(path: str = "data.csv"):
    train(transform(load(path)))


if __name__ == "__main__":
    pipe()
