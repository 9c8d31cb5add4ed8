"""A lease that fences (issue 11, §3): every acquisition takes a higher fencing token, every
write of a job carries it and is refused once another tick took the lease over, and a
renewal that fails or finds the lease gone stops the tick — on SQLite and PostgreSQL, with
real processes paused by SIGSTOP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import RUNG
from model_project import frame
from rung.core.errors import LeaseLost
from rung.store.lease import Lease
from test_automation import alias_events, setup


def _generation(store: Any, name: str) -> int | None:
    with store.read() as tx:
        value = tx.scalar("SELECT generation FROM leases WHERE name = :n", {"n": name})
    return None if value is None else int(value)


def test_every_acquisition_takes_a_higher_fencing_token(ws) -> None:  # type: ignore[no-untyped-def]
    tokens = []
    for _ in range(3):
        with Lease(ws.store, "probe", ttl=60) as lease:
            assert lease.held
            tokens.append(lease.generation)
            assert not Lease(ws.store, "probe", ttl=60).acquire()  # held: no second holder
    first = Lease(ws.store, "probe", ttl=0.2)
    assert first.acquire()
    first._stop.set()  # a holder that stopped renewing (a paused process)
    time.sleep(0.3)
    second = Lease(ws.store, "probe", ttl=60)
    assert second.acquire()  # expired: taken over
    tokens += [first.generation, second.generation]
    assert tokens == [1, 2, 3, 4, 5]
    second.release()


def test_a_write_fenced_by_a_lease_taken_over_is_refused_and_rolled_back(ws) -> None:  # type: ignore[no-untyped-def]
    stale = Lease(ws.store, "automate:m", ttl=60)
    assert stale.acquire()
    with ws.store.write() as tx:  # the paused holder's lease expires; another takes it
        tx.execute("UPDATE leases SET expires_at = 0 WHERE name = 'automate:m'")
    fresh = Lease(ws.store, "automate:m", ttl=60)
    assert fresh.acquire() and fresh.generation == 2
    refused = pytest.raises(LeaseLost, match=r"lost the lease 'automate:m' \(fencing token 1\)")
    with refused, ws.store.write() as tx:
        tx.upsert(
            "automation_state", {"key": "m/probe", "value": "{}", "updated_at": 0.0}, key=("key",)
        )
        stale.fence(tx)
    with ws.store.read() as tx:  # the write in the refused transaction was rolled back
        assert tx.scalar("SELECT COUNT(*) FROM automation_state") == 0
    with ws.store.write() as tx:  # the holder's own fenced write goes through
        fresh.fence(tx)
    with pytest.raises(LeaseLost):
        stale.check()
    stale.release()  # no write: it is not its lease any more
    assert _generation(ws.store, "automate:m") == 2
    assert fresh.holder_now()["holder"] == fresh.holder  # type: ignore[index]
    fresh.release()


def test_a_renewal_that_finds_the_lease_taken_stops_the_holder(ws) -> None:  # type: ignore[no-untyped-def]
    lease = Lease(ws.store, "automate:m", ttl=0.3)
    assert lease.acquire()
    with ws.store.write() as tx:  # another process took it over
        tx.execute(
            "UPDATE leases SET holder = 'elsewhere:1:x', generation = generation + 1"
            " WHERE name = 'automate:m'"
        )
    deadline = time.monotonic() + 10
    while lease.lost is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (
        lease.lost and "another process took it over (elsewhere:1:x, fencing token 2)" in lease.lost
    )
    with pytest.raises(LeaseLost, match="took it over"):
        lease.check()
    lease.release()


def test_a_renewal_that_fails_stops_the_holder(store_url: str) -> None:
    """The renewer used to die silently on any exception; now the failure is the lease's."""
    from rung.store.metadata import MetadataStore

    store = MetadataStore(store_url)
    lease = Lease(store, "automate:m", ttl=0.3)
    assert lease.acquire()
    store.close()  # every renewal fails from now on
    deadline = time.monotonic() + 10
    while lease.lost is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert lease.lost and "renewing it failed (StoreUnavailable" in lease.lost
    with pytest.raises(LeaseLost, match="renewing it failed"):
        lease.check()
    lease._stop.set()


def _stopped(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


@pytest.mark.parametrize("point", ["tick.step", "tick.evaluated"])
def test_a_tick_paused_past_its_lease_is_fenced_off(ws, point: str) -> None:  # type: ignore[no-untyped-def]
    """The issue's example: SIGSTOP a tick (here at a named point: inside its pipeline run,
    or after its evaluation) with lease = 2, let the lease expire, start a second tick, and
    SIGCONT the first while the second works. Before: both carried the job to the end (two
    runs, two evaluations, the promotion citing the other one). Now the second carries it
    and the first stops at its next step or write: one succeeded run, one evaluation, one
    promotion citing the job's evaluation."""
    w = setup(ws, lease=2)
    w.data.add(frame(3000, 5), name="train")
    env = {**os.environ, "RUNG_FAULT_AT": f"{point}:stop"}
    first = subprocess.Popen(
        [RUNG, "automate", "tick", "--json"],
        cwd=w.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    second = None
    try:
        deadline = time.monotonic() + 180
        while not _stopped(first.pid) and time.monotonic() < deadline:
            assert first.poll() is None, first.communicate()
            time.sleep(0.05)
        assert _stopped(first.pid), "the first tick never reached " + point
        token = _generation(w.store, "automate:trend")
        time.sleep(2.5)  # its lease expires: nothing renews it while it is stopped
        second = subprocess.Popen(
            [RUNG, "automate", "tick", "--json"],
            cwd=w.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        while _generation(w.store, "automate:trend") == token and time.monotonic() < deadline:
            assert second.poll() is None, second.communicate()
            time.sleep(0.05)
        assert _generation(w.store, "automate:trend") == (token or 0) + 1
    finally:
        first.send_signal(signal.SIGCONT)  # wakes up while the second tick works
    out, err = first.communicate(timeout=300)
    assert first.returncode == 1, (out, err)
    assert "lost the lease 'automate:trend'" in err and "took it over" in err, err
    assert len(err.strip().splitlines()) == 1  # one line, no traceback
    done = json.loads(second.communicate(timeout=300)[0])
    assert second.returncode == 0 and done["status"] == "done" and done["resumed"] is True
    job = done["job"]
    assert job["decision"] == "promote" and w.automation.history()[-1]["id"] == job["id"]
    with w.store.read() as tx:
        runs = tx.all(
            "SELECT status FROM runs WHERE trigger LIKE :p", {"p": f"automate job {job['id']}:%"}
        )
        evaluations = tx.all("SELECT id FROM evaluations WHERE model = :m", {"m": "trend@2"})
    assert [r["status"] for r in runs].count("succeeded") == 1, runs
    if point == "tick.step":  # the stale tick's run stopped at its step's end, as failed
        assert [r["status"] for r in runs].count("failed") == 1, runs
    assert [e["id"] for e in evaluations] == [job["evaluation_id"]]
    moves = alias_events(w)
    assert [e["to_version"] for e in moves] == [1, 2]
    with w.store.read() as tx:
        cited = tx.scalar("SELECT evaluation_id FROM alias_events ORDER BY id DESC LIMIT 1")
    assert cited == job["evaluation_id"]
    status = w.automation.status()  # released by the second tick: free, its token kept
    assert status["lease"]["holder"] is None and status["lease"]["generation"] == (token or 0) + 1
    assert w.automation.tick()["status"] == "idle"
