"""A request id sent in ``X-Request-ID`` is the same text as in a JSON body (issue 10).

HTTP hands header bytes over as Latin-1, so a UTF-8 id (``é`` × 32) used to be stored as
``Ã©Ã©…`` and ``/feedback`` with the same id in JSON found nothing. The service reads the
header's bytes as UTF-8; bytes that are not UTF-8 are refused with a 422, logged under a
fresh id. Lengths count characters after decoding, as everywhere (docs/limits.md).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from rung.core.limits import REQUEST_ID

IDS = [
    "é" * 32,
    "é" * REQUEST_ID,  # 64 characters, 128 bytes: at the limit
    "日本語-リクエスト",
    "🙂" * 16,
    "naïve-ß-Ωmega-ø",
    "plain-ascii-id",
]


def _scalar(ws: Any, sql: str, **params: Any) -> Any:
    with ws.store.read() as tx:
        return tx.scalar(sql, params)


def test_a_utf8_header_id_is_the_same_id_as_in_json(served_on_each_backend) -> None:  # type: ignore[no-untyped-def]
    ws, url = served_on_each_backend
    with httpx.Client(timeout=30) as c:
        for rid in IDS:
            r = c.post(
                f"{url}/predict",
                json={"a": 0.3, "color": "red"},
                headers={"X-Request-ID": rid.encode("utf-8")},
            )
            assert r.status_code == 200, r.text
            assert r.json()["request_id"] == rid
            # the answer's X-Request-ID header: the id's UTF-8 bytes, as they were sent
            raw = dict(r.headers.raw)[b"x-request-id"]
            assert raw.decode("utf-8") == rid
            fb = c.post(f"{url}/feedback", json={"request_id": rid, "label": "yes"})
            assert fb.status_code < 300, (rid, fb.text)
            stored = "SELECT COUNT(*) FROM predictions WHERE request_id = :rid"
            assert _scalar(ws, stored, rid=rid) == 1
        # one past the limit in characters is refused, whatever its bytes
        r = c.post(
            f"{url}/predict",
            json={"a": 0.3, "color": "red"},
            headers={"X-Request-ID": ("é" * (REQUEST_ID + 1)).encode("utf-8")},
        )
        assert r.status_code == 422 and f"{REQUEST_ID + 1} characters" in r.text


RAW = [b"\xff\xfe", b"caf\xe9", b"\xc3(", b"ok-\xed\xa0\x80"]


def test_a_header_that_is_not_utf8_is_refused(served_on_each_backend) -> None:  # type: ignore[no-untyped-def]
    """Each kind of byte string that is not UTF-8, against one server per backend."""
    ws, url = served_on_each_backend
    for n, raw in enumerate(RAW, start=1):
        r = httpx.post(
            f"{url}/predict", json={"a": 0.3, "color": "red"}, headers={"X-Request-ID": raw}
        )
        assert r.status_code == 422, (raw, r.text)
        err = r.json()["error"]
        assert err["type"] == "InvalidInput" and "not UTF-8" in err["message"], raw
        assert "\n" not in err["message"]
        assert _scalar(ws, "SELECT COUNT(*) FROM predictions WHERE status = 200") == 0
        refused = "SELECT COUNT(*) FROM predictions WHERE status = 422"
        deadline = time.monotonic() + 10  # an error answer does not wait for its record
        while _scalar(ws, refused) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _scalar(ws, refused) == n, raw
