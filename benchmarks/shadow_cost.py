#!/usr/bin/env python
"""What a challenger in shadow costs the answers: ``rung serve REF`` against
``rung serve REF --shadow CHALLENGER``, the same requests, interleaved rounds.

    python benchmarks/shadow_cost.py --workspace examples/market_trend/.demo-ws \\
        --ref market-trend@1 --shadow market-trend@2 --dataset sp500_test@1 [--rounds 3]

The workspace is one where both versions are registered (``make demo`` leaves one). The body
is one row of ``--dataset`` (a dataset holding the model's features), or ``--body FILE``. For each round and each setup a
fresh server is started on a free port of 127.0.0.1 and ``loadgen.py run`` (its own process)
sends single-row requests at each concurrency; the rounds alternate the two setups, so drift
of the machine's load falls on both. It prints one JSON object: per setup and concurrency,
the median over rounds of the requests per second and of the p50 latency, and the relative
throughput cost and the p50 difference of shadow mode.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNG = Path(sys.executable).with_name("rung")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body_of(workspace: Path, ref: str, datasets: list[str]) -> bytes:
    """One row of the model's features from the first of ``datasets`` (else of those its
    lineage names) that holds them all, as ``{"records": [row]}``."""
    import rung

    with rung.Workspace.open(workspace) as ws:
        version = ws.models.get(ref)
        features = (version.signature or {})["features"]
        for data in [*datasets, *(version.datasets or [])]:
            frame = ws.data.get(data).load()
            if all(f in frame.columns for f in features):
                row = frame[features].iloc[len(frame) // 2].to_dict()
                return json.dumps({"records": [row]}, default=float).encode()
    raise SystemExit(f"no dataset holds the features of {ref}; give --dataset REF or --body FILE")


def serve(workspace: Path, ref: str, extra: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [str(RUNG), "serve", ref, *extra, "--port", str(port)],
        cwd=workspace,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("rung serve did not start")


def load(url: str, body: Path, concurrency: int, duration: float) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "loadgen.py"),
            "run",
            "--url",
            f"{url}/predict",
            "--body",
            str(body),
            "--concurrency",
            str(concurrency),
            "--duration",
            str(duration),
            "--warmup",
            "2",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    return {"rps": result["rps"], "p50_ms": result["p50_ms"], "errors": result["errors"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", type=Path, required=True)
    ap.add_argument("--ref", required=True, help="the served model, NAME@ALIAS or NAME@VERSION")
    ap.add_argument("--shadow", required=True, help="the challenger in shadow")
    ap.add_argument("--body", type=Path, help="a request body (default: one row of --dataset)")
    ap.add_argument("--dataset", action="append", default=[], help="a dataset with the features")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    a = ap.parse_args(argv)
    workspace = a.workspace.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        body = a.body
        if body is None:
            body = Path(tmp) / "body.json"
            body.write_bytes(body_of(workspace, a.ref, a.dataset))
        setups = {"plain": [], "shadow": ["--shadow", a.shadow]}
        runs: dict[str, dict[int, list[dict[str, float]]]] = {
            s: {c: [] for c in a.concurrency} for s in setups
        }
        for r in range(a.rounds):
            order = list(setups) if r % 2 == 0 else list(reversed(setups))
            for setup in order:
                proc, url = serve(workspace, a.ref, setups[setup])
                try:
                    for c in a.concurrency:
                        runs[setup][c].append(load(url, body, c, a.duration))
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
    summary: dict[str, object] = {
        "rounds": a.rounds,
        "duration_s": a.duration,
        "cpus": os.cpu_count(),
    }
    for c in a.concurrency:
        med = {
            s: {
                "rps": statistics.median(x["rps"] for x in runs[s][c]),
                "p50_ms": statistics.median(x["p50_ms"] for x in runs[s][c]),
                "errors": sum(x["errors"] for x in runs[s][c]),
            }
            for s in setups
        }
        summary[f"concurrency {c}"] = {
            **med,
            "throughput_cost": 1 - med["shadow"]["rps"] / med["plain"]["rps"],
            "p50_added_ms": med["shadow"]["p50_ms"] - med["plain"]["p50_ms"],
            "rounds": {s: runs[s][c] for s in setups},
        }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
