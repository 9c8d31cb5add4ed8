"""A lease in the metadata store: a lock that two processes cannot both hold, and that a
crashed holder cannot keep — it expires unless renewed.

Taken with one conditional ``UPDATE`` (or the first ``INSERT``) in a write transaction:
SQLite serialises writers at ``BEGIN IMMEDIATE``; on PostgreSQL a second ``UPDATE`` of the
same row waits for the first to commit and then re-checks its condition, and of two first
``INSERT … ON CONFLICT DO NOTHING`` one inserts and the other does nothing. A holder renews from a thread while it works.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from types import TracebackType

from rung.store.metadata import MetadataStore


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """``with Lease(store, name, ttl) as held:`` — ``held`` says whether this process has it."""

    def __init__(self, store: MetadataStore, name: str, ttl: float) -> None:
        self.store, self.name, self.ttl = store, name, ttl
        self.holder = holder_id()
        self.held = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self) -> bool:
        now = time.time()
        with self.store.write() as tx:
            tx.execute(
                "UPDATE leases SET holder = :h, expires_at = :e"
                " WHERE name = :n AND (expires_at < :now OR holder = :h)",
                {"h": self.holder, "e": now + self.ttl, "n": self.name, "now": now},
            )
            row = tx.one("SELECT holder FROM leases WHERE name = :n", {"n": self.name})
            if row is None:  # the first lease: another process may insert it now too
                self.held = tx.insert_if_absent(
                    "leases",
                    {"name": self.name, "holder": self.holder, "expires_at": now + self.ttl},
                    key=("name",),
                )
            else:
                self.held = row["holder"] == self.holder
        if self.held:
            self._renewer = threading.Thread(target=self._renew, daemon=True, name="rung-lease")
            self._renewer.start()
        return self.held

    def holder_now(self) -> dict[str, object] | None:
        with self.store.read() as tx:
            return tx.one("SELECT holder, expires_at FROM leases WHERE name = :n", {"n": self.name})

    def _renew(self) -> None:
        try:
            while not self._stop.wait(self.ttl / 3):
                with self.store.write() as tx:
                    tx.execute(
                        "UPDATE leases SET expires_at = :e WHERE name = :n AND holder = :h",
                        {"e": time.time() + self.ttl, "n": self.name, "h": self.holder},
                    )
        finally:
            self.store.close_thread()  # one renewer per tick: no connection left per tick

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=10)
        if self.held:
            with self.store.write() as tx:
                tx.execute(
                    "DELETE FROM leases WHERE name = :n AND holder = :h",
                    {"n": self.name, "h": self.holder},
                )
            self.held = False

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
