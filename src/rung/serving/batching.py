"""Adaptive batching: requests that arrive together are predicted together.

For one row, a scikit-learn pipeline spends nearly all its time in per-call overhead (a
ColumnTransformer on a one-row DataFrame costs about what it costs on a hundred rows). So
when requests overlap, the service gathers the rows of every request waiting at that moment
into one DataFrame, predicts once, and hands each request its own slice — what BentoML, Ray
Serve and Triton call adaptive (or dynamic) batching. There is no timer: a request that finds
the service idle is predicted at once, on the event loop; requests arriving while a batch is
being predicted (in one predicting thread) form the next batch. So a lone request waits for
nothing, and under load the model is called once per batch instead of once per request.

A batcher off the request path (a shadow's: nobody waits for its answers) may instead wait
``window`` seconds for rows to gather before each prediction: a scikit-learn pipeline's call
costs nearly the same for one row as for hundreds, so its shadow predictions cost the served
traffic little.

Every request of a batch is answered by the same version (the holder is read once per batch).
If predicting a batch fails, its requests are predicted one by one, so that one request the
model cannot handle fails alone.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MAX_ROWS = 512  # rows gathered into one prediction
INLINE_ROWS = 64  # an idle service predicts up to this many rows on the event loop itself

Columns = dict[str, list[Any]]
Answer = tuple[Any, dict[str, Any]]  # (the version that answered, its outputs)


class Batcher:
    """Gathers overlapping requests' rows into one prediction."""

    def __init__(
        self,
        predict: Callable[[Columns], Answer],
        max_rows: int = MAX_ROWS,
        inline_rows: int = INLINE_ROWS,
        window: float = 0.0,
    ) -> None:
        self._predict = predict  # columns of one or more requests -> (version, outputs)
        self._max_rows = max_rows
        self._inline_rows = inline_rows
        self._window = window  # seconds to gather rows before a prediction (0: none)
        self._gathered = 0  # rows waiting
        self._waiting: list[tuple[Columns, int, asyncio.Future[Answer]]] = []
        self._busy = False
        self._drainer: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="rung-predict")

    async def predict(self, columns: Columns, rows: int, alone: bool = False) -> Answer:
        """The version that answered and this request's outputs.

        ``alone`` says no other request is being served at all (the caller counts them from
        their arrival, not from here: a request still reading its body or waiting for the log
        is load too). Then a small request is predicted right here, with no thread hop.
        """
        if alone and not self._busy and not self._waiting and rows <= self._inline_rows:
            return self._predict(columns)
        done: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append((columns, rows, done))
        self._gathered += rows
        if not self._busy:
            self._busy = True
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        return await done

    def close(self) -> None:
        self._thread.shutdown(wait=True)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                if self._window and self._gathered < self._max_rows:
                    await asyncio.sleep(self._window)  # let a shadow's rows gather
                batch: list[tuple[Columns, int, asyncio.Future[Answer]]] = []
                rows = 0
                while self._waiting and (not batch or rows + self._waiting[0][1] <= self._max_rows):
                    item = self._waiting.pop(0)
                    batch.append(item)
                    rows += item[1]
                self._gathered -= rows
                answers: list[Answer | None]
                try:
                    answers = list(await loop.run_in_executor(self._thread, self._batch, batch))
                except Exception:  # predict each request alone; a failure stays its own
                    answers = []
                    for columns, _, done in batch:
                        try:
                            answers.append(
                                await loop.run_in_executor(self._thread, self._predict, columns)
                            )
                        except Exception as exc:
                            if not done.done():
                                done.set_exception(exc)
                            answers.append(None)
                for (_, _, done), answer in zip(batch, answers, strict=True):
                    if answer is not None and not done.done():
                        done.set_result(answer)
        finally:
            self._busy = False

    def _batch(self, batch: list[tuple[Columns, int, Any]]) -> list[Answer]:
        if len(batch) == 1:
            return [self._predict(batch[0][0])]
        names = list(batch[0][0])
        merged = {n: list(itertools.chain.from_iterable(c[n] for c, _, _ in batch)) for n in names}
        held, out = self._predict(merged)
        answers, start = [], 0
        for _, rows, _ in batch:
            end = start + rows
            answers.append((held, {key: values[start:end] for key, values in out.items()}))
            start = end
        return answers
