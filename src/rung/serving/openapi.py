"""The service's OpenAPI 3.1 document: what every route takes and every answer it can give.

FastAPI documents a route from its Python types; rung's routes read their bodies themselves
(``/predict`` takes whatever the signature of the version being served says, and that changes
when the alias moves). So the document is built here, from FastAPI's list of routes and the
served version's signature, and rebuilt whenever the served version changes:

* ``/predict``: one property per feature, its JSON type, the categories as an ``enum``,
  ``null`` allowed (JSON Schema 2020-12 ``type: [..., "null"]``, never OpenAPI 3.0's
  ``nullable``) where the training data had nulls, at least one row, the classes of the
  predictions;
* ``/feedback``: its entries (``label`` or ``labels``, never both) and its answer;
* the Open Inference Protocol routes (:mod:`rung.serving.v2`): the protocol's request and
  response objects, its ``{"error": "<message>"}`` error body;
* ``/metrics``: Prometheus' text format (``text/plain; version=0.0.4``);
* every status a route can answer with its real body: rung's canonical error body
  ``{"error": {"type", "message", "hint", "fields"}}`` (:func:`rung.serving.http.error_body`)
  on rung's routes and for the refusals that come before any route (Host, tokens, content
  type), the protocol's on ``/v2`` routes. FastAPI's ``422 HTTPValidationError``, which no
  route returns, is removed.

**Several models** (``rung serve a@champion b@champion``): a body depends on the model its
path names, which one templated path (``/predict/{name}``) cannot say, so each model's routes
get a path of their own — ``/predict/a``, ``/v2/models/a/infer``, ``/v2/models/a``, … — each
with that model's request body (its schemas suffixed by its name: ``Records_a``,
``V2InferenceRequest_a``) and operation id (:func:`per_model`). One model keeps the templated
paths, its name the only value of ``{name}``. ``/feedback`` takes the labels of every served
model (the union of their classes).

One rule JSON Schema cannot state: the columns of the columns form (and the tensors of a v2
request) hold one value per row, the same number in each. It is said in the descriptions.

Sources: OpenAPI 3.1.0 (https://spec.openapis.org/oas/v3.1.0), JSON Schema 2020-12, the Open
Inference Protocol's REST specification
(https://github.com/kserve/open-inference-protocol, ``specification/protocol/inference_rest.md``),
Prometheus' text exposition format 0.0.4.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rung.core.limits import REQUEST_ID

REF = "#/components/schemas/"
METRICS_TYPE = "text/plain; version=0.0.4"
"""The media type of ``GET /metrics`` (Prometheus' text exposition format)."""

_JSON_TYPES = {
    "numeric": "number",
    "integer": "integer",
    "boolean": "boolean",
    "categorical": "string",
    "text": "string",
}
_SCALAR = ["string", "number", "boolean"]


def feature_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of one feature's value (``spec``: the signature's entry for it): its
    JSON type, categories as an ``enum``, an integer's or number's range, and ``null`` among
    its types when the training data had nulls (JSON Schema 2020-12). A feature whose kind the
    version does not record takes any JSON scalar."""
    kind = spec.get("kind", "")
    schema: dict[str, Any]
    if kind == "datetime":  # what the service reads (ISO 8601 as pandas does), wider than
        from rung.core.columns import ISO_TIME  # RFC 3339's date-time: a date alone, no zone

        schema = {
            "type": "string",
            "pattern": f"^(?:{ISO_TIME.pattern})$",
            "description": "an ISO 8601 date or time, e.g. 2024-05-01T12:00:00",
        }
    elif kind == "categorical" and spec.get("categories") is not None:
        schema = {"type": "string", "enum": [str(c) for c in spec["categories"]]}
    elif kind in _JSON_TYPES:
        schema = {"type": _JSON_TYPES[kind]}
    else:
        schema = {"type": [*_SCALAR, "null"]}
    if kind == "integer":  # the training dtype's range: what /predict accepts
        from rung.core.columns import ColumnKind, integer_range

        schema["minimum"], schema["maximum"] = integer_range(ColumnKind.from_dict(spec))
    if kind == "numeric":  # the range of numbers (rung.core.numbers), the dtype's if narrower
        from rung.core.numbers import dtype_max

        limit = dtype_max(str(spec.get("dtype") or "float64"))
        schema["minimum"], schema["maximum"] = -limit, limit
    if spec.get("dtype"):
        said = f"{kind or 'any'} ({spec['dtype']} in the training data)"
        schema["description"] = f"{schema['description']}; {said}" if kind == "datetime" else said
    if spec.get("nullable") and isinstance(schema["type"], str):
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    return schema


def record_schema(signature: dict[str, Any]) -> dict[str, Any]:
    """One row: every feature of the signature, all required; other keys are ignored."""
    columns = signature.get("columns") or {}
    features = signature.get("features") or []
    return {
        "type": "object",
        "title": "Record",
        "properties": {f: feature_schema(columns.get(f, {})) for f in features},
        "required": list(features),
    }


@dataclass(frozen=True)
class Model:
    """One served model as the document describes it: its version's signature, its name and
    version, and the suffix of its schemas' names (``""`` when it is the only model served,
    ``"_NAME"`` beside others)."""

    signature: dict[str, Any]
    name: str
    version: int
    suffix: str = ""


def components(signature: dict[str, Any], name: str, suffix: str = "") -> dict[str, Any]:
    """The schemas of ``/predict``'s request and response for this signature (their names
    ending in ``suffix``: one set per served model), and the canonical error body."""
    record = record_schema(signature)
    features = record["required"]
    forms = [k for k in ("records", "columns") if k not in features]
    columns = {
        "type": "object",
        "title": "Columns",
        "description": "one list per feature, all of the same length (one value per row);"
        " other keys are ignored",
        "properties": {
            f: {"type": "array", "minItems": 1, "items": s} for f, s in record["properties"].items()
        },
        "required": features,
    }
    classes = signature.get("classes")
    prediction: dict[str, Any] = (
        {"enum": classes} if classes else {"description": "the model's prediction"}
    )
    response: dict[str, Any] = {
        "type": "object",
        "title": "Prediction",
        "properties": {
            "model": {"type": "string", "example": name},
            "version": {"type": "integer", "description": "the version that answered"},
            "request_id": {"type": "string", "description": "key for POST /feedback"},
            "predictions": {"type": "array", "items": prediction},
        },
        "required": ["model", "version", "request_id", "predictions"],
    }
    if classes:
        response["properties"]["probabilities"] = {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {str(c): {"type": "number"} for c in classes},
                "required": [str(c) for c in classes],
            },
        }
    bare: dict[str, Any] = {
        "title": "RecordBody",
        "description": "one bare record (one row)",
        "allOf": [{"$ref": REF + "Record" + suffix}],
    }
    if forms:  # a bare record beside "records" or "columns" mixes forms: refused
        bare["not"] = {"anyOf": [{"required": [k]} for k in forms]}
    return {
        "Record" + suffix: record,
        "Records" + suffix: {
            "type": "object",
            "title": "Records",
            "properties": {
                "records": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": REF + "Record" + suffix},
                }
            },
            "required": ["records"],
            "additionalProperties": False,
        },
        "Columns" + suffix: {
            "type": "object",
            "title": "ColumnsBody",
            "properties": {"columns": columns},
            "required": ["columns"],
            "additionalProperties": False,
        },
        "RecordBody" + suffix: bare,
        "Prediction" + suffix: response,
        **error_schemas(),
    }


def error_schemas() -> dict[str, Any]:
    """``Error``: rung's canonical error body (:func:`rung.serving.http.error_body`);
    ``V2Error``: the Open Inference Protocol's ``{"error": "<message — hint>"}``, with rung's
    details beside it."""
    detail = {
        "type": "object",
        "title": "ErrorDetail",
        "properties": {
            "type": {"type": "string", "description": "the error's kind, e.g. PayloadError"},
            "message": {"type": "string"},
            "hint": {"type": ["string", "null"], "description": "how to fix it"},
            "fields": {
                "type": "array",
                "description": "every bad field of the request, where and what",
                "items": {
                    "type": "object",
                    "properties": {
                        "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                        "msg": {"type": "string"},
                    },
                    "required": ["loc", "msg"],
                },
            },
        },
        "required": ["type", "message", "hint", "fields"],
    }
    return {
        "ErrorDetail": detail,
        "Error": {
            "type": "object",
            "title": "Error",
            "properties": {"error": {"$ref": REF + "ErrorDetail"}},
            "required": ["error"],
        },
        "V2Error": {
            "type": "object",
            "title": "V2Error",
            "description": "the Open Inference Protocol's error body",
            "properties": {
                "error": {"type": "string", "description": "the message — the hint"},
                "detail": {"$ref": REF + "ErrorDetail"},
            },
            "required": ["error"],
        },
    }


Scope = Callable[[str, str], str | None]
"""The token scope a (method, path) needs, None for an open route."""


def document(
    base: dict[str, Any],
    signature: dict[str, Any],
    name: str,
    version: int,
    scope_of: Scope | None = None,
    others: Sequence[tuple[dict[str, Any], str, int]] = (),
) -> dict[str, Any]:
    """``base`` (FastAPI's own document of the app's routes) completed: ``/predict`` described
    by the signature, every route's request body and every status it can answer.

    ``scope_of``: when the server checks tokens, the scope each route needs (a bearer token
    is then documented, with 401 and 403, on every route that needs one); None without tokens.
    ``others``: the (signature, name, version) of each further model served: every model's
    routes then get paths of their own (see the module's docstring).
    """
    models = [Model(signature, name, version), *(Model(*o) for o in others)]
    if len(models) > 1:
        models = [replace(m, suffix=f"_{m.name}") for m in models]
    doc = copy.deepcopy(base)
    served = ", ".join(f"{m.name} version {m.version}" for m in models)
    doc["info"] = {**doc.get("info", {}), "version": served}
    schemas = {
        k: v
        for k, v in doc.get("components", {}).get("schemas", {}).items()
        if k not in ("HTTPValidationError", "ValidationError")  # FastAPI's, never returned
    }
    from rung.serving.openapi_v2 import request_schema, v2_schemas

    for m in models:
        own = {
            **components(m.signature, m.name, m.suffix),
            "V2InferenceRequest" + m.suffix: request_schema(m.signature, m.name, m.version),
        }
        for key, schema in own.items():
            if m.suffix and key.endswith(m.suffix):
                _titled(schema, m.suffix)
        schemas.update(own)
    schemas.update(_feedback_schemas(_classes(models)))
    schemas.update(v2_schemas())
    doc["components"] = {**doc.get("components", {}), "schemas": schemas}
    if scope_of is not None:
        doc["components"]["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "a token of `rung serve` (docs/security.md), with the route's scope",
            }
        }
    paths = doc.setdefault("paths", {})
    _predict(paths, models)
    _feedback(paths)
    from rung.serving.openapi_v2 import v2_paths

    v2_paths(paths, models)
    if "/metrics" in paths and "get" in paths["/metrics"]:
        paths["/metrics"]["get"]["responses"] = {
            "200": {
                "description": "the service's metrics in Prometheus' text format",
                "content": {METRICS_TYPE: {"schema": {"type": "string"}}},
            }
        }
    for path, item in paths.items():
        for method, op in item.items():
            if isinstance(op, dict) and "responses" in op:
                _complete(op, method, path, scope_of)
    return doc


def _complete(op: dict[str, Any], method: str, path: str, scope_of: Scope | None) -> None:
    """Add the statuses every route shares: the refusals before any route (400 Host, 401/403
    tokens, 415 content type, 413 size), 500 for a bug; drop FastAPI's 422."""
    responses = op["responses"]
    v2 = path == "/v2" or path.startswith("/v2/")
    if "422" in responses and "HTTPValidationError" in str(responses["422"]):
        del responses["422"]
    own = error(v2)
    canonical = error()
    if "400" not in responses:
        responses["400"] = {
            "description": "the Host header is not one this server answers to",
            "content": canonical,
        }
    if method == "post":
        responses.setdefault(
            "413", {"description": "the body is over the size limit", "content": own}
        )
        either = {
            "application/json": {"schema": {"anyOf": [own_schema(own), own_schema(canonical)]}}
        }
        responses.setdefault(
            "415",
            {
                "description": "the body is not sent as application/json (rung's canonical"
                " body), or in a Content-Encoding the service does not decode",
                "content": either if v2 else canonical,
            },
        )
    scope = scope_of(method.upper(), path) if scope_of is not None else None
    if scope is not None:
        op["security"] = [{"bearer": []}]
        responses["401"] = {
            "description": "no token, or one this server does not accept"
            " (WWW-Authenticate: Bearer)",
            "content": canonical,
        }
        responses["403"] = {
            "description": f"the token lacks the scope {scope!r}",
            "content": canonical,
        }
    responses.setdefault(
        "500",
        {
            "description": "a fault of the server; the traceback is in its log",
            "content": own,
        },
    )


def own_schema(content: dict[str, Any]) -> dict[str, Any]:
    """The schema of an error ``content``."""
    return dict(content["application/json"]["schema"])


def error(v2: bool = False) -> dict[str, Any]:
    """The ``content`` of an error response: the canonical body, or the protocol's."""
    return {"application/json": {"schema": {"$ref": REF + ("V2Error" if v2 else "Error")}}}


UNAVAILABLE = {
    "description": "the store is unreachable or its disk is full: retry after Retry-After seconds",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
}


def _classes(models: list[Model]) -> list[Any] | None:
    """The labels ``/feedback`` takes as classes: those of every served model (each once, by
    its JSON value: ``1`` and ``true`` are two), or None when one of them records none (a
    regressor: any scalar)."""
    import json

    out: dict[str, Any] = {}
    for m in models:
        classes = m.signature.get("classes")
        if not classes:
            return None
        for c in classes:
            out.setdefault(json.dumps(c), c)
    return list(out.values())


def _titled(schema: Any, suffix: str, parent: str = "") -> None:
    """Every ``title`` of ``schema`` (and of the schemas inside it) ending in ``suffix``: a
    client generator names its classes by title (openapi-python-client refuses two of one
    name), and each served model has its own."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "title" and parent != "properties" and isinstance(value, str):
                schema[key] = value + suffix
            else:
                _titled(value, suffix, key)
    elif isinstance(schema, list):
        for value in schema:
            _titled(value, suffix, parent)


def per_model(
    paths: dict[str, Any],
    template: str,
    models: list[Model],
    complete: Callable[[dict[str, Any], str, Model], None],
) -> None:
    """The path item ``template``, whose first path parameter names the served model,
    completed by ``complete(item, path, model)``: as it is for one model (its name the only
    value of the parameter); replaced, for several, by one literal path per model (the
    parameter gone, each operation id suffixed by the model's name), since a body that
    depends on the model a path names cannot be said of one templated path."""
    import re

    if template not in paths:
        return
    if len(models) == 1:
        complete(paths[template], template, models[0])
        return
    item = paths.pop(template)
    param = re.findall(r"\{([^}/]+)\}", template)[0]
    for m in models:
        path = template.replace("{" + param + "}", m.name, 1)
        own = copy.deepcopy(item)
        for op in own.values():
            if not isinstance(op, dict):
                continue
            op["parameters"] = [
                p
                for p in op.get("parameters", [])
                if not (p.get("in") == "path" and p.get("name") == param)
            ]
            if not op["parameters"]:
                del op["parameters"]
            if "operationId" in op:
                op["operationId"] = f"{op['operationId']}_{m.name}"
        paths[path] = own
        complete(own, path, m)


def _predict(paths: dict[str, Any], models: list[Model]) -> None:
    """``/predict`` (the first model's body; with several models it is a 409) and
    ``/predict/{name}`` (each model's own body, :func:`per_model`: ``name`` documented as the
    model served, another being a 404; with several, ``/predict/NAME`` for each)."""
    if "/predict" in paths:
        _predict_path(paths["/predict"], "/predict", models[0], several=len(models) > 1)
    per_model(
        paths,
        "/predict/{name}",
        models,
        lambda item, path, m: _predict_path(item, path, m, named=path == "/predict/{name}"),
    )


def _predict_path(
    item: dict[str, Any], path: str, model: Model, named: bool = False, several: bool = False
) -> None:
    """One ``/predict`` path's operation for ``model``: its body, answers and statuses;
    ``named``: the templated ``/predict/{name}`` (a name not served is a 404); ``several``:
    plain ``/predict`` while several models are served (always a 409)."""
    signature, name, suffix = model.signature, model.name, model.suffix
    example = example_record(signature)
    predict = item.setdefault("post", {})
    if named:
        for param in predict.get("parameters", []):
            if param.get("in") == "path" and param.get("name") == "name":
                param["schema"] = {"type": "string", "enum": [name]}
    if several:
        predict["description"] = (
            "several models are served: this route answers 409; use /predict/NAME"
        )
    predict["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": REF + "Records" + suffix},
                        {"$ref": REF + "Columns" + suffix},
                        {"$ref": REF + "RecordBody" + suffix},
                    ]
                },
                "example": {"records": [example]},
            }
        },
    }
    predict["responses"] = {
        "200": {
            "description": "predictions from the version named in the answer",
            "content": {"application/json": {"schema": {"$ref": REF + "Prediction" + suffix}}},
            "links": {
                "feedback": {
                    "operationRef": "#/paths/~1feedback/post",
                    "description": "the truth of row 0, later, under the answer's request_id"
                    " (here the prediction itself)",
                    "requestBody": {
                        "request_id": "$response.body#/request_id",
                        "row": 0,
                        "label": "$response.body#/predictions/0",
                    },
                }
            },
        },
        "422": {"description": "the input does not match the signature", "content": error()},
        "503": {**UNAVAILABLE, "content": error()},
    }
    if named:
        predict["responses"]["404"] = {
            "description": "no served model has this name",
            "content": error(),
        }
    if path == "/predict":
        predict["responses"]["409"] = {
            "description": "several models are served: name one",
            "content": error(),
        }


def example_record(signature: dict[str, Any]) -> dict[str, Any]:
    """A record ``/predict`` accepts for this signature: each feature's
    :func:`~rung.core.columns.sample_value` (the value the service warms up with), ``0.0``
    for a feature whose kind the version does not record."""
    from rung.core.columns import ColumnKind, sample_value

    columns = signature.get("columns") or {}
    return {
        f: sample_value(ColumnKind.from_dict(columns[f])) if f in columns else 0.0
        for f in signature.get("features") or []
    }


def _feedback_schemas(classes: list[Any] | None) -> dict[str, Any]:
    """``POST /feedback``'s entries and answer (docs/serving.md#feedback). The classes are
    those of the version being served; a label is checked against the version that answered
    its request (:mod:`rung.serving.feedback`)."""
    label: dict[str, Any] = {
        "description": "one of the classes of the version that answered the request (those"
        " of the version served now are listed), with its JSON type, or a finite number for"
        " a regressor",
        "type": _SCALAR,
    }
    if classes:
        label = {"description": label["description"], "enum": classes, "example": classes[-1]}
    entry = {
        "type": "object",
        "title": "FeedbackEntry",
        "description": "the request by 'request_id' (the server's) or 'correlation_id' (the"
        " client's own); 'label' for a one-row request or with 'row'; 'labels': one per"
        " predicted row (null: not known yet), or from 'row' on; one of the two",
        "properties": {
            "request_id": {
                "type": "string",
                "maxLength": REQUEST_ID,
                "description": "from the prediction's answer (its X-Request-ID header)",
            },
            "correlation_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": REQUEST_ID,
                "description": "in place of request_id: your own id of the request (its"
                " X-Request-ID header, or a v2 request's id); it must name exactly one"
                " request (404 for none, 409 for several)",
            },
            "row": {"type": ["integer", "null"], "minimum": 0},
            "label": label,
            "labels": {
                "type": "array",
                "minItems": 1,
                "items": (
                    {**label, "enum": [*classes, None]}
                    if classes
                    else {**label, "type": [*_SCALAR, "null"]}
                ),
            },
        },
        "additionalProperties": False,
        "allOf": [
            {"oneOf": [{"required": ["request_id"]}, {"required": ["correlation_id"]}]},
            {"oneOf": [{"required": ["label"]}, {"required": ["labels"]}]},
        ],
    }
    return {
        "FeedbackEntry": entry,
        "FeedbackBatch": {
            "type": "object",
            "title": "FeedbackBatch",
            "description": "several entries, stored all or none",
            "properties": {
                "feedback": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": REF + "FeedbackEntry"},
                }
            },
            "required": ["feedback"],
            "additionalProperties": False,
        },
        "FeedbackAnswer": {
            "type": "object",
            "title": "FeedbackAnswer",
            "properties": {
                "accepted": {"type": "integer", "description": "labels taken"},
                "replaced": {
                    "type": "integer",
                    "description": "of them, labels that replaced a different earlier label"
                    " of their row (the latest wins)",
                },
            },
            "required": ["accepted", "replaced"],
        },
    }


def _feedback(paths: dict[str, Any]) -> None:
    if "/feedback" not in paths:
        return
    post = paths["/feedback"].setdefault("post", {})
    post["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [{"$ref": REF + "FeedbackEntry"}, {"$ref": REF + "FeedbackBatch"}]
                }
            }
        },
    }
    post["responses"] = {
        "200": {
            "description": "the labels stored, all of them",
            "content": {"application/json": {"schema": {"$ref": REF + "FeedbackAnswer"}}},
        },
        "404": {"description": "an unknown request id or correlation id", "content": error()},
        "409": {
            "description": "a correlation id sent with several requests: send the request id",
            "content": error(),
        },
        "422": {
            "description": "a label that does not fit the model, a missing or extra row, a"
            " malformed entry: every field named, nothing stored",
            "content": error(),
        },
        "503": {**UNAVAILABLE, "content": error()},
    }
