"""Benchmark (b), DVC side: the three stages of the pipeline as one script.

    python dvc_stages.py load data.csv loaded.json
    python dvc_stages.py transform loaded.json transformed.json
    python dvc_stages.py train transformed.json model.json

Same work as the ZenML and rung pipelines (pure Python, no pandas, so imports stay cheap).
"""

import csv
import json
import sys


def load(path):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)  # header
        return [[float(v) for v in row] for row in reader]


def transform(rows):
    n = len(rows)
    means = [sum(col) / n for col in zip(*rows, strict=True)]
    return [[v - m for v, m in zip(row, means, strict=True)] for row in rows]


def train(rows):
    xs = [r[0] for r in rows]
    ys = [r[-1] for r in rows]
    sxx = sum(x * x for x in xs) or 1.0
    return {"slope": sum(x * y for x, y in zip(xs, ys, strict=True)) / sxx, "n": len(rows)}


def main():
    stage, src, dst = sys.argv[1:4]
    if stage == "load":
        out = load(src)
    else:
        with open(src) as f:
            data = json.load(f)
        out = transform(data) if stage == "transform" else train(data)
    with open(dst, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
