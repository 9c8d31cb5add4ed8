"""Benchmark (b), rung side: the same 3-step pipeline (load CSV -> transform -> train).

Copied into a fresh `rung init` workspace next to data.csv and run there with
`rung run pipeline_rung.py:pipe`. Pure Python steps, identical to the DVC and ZenML versions.
"""

import csv

from rung import pipeline, step


@step
def load(path: str) -> list:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)  # header
        return [[float(v) for v in row] for row in reader]


@step
def transform(rows: list) -> list:
    n = len(rows)
    means = [sum(col) / n for col in zip(*rows, strict=True)]
    return [[v - m for v, m in zip(row, means, strict=True)] for row in rows]


@step
def train(rows: list) -> dict:
    xs = [r[0] for r in rows]
    ys = [r[-1] for r in rows]
    sxx = sum(x * x for x in xs) or 1.0
    return {"slope": sum(x * y for x, y in zip(xs, ys, strict=True)) / sxx, "n": len(rows)}


@pipeline
def pipe(path: str = "data.csv"):
    return train(transform(load(path)))
