"""A client's own id of a request keys its feedback: the ``id`` of an Open Inference Protocol
request (as tritonclient's ``request_id`` and KServe's ``InferRequest(request_id=...)`` send
it) or an ``X-Request-ID`` header, kept as the request's correlation id, is what
``POST /feedback`` takes as ``correlation_id`` — when it names exactly one logged request.

Against a real `rung serve` on 127.0.0.1, on each metadata backend.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rung.core.limits import REQUEST_ID
from rung.core.text import is_control

ROWS = {"a": [0.5, -1.0], "color": ["red", "blue"]}


def _infer(url: str, rid: Any = None, **kw: Any) -> httpx.Response:
    """A KServe-style JSON body (the SDK sends model_name and the request's id)."""
    body: dict[str, Any] = {
        "model_name": "trend",
        "inputs": [
            {"name": "a", "shape": [2], "datatype": "FP64", "data": ROWS["a"]},
            {"name": "color", "shape": [2, 1], "datatype": "BYTES", "data": [["red"], ["blue"]]},
        ],
    }
    if rid is not None:
        body["id"] = rid
    return httpx.post(f"{url}/v2/models/trend/infer", json=body, timeout=30, **kw)


def _feedback(url: str, **entry: Any) -> httpx.Response:
    return httpx.post(f"{url}/feedback", json=entry, timeout=30)


def test_the_v2_request_id_keys_feedback_once_and_only_when_unambiguous(
    served_on_each_backend,  # type: ignore[no-untyped-def]
) -> None:
    ws, url = served_on_each_backend
    import tritonclient.http as http

    # tritonclient's own request_id, its default binary tensors
    client = http.InferenceServerClient(url.removeprefix("http://"))
    a = http.InferInput("a", [2], "FP64")
    a.set_data_from_numpy(np.array(ROWS["a"]))
    color = http.InferInput("color", [2], "BYTES")
    color.set_data_from_numpy(np.array(ROWS["color"], dtype=object))
    mine = f"triton-{uuid.uuid4().hex[:8]}"
    result = client.infer("trend", [a, color], request_id=mine)
    assert result.get_response()["id"] == mine
    client.close()
    got = _feedback(url, correlation_id=mine, labels=["yes", "no"])
    assert got.status_code == 200 and got.json() == {"accepted": 2, "replaced": 0}, got.text
    with ws.store.read() as tx:
        stored = tx.all(
            'SELECT f."row", f.label FROM feedback f JOIN predictions p'
            ' ON p.request_id = f.request_id WHERE p.correlation_id = :c ORDER BY f."row"',
            {"c": mine},
        )
    assert [(r["row"], r["label"]) for r in stored] == [(0, '"yes"'), (1, '"no"')]

    # the same id sent again: two requests, the label could be for either: 409, the fix named
    second = _infer(url, mine)
    assert second.status_code == 200 and second.json()["id"] == mine
    twice = _feedback(url, correlation_id=mine, row=0, label="no")
    assert twice.status_code == 409, twice.text
    error = twice.json()["error"]
    assert "names 2 logged requests" in error["message"] and "request_id" in error["hint"]
    # the request id (X-Request-ID of its answer) still names it
    own = _feedback(url, request_id=second.headers["x-request-id"], row=0, label="no")
    assert own.status_code == 200 and own.json()["accepted"] == 1, own.text

    # unknown: 404; both keys, or an empty one: 422 naming the field
    assert _feedback(url, correlation_id="never-sent", row=0, label="no").status_code == 404
    both = _feedback(url, correlation_id=mine, request_id="x", row=0, label="no")
    assert both.status_code == 422 and both.json()["error"]["fields"][0]["loc"] == [
        "feedback",
        0,
        "correlation_id",
    ]
    assert _feedback(url, correlation_id="", row=0, label="no").status_code == 422

    # the X-Request-ID header wins over the body's id (one correlation id per request)
    header, body_id = f"h-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    r = _infer(url, body_id, headers={"X-Request-ID": header})
    assert r.status_code == 200 and r.json()["id"] == body_id
    assert r.headers["x-correlation-id"] == header
    assert _feedback(url, correlation_id=body_id, row=0, label="no").status_code == 404
    assert _feedback(url, correlation_id=header, row=0, label="no").status_code == 200

    # rung's own client, and /predict with an X-Request-ID
    from rung import Client

    with Client(url) as c:
        p = httpx.post(
            f"{url}/predict", json={"a": 1.0, "color": "red"}, headers={"X-Request-ID": "p-1"}
        )
        assert p.status_code == 200, p.text
        assert c.feedback(correlation_id="p-1", label="yes") == {"accepted": 1, "replaced": 0}


VALID_ID = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)).filter(lambda ch: not is_control(ch)),
    min_size=1,
    max_size=REQUEST_ID,
)
TOO_LONG = st.text(alphabet="ab\u00e9\U0001f600", min_size=REQUEST_ID + 1, max_size=REQUEST_ID + 40)
WITH_CONTROL = st.builds(
    lambda a, c, b: a + c + b,
    st.text(alphabet="xyz", max_size=10),
    st.sampled_from(["\x00", "\n", "\x1b", "\u202e", "\u2028", "\x7f"]),
    st.text(alphabet="xyz", max_size=10),
)


def test_a_family_of_ids_each_keys_its_feedback_by_how_often_it_was_sent(
    served_on_each_backend,  # type: ignore[no-untyped-def]
) -> None:
    """Any id of at most 64 characters (Unicode, astral planes included) is echoed, kept and
    keys its feedback while it names one request (a second request with it: 409); a longer
    one, or one holding a control character, is refused with the limit or the character
    named, and keys nothing."""
    _, url = served_on_each_backend
    sent: dict[str, int] = {}

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.one_of(VALID_ID, VALID_ID, TOO_LONG, WITH_CONTROL))
    def check(rid: str) -> None:
        r = _infer(url, rid)
        valid = len(rid) <= REQUEST_ID and not any(map(is_control, rid))
        if not valid:
            assert r.status_code == 400, (rid, r.text)
            error = r.json()["error"]
            assert "'id'" in error and ("characters" in error or "control" in error), error
            assert _feedback(url, correlation_id=rid, row=0, label="no").status_code in (404, 422)
            return
        assert r.status_code == 200 and r.json()["id"] == rid, (rid, r.text)
        sent[rid] = sent.get(rid, 0) + 1
        fb = _feedback(url, correlation_id=rid, row=1, label="yes")
        if sent[rid] == 1:
            assert fb.status_code == 200 and fb.json()["accepted"] == 1, (rid, fb.text)
        else:
            assert fb.status_code == 409, (rid, fb.text)
            assert f"names {sent[rid]} logged requests" in fb.json()["error"]["message"]

    check()
