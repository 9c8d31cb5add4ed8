"""The service's OpenAPI document, generated from the served version's input signature.

FastAPI documents a route from its Python types; ``/predict`` takes whatever the signature of
the version being served says, and that changes when the alias moves. So the request and
response schemas are built here from the signature — one property per feature, its JSON type,
the categories as an ``enum``, ``nullable`` where the training data had nulls, the classes of
the predictions — and the document is rebuilt whenever the served version changes.
"""

from __future__ import annotations

from typing import Any

_JSON_TYPES = {
    "numeric": "number",
    "integer": "integer",
    "boolean": "boolean",
    "categorical": "string",
    "text": "string",
}


def feature_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of one feature's value."""
    kind = spec.get("kind", "")
    schema: dict[str, Any]
    if kind == "datetime":
        schema = {"type": "string", "format": "date-time"}
    elif kind == "categorical" and spec.get("categories") is not None:
        schema = {"type": "string", "enum": [str(c) for c in spec["categories"]]}
    elif kind in _JSON_TYPES:
        schema = {"type": _JSON_TYPES[kind]}
    else:
        schema = {}
    if kind == "integer":  # the training dtype's range: what /predict accepts
        from rung.core.columns import ColumnKind, integer_range

        schema["minimum"], schema["maximum"] = integer_range(ColumnKind.from_dict(spec))
    if kind == "numeric":  # the range of numbers (rung.core.numbers), the dtype's if narrower
        from rung.core.numbers import dtype_max

        limit = dtype_max(str(spec.get("dtype") or "float64"))
        schema["minimum"], schema["maximum"] = -limit, limit
    if spec.get("dtype"):
        schema["description"] = f"{kind or 'any'} ({spec['dtype']} in the training data)"
    if spec.get("nullable"):
        schema["nullable"] = True
    return schema


def record_schema(signature: dict[str, Any]) -> dict[str, Any]:
    """One row: every feature of the signature, all required."""
    columns = signature.get("columns") or {}
    features = signature.get("features") or []
    return {
        "type": "object",
        "title": "Record",
        "properties": {f: feature_schema(columns.get(f, {})) for f in features},
        "required": list(features),
    }


def components(signature: dict[str, Any], name: str) -> dict[str, Any]:
    """The schemas of ``/predict``'s request and response for this signature."""
    record = record_schema(signature)
    columns = {
        "type": "object",
        "title": "Columns",
        "properties": {f: {"type": "array", "items": s} for f, s in record["properties"].items()},
        "required": record["required"],
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
            },
        }
    return {
        "Record": record,
        "Records": {
            "type": "object",
            "title": "Records",
            "properties": {
                "records": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}}
            },
            "required": ["records"],
        },
        "Columns": {
            "type": "object",
            "title": "ColumnsBody",
            "properties": {"columns": columns},
            "required": ["columns"],
        },
        "Prediction": response,
        "Error": {
            "type": "object",
            "title": "Error",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "message": {"type": "string"},
                        "hint": {"type": "string", "nullable": True},
                        "fields": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "loc": {"type": "array", "items": {}},
                                    "msg": {"type": "string"},
                                },
                            },
                        },
                    },
                }
            },
        },
    }


def document(
    base: dict[str, Any], signature: dict[str, Any], name: str, version: int
) -> dict[str, Any]:
    """``base`` (FastAPI's own document) with ``/predict`` described by the signature."""
    doc = dict(base)
    doc["info"] = {**doc.get("info", {}), "version": f"{name} version {version}"}
    schemas = {
        **doc.get("components", {}).get("schemas", {}),
        **components(signature, name),
    }
    doc["components"] = {**doc.get("components", {}), "schemas": schemas}
    ref = "#/components/schemas/"
    error = {"application/json": {"schema": {"$ref": ref + "Error"}}}
    example = example_record(signature)
    predict = doc.setdefault("paths", {}).setdefault("/predict", {}).setdefault("post", {})
    predict["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": ref + "Records"},
                        {"$ref": ref + "Columns"},
                        {"$ref": ref + "Record"},
                    ]
                },
                "example": {"records": [example]},
            }
        },
    }
    predict["responses"] = {
        "200": {
            "description": "predictions from the version named in the answer",
            "content": {"application/json": {"schema": {"$ref": ref + "Prediction"}}},
        },
        "413": {"description": "the body is over the size limit", "content": error},
        "422": {"description": "the input does not match the signature", "content": error},
    }
    _feedback(doc, signature.get("classes"), error)
    return doc


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


def _feedback(doc: dict[str, Any], classes: list[Any] | None, error: dict[str, Any]) -> None:
    """``POST /feedback``: its entries, the answer and the errors (docs/serving.md#feedback).
    The classes are those of the version being served; a label is checked against the
    version that answered its request."""
    ref = "#/components/schemas/"
    label: dict[str, Any] = {
        "description": "one of the classes of the version that answered the request, with"
        " its JSON type, or a finite number for a regressor",
        "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
    }
    if classes:
        label["example"] = classes[-1]
    schemas = doc["components"]["schemas"]
    schemas["FeedbackEntry"] = {
        "type": "object",
        "title": "FeedbackEntry",
        "description": "'label' for a one-row request or with 'row'; 'labels': one per"
        " predicted row (null: not known yet), or from 'row' on",
        "properties": {
            "request_id": {"type": "string", "description": "from the prediction's answer"},
            "row": {"type": "integer", "minimum": 0},
            "label": label,
            "labels": {"type": "array", "minItems": 1, "items": {**label, "nullable": True}},
        },
        "required": ["request_id"],
    }
    schemas["FeedbackAnswer"] = {
        "type": "object",
        "title": "FeedbackAnswer",
        "properties": {
            "accepted": {"type": "integer", "description": "labels taken"},
            "replaced": {
                "type": "integer",
                "description": "of them, labels that replaced a different earlier label of"
                " their row (the latest wins)",
            },
        },
        "required": ["accepted", "replaced"],
    }
    batch = {
        "type": "object",
        "title": "FeedbackBatch",
        "properties": {"feedback": {"type": "array", "items": {"$ref": ref + "FeedbackEntry"}}},
        "required": ["feedback"],
    }
    post = doc.setdefault("paths", {}).setdefault("/feedback", {}).setdefault("post", {})
    post["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {"schema": {"oneOf": [{"$ref": ref + "FeedbackEntry"}, batch]}}
        },
    }
    post["responses"] = {
        "200": {
            "description": "the labels stored, all of them",
            "content": {"application/json": {"schema": {"$ref": ref + "FeedbackAnswer"}}},
        },
        "404": {"description": "an unknown request id", "content": error},
        "413": {"description": "the body is over the size limit", "content": error},
        "422": {
            "description": "a label that does not fit the model, a missing or extra row, a"
            " malformed entry: every field named, nothing stored",
            "content": error,
        },
    }


def _example(schema: dict[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("format") == "date-time":
        return "2024-01-01T00:00:00"
    return {"number": 0.0, "boolean": False, "string": "text"}.get(schema.get("type", ""))
