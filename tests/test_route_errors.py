"""Each JSON route of `rung serve` answers a bad body from its own schema.

The kind (issue 11, item 11): ``/feedback`` answered a non-JSON body with ``/predict``'s hint
(``send {"records": [...]}``), a row out of range with a hint about classes, a JSON list with
"field required", took an unknown field ``extra`` silently and answered a misspelt ``lable``
with "field required" and no "did you mean". Now one error builder
(``rung.serving.payload``: ``not_json``, ``expect_object``, ``unknown_fields``) serves every
route with that route's hint, and every error's hint is its own.

The family, through a real server on 127.0.0.1 on each backend: every route that takes a body
(``/predict``, ``/feedback``, ``/v2/models/{name}/infer``) gets a non-JSON body, a list, a
scalar of each JSON type, an unknown key and a misspelt key.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

ROW = {"a": 0.3, "color": "red"}

# route -> (a valid body, the route's hint says, an unknown key, a misspelt key and its fix)
ROUTES: dict[str, dict[str, Any]] = {
    "/predict": {
        "hint": '{"records": [{"feature": value}]}',
        "unknown": {"records": [ROW], "extra": 1},
        "misspelt": ({"recods": [ROW]}, "recods", "records"),
    },
    "/feedback": {
        "hint": '{"request_id": "...", "label": ...}',
        "unknown": {"request_id": "R", "label": "yes", "extra": 1},
        "misspelt": ({"request_id": "R", "lable": "yes"}, "lable", "label"),
    },
    "/v2/models/trend/infer": {
        "hint": "Open Inference Protocol v2",
        "unknown": {"inputs": [], "extra": 1},
        "misspelt": ({"input": []}, "input", "inputs"),
    },
}
NOT_OBJECTS = {"[1, 2]": "a list", '"text"': "a string", "3.5": "a number", "true": "a boolean"}
NOT_OBJECTS["null"] = "null"


def _error(answer: httpx.Response) -> dict[str, Any]:
    """The canonical error object: the body's ``error`` on rung's own routes (422); on the
    Open Inference Protocol's, its ``detail`` beside the protocol's ``error`` string (400)."""
    if answer.request.url.path.startswith("/v2/"):
        assert answer.status_code == 400, answer.text
        body = answer.json()
        assert body["error"].startswith(body["detail"]["message"]), body
        detail: dict[str, Any] = body["detail"]
        return detail
    assert answer.status_code == 422, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert "\n" not in error["message"]
    return error


@pytest.fixture
def service(served_on_each_backend):  # type: ignore[no-untyped-def]
    _ws, url = served_on_each_backend
    with httpx.Client(base_url=url, timeout=30) as http:
        one = http.post("/predict", json=ROW).json()["request_id"]
        three = http.post("/predict", json={"records": [ROW, ROW, ROW]}).json()["request_id"]
        yield http, one, three


def _with_id(body: Any, rid: str) -> Any:
    if isinstance(body, dict) and body.get("request_id") == "R":
        return {**body, "request_id": rid}
    return body


@pytest.mark.parametrize("route", list(ROUTES))
def test_every_route_answers_a_bad_body_from_its_own_schema(service, route: str) -> None:  # type: ignore[no-untyped-def]
    http, one, _ = service
    spec = ROUTES[route]
    others = [r["hint"] for k, r in ROUTES.items() if k != route]

    json = {"content-type": "application/json"}
    error = _error(http.post(route, content=b"not json", headers=json))
    assert error["message"].startswith("the body is not JSON (")
    assert spec["hint"] in error["hint"] and not any(o in error["hint"] for o in others)

    for text, kind in NOT_OBJECTS.items():
        error = _error(http.post(route, content=text.encode(), headers=json))
        assert error["message"] == f"the body must be a JSON object, got {kind}", error
        assert spec["hint"] in error["hint"]

    sent = http.post(route, json=_with_id(spec["unknown"], one))
    error = _error(sent)
    assert "unknown field 'extra'" in error["message"], error
    assert "known fields:" in error["message"]
    assert any(f["loc"][-1] == "extra" for f in error["fields"])

    body, wrong, right = spec["misspelt"]
    error = _error(http.post(route, json=_with_id(body, one)))
    assert f"unknown field {wrong!r}: did you mean {right!r}" in error["message"], error
    assert "field required" not in error["message"]


def test_feedback_errors_carry_their_own_hints(service) -> None:  # type: ignore[no-untyped-def]
    """A row out of range hints at rows, a wrong class at classes, an entry that is not an
    object says so; `{"feedback": [...]}` refuses keys beside it."""
    http, one, three = service
    error = _error(http.post("/feedback", json={"request_id": three, "row": 5, "label": "yes"}))
    assert "predicted 3 row(s), got a label for row 5" in error["message"]
    assert "row" in error["hint"] and "classes" not in error["hint"], error

    error = _error(http.post("/feedback", json={"request_id": one, "label": "Yes"}))
    assert "classes" in error["hint"]

    error = _error(http.post("/feedback", json={"feedback": [[1, 2], 3]}))
    assert error["message"] == (
        "invalid feedback at feedback.0: each entry must be an object, got a list"
        " (and 1 more: feedback.1)"
    )
    assert [f["loc"] for f in error["fields"]] == [["feedback", 0], ["feedback", 1]]

    body = {"feedback": [{"request_id": one, "label": "yes"}], "feedbak": []}
    error = _error(http.post("/feedback", json=body))
    assert "unknown field 'feedbak': did you mean 'feedback'?" in error["message"]

    error = _error(http.post("/feedback", json={"feedback": {"request_id": one}}))
    assert error["message"] == "'feedback' must be a non-empty list of entries, got an object"

    answer = http.post("/feedback", json={"request_id": one, "label": "yes"})
    assert answer.status_code == 200, answer.text  # the well-formed body still works


def test_predict_names_a_misspelt_feature(service) -> None:  # type: ignore[no-untyped-def]
    """A record may carry columns the model does not use (ignored, as before), but a key
    close to a missing feature is named as its likely spelling — in each form."""
    http, _, _ = service
    error = _error(http.post("/predict", json={"a": 0.3, "colr": "red"}))
    assert error["message"] == (
        "invalid input at color: field required; unknown field 'colr' given: did you mean 'color'?"
    )
    error = _error(http.post("/predict", json={"records": [ROW, {"a": 1.0, "colour": "red"}]}))
    assert "records.1.color: field required; unknown field 'colour'" in error["message"]
    error = _error(http.post("/predict", json={"columns": {"a": [1.0], "Color": ["red"]}}))
    assert "columns.color: field required; unknown field 'Color'" in error["message"]
    assert http.post("/predict", json={**ROW, "unused": "x"}).status_code == 200
