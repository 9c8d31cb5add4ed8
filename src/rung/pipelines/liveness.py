"""Is a ``running`` run still running? Its process and its heartbeat say.

A run records the process that runs it: the host name, the pid, and the process's identity
``pid_start`` — the pid namespace, the boot and the start time of the process (from
``/proc/PID/stat`` on Linux), so that a pid reused by another process after a crash or a reboot
is not taken for the run's. While the run executes, a daemon thread renews ``heartbeat_at``
every :data:`HEARTBEAT_SECONDS` (one short write).

A ``running`` run is **dead** when

* it was started on this host, in this pid namespace and boot, and its process is gone (no
  process with that pid, or one that started at another time); or
* its heartbeat is older than :data:`DEAD_AFTER` seconds (other hosts and containers, systems
  without ``/proc``, and runs recorded before liveness existed, whose heartbeat is their start).

The verdict is computed on read and persisted at once (:func:`reap`): the run and its
``running`` step runs become ``dead``. The run's ``ended_at`` is the last moment it is known
alive: its last heartbeat, or a later start or end of one of its steps, and never before its
own start (a run killed before its first beat took at least until its last step began); a
step's ``ended_at`` is the run's, or its own start if that is later — no duration is
negative. The update
only touches rows still ``running``, so readers racing each other agree and it is idempotent.
A run judged dead by a stale heartbeat whose process was in fact only cut off (a network
partition) overwrites ``dead`` with its real outcome when it finishes.

A step run left ``running`` under a run that has finished (an error path that could not record
the step's failure) is dead as well.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rung.store.metadata import MetadataStore

HEARTBEAT_SECONDS = 10.0
DEAD_AFTER = 120.0  # a heartbeat older than this (12 missed beats) means the run is dead


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _context() -> str | None:
    """Pid namespace and boot of this process: ``"<pidns inode>:<boot id prefix>"``, or None
    where ``/proc`` is not there."""
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    if boot is None:
        return None
    return f"{ns}:{boot[:8]}"


def process_start(pid: int) -> str | None:
    """The identity of process ``pid`` as recorded in ``runs.pid_start``:
    ``"<pidns>:<boot>:<start time in clock ticks since boot>"``; None if there is no such
    process or no ``/proc``."""
    context = _context()
    stat = _read(f"/proc/{pid}/stat")
    if context is None or stat is None:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the command name may hold spaces and ')'
    if len(fields) < 20:
        return None
    return f"{context}:{fields[19]}"  # field 22 of proc(5): starttime


def process_identity() -> dict[str, Any]:
    """The ``host``, ``pid`` and ``pid_start`` columns for a run started by this process."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "pid_start": process_start(pid)}


def is_dead(row: dict[str, Any], now: float | None = None) -> bool:
    """Whether a ``runs`` row with status ``running`` belongs to a process that is gone."""
    now = time.time() if now is None else now
    beat = row.get("heartbeat_at") or row.get("started_at") or 0.0
    recorded = row.get("pid_start")
    pid = row.get("pid")
    if row.get("host") == socket.gethostname() and pid is not None:
        context = _context()
        if recorded and context is not None and recorded.rsplit(":", 1)[0] == context:
            return process_start(int(pid)) != recorded  # authoritative on this host
        if not recorded:  # no /proc when it started: is any process with that pid there?
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return True
            except OSError:
                pass
    return now - float(beat) > DEAD_AFTER


def reap(store: MetadataStore, rows: Iterable[dict[str, Any]]) -> set[int]:
    """Mark the dead among ``rows`` (``runs`` rows) dead, with their running steps; return
    their ids. Rows not ``running`` are left alone; so are rows another reader marked first."""
    now = time.time()
    dead = [r for r in rows if r["status"] == "running" and is_dead(r, now)]
    if not dead:
        return set()
    latest = _latest_step_times(store, [int(r["id"]) for r in dead])
    for r in dead:
        where = f"on {r.get('host') or 'an unknown host'} (pid {r.get('pid') or '?'})"
        r["status"] = "dead"
        # the last moment the run is known alive: its last heartbeat, or later a step's
        # start or end; never before its own start
        r["ended_at"] = max(
            float(r.get("heartbeat_at") or 0.0),
            float(r["started_at"]),
            latest.get(int(r["id"]), 0.0),
        )
        r["error"] = (
            f"the run's process {where} ended without finishing it (killed, or its machine"
            " stopped); it ended after its last heartbeat or step start"
        )
    # a read-only store still shows the verdict, unpersisted
    with contextlib.suppress(Exception), store.write() as tx:
        for r in dead:
            tx.execute(
                "UPDATE runs SET status = 'dead', ended_at = :t, error = :e"
                " WHERE id = :id AND status = 'running'",
                {"t": r["ended_at"], "e": r["error"], "id": r["id"]},
            )
            tx.execute(
                "UPDATE step_runs SET status = 'dead', ended_at = "
                + _NOT_BEFORE_START
                + " WHERE run_id = :id AND status = 'running'",
                {"t": r["ended_at"], "id": r["id"]},
            )
    return {int(r["id"]) for r in dead}


# a step's end is the run's end, or its own start when it started later
_NOT_BEFORE_START = "CASE WHEN started_at > :t THEN started_at ELSE :t END"


def _latest_step_times(store: MetadataStore, run_ids: list[int]) -> dict[int, float]:
    """Per run, the latest start or end recorded by its step runs (0 when it has none, or
    the store cannot be read)."""
    marks = ", ".join(f":r{i}" for i in range(len(run_ids)))
    with contextlib.suppress(Exception), store.read() as tx:
        rows = tx.all(
            "SELECT run_id, MAX(started_at) AS started, MAX(ended_at) AS ended"
            f" FROM step_runs WHERE run_id IN ({marks}) GROUP BY run_id",
            {f"r{i}": rid for i, rid in enumerate(run_ids)},
        )
        return {
            int(r["run_id"]): max(float(r["started"] or 0.0), float(r["ended"] or 0.0))
            for r in rows
        }
    return {}


def reap_steps(
    store: MetadataStore, run_id: int, steps: list[dict[str, Any]], ended: float
) -> None:
    """Step runs still ``running`` under a finished run are dead: mark them (idempotently)."""
    stale = [s for s in steps if s["status"] == "running"]
    if not stale:
        return
    with contextlib.suppress(Exception), store.write() as tx:
        tx.execute(
            "UPDATE step_runs SET status = 'dead', ended_at = "
            + _NOT_BEFORE_START
            + " WHERE run_id = :id AND status = 'running'",
            {"t": ended, "id": run_id},
        )
    for s in stale:
        s["status"] = "dead"
        s["ended_at"] = s["ended_at"] or max(ended, float(s["started_at"]))


class Heartbeat:
    """``with Heartbeat(store, run_id):`` renews the run's ``heartbeat_at`` from a daemon
    thread every ``interval`` seconds until the block ends. A failed beat (the database
    briefly away) is skipped, not raised: the next one tries again."""

    def __init__(
        self, store: MetadataStore, run_id: int, interval: float = HEARTBEAT_SECONDS
    ) -> None:
        self.store, self.run_id, self.interval = store, run_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="rung-heartbeat")

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                with contextlib.suppress(Exception), self.store.write() as tx:
                    tx.execute(
                        "UPDATE runs SET heartbeat_at = :t WHERE id = :id",
                        {"t": time.time(), "id": self.run_id},
                    )
        finally:
            self.store.close_thread()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
