"""Killed runs: a run whose process is gone shows as ``dead``, with its steps, everywhere.

Real ``rung run`` processes are killed with SIGKILL on both backends; other hosts and reused
pids are simulated by rewriting the recorded process of a run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import RUNG, rung_cli
from rung.pipelines import liveness

PIPE = """
import os, time
from pathlib import Path
from rung import pipeline, step

@step
def first(n: int = 3):
    return list(range(n))

@step
def slow(xs: list, marker: str = ""):
    if marker:
        Path(marker).write_text(str(os.getpid()))
        time.sleep(120)
    return sum(xs)

@pipeline
def pipe(n: int = 3, marker: str = ""):
    return slow(first(n), marker)
"""


def _start_and_kill(root: Path, marker: Path, runs: int = 1) -> list[int]:
    """Start ``rung run`` ``runs`` times, each killed with SIGKILL in its slow step."""
    pids = []
    for i in range(runs):
        mark = marker.with_name(f"{marker.name}{i}")
        proc = subprocess.Popen(
            [RUNG, "run", "pipe.py:pipe", "-p", f"marker={mark}", "--json"],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while not mark.exists():
            assert proc.poll() is None, "rung run ended before its slow step"
            assert time.monotonic() < deadline, "the slow step never started"
            time.sleep(0.05)
        if i == 0:  # while it runs, it is running (its process is alive on this host)
            listed = json.loads(rung_cli("runs", "--json", cwd=root).stdout)
            assert listed[0]["status"] == "running"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        pids.append(proc.pid)
    return pids


def test_killed_runs_show_as_dead_with_their_steps(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "pipe.py").write_text(PIPE)
    _start_and_kill(ws.root, tmp_path / "started", runs=2)

    listed = json.loads(rung_cli("runs", "--json", cwd=ws.root).stdout)
    assert [r["status"] for r in listed] == ["dead", "dead"]
    assert all(r["ended_at"] is not None for r in listed)
    shown = rung_cli("show", str(listed[0]["id"]), "--json", cwd=ws.root)
    detail = json.loads(shown.stdout)
    assert detail["status"] == "dead"
    by_step = {s["name"]: s["status"] for s in detail["steps"]}
    assert by_step == {"first": "succeeded", "slow": "dead"}
    assert detail["process"]["host"] == socket.gethostname()
    assert "ended without finishing" in detail["error"]
    table = rung_cli("runs", cwd=ws.root).stdout
    assert "dead" in table and "running" not in table
    text = rung_cli("show", str(listed[0]["id"]), cwd=ws.root).stdout
    assert "dead" in text and "took -" not in text and "took 0 ms" not in text

    # no duration is negative: killed before its first heartbeat, the run took at least
    # until its last step began; each step ends at or after its own start
    for run in listed:
        full = json.loads(rung_cli("show", str(run["id"]), "--json", cwd=ws.root).stdout)
        assert full["ended_at"] > full["started_at"]  # not 0 ms: the slow step had begun
        assert all(s["seconds"] >= 0 for s in full["steps"])

    # the Python API says the same; the verdict is persisted (idempotently)
    assert ws.runs.get(listed[1]["id"])["status"] == "dead"
    with ws.store.read() as tx:
        statuses = {r["status"] for r in tx.all("SELECT status FROM step_runs")}
    assert "running" not in statuses

    # a dead step is never a cache hit: the next run executes it and succeeds
    done = ws.run("pipe.py:pipe")
    assert done.status == "succeeded"
    assert [(s.name, s.outcome) for s in done.steps] == [
        ("first", "cached"),
        ("slow", "executed"),
    ]


def _tracked_run(ws) -> int:  # type: ignore[no-untyped-def]
    with ws.start_run("probe") as run:
        pass
    return int(run.id)


def _set(ws, run_id: int, **values: object) -> None:  # type: ignore[no-untyped-def]
    sets = ", ".join(f"{k} = :{k}" for k in values)
    with ws.store.write() as tx:
        tx.execute(
            f"UPDATE runs SET status = 'running', ended_at = NULL, {sets} WHERE id = :id",
            {**values, "id": run_id},
        )


@pytest.mark.parametrize(
    ("age", "expected"),
    [(0, "running"), (liveness.DEAD_AFTER / 2, "running"), (liveness.DEAD_AFTER + 5, "dead")],
)
def test_a_run_on_another_host_is_dead_when_its_heartbeat_is_stale(ws, age, expected) -> None:  # type: ignore[no-untyped-def]
    run_id = _tracked_run(ws)
    _set(ws, run_id, host="elsewhere.example", pid=1, heartbeat_at=time.time() - age)
    assert ws.runs.get(run_id)["status"] == expected
    assert ws.runs.list()[0].status == expected


def test_a_reused_pid_is_not_the_runs_process(ws) -> None:  # type: ignore[no-untyped-def]
    me = os.getpid()
    identity = liveness.process_start(me)
    assert identity is not None  # Linux: /proc is there
    run_id = _tracked_run(ws)
    old = time.time() - 10 * liveness.DEAD_AFTER
    # this very process, recorded with its own start time: alive, however old the heartbeat
    _set(ws, run_id, host=socket.gethostname(), pid=me, pid_start=identity, heartbeat_at=old)
    assert ws.runs.get(run_id)["status"] == "running"
    # the same pid with another start time: a process that reused the pid; the run is dead
    context, ticks = identity.rsplit(":", 1)
    reused = f"{context}:{int(ticks) - 1}"
    _set(ws, run_id, pid_start=reused, heartbeat_at=time.time())
    assert ws.runs.get(run_id)["status"] == "dead"
    # a pid that no longer exists, heartbeat fresh: dead at once on this host
    run2 = _tracked_run(ws)
    gone = _a_free_pid()
    _set(
        ws,
        run2,
        host=socket.gethostname(),
        pid=gone,
        pid_start=f"{context}:1",
        heartbeat_at=time.time(),
    )
    assert ws.runs.get(run2)["status"] == "dead"


def test_a_step_left_running_under_a_finished_run_is_dead(ws) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "pipe.py").write_text(PIPE)
    result = ws.run("pipe.py:pipe")
    with ws.store.write() as tx:
        tx.execute(
            "UPDATE step_runs SET status = 'running', ended_at = NULL WHERE run_id = :id",
            {"id": result.id},
        )
    detail = ws.runs.get(result.id)
    assert {s["status"] for s in detail["steps"]} == {"dead"}
    assert detail["status"] == "succeeded"
    assert all(s["seconds"] >= 0 for s in detail["steps"])
    # a run whose recorded end precedes a step's start: the step still never ends before it began
    with ws.store.write() as tx:
        tx.execute(
            "UPDATE step_runs SET status = 'running', ended_at = NULL WHERE run_id = :id",
            {"id": result.id},
        )
        tx.execute("UPDATE runs SET ended_at = started_at - 5 WHERE id = :id", {"id": result.id})
    for reread in (ws.runs.get(result.id), ws.runs.get(result.id)):  # shown, then persisted
        assert all(s["seconds"] >= 0 for s in reread["steps"])


def test_the_heartbeat_is_renewed_while_a_run_executes(ws) -> None:  # type: ignore[no-untyped-def]
    run_id = _tracked_run(ws)
    with ws.store.read() as tx:
        before = tx.scalar("SELECT heartbeat_at FROM runs WHERE id = :id", {"id": run_id})
    with liveness.Heartbeat(ws.store, run_id, interval=0.05):
        time.sleep(0.5)
    with ws.store.read() as tx:
        after = tx.scalar("SELECT heartbeat_at FROM runs WHERE id = :id", {"id": run_id})
    assert after > before


def _a_free_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_heartbeat_and_lease_threads_leave_no_connection_behind(ws) -> None:  # type: ignore[no-untyped-def]
    """A long-lived process (``rung automate run``) starts a heartbeat per run and a lease
    renewer per tick: each thread closes its connection when it ends."""
    from rung.store.lease import Lease

    run_id = _tracked_run(ws)
    held = len(ws.store._all)
    for _ in range(10):
        with liveness.Heartbeat(ws.store, run_id, interval=0.001):
            time.sleep(0.02)
        with Lease(ws.store, "probe", ttl=0.003):
            time.sleep(0.02)
        _tracked_run(ws)
    assert len(ws.store._all) == held
