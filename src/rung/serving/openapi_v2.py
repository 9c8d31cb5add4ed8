"""The Open Inference Protocol v2 routes in the service's OpenAPI document
(:mod:`rung.serving.openapi`): the protocol's request and response objects and its error body.

Every ``/v2`` route FastAPI lists is completed here, the versioned paths
(``/v2/models/{name}/versions/{version}/...``) as their unversioned twins, whatever the path
parameters are named.

Source: the Open Inference Protocol's REST specification,
https://github.com/kserve/open-inference-protocol (``specification/protocol/inference_rest.md``:
``$metadata_server_response``, ``$metadata_model_response``, ``$inference_request``,
``$inference_response``, ``$metadata_model_error_response`` and the other error objects).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rung.serving.openapi import Model

REF = "#/components/schemas/"
DATATYPES = [
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]
"""The protocol's tensor data types."""

_MODEL = re.compile(r"/v2/models/\{[^}/]+\}(/versions/\{[^}/]+\})?(?P<rest>(/ready|/infer)?)")


def v2_schemas() -> dict[str, Any]:
    """The protocol's objects as JSON schemas."""
    shape = {"type": "array", "items": {"type": "integer"}}
    parameters = {"type": "object", "description": "the protocol's parameters object"}
    data = {
        "type": "array",
        "items": {"description": "a value of the tensor's datatype, or a list of them (nested)"},
        "description": "the tensor's values in row-major order, flat or nested; as many as"
        " its shape says",
    }
    tensor_metadata = {
        "type": "object",
        "title": "TensorMetadata",
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string", "enum": DATATYPES},
            "shape": {**shape, "description": "-1: any size"},
        },
        "required": ["name", "datatype", "shape"],
    }
    return {
        "V2ServerMetadata": {
            "type": "object",
            "title": "V2ServerMetadata",
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "extensions": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["name", "version", "extensions"],
        },
        "V2Live": {
            "type": "object",
            "properties": {"live": {"type": "boolean"}},
            "required": ["live"],
        },
        "V2Ready": {
            "type": "object",
            "properties": {"ready": {"type": "boolean"}},
            "required": ["ready"],
        },
        "V2ModelReady": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
        },
        "V2TensorMetadata": tensor_metadata,
        "V2ModelMetadata": {
            "type": "object",
            "title": "V2ModelMetadata",
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {"type": "array", "items": {"$ref": REF + "V2TensorMetadata"}},
                "outputs": {"type": "array", "items": {"$ref": REF + "V2TensorMetadata"}},
            },
            "required": ["name", "platform", "inputs", "outputs"],
        },
        "V2InferenceResponse": {
            "type": "object",
            "title": "V2InferenceResponse",
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "parameters": parameters,
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "shape": shape,
                            "datatype": {"type": "string", "enum": DATATYPES},
                            "parameters": parameters,
                            "data": data,
                        },
                        "required": ["name", "shape", "datatype"],
                    },
                },
            },
            "required": ["model_name", "outputs"],
        },
    }


def _json(name: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF + name}}},
    }


def v2_paths(paths: dict[str, Any], models: list[Model]) -> None:
    """Complete every ``/v2`` operation of ``paths`` (FastAPI's) in place. A model's routes
    (:func:`rung.serving.openapi.per_model`): its name (and version) path parameters take the
    one served (any other is a 404); with several models, each model's routes have literal
    paths of their own, its inference request its own body."""
    from rung.serving.openapi import per_model

    for path, item in list(paths.items()):
        if path == "/v2" and "get" in item:
            item["get"]["responses"] = {"200": _json("V2ServerMetadata", "the server")}
        elif path == "/v2/health/live" and "get" in item:
            item["get"]["responses"] = {"200": _json("V2Live", "the server is live")}
        elif path == "/v2/health/ready" and "get" in item:
            item["get"]["responses"] = {"200": _json("V2Ready", "the server is ready")}
        elif _MODEL.fullmatch(path) is not None:
            per_model(paths, path, models, _model_route)


def _model_route(item: dict[str, Any], path: str, model: Model) -> None:
    """One model route's operations for ``model`` (``path``: templated or literal)."""
    from rung.serving.openapi import UNAVAILABLE, error

    v2_error = error(v2=True)
    unknown = {"description": "no model of this name (or version) is served", "content": v2_error}
    rest = "/ready" if path.endswith("/ready") else "/infer" if path.endswith("/infer") else ""
    for op in item.values():
        _served_only(op, path, model.name, model.version)
    if rest == "" and "get" in item:
        item["get"]["responses"] = {
            "200": _json("V2ModelMetadata", "the model's inputs and outputs"),
            "404": unknown,
        }
    elif rest == "/ready" and "get" in item:
        item["get"]["responses"] = {
            "200": _json("V2ModelReady", "the model is ready"),
            "404": unknown,
        }
    elif rest == "/infer" and "post" in item:
        post = item["post"]
        post["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF + "V2InferenceRequest" + model.suffix}},
            },
        }
        canonical = error()["application/json"]["schema"]
        post["responses"] = {
            "200": {
                "description": "the outputs, from the version named; as binary"
                " tensor data when asked (the JSON header, then the tensors)",
                "content": {
                    "application/json": {"schema": {"$ref": REF + "V2InferenceResponse"}},
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                },
                "headers": {
                    "Inference-Header-Content-Length": {
                        "schema": {"type": "integer"},
                        "description": "with binary data: the JSON header's length",
                    }
                },
            },
            "400": {
                "description": "a request the protocol refuses (malformed, a shape or"
                " datatype that does not fit its data or the model, an unknown input"
                " or output); or the Host header is not one this server answers to"
                " (rung's canonical body)",
                "content": {
                    "application/json": {
                        "schema": {"anyOf": [v2_error["application/json"]["schema"], canonical]}
                    }
                },
            },
            "404": unknown,
            "503": {**UNAVAILABLE, "content": v2_error},
        }


def _served_only(op: dict[str, Any], path: str, name: str, version: int) -> None:
    """The path parameters of a model route (templated, or literal for one of several
    models): the one after ``/models/`` names the model, the one after ``/versions/`` its
    version; each documented as the value served."""
    if not isinstance(op, dict):
        return
    served: dict[str, str] = {}
    for kind, param in re.findall(r"/(models|versions)/\{([^}/]+)\}", path):
        served[param] = name if kind == "models" else str(version)
    for param in op.get("parameters", []):
        if param.get("in") == "path" and param.get("name") in served:
            param["schema"] = {
                **param.get("schema", {}),
                "type": "string",
                "enum": [served[param["name"]]],
            }


_INT_BITS = {"INT8": 8, "INT16": 16, "INT32": 32, "INT64": 64}
_UINT_BITS = {"UINT8": 8, "UINT16": 16, "UINT32": 32, "UINT64": 64}


def _datatype_range(datatype: str) -> tuple[int, int] | None:
    """The integers an integer datatype holds; None for another datatype."""
    if datatype in _INT_BITS:
        bits = _INT_BITS[datatype]
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    if datatype in _UINT_BITS:
        return 0, 2 ** _UINT_BITS[datatype] - 1
    return None


def _bounded(datatype: str, value: dict[str, Any]) -> dict[str, Any]:
    """``value`` (a number's schema) within a float datatype's finite range
    (:data:`rung.serving.tensors.FLOAT_MAX`): what a request in that datatype may hold."""
    from rung.serving.tensors import FLOAT_MAX

    top = FLOAT_MAX.get(datatype)
    if top is None:
        return value
    low, high = max(-top, value.get("minimum", -top)), min(top, value.get("maximum", top))
    return {**value, "minimum": low, "maximum": high}


def tensor_values(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each datatype a feature (``spec``: its signature entry) can be sent in, with the JSON
    schema of one of its values: the feature's values that the datatype holds. Numbers go in
    any numeric datatype (an integer datatype: the integers of its range), an integer
    feature's values are integers in any numeric one, booleans in BOOL, strings (categories,
    text, times) in BYTES; a feature whose kind the version does not record takes any. The
    protocol's JSON has no null: a feature's nulls are not sent this way."""
    from rung.serving.openapi import feature_schema

    value = feature_schema(spec)
    types = value["type"] if isinstance(value["type"], list) else [value["type"]]
    value = {**value, "type": [t for t in types if t != "null"]}
    if "enum" in value:
        value["enum"] = [v for v in value["enum"] if v is not None]
    if len(value["type"]) == 1:
        value["type"] = value["type"][0]
    kind = spec.get("kind", "")
    numeric = [d for d in DATATYPES if d not in ("BOOL", "BYTES")]
    if kind in ("numeric", "integer"):
        out = []
        for d in numeric:
            held = _datatype_range(d)
            if held is None:
                out.append((d, _bounded(d, value)))
                continue
            lo, hi = held
            low, high = max(lo, value.get("minimum", lo)), min(hi, value.get("maximum", hi))
            out.append((d, {**value, "type": "integer", "minimum": low, "maximum": high}))
        return out
    if kind == "boolean":
        return [("BOOL", value)]
    if kind in ("categorical", "text", "datetime"):
        return [("BYTES", value)]
    return [
        ("BOOL", {"type": "boolean"}),
        ("BYTES", {"type": "string"}),
        *(
            (d, {"type": "integer", "minimum": r[0], "maximum": r[1]})
            if (r := _datatype_range(d))
            else (d, _bounded(d, {"type": "number"}))
            for d in numeric
        ),
    ]


def request_schema(
    signature: dict[str, Any], name: str | None = None, version: int | None = None
) -> dict[str, Any]:
    """``$inference_request`` for the served model, in JSON (the binary tensor data extension
    is described, not schematised): one input per feature, each named once, in a datatype
    that holds the feature's values (:func:`tensor_values`), one value per row, the shape
    ``[rows]`` or ``[rows, 1]``; the outputs by name."""
    columns = signature.get("columns") or {}
    features = signature.get("features") or []
    outputs = ["predict", *(["predict_proba"] if signature.get("classes") else [])]
    shape = {
        "type": "array",
        "prefixItems": [{"type": "integer", "minimum": 1}, {"const": 1}],
        "minItems": 1,
        "maxItems": 2,  # not "items": false, which client generators refuse
        "description": "[rows] or [rows, 1]: as many rows as data holds",
    }
    no_parameters = {
        "type": ["object", "null"],
        "maxProperties": 0,
        "description": "none in JSON; binary_data_size with the binary tensor data extension",
    }
    tensors = [
        {
            "type": "object",
            "properties": {
                "name": {"const": f},
                "shape": shape,
                "datatype": {"const": datatype},
                "parameters": no_parameters,
                "data": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "anyOf": [
                            item,
                            {"type": "array", "items": item, "minItems": 1, "maxItems": 1},
                        ]
                    },
                    "description": "the values, one per row (flat, or nested as [[v], ...])",
                },
            },
            "required": ["name", "shape", "datatype", "data"],
            "additionalProperties": False,
        }
        for f in features
        for datatype, item in tensor_values(columns.get(f, {}))
    ]
    return {
        "type": "object",
        "title": "V2InferenceRequest",
        "description": "one input per feature of the model (GET /v2/models/{name} lists"
        " them), each with one value per row, the same number in each; the binary tensor"
        " data extension sends application/octet-stream with an Inference-Header-Content-Length"
        " header",
        "properties": {
            "id": {"type": "string", "description": "echoed in the response"},
            "model_name": {
                "type": ["string", "null"],
                **({"enum": [name, "", None]} if name is not None else {}),
                "description": "KServe's SDK sends it: when given, the path's model",
            },
            "model_version": {
                "type": ["string", "null"],
                **({"enum": [str(version), "", None]} if version is not None else {}),
                "description": "KServe's SDK sends it: when given, the version served",
            },
            "parameters": {
                "type": ["object", "null"],
                "properties": {
                    "binary_data_output": {
                        "type": "boolean",
                        "description": "every output as binary data (the answer is then"
                        " application/octet-stream)",
                    }
                },
                "description": "other parameters are hints, not read",
            },
            "inputs": {
                "type": "array",
                "minItems": len(features),
                "maxItems": len(features),
                "items": {"oneOf": tensors},
                "allOf": [
                    {
                        "contains": {"properties": {"name": {"const": f}}},
                        "minContains": 1,
                        "maxContains": 1,
                    }
                    for f in features
                ],
            },
            "outputs": {
                "type": ["array", "null"],
                "description": "the outputs wanted (all when absent or null; one named twice"
                " is answered once)",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "enum": outputs},
                        "parameters": {
                            "type": ["object", "null"],
                            "properties": {"binary_data": {"type": "boolean"}},
                            "additionalProperties": False,
                        },
                    },
                    "required": ["name"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["inputs"],
        "additionalProperties": False,
    }
