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
from typing import Any

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


def v2_paths(paths: dict[str, Any], name: str, version: int) -> None:
    """Complete every ``/v2`` operation of ``paths`` (FastAPI's) in place: the model's name
    (and version) path parameters take the one served (any other is a 404)."""
    from rung.serving.openapi import UNAVAILABLE, error

    v2_error = error(v2=True)
    unknown = {"description": "no model of this name (or version) is served", "content": v2_error}
    for path, item in paths.items():
        if path == "/v2" and "get" in item:
            item["get"]["responses"] = {"200": _json("V2ServerMetadata", "the server")}
        elif path == "/v2/health/live" and "get" in item:
            item["get"]["responses"] = {"200": _json("V2Live", "the server is live")}
        elif path == "/v2/health/ready" and "get" in item:
            item["get"]["responses"] = {"200": _json("V2Ready", "the server is ready")}
        elif (match := _MODEL.fullmatch(path)) is not None:
            rest = match["rest"]
            for op in item.values():
                _served_only(op, path, name, version)
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
                        "application/json": {"schema": {"$ref": REF + "V2InferenceRequest"}},
                    },
                }
                canonical = error()["application/json"]["schema"]
                post["responses"] = {
                    "200": _json("V2InferenceResponse", "the outputs, from the version named"),
                    "400": {
                        "description": "a request the protocol refuses (malformed, a shape or"
                        " datatype that does not fit its data or the model, an unknown input"
                        " or output); or the Host header is not one this server answers to"
                        " (rung's canonical body)",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "anyOf": [v2_error["application/json"]["schema"], canonical]
                                }
                            }
                        },
                    },
                    "404": unknown,
                    "503": {**UNAVAILABLE, "content": v2_error},
                }


def _served_only(op: dict[str, Any], path: str, name: str, version: int) -> None:
    """The path parameters of a model route: its first names the model, the one after
    ``/versions/`` its version; each documented as the value served."""
    if not isinstance(op, dict):
        return
    params = re.findall(r"\{([^}/]+)\}", path)
    served = {params[0]: name, **({params[1]: str(version)} if len(params) > 1 else {})}
    for param in op.get("parameters", []):
        if param.get("in") == "path" and param.get("name") in served:
            param["schema"] = {
                **param.get("schema", {}),
                "type": "string",
                "enum": [served[param["name"]]],
            }


def request_schema(signature: dict[str, Any], datatype: Any) -> dict[str, Any]:
    """``$inference_request`` for the served model: one input per feature, each named once,
    its datatype the one the model metadata gives (``datatype(spec)``), its data the
    feature's values (:func:`rung.serving.openapi.feature_schema`), one per row, the shape
    ``[rows]`` (or ``[rows, 1]``)."""
    from rung.serving.openapi import feature_schema

    columns = signature.get("columns") or {}
    features = signature.get("features") or []
    outputs = ["predict", *(["predict_proba"] if signature.get("classes") else [])]
    parameters = {"type": "object", "description": "the protocol's parameters object"}
    tensors = [
        {
            "type": "object",
            "properties": {
                "name": {"const": f},
                "shape": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1},
                    "minItems": 1,
                    "maxItems": 1,
                    "description": "[rows]: as many as data holds",
                },
                "datatype": {"const": datatype(columns.get(f, {}))},
                "parameters": parameters,
                "data": {
                    "type": "array",
                    "minItems": 1,
                    "items": feature_schema(columns.get(f, {})),
                },
            },
            "required": ["name", "shape", "datatype", "data"],
            "additionalProperties": False,
        }
        for f in features
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
            "parameters": parameters,
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
                "type": "array",
                "description": "the outputs wanted (all by default)",
                "uniqueItems": True,
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "enum": outputs},
                        "parameters": parameters,
                    },
                    "required": ["name"],
                },
            },
        },
        "required": ["inputs"],
        "additionalProperties": False,
    }
