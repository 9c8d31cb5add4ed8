"""The cost of durable SQLite commits: rung's write paths with synchronous = NORMAL vs FULL.

Run with rung's venv python: ``python sync_rung.py WORKDIR REPS [--quick]``. Prints one JSON
object: for each write path, the samples and medians of both modes and FULL's cost as a
ratio of NORMAL's (time per operation; > 1 means FULL is slower). The modes alternate within
each repetition, each on a fresh workspace, so that drift in the machine's load hits both.

Write paths, each one real rung call per operation:

* ``prediction_one``: one prediction logged and confirmed at a time, as a lone client of
  ``rung serve`` waits for it (one commit per record: the worst case of the log);
* ``prediction_8``: 8 threads logging at once (group commit shares one commit per batch);
* ``alias_move``: ``ws.models.promote(..., force=True)`` moving an alias back and forth;
* ``data_add``: ``ws.data.add`` of a new small CSV (object fsync + one metadata commit);
* ``log_metric``: ``rung.log_metric`` in a run, which stays NORMAL in both (``durable=False``:
  it becomes durable with the run's next commit), as a control.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

import rung.store.metadata as metadata
from rung import Workspace
from rung.serving.log import PredictionLog
from rung.store.records import ensure_artifact


def record(i: int) -> dict[str, object]:
    return {
        "request_id": f"bench-{i}-{time.time_ns()}",
        "model": "bench",
        "version": 1,
        "rows": 1,
        "inputs": {"a": [float(i)]},
        "outputs": {"predictions": ["yes"]},
        "latency_ms": 1.0,
    }


def prediction_one(ws: Workspace, n: int) -> float:
    log = PredictionLog(ws.store)
    try:
        t0 = time.perf_counter()
        for i in range(n):
            log.submit(record(i)).result()
        return (time.perf_counter() - t0) / n
    finally:
        log.close()


def prediction_8(ws: Workspace, n: int) -> float:
    log = PredictionLog(ws.store)
    per_thread = n // 8

    def client(k: int) -> None:
        for i in range(per_thread):
            log.submit(record(k * per_thread + i)).result()

    try:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return (time.perf_counter() - t0) / (per_thread * 8)
    finally:
        log.close()


def alias_move(ws: Workspace, n: int) -> float:
    with ws.store.write() as tx:  # two versions of a model, without training one
        for v in (1, 2):
            digest = f"{v:064x}"
            ensure_artifact(tx, digest, "json", 2, "application/json", None)
            tx.insert(
                "model_versions",
                {
                    "name": "bench",
                    "version": v,
                    "artifact_hash": digest,
                    "kind": "json",
                    "source": "bench",
                    "run_id": None,
                    "datasets": "[]",
                    "metrics": "{}",
                    "signature": None,
                    "allow_pickle": False,
                    "created_at": time.time(),
                },
            )
    ws.models.promote("bench", 2, force=True, reason="warm")
    t0 = time.perf_counter()
    for i in range(n):
        ws.models.promote("bench", 1 + i % 2, force=True, reason="bench")
    return (time.perf_counter() - t0) / n


def data_add(ws: Workspace, n: int) -> float:
    src = ws.root / "small.csv"
    src.write_text("a,b\n-1,-2\n")
    ws.data.add(src, "bench")  # warm: pandas imported, folders made
    t0 = time.perf_counter()
    for i in range(n):
        src.write_text(f"a,b\n{i},{i * 2}\n")
        ws.data.add(src, "bench")
    return (time.perf_counter() - t0) / n


def log_metric(ws: Workspace, n: int) -> float:
    import rung

    with ws.start_run("bench"):
        rung.log_metric("warm", 0.0)
        t0 = time.perf_counter()
        for i in range(n):
            rung.log_metric("loss", 1.0 / (i + 1))
        return (time.perf_counter() - t0) / n


PATHS = {
    "prediction_one": (prediction_one, 200),
    "prediction_8": (prediction_8, 800),
    "alias_move": (alias_move, 100),
    "data_add": (data_add, 40),
    "log_metric": (log_metric, 400),
}


def main() -> None:
    work, reps = Path(sys.argv[1]), int(sys.argv[2])
    scale = 0.25 if "--quick" in sys.argv else 1.0
    samples: dict[str, dict[str, list[float]]] = {p: {"NORMAL": [], "FULL": []} for p in PATHS}
    for rep in range(reps):
        for mode in ("NORMAL", "FULL") if rep % 2 == 0 else ("FULL", "NORMAL"):
            metadata.SQLITE_SYNCHRONOUS = mode
            for name, (fn, n) in PATHS.items():
                root = work / f"{name}-{mode}-{rep}"
                shutil.rmtree(root, ignore_errors=True)
                with Workspace.init(root) as ws:
                    with ws.store.read() as tx:
                        got = tx.scalar("PRAGMA synchronous")
                    assert got == {"NORMAL": 1, "FULL": 2}[mode], got
                    samples[name][mode].append(fn(ws, max(8, int(n * scale))))
                shutil.rmtree(root, ignore_errors=True)
    result = {}
    for name, by_mode in samples.items():
        normal, full = statistics.median(by_mode["NORMAL"]), statistics.median(by_mode["FULL"])
        result[name] = {
            "normal_s": normal,
            "full_s": full,
            "ratio": full / normal,
            "samples": by_mode,
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
