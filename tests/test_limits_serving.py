"""One client never fails another's request: request ids checked at the boundary, and a
prediction-log batch that the database refuses committed record by record (both backends)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any

import httpx
import pytest

from rung.core.errors import InvalidInput
from rung.core.limits import REQUEST_ID


def _row(ws: Any, sql: str, **params: Any) -> Any:
    with ws.store.read() as tx:
        return tx.scalar(sql, params)


def test_long_request_ids_fail_alone_while_other_clients_are_served(served_on_each_backend) -> None:  # type: ignore[no-untyped-def]
    ws, url = served_on_each_backend
    good: list[int] = []
    failures: list[Any] = []
    refused: list[dict[str, Any]] = []
    stop = threading.Event()

    def client(k: int) -> None:
        with httpx.Client(timeout=30) as c:
            i = 0
            while not stop.is_set():
                rid = f"good-{k}-{i}-".ljust(REQUEST_ID, "x")  # exactly at the limit
                r = c.post(
                    f"{url}/predict", json={"a": 0.3, "color": "red"}, headers={"X-Request-ID": rid}
                )
                if r.status_code == 200 and r.headers["x-correlation-id"] == rid:
                    good.append(1)
                else:
                    failures.append((r.status_code, r.text[:200]))
                i += 1

    def bad_client() -> None:
        with httpx.Client(timeout=30) as c:
            while not stop.is_set():
                for extra in (1, 2, 500):
                    r = c.post(
                        f"{url}/predict",
                        json={"a": 0.3, "color": "red"},
                        headers={"X-Request-ID": "b" * (REQUEST_ID + extra)},
                    )
                    refused.append({"status": r.status_code, **r.json()})
                time.sleep(0.005)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    threads.append(threading.Thread(target=bad_client))
    for t in threads:
        t.start()
    time.sleep(4)
    stop.set()
    for t in threads:
        t.join(timeout=60)

    assert failures == []
    assert len(good) > 50 and len(refused) > 10
    for r in refused:
        assert r["status"] == 422
        err = r["error"]
        assert err["type"] == "InvalidInput"
        assert "X-Request-ID" in err["message"] and f"limit of {REQUEST_ID}" in err["message"]
        assert "\n" not in err["message"]
    assert "65 characters" in refused[0]["error"]["message"]
    # every answer is logged; the refusals too (without the long id), under the server's ids
    assert _row(ws, "SELECT COUNT(*) FROM predictions WHERE status = 200") == len(good)
    assert _row(ws, "SELECT COUNT(*) FROM predictions WHERE status = 422") == len(refused)
    assert _row(ws, "SELECT MAX(LENGTH(correlation_id)) FROM predictions") == REQUEST_ID
    assert _row(ws, "SELECT MAX(LENGTH(request_id)) FROM predictions") == 32


def test_feedback_names_a_request_id_over_the_limit(served_on_each_backend) -> None:  # type: ignore[no-untyped-def]
    ws, url = served_on_each_backend
    r = httpx.post(f"{url}/feedback", json={"request_id": "f" * (REQUEST_ID + 1), "label": "yes"})
    assert r.status_code == 422
    field = r.json()["error"]["fields"][0]
    assert field["loc"] == ["feedback", 0, "request_id"]
    assert f"{REQUEST_ID + 1} characters, over the limit of {REQUEST_ID}" in field["msg"]
    assert _row(ws, "SELECT COUNT(*) FROM feedback") == 0


def test_a_refused_record_fails_only_its_own_request_in_a_group_commit(ws) -> None:  # type: ignore[no-untyped-def]
    """Records queued together commit together; a refusal of one — an id past the limit
    (which the boundary normally stops), or a row the database itself refuses (NOT NULL) —
    leaves the others committed."""
    from rung.serving.log import PredictionLog

    log = PredictionLog(ws.store)
    try:
        futures: list[tuple[str, Future[None]]] = []
        for i in range(200):
            rid = "x" * (REQUEST_ID + 1) if i % 7 == 3 else f"ok-{i}"
            record = {
                "request_id": rid,
                "model": "trend",
                "version": 1,
                "rows": None if i % 11 == 5 else 1,
                "inputs": {"a": [1.0]},
                "outputs": {"predictions": ["yes"]},
                "latency_ms": 1.0,
            }
            futures.append((rid, log.submit(record)))
        for rid, done in futures:
            if not rid.startswith("ok-"):
                with pytest.raises(InvalidInput, match=f"over the limit of {REQUEST_ID}"):
                    done.result(timeout=60)
            elif int(rid[3:]) % 11 == 5:
                with pytest.raises(Exception, match=r"(?i)null"):
                    done.result(timeout=60)
            else:
                assert done.result(timeout=60) is None
    finally:
        log.close()
    kept = [r for r, _ in futures if r.startswith("ok-") and int(r[3:]) % 11 != 5]
    assert _row(ws, "SELECT COUNT(*) FROM predictions") == len(kept) > 100


def test_event_loop_waiters_settle_as_thread_waiters_do(ws) -> None:  # type: ignore[no-untyped-def]
    """``PredictionLog.logged`` (an event loop's future, woken once per batch) settles each
    record exactly as ``submit`` (a thread's future) does, mixed in the same group commits:
    committed records succeed, a refused one fails alone, fire-and-forget records (``add``)
    are committed too."""
    import asyncio

    from rung.serving.log import PredictionLog

    def record(i: int) -> dict[str, Any]:
        return {
            "request_id": "x" * (REQUEST_ID + 1) if i % 7 == 3 else f"ok-{i}",
            "model": "trend",
            "version": 1,
            "rows": 1,
            "inputs": {"a": [1.0]},
            "outputs": {"predictions": ["yes"]},
            "latency_ms": 1.0,
        }

    log = PredictionLog(ws.store)

    async def main() -> list[BaseException | None]:
        waits = [log.logged(record(i)) for i in range(0, 300, 2)]
        threads = [log.submit(record(i)) for i in range(1, 300, 2)]
        for i in range(300, 320):
            log.add(record(i))
        got = await asyncio.gather(*waits, return_exceptions=True)
        return [*got, *(f.exception(timeout=60) for f in threads)]

    try:
        outcomes = asyncio.run(main())
    finally:
        log.close()
    ids = [*range(0, 300, 2), *range(1, 300, 2)]
    for i, outcome in zip(ids, outcomes, strict=True):
        if i % 7 == 3:
            assert isinstance(outcome, InvalidInput), (i, outcome)
        else:
            assert outcome is None, (i, outcome)
    committed = [i for i in range(320) if i % 7 != 3]
    assert _row(ws, "SELECT COUNT(*) FROM predictions") == len(committed)


@pytest.mark.parametrize("poll", [float("nan"), float("inf"), 0.0, -1.0, 1e9])
def test_the_alias_poll_interval_is_range_checked(sqlite_ws, poll: float) -> None:  # type: ignore[no-untyped-def]
    from rung.serving.service import Service

    with pytest.raises(InvalidInput, match=r"poll interval .* out of range 0\.05\.\.86400"):
        Service(sqlite_ws, "trend@champion", poll)


def test_a_failing_database_fails_the_whole_group_at_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Unreachable, locked or full is not one record's fault: no retry per record."""
    from rung.core.errors import StoreUnavailable
    from rung.serving.log import PredictionLog, _systemic
    from rung.store.metadata import MetadataStore

    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    log = PredictionLog(store)
    store.close()
    record = {"request_id": "r", "model": "m", "version": 1, "rows": 1, "inputs": {}, "outputs": {}}
    futures = [log.submit({**record, "latency_ms": 1.0}) for _ in range(50)]
    for done in futures:
        with pytest.raises(StoreUnavailable):
            done.result(timeout=30)
    log.close()
    assert _systemic(StoreUnavailable("x")) and not _systemic(InvalidInput("x"))
