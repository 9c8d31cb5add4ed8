"""A shadow's predictions: gathered off the request path, predicted and logged in batches.

The answering service hands each request in the shadow's share to :meth:`ShadowQueue.offer`
once its answer is durable — an append to a queue, the only work a shadow adds to a request.
Every :data:`WINDOW` seconds (sooner when :data:`MAX_ROWS` rows wait), one task hands all
that gathered to the shadow's own predicting thread, which

* checks each request against the shadow's signature, when it is not the signature the
  answer was checked against (a challenger may take other features);
* predicts the rows of every request in one call (:func:`~rung.serving.batching.predict_each`:
  if that call fails, each request alone, so one request the shadow cannot handle fails only
  itself) — a scikit-learn pipeline's call costs about the same for one row as for hundreds;
* queues every record on the prediction log at once (role ``shadow``, under the answered
  request's id, no inputs: they are the answer's), and counts each prediction
  (``rung_shadow_total{outcome}``, ``rung_predictions_total{role="shadow"}``).

Nothing of it is awaited by a client, and no failure of it reaches one. When
:data:`BACKLOG` rows wait, new requests are dropped and counted
(``rung_shadow_total{outcome="dropped"}``): a shadow that cannot keep up never queues
without bound.

Measured (two workers, concurrency 64, ``benchmarks/README.md``): a task, a future and a
queued record per request cost the served traffic 11–19 % of its throughput. Gathered this
way, the shadow's own thread costs about 0.02 ms of CPU per request; in paired runs a window
of 0.1 s cost 7–15 % of the throughput, 2 s 1–11 %, 4 s 5 % (each call of the model, and
each burst of work that holds the GIL against the answering threads, is then rarer).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from rung.core import predlog
from rung.core.errors import RungError
from rung.serving.batching import predict_each

if TYPE_CHECKING:
    from rung.serving.service import Service

WINDOW = 2.0
"""Seconds a shadow gathers requests before predicting them in one batch."""
MAX_ROWS = 4096
"""Rows a shadow predicts in one call at most (a batch is predicted as soon as they wait)."""
BACKLOG = 4 * MAX_ROWS
"""Rows waiting for the shadow at most; beyond, new requests are dropped (and counted)."""


_Item = tuple[Any, dict[str, Any], int, str, Any, float]
"""A request waiting: its body (None when the answer's signature is the shadow's), checked
columns, rows, id, the answer's signature and the ``perf_counter`` time it was handed over."""


class ShadowQueue:
    """The requests a shadow :class:`~rung.serving.service.Service` has yet to predict."""

    def __init__(
        self,
        shadow: Service,
        *,
        backlog: int = BACKLOG,
        window: float = WINDOW,
        max_rows: int = MAX_ROWS,
    ) -> None:
        self._shadow = shadow
        self._backlog = backlog
        self._window = window
        self._max_rows = max_rows
        # (body, checked columns, rows, request id, the answer's signature, handed over at)
        self._waiting: deque[_Item] = deque()
        self._rows = 0  # rows waiting
        self._full: asyncio.Event | None = None  # set when MAX_ROWS rows wait
        self._drainer: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="rung-shadow")
        self._compared: dict[tuple[int, int], tuple[Any, Any, bool]] = {}  # pairs compared

    def offer(self, body: Any, columns: dict[str, Any], request_id: str, answered: Any) -> bool:
        """Queue one answered request for the shadow (called on the event loop, once its
        answer is durable); False if :data:`BACKLOG` rows already wait (dropped)."""
        if self._rows >= self._backlog:
            return False
        rows = len(next(iter(columns.values()))) if columns else 0
        # the body is kept only to be checked against the shadow's own signature: what waits
        # here lives through the window, and the collector walks all of it (a full
        # collection's cost grows with it)
        if self._same_signature(self._shadow.current.signature, answered):
            body = None
        self._waiting.append((body, columns, rows, request_id, answered, time.perf_counter()))
        self._rows += rows
        if self._drainer is None:
            self._full = asyncio.Event()
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        elif self._rows >= self._max_rows and self._full is not None:
            self._full.set()
        return True

    def close(self) -> None:
        self._thread.shutdown(wait=True)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                if self._rows < self._max_rows and self._full is not None:
                    with contextlib.suppress(TimeoutError):  # rows gather: a call per window
                        await asyncio.wait_for(self._full.wait(), self._window)
                    self._full.clear()
                batch: list[_Item] = []
                rows = 0
                while self._waiting and (not batch or rows + self._waiting[0][2] <= self._max_rows):
                    item = self._waiting.popleft()
                    batch.append(item)
                    rows += item[2]
                self._rows -= rows
                await loop.run_in_executor(self._thread, self._predict, batch)
        finally:
            self._drainer = None

    def _predict(self, batch: list[_Item]) -> None:
        """In the shadow's thread: check, predict, log and count ``batch``; never raises."""
        from rung.serving.payload import check

        shadow = self._shadow
        held = shadow.current
        outcomes: list[tuple[dict[str, Any], int]] = []  # (outputs, status) per request
        requests: list[tuple[dict[str, Any], int]] = []
        checked: list[int] = []  # positions in batch of the requests in `requests`
        for i, (body, columns, rows, *_, answered, _at) in enumerate(batch):
            outcomes.append(({}, 0))
            try:
                if not self._same_signature(held.signature, answered):
                    # the shadow moved to a version of other inputs since: checked as columns
                    columns, rows = check(body or {"columns": columns}, held.signature)
            except Exception as exc:
                outcomes[i] = _failure(exc)
                continue
            requests.append((columns, rows))
            checked.append(i)
        answers = predict_each(shadow.predict, requests) if requests else []
        for i, answer in zip(checked, answers, strict=True):
            if isinstance(answer, BaseException):
                outcomes[i] = _failure(answer)
            else:
                held, out = answer
                outcomes[i] = (out, 200)
        now = time.perf_counter()
        records = []
        counts: Counter[int] = Counter()  # by status
        for (_, _, _, request_id, _, at), (out, status) in zip(batch, outcomes, strict=True):
            try:
                records.append(
                    predlog.record(
                        request_id=request_id,
                        model=held.name,
                        version=held.version,
                        inputs={},  # the answer's record holds them, under the same id
                        outputs=out,
                        latency_ms=(now - at) * 1000,  # from the hand-over to the outputs
                        status=status,
                        role="shadow",
                        sample_rows=shadow.sample_rows,  # the answer's sample: the same seed
                    )
                )
            except Exception:  # a bug of the shadow's outputs: counted, never raised
                status = 500
            counts[status] += 1
        shadow.counted_many(held.version, counts)
        try:
            shadow.log.add_many(records)
        except Exception:  # the log is closing: nothing is waiting for these
            return

    def _same_signature(self, mine: Any, answered: Any) -> bool:
        """Whether the shadow's signature is the answering version's (compared once per pair
        of signatures, not per request: they are dicts of every feature's kind; asked on the
        event loop and in the shadow's thread, each step atomic)."""
        key = (id(mine), id(answered))
        known = self._compared.get(key)
        if known is None:  # versions changed: forget the old pair (held: no id is reused)
            self._compared.clear()
            known = self._compared[key] = (mine, answered, mine == answered)
        return bool(known[2])


def _failure(exc: BaseException) -> tuple[dict[str, Any], int]:
    """A failed shadow prediction's outputs and status: its error's name, a RungError's own
    status, else 500."""
    return {"error": type(exc).__name__}, exc.status if isinstance(exc, RungError) else 500
