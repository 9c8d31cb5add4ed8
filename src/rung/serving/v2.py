"""The Open Inference Protocol v2 routes (KServe's "V2 inference protocol"):
``/v2/health/live``, ``/v2/health/ready``, ``/v2/models/{name}``,
``/v2/models/{name}/ready`` and ``/v2/models/{name}/infer``.

Source: the Open Inference Protocol's REST specification,
https://github.com/kserve/open-inference-protocol (``specification/protocol/inference_rest.md``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rung.serving.fleet import Fleet
from rung.serving.http import MAX_BODY, answer, json_response
from rung.serving.payload import PayloadError, expect_object, unknown_fields
from rung.serving.predictor import Loaded

INFER_HINT = (
    'send {"inputs": [{"name": "feature", "shape": [n], "datatype": "FP64", "data": [...]}]}'
    " (the Open Inference Protocol v2)"
)
INFER_FIELDS = ["id", "inputs", "outputs", "parameters"]  # an inference request's fields
INPUT_FIELDS = ["data", "datatype", "name", "parameters", "shape"]  # one input tensor's


def router(fleet: Fleet, max_body: int = MAX_BODY) -> APIRouter:
    """The v2 routes, answering from the models of ``fleet``, each under its own name."""
    routes = APIRouter()

    def named(name: str) -> Loaded:
        return fleet.named(name).current  # the one lookup by name (a 404 naming the served)

    @routes.get("/v2/health/live")
    async def live() -> dict[str, Any]:
        return {"live": True}

    @routes.get("/v2/health/ready")
    async def ready() -> dict[str, Any]:
        return {"ready": True}

    @routes.get("/v2/models/{name}")
    async def model_metadata(name: str) -> dict[str, Any]:
        held = named(name)
        cols = held.signature.get("columns", {})
        return {
            "name": held.name,
            "versions": [str(held.version)],
            "platform": "rung-sklearn",
            "inputs": [
                {"name": f, "datatype": _datatype(cols.get(f, {})), "shape": [-1]}
                for f in held.signature.get("features", [])
            ],
            "outputs": [{"name": "predict", "datatype": "BYTES", "shape": [-1]}],
        }

    @routes.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> dict[str, Any]:
        named(name)
        return {"name": name, "ready": True}

    @routes.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Response:
        service = fleet.named(name)
        held, out, request_id = await answer(service, request, _columns_of, INFER_HINT, max_body)
        preds = out["predictions"]
        outputs = [
            {"name": "predict", "shape": [len(preds)], "datatype": _pred_type(preds), "data": preds}
        ]
        if "probabilities" in out:
            classes = list(out["probabilities"][0]) if out["probabilities"] else []
            flat = [row[c] for row in out["probabilities"] for c in classes]
            outputs.append(
                {
                    "name": "predict_proba",
                    "shape": [len(preds), len(classes)],
                    "datatype": "FP64",
                    "data": flat,
                }
            )
        response = json_response(
            {
                "model_name": held.name,
                "model_version": str(held.version),
                "id": request_id,
                "outputs": outputs,
            }
        )
        response.headers["X-Model-Version"] = f"{held.name}@{held.version}"
        return response

    return routes


def _columns_of(body: Any) -> dict[str, Any]:
    """An inference request as rung's columns form."""
    body = expect_object(body, INFER_HINT)
    stray = unknown_fields(body, INFER_FIELDS, [])
    inputs = body.get("inputs")
    if isinstance(inputs, list):
        for k, i in enumerate(inputs):
            if isinstance(i, dict):
                stray += unknown_fields(i, INPUT_FIELDS, ["inputs", k])
    if stray:
        where = ".".join(map(str, stray[0].loc))
        raise PayloadError(f"invalid input at {where}: {stray[0].msg}", INFER_HINT, stray)
    if not isinstance(inputs, list) or not all(
        isinstance(i, dict) and "name" in i and "data" in i for i in inputs
    ):
        raise PayloadError("'inputs' must be a list of {name, shape, datatype, data}", INFER_HINT)
    return {"columns": {i["name"]: i["data"] for i in inputs}}


def _datatype(spec: dict[str, Any]) -> str:
    return {"numeric": "FP64", "integer": "INT64", "boolean": "BOOL"}.get(
        spec.get("kind", ""), "BYTES"
    )


def _pred_type(values: list[Any]) -> str:
    if values and all(isinstance(v, bool) for v in values):
        return "BOOL"
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "FP64"
    return "BYTES"
