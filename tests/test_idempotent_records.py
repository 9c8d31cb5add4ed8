"""Recording what already exists is idempotent on both backends, under real concurrency.

Processes (and threads) that record the same artifact, the same dataset content or the same
pipeline output at the same instant all succeed, with one row recorded, and no step run is
left `running`. On PostgreSQL a SELECT-then-INSERT fails here with a unique violation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from rung.store.metadata import MetadataStore
from rung.store.records import ensure_artifact

DIGEST = "ab" * 32

# Waits for the shared start instant, then does one thing (argv[1]) and prints a JSON result.
WORKER = r"""
import json, sys, time
what, url, root, start = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
if what == "artifact":
    from rung.store.metadata import MetadataStore
    from rung.store.records import ensure_artifact
    store = MetadataStore(url)
    while time.time() < start:
        pass
    with store.write() as tx:  # one transaction: the others insert the same keys meanwhile
        for i in range(300):
            ensure_artifact(tx, f"{i:064x}", "json", 10, "application/json", None)
    with store.write() as tx:
        ensure_artifact(tx, "ab" * 32, "json", 10, "application/json", None)
    print(json.dumps({"ok": True}))
else:
    from rung import Workspace
    with Workspace(root) as ws:
        ws.data.list()
        while time.time() < start:
            pass
        if what == "dataset":
            v = ws.data.add(sys.argv[5], sys.argv[6])
            print(json.dumps({"ref": v.ref}))
        else:
            r = ws.run("same.py:same", cache=False)
            print(json.dumps({"run": r.id}))
"""

PIPELINE = """
from rung import pipeline, step


@step
def constant():
    return {"answer": 42}


@pipeline
def same():
    return constant()
"""


def run_together(n: int, *args: str, env: dict[str, str] | None = None) -> list[dict]:  # type: ignore[type-arg]
    start = time.time() + 5  # every process has imported rung and connected by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, args[0], args[1], args[2], str(start), *args[3:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        for _ in range(n)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_processes_and_threads_record_the_same_artifact_at_once(
    store_url: str, tmp_path: Path
) -> None:
    run_together(8, "artifact", store_url, str(tmp_path))
    store = MetadataStore(store_url)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def record(i: int) -> None:
        try:
            barrier.wait()
            with store.write() as tx:
                ensure_artifact(tx, "cd" * 32, "json", i, "application/json", None)
        except BaseException as exc:  # collected: a thread's failure fails the test
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.read() as tx:
        assert tx.scalar("SELECT COUNT(*) AS n FROM artifacts WHERE hash = :h", {"h": DIGEST}) == 1
        assert tx.scalar("SELECT COUNT(*) AS n FROM artifacts") == 302
    store.close()


def test_pipeline_runs_producing_the_same_artifact_at_once_all_succeed(ws, tmp_path: Path) -> None:
    (Path(ws.root) / "same.py").write_text(PIPELINE)
    env = {"RUNG_STORE_URL": ws.config.store_url}
    results = run_together(8, "pipeline", ws.config.store_url, str(ws.root), env=env)
    assert len({r["run"] for r in results}) == 8
    with ws.store.read() as tx:
        statuses = tx.all("SELECT status FROM step_runs")
    assert [s["status"] for s in statuses] == ["succeeded"] * 8


def test_identical_content_added_at_once_is_one_version(ws, tmp_path: Path) -> None:
    data = tmp_path / "same.csv"
    data.write_text("a,b\n1,2\n3,4\n")
    env = {"RUNG_STORE_URL": ws.config.store_url}
    url, root = ws.config.store_url, str(ws.root)
    same_name = run_together(6, "dataset", url, root, str(data), "same", env=env)
    assert {r["ref"] for r in same_name} == {"same@1"}
    assert [v.ref for v in ws.data.list("same")] == ["same@1"]


def test_identical_frames_added_by_threads_at_once_are_one_version(ws) -> None:  # type: ignore[no-untyped-def]
    """The same race, many rounds: on PostgreSQL a second version of identical content
    appeared when another transaction committed between the 'same content?' check and the
    'next number' query (fixed by a per-name lock)."""
    import pandas as pd

    def add(frame: pd.DataFrame, barrier: threading.Barrier, refs: list[str]) -> None:
        try:
            barrier.wait()
            refs.append(ws.data.add(frame, "same").ref)
        except BaseException as exc:  # collected: a thread's failure fails the test
            refs.append(repr(exc))

    for round_ in range(6):
        frame = pd.DataFrame({"a": [round_, 1, 2]})
        barrier = threading.Barrier(6)
        refs: list[str] = []
        threads = [threading.Thread(target=add, args=(frame, barrier, refs)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(refs) == {f"same@{round_ + 1}"}
    assert [v.version for v in ws.data.list("same")] == [6, 5, 4, 3, 2, 1]


def test_the_same_model_registered_by_threads_at_once_is_one_version(ws) -> None:  # type: ignore[no-untyped-def]
    from model_project import TRAIN, frame

    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(200, 1), name="train")
    for round_, c in enumerate((1.0, 0.01)):
        run = ws.run("train.py:train", {"C": c}).id
        barrier = threading.Barrier(6)
        refs: list[str] = []

        def register(barrier: threading.Barrier, refs: list[str], run: int) -> None:
            try:
                barrier.wait()
                refs.append(ws.models.register(str(run), "trend").ref)
            except BaseException as exc:  # collected: a thread's failure fails the test
                refs.append(repr(exc))

        threads = [threading.Thread(target=register, args=(barrier, refs, run)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(refs) == {f"trend@{round_ + 1}"}
