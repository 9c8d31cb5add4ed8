"""The investment platform's purchase check: the application side of the market-trend example.

Before an investor buys the index on a given day, the platform asks the model service whether
a downward trend is predicted, and shows a warning if so. This script is that application. It
never imports the model, scikit-learn or rung's registry: it computes the day's features from
the prices with ``features.latest_features`` (the code the training pipeline uses, so serving
cannot drift from training) and calls the service over HTTP with ``rung.Client``. A new model
version ships by moving an alias; this file does not change.

    python app.py --service http://127.0.0.1:8000 --prices prices.csv check 2008-09-12
    python app.py --service URL --prices prices.csv replay 2008-01-01 2008-12-31 [--pace 0.02]

``replay`` checks a purchase on every trading day of a period, one request per day as the
platform would, and prints which model version answered which days, how many requests failed
and how many warnings were shown (``--json`` for a machine-readable summary).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import features
import pandas as pd

import rung

WINDOW = 20  # the window the served model was trained with (the pipeline's default)


def feature_rows(prices_csv: Path) -> pd.DataFrame:
    """Every trading day's features, by date, from the platform's price history."""
    return features.latest_features(pd.read_csv(prices_csv), WINDOW)


def check(client: rung.Client, rows: pd.DataFrame, day: pd.Timestamp) -> dict[str, Any]:
    """Ask the service about buying on ``day`` (the last trading day on or before it)."""
    at = rows.index[rows.index <= day]
    if at.empty:
        raise SystemExit(f"no prices with a full {WINDOW}-day window on or before {day.date()}")
    row = rows.loc[at[-1]]
    answer = client.predict({name: float(value) for name, value in row.items()})
    p_down = answer["probabilities"][0][features.DOWN]
    return {
        "day": str(at[-1].date()),
        "warn": answer["predictions"][0] == features.DOWN,
        "p_down": p_down,
        "version": answer["version"],
        "request_id": answer["request_id"],
    }


def replay(client: rung.Client, rows: pd.DataFrame, start: str, end: str, pace: float) -> dict:
    """One purchase check per trading day between ``start`` and ``end``, in order."""
    days = rows.loc[start:end].index  # type: ignore[misc]
    answers: list[dict[str, Any]] = []
    failed: list[str] = []
    for day in days:
        try:
            answers.append(check(client, rows, day))
        except rung.RungError as exc:  # the service said no, or could not be reached
            failed.append(f"{day.date()}: {exc.message}")
        time.sleep(pace)
    spans: list[dict[str, Any]] = []  # runs of consecutive days answered by one version
    for a in answers:
        if spans and spans[-1]["version"] == a["version"]:
            spans[-1].update(last=a["day"], requests=spans[-1]["requests"] + 1)
        else:
            spans.append(
                {"version": a["version"], "first": a["day"], "last": a["day"], "requests": 1}
            )
    return {
        "days": len(days),
        "answered": len(answers),
        "failed": len(failed),
        "failures": failed[:5],
        "warnings": sum(a["warn"] for a in answers),
        "versions": spans,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--service", default="http://127.0.0.1:8000", help="the model service URL")
    ap.add_argument("--prices", type=Path, default=Path("prices.csv"), help="price history CSV")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    sub = ap.add_subparsers(dest="command", required=True)
    one = sub.add_parser("check", help="check a purchase on one day")
    one.add_argument("day")
    many = sub.add_parser("replay", help="check a purchase on every trading day of a period")
    many.add_argument("start")
    many.add_argument("end")
    many.add_argument("--pace", type=float, default=0.0, help="seconds between requests")
    args = ap.parse_args(argv)

    rows = feature_rows(args.prices)
    with rung.Client(args.service) as client:
        if args.command == "check":
            try:
                result = check(client, rows, pd.Timestamp(args.day))
            except rung.RungError as exc:
                print(f"error: {exc.message}", file=sys.stderr)
                return 1
            if args.json:
                print(json.dumps(result))
            else:
                verdict = (
                    "WARNING: the model predicts a downward trend"
                    if result["warn"]
                    else "no warning"
                )
                print(
                    f"buy on {result['day']}: {verdict} (P(down) = {result['p_down']:.2f};"
                    f" model version {result['version']}, request {result['request_id'][:12]})"
                )
            return 0
        summary = replay(client, rows, args.start, args.end, args.pace)
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['answered']} of {summary['days']} purchase checks answered,"
            f" {summary['failed']} failed, {summary['warnings']} warnings shown"
        )
        for span in summary["versions"]:
            print(
                f"  version {span['version']} answered {span['requests']} checks,"
                f" {span['first']} to {span['last']}"
            )
        for failure in summary["failures"]:
            print(f"  failed: {failure}")
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
