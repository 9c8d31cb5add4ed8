"""A lease in the metadata store: a lock that two processes cannot both hold, that a crashed
holder cannot keep — it expires unless renewed — and that **fences** a holder that outlived it.

Taken with one conditional ``UPDATE`` (or the first ``INSERT``) in a write transaction:
SQLite serialises writers at ``BEGIN IMMEDIATE``; on PostgreSQL a second ``UPDATE`` of the
same row waits for the first to commit and then re-checks its condition, and of two first
``INSERT … ON CONFLICT DO NOTHING`` one inserts and the other does nothing. A holder renews
from a thread while it works.

An expiring lock alone is not safe: a holder paused longer than the time to live (a stopped
process, a long garbage collection, a swapped-out VM) wakes up still believing it holds the
lock while another process has taken it. Each acquisition therefore increases the lease's
``generation`` — its **fencing token** (Kleppmann, "How to do distributed locking", 2016, and
*Designing Data-Intensive Applications*, ch. 8) — and every write made under the lease calls
:meth:`Lease.fence` inside its own transaction: a conditional ``UPDATE`` of the lease row on
the generation this holder acquired, which matches nothing once another holder took the
lease, so the write is refused (:class:`~rung.core.errors.LeaseLost`) and rolled back with
it. On PostgreSQL that ``UPDATE`` also locks the row until the write commits, so a takeover
waits for a fenced write in flight instead of racing it.

A renewal that fails, or that finds the generation moved on, marks the lease lost
(:attr:`Lease.lost`); :meth:`Lease.check` raises from then on, and every fenced write is
refused. A released lease keeps its row (expired), so the generation only ever grows.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from types import TracebackType

from rung.core.errors import LeaseLost
from rung.store.metadata import MetadataStore, Tx


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """``with Lease(store, name, ttl) as held:`` — ``held`` says whether this process has it.

    ``ttl`` is in seconds; the renewer extends the expiry every ``ttl / 3`` seconds.
    :attr:`generation` is the fencing token once acquired (None before), :attr:`lost` the
    reason the lease was lost (None while held)."""

    def __init__(self, store: MetadataStore, name: str, ttl: float) -> None:
        self.store, self.name, self.ttl = store, name, ttl
        self.holder = holder_id()
        self.held = False
        self.generation: int | None = None
        self.lost: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self) -> bool:
        """Take the lease if it is free or expired: True when this process holds it now,
        with a generation one more than the last holder's."""
        now = time.time()
        with self.store.write() as tx:
            tx.execute(
                "UPDATE leases SET holder = :h, expires_at = :e, generation = generation + 1"
                " WHERE name = :n AND (expires_at < :now OR holder = :h)",
                {"h": self.holder, "e": now + self.ttl, "n": self.name, "now": now},
            )
            row = tx.one("SELECT holder, generation FROM leases WHERE name = :n", {"n": self.name})
            if row is None:  # the first lease: another process may insert it now too
                self.held = tx.insert_if_absent(
                    "leases",
                    {
                        "name": self.name,
                        "holder": self.holder,
                        "expires_at": now + self.ttl,
                        "generation": 1,
                    },
                    key=("name",),
                )
                self.generation = 1 if self.held else None
            else:
                self.held = row["holder"] == self.holder
                self.generation = int(row["generation"]) if self.held else None
        if self.held:
            self.lost = None
            self._stop.clear()
            self._renewer = threading.Thread(target=self._renew, daemon=True, name="rung-lease")
            self._renewer.start()
        return self.held

    def holder_now(self) -> dict[str, object] | None:
        """The lease's row as stored: holder, expires_at (epoch seconds), generation."""
        with self.store.read() as tx:
            return tx.one(
                "SELECT holder, expires_at, generation FROM leases WHERE name = :n",
                {"n": self.name},
            )

    # -- fencing ---------------------------------------------------------------------------

    def fence(self, tx: Tx) -> None:
        """Inside the caller's write transaction: refuse it (:class:`LeaseLost`) unless this
        holder's generation is still the lease's. On PostgreSQL the row stays locked until
        the transaction ends, so a takeover cannot slip in before the fenced write commits."""
        self._raise_if_lost()
        kept = tx.count(
            "UPDATE leases SET generation = generation"
            " WHERE name = :n AND holder = :h AND generation = :g",
            {"n": self.name, "h": self.holder, "g": self.generation},
        )
        if not kept:
            row = tx.one("SELECT holder, generation FROM leases WHERE name = :n", {"n": self.name})
            self._lose(_taken(row))
            self._raise_if_lost()

    def check(self) -> None:
        """Raise :class:`LeaseLost` when the lease was lost (a renewal failed, or another
        holder has a newer generation): one read; the place to stop before long work."""
        self._raise_if_lost()
        with self.store.read() as tx:
            row = tx.one("SELECT holder, generation FROM leases WHERE name = :n", {"n": self.name})
        if row is None or row["holder"] != self.holder or row["generation"] != self.generation:
            self._lose(_taken(row))
        self._raise_if_lost()

    def _lose(self, why: str) -> None:
        if self.lost is None:
            self.lost = why
        self._stop.set()  # nothing more to renew

    def _raise_if_lost(self) -> None:
        if self.generation is None:
            raise LeaseLost(f"the lease {self.name!r} is not held", "acquire it first")
        if self.lost is not None:
            raise LeaseLost(
                f"lost the lease {self.name!r} (fencing token {self.generation}): {self.lost}",
                "this process stopped and recorded nothing more; the holder now carries the"
                " work on. If this one was only slow or paused, give the lease a longer time"
                " to live",
            )

    # -- renewal and release ---------------------------------------------------------------

    def _renew(self) -> None:
        try:
            while not self._stop.wait(self.ttl / 3):
                try:
                    with self.store.write() as tx:
                        kept = tx.count(
                            "UPDATE leases SET expires_at = :e"
                            " WHERE name = :n AND holder = :h AND generation = :g",
                            {
                                "e": time.time() + self.ttl,
                                "n": self.name,
                                "h": self.holder,
                                "g": self.generation,
                            },
                        )
                        row = (
                            None
                            if kept
                            else tx.one(
                                "SELECT holder, generation FROM leases WHERE name = :n",
                                {"n": self.name},
                            )
                        )
                except Exception as exc:  # any failure: the holder must not go on unsure
                    detail = (str(exc).strip().splitlines() or [""])[0]
                    self._lose(f"renewing it failed ({type(exc).__name__}: {detail})")
                    return
                if not kept:
                    self._lose(_taken(row))
                    return
        finally:
            self.store.close_thread()  # one renewer per tick: no connection left per tick

    def release(self) -> None:
        """Stop renewing and expire the lease now (if still this holder's); the row stays, so
        the next acquisition's generation is higher still."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=10)
            self._renewer = None
        if self.held:
            self.held = False
            if self.lost is None:
                with self.store.write() as tx:
                    tx.execute(
                        "UPDATE leases SET expires_at = 0"
                        " WHERE name = :n AND holder = :h AND generation = :g",
                        {"n": self.name, "h": self.holder, "g": self.generation},
                    )

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _taken(row: dict[str, object] | None) -> str:
    if row is None:
        return "its row is gone"
    return f"another process took it over ({row['holder']}, fencing token {row['generation']})"
