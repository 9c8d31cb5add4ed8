"""The durable prediction log: batched writes off the request path, confirmed before replying.

Handlers hand each record to a writer thread and wait for its batch to commit (group commit):
the database sees one transaction per batch rather than one per request — the records that
arrive while one batch commits form the next — and a response is
only sent once its record is durable — so after a crash only requests that never got an
answer can be missing, and under load the log holds exactly one row per 2xx response.
Records queued on an event loop go to the writer once per turn of the loop, together (one
wake-up of the writer, not one per request).
If a batch's transaction fails, its records are committed one by one, so a record the
database refuses fails only its own request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
import time
from collections import defaultdict
from concurrent.futures import Future
from typing import Any

from rung.core.errors import StoreUnavailable
from rung.core.hashing import canonical_json

try:  # checked once, not per record: this runs for every prediction served
    import orjson
except ModuleNotFoundError:  # `rung predict` without the serve extra
    orjson = None  # type: ignore[assignment]
from rung.store.metadata import MetadataStore

BATCH = 512

# who waits for a record: a thread's Future, an event loop's future, or nobody
Waiter = Future[None] | asyncio.Future[None] | None


class PredictionLog:
    """A writer thread that inserts prediction records in batches."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store
        self._queue: queue.Queue[list[tuple[dict[str, Any], Waiter]] | None] = queue.Queue()
        # records queued on each event loop during its current turn, sent at its end
        self._pending: dict[asyncio.AbstractEventLoop, list[tuple[dict[str, Any], Waiter]]] = {}
        self._thread = threading.Thread(target=self._run, name="rung-prediction-log", daemon=True)
        self._thread.start()

    def submit(self, record: dict[str, Any]) -> Future[None]:
        """Queue one record; the future completes when it is committed."""
        done: Future[None] = Future()
        self._queue.put([(_row(record), done)])
        return done

    def logged(self, record: dict[str, Any]) -> asyncio.Future[None]:
        """Queue one record from an event loop; await the result to know it is committed.

        The writer wakes each loop once per committed batch, not once per record (a
        thread-safe wake-up writes to the loop's self-pipe: per record it cost more than the
        insert)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._on_loop(loop, (_row(record), done))
        return done

    def add(self, record: dict[str, Any]) -> None:
        """Queue one record nobody waits for (an error answer), on an event loop or not."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a thread without a loop
            self._queue.put([(_row(record), None)])
            return
        self._on_loop(loop, (_row(record), None))

    def add_many(self, records: list[dict[str, Any]]) -> None:
        """Queue records nobody waits for, from any thread, at once (a shadow's batch)."""
        if records:
            self._queue.put([(_row(record), None) for record in records])

    def close(self) -> None:
        """Commit what is queued, then stop the writer (on the loop's thread, or after the
        loops have stopped)."""
        for loop in list(self._pending):
            self._flush(loop)
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _on_loop(
        self, loop: asyncio.AbstractEventLoop, item: tuple[dict[str, Any], Waiter]
    ) -> None:
        pending = self._pending.get(loop)
        if pending is None:  # the first of this turn: sent to the writer at its end
            pending = self._pending[loop] = []
            loop.call_soon(self._flush, loop)
        pending.append(item)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        pending = self._pending.pop(loop, None)
        if pending:
            self._queue.put(pending)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            # group commit without a timer: take what queued up while the last batch was
            # committing, no more waiting — one request alone pays one commit, not a delay
            batch = list(first)
            while len(batch) < BATCH:
                try:
                    items = self._queue.get_nowait()
                except queue.Empty:
                    break
                if items is None:
                    self._commit(batch)
                    return
                batch.extend(items)
            self._commit(batch)

    def _commit(self, batch: list[tuple[dict[str, Any], Waiter]]) -> None:
        """Commit a batch in one transaction; if the database refuses it for what a record
        holds, commit its records one by one, so that a bad record fails its own request
        only, never another's. If the database itself is failing (unreachable, locked, full),
        every request of the batch fails at once, without a retry per record."""
        try:
            with self._store.write() as tx:
                tx.insert_many("predictions", [row for row, _ in batch])
        except Exception as exc:  # the requests fail rather than answer unlogged
            if len(batch) == 1 or _systemic(exc):
                _settle(batch, exc)
                return
            for item in batch:
                self._commit([item])
            return
        _settle(batch, None)


def _settle(batch: list[tuple[dict[str, Any], Waiter]], exc: BaseException | None) -> None:
    """Complete every waiter of ``batch``: a thread's future at once, an event loop's futures
    with one wake-up of each loop."""
    loops: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = defaultdict(list)
    for _, done in batch:
        if isinstance(done, asyncio.Future):
            loops[done.get_loop()].append(done)
        elif done is not None:
            _finish(done, exc)
    for loop, waiting in loops.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_complete, waiting, exc)


def _complete(waiting: list[asyncio.Future[None]], exc: BaseException | None) -> None:
    for done in waiting:
        if not done.done():
            _finish(done, exc)


def _finish(done: Future[None] | asyncio.Future[None], exc: BaseException | None) -> None:
    if exc is None:
        done.set_result(None)
    else:
        done.set_exception(exc)


def _row(record: dict[str, Any]) -> dict[str, Any]:
    """The stored row of a prediction record: inputs and outputs as JSON text."""
    return {
        **record,
        "inputs": _json(record["inputs"]),
        "outputs": _json(record["outputs"]),
        "at": record.get("at", time.time()),
        "status": record.get("status", 200),
    }


def _systemic(exc: BaseException) -> bool:
    """A failure of the database rather than of a record: StoreUnavailable, or a driver's
    OperationalError (sqlite3: locked, disk full, I/O; psycopg: the connection)."""
    return isinstance(exc, StoreUnavailable) or type(exc).__name__ == "OperationalError"


def _json(value: Any) -> str:
    """Plain JSON, fast (orjson when installed: NaN becomes null); what plain JSON cannot hold
    goes the canonical way."""
    try:
        if orjson is not None:
            return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
        return json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError):
        return canonical_json(value)
