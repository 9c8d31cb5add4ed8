"""The durable prediction log: batched writes off the request path, confirmed before replying.

Handlers hand each record to a writer thread and wait for its batch to commit (group commit):
the database sees one transaction per batch rather than one per request, and a response is
only sent once its record is durable — so after a crash only requests that never got an
answer can be missing, and under load the log holds exactly one row per 2xx response.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Any

from rung.core.hashing import canonical_json
from rung.store.metadata import MetadataStore

BATCH = 256
WAIT = 0.005  # seconds the writer waits for more records before committing


class PredictionLog:
    """A writer thread that inserts prediction records in batches."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store
        self._queue: queue.Queue[tuple[dict[str, Any], Future[None]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="rung-prediction-log", daemon=True)
        self._thread.start()

    def submit(self, record: dict[str, Any]) -> Future[None]:
        """Queue one record; the future completes when it is committed."""
        done: Future[None] = Future()
        row = {
            **record,
            "inputs": canonical_json(record["inputs"]),
            "outputs": canonical_json(record["outputs"]),
            "at": record.get("at", time.time()),
        }
        self._queue.put((row, done))
        return done

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + WAIT
            while len(batch) < BATCH:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    self._commit(batch)
                    return
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[tuple[dict[str, Any], Future[None]]]) -> None:
        try:
            with self._store.write() as tx:
                tx.insert_many("predictions", [row for row, _ in batch])
        except Exception as exc:  # the requests fail rather than answer unlogged
            for _, done in batch:
                done.set_exception(exc)
            return
        for _, done in batch:
            done.set_result(None)
