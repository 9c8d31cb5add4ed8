"""Schemathesis hooks for the OpenAPI test (tests/test_openapi.py), loaded by the CLI through
``SCHEMATHESIS_HOOKS``.

One rule of the service's API cannot be said in JSON Schema: the lists of the columns form
(``/predict``) and the input tensors of a v2 request hold one value per row, the same number
in each (a tensor's ``shape`` says how many). A *positive* case (one the schema says is valid)
is made to follow it before it is sent, its lists cut to the shortest (and each shape set to
it); negative cases are left alone (cutting could remove the very value that makes them
invalid).

Feedback has a rule of the same kind: a label names a row of the request it is for, and how
many rows a request had is the server's state (schemathesis reuses the request ids its
``/predict`` calls were answered with). A positive feedback case is made to label row 0
only (every answered request has it), one entry per request.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import GenerationMode


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return case
    body = case.body
    if case.operation.path.startswith("/predict") and isinstance(body, dict):
        # /predict, /predict/{name}, or /predict/NAME of one of several models: the features
        # of the columns form its body refers to, their lists cut to the shortest
        raw = case.operation.schema.raw_schema
        post = raw["paths"][case.operation.path]["post"]
        forms = post["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
        own = next(f["$ref"] for f in forms if f["$ref"].split("/")[-1].startswith("Columns"))
        columns = raw["components"]["schemas"][own.split("/")[-1]]["properties"]["columns"]
        features = columns["required"]
        columns = body.get("columns")
        if isinstance(columns, dict) and all(isinstance(columns.get(f), list) for f in features):
            n = min(len(columns[f]) for f in features)
            body["columns"] = {**columns, **{f: columns[f][:n] for f in features}}
    if case.operation.path == "/feedback" and isinstance(body, dict):
        case.body = _one_row_each(body)
    if case.operation.path.endswith("/infer") and isinstance(body, dict):
        inputs = body.get("inputs")
        if isinstance(inputs, list) and all(
            isinstance(i, dict) and isinstance(i.get("data"), list) for i in inputs
        ):
            n = min((len(i["data"]) for i in inputs), default=0)
            for i in inputs:
                i["data"], i["shape"] = i["data"][:n], [n]
    return case


def _one_row_each(body: dict[str, Any]) -> dict[str, Any]:
    """A feedback body whose entries each label row 0 of their request (``labels``: its
    first), the first entry of each request only."""
    entries = body.get("feedback") if "feedback" in body else [body]
    if not isinstance(entries, list):
        return body
    kept: list[Any] = []
    seen: set[Any] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            kept.append(entry)
            continue
        key = (entry.get("request_id"), entry.get("correlation_id"))
        if key in seen:
            continue
        seen.add(key)
        entry = {**entry, "row": 0}
        if isinstance(entry.get("labels"), list) and entry["labels"]:
            entry["labels"] = entry["labels"][:1]
        kept.append(entry)
    return {**body, "feedback": kept} if "feedback" in body else kept[0]
