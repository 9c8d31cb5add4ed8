"""Benchmark (runs), rung ui side: run with rung's venv python, prints one JSON object.

    python runs_ui_rung.py --workdir DIR --runs N --reps K

The workspace of runs_filter_rung.py (N runs of 10 parameters and 20 metrics, filled the
same way) behind a real ``rung ui`` on 127.0.0.1 (a subprocess), then:

* each filter of runs_filter_data.py through the API, K times: ``GET
  /api/runs?filter=F&limit=1000`` on a kept-alive connection, the whole answer read and
  parsed (the same runs ``search_runs`` returns, with their parameters and last metrics);
* the runs page's time to first byte (request sent → status line and headers received),
  over 100 loads each of ``/runs`` (the default page: the newest 50 runs) and of ``/runs``
  with the most selective filter; p50 and p95.
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from runs_filter_data import FILTERS, arguments
from runs_filter_rung import fill

import rung

LOADS = 100


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(port, proc):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"rung ui did not start: {proc.stderr.read() if proc.stderr else ''}")


def get(conn, path):
    """(seconds to first byte, seconds to the whole answer, status, body)."""
    t = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    first = time.perf_counter() - t
    body = response.read()
    return first, time.perf_counter() - t, response.status, body


def quantile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main():
    args = arguments()
    root = os.path.join(args.workdir, "ws")
    ws = rung.Workspace.init(root)
    fill(ws, args.runs)
    ws.close()
    port = free_port()
    rung_bin = os.path.join(os.path.dirname(sys.executable), "rung")
    proc = subprocess.Popen(
        [rung_bin, "ui", "--port", str(port)],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait(port, proc)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        get(conn, "/runs")  # the first request loads the templates: not a page load
        api = {}
        for name, (_mlflow_filter, rung_filter, _holds) in FILTERS.items():
            query = urllib.parse.urlencode({"filter": rung_filter, "limit": 1000})
            seconds, found = [], None
            for _ in range(args.reps):
                t = time.perf_counter()
                _, _, status, body = get(conn, f"/api/runs?{query}")
                found = len(json.loads(body)["runs"]) if status == 200 else f"HTTP {status}"
                seconds.append(time.perf_counter() - t)
            api[name] = {"filter": rung_filter, "seconds": seconds, "found": found}
        selective = list(FILTERS.values())[-1][1]
        pages = {}
        for label, path in (
            ("/runs", "/runs"),
            ("/runs?filter=…", "/runs?" + urllib.parse.urlencode({"filter": selective})),
        ):
            ttfb, whole, statuses = [], [], set()
            for _ in range(LOADS):
                first, total, status, _ = get(conn, path)
                ttfb.append(first)
                whole.append(total)
                statuses.add(status)
            pages[label] = {
                "path": path,
                "loads": LOADS,
                "statuses": sorted(statuses),
                "ttfb_p50_s": quantile(ttfb, 0.5),
                "ttfb_p95_s": quantile(ttfb, 0.95),
                "total_p95_s": quantile(whole, 0.95),
            }
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(json.dumps({"version": rung.__version__, "runs": args.runs, "api": api, "pages": pages}))


if __name__ == "__main__":
    main()
