"""The Open Inference Protocol v2 routes (KServe's "V2 inference protocol"): server metadata
``/v2``, ``/v2/health/live``, ``/v2/health/ready``, and per model ``/v2/models/{name}``,
``.../ready`` and ``.../infer``, each also under ``/v2/models/{name}/versions/{version}``.

**The request's ``id``** is echoed in the response and kept as the request's correlation id
(at most :data:`~rung.core.limits.REQUEST_ID` characters, as a client's ``X-Request-ID``
header, which wins when both are sent): ``POST /feedback`` takes it as ``correlation_id``
(:mod:`rung.serving.feedback`), so a client labels its predictions by its own ids. Errors
name inputs, their data, shape and datatype (:data:`rung.serving.payload.TENSORS`), never
``/predict``'s records or columns.

Requests may carry their tensors as JSON (flat or nested, row-major) or in the binary tensor
data extension, and may be compressed (``Content-Encoding: gzip`` or ``deflate``, decoded by
:func:`rung.serving.http.read_raw`). Errors answer ``{"error": "<message> — <hint>"}`` with
400 for a bad request and 404 for an unknown model or version, rung's canonical error object
under ``"detail"`` (:func:`rung.serving.http.error_response`).

Sources: the Open Inference Protocol's REST specification,
https://github.com/kserve/open-inference-protocol (``specification/protocol/inference_rest.md``);
Triton's binary tensor data extension,
https://github.com/triton-inference-server/server (``docs/protocol/extension_binary_data.md``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rung.core.columns import ColumnKind
from rung.core.limits import REQUEST_ID
from rung.serving import tensors
from rung.serving.fleet import Fleet
from rung.serving.http import (
    MAX_BODY,
    answer,
    bounded_correlation,
    json_response,
    pick,
    read_raw,
    served_headers,
)
from rung.serving.payload import TENSORS, PayloadError, expect_object, not_json, unknown_fields
from rung.serving.payload import loads as payload_loads
from rung.serving.predictor import Loaded
from rung.serving.tensors import TensorError

INFER_HINT = (
    'send {"inputs": [{"name": "NAME", "shape": [n], "datatype": "FP64", "data": [...]}]},'
    " one per input of the model's metadata (the Open Inference Protocol v2)"
)
# an inference request's fields (KServe's SDK also sends the model's name)
INFER_FIELDS = ["id", "inputs", "outputs", "parameters", "model_name", "model_version"]
INPUT_FIELDS = ["data", "datatype", "name", "parameters", "shape"]  # one input tensor's
OUTPUT_FIELDS = ["name", "parameters"]  # one requested output's
EXTENSIONS = ["binary_tensor_data"]  # the protocol extensions this server supports


def router(fleet: Fleet, max_body: int = MAX_BODY) -> APIRouter:
    """The v2 routes, answering from the models of ``fleet``, each under its own name."""
    routes = APIRouter()

    def named(name: str, version: str | None = None) -> Loaded:
        """The served version of model ``name`` (the champion's; of ``version`` when the path
        names one: the champion's or the canary's), or
        :class:`~rung.core.errors.NotFound` (404) naming what is served (the one lookup by
        name: :meth:`rung.serving.fleet.Fleet.named`; by version: :meth:`Service.arm`)."""
        service = fleet.named(name)
        if version is None:
            return service.current
        for arm in service.arms():
            held = arm.current  # one read: the follower may swap it meanwhile
            if str(held.version) == version:
                return held
        raise service.not_served(version)

    @routes.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        from rung import __version__

        return {"name": "rung", "version": __version__, "extensions": EXTENSIONS}

    @routes.get("/v2/health/live")
    async def live() -> dict[str, Any]:
        return {"live": True}

    @routes.get("/v2/health/ready")
    async def ready() -> dict[str, Any]:
        return {"ready": True}

    @routes.get("/v2/models/{name}")
    async def model_metadata(name: str) -> dict[str, Any]:
        return metadata(named(name), fleet.named(name).versions())

    @routes.get("/v2/models/{name}/versions/{version}")
    async def version_metadata(name: str, version: str) -> dict[str, Any]:
        return metadata(named(name, version), fleet.named(name).versions())

    @routes.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> dict[str, Any]:
        named(name)
        return {"name": name, "ready": True}

    @routes.get("/v2/models/{name}/versions/{version}/ready")
    async def version_ready(name: str, version: str) -> dict[str, Any]:
        named(name, version)
        return {"name": name, "ready": True}

    @routes.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Response:
        return await _infer(name, None, request)

    @routes.post("/v2/models/{name}/versions/{version}/infer")
    async def version_infer(name: str, version: str, request: Request) -> Response:
        return await _infer(name, version, request)

    async def _infer(name: str, version: str | None, request: Request) -> Response:
        service = fleet.named(name)  # the arm that answers: http.answer (pick)
        sent: dict[str, Any] = {}

        async def read(req: Request) -> Any:
            raw = await read_raw(req, max_body)
            sent.update(parse(raw, req.headers.get("inference-header-content-length")))
            given = str(sent["request"].get("model_version"))
            if version is None and given in map(str, service.versions()):  # the body's pin
                pick(service, req, given)  # (one not served: _same_model's 400)
            held = req.state.arm.current  # checked against the version that answers
            _same_model(sent["request"], name, version or str(held.version))
            sent["binary"] = requested(sent["request"], outputs_of(held))
            return {"columns": _inputs(sent["columns"], held)}

        held, out, request_id = await answer(
            service,
            request,
            _same,
            INFER_HINT,
            max_body,
            read,
            body_id=lambda: sent["request"].get("id") or None,
            terms=TENSORS,
            version=version,
        )
        body: dict[str, Any] = {
            "model_name": held.name,
            "model_version": str(held.version),
            "id": sent["request"].get("id", request_id),
        }
        produced = [o for o in _outputs(held, out) if o["name"] in sent["binary"]]
        order = list(sent["binary"])
        produced.sort(key=lambda o: order.index(o["name"]))
        body["outputs"], blob = tensors.encode(produced, sent["binary"])
        if not blob:
            return json_response(body, served_headers(held))
        import orjson

        head = orjson.dumps(body)
        return Response(
            head + blob,
            media_type="application/octet-stream",
            headers={
                "Inference-Header-Content-Length": str(len(head)),
                **served_headers(held),
            },
        )

    return routes


def _same(body: Any) -> Any:
    return body


def _same_model(request: dict[str, Any], name: str, version: str) -> None:
    """Refuse (400) a request whose body's ``model_name`` or ``model_version`` (the KServe SDK
    sends them) names another model or version than the path it was sent to: it was meant
    for another model, and answering it with this one would be a silent mix-up."""
    for key, served in (("model_name", name), ("model_version", version)):
        given = request.get(key)
        if given not in (None, "") and str(given) != served:
            raise TensorError(
                f"the body's {key} {str(given)[:80]!r} is not the {served!r} of this path",
                f"send it to /v2/models/{given}/infer, or leave {key} out"
                if key == "model_name"
                else f"send it to /v2/models/{name}/versions/{given}/infer, or leave {key} out",
            )


def parse(raw: bytes, header_length: str | None) -> dict[str, Any]:
    """An inference request's body (JSON, then binary tensors when ``header_length``, the
    ``Inference-Header-Content-Length`` header, is given): ``{"request": the JSON object,
    "columns": each input's flat values}``. Raises :class:`~rung.serving.tensors.TensorError`
    or :class:`~rung.serving.payload.PayloadError` (400 on this route)."""
    head, binary = tensors.split(raw, header_length)
    try:
        body = expect_object(payload_loads(head), INFER_HINT)
    except ValueError as exc:  # orjson.JSONDecodeError, invalid UTF-8 included
        raise not_json(exc, INFER_HINT) from exc
    stray = unknown_fields(body, INFER_FIELDS, [])
    for key, fields in (("inputs", INPUT_FIELDS), ("outputs", OUTPUT_FIELDS)):
        if isinstance(body.get(key), list):
            for k, i in enumerate(body[key]):
                if isinstance(i, dict):
                    stray += unknown_fields(i, fields, [key, k])
    if stray:
        where = ".".join(map(str, stray[0].loc))
        raise PayloadError(f"invalid input at {where}: {stray[0].msg}", INFER_HINT, stray)
    if "id" in body and not isinstance(body["id"], str):
        raise TensorError(
            f"'id' must be a string, got {str(body['id'])[:40]}",
            f"send a string of at most {REQUEST_ID} characters as the request's id, or none",
        )
    bounded_correlation(body.get("id"), "the request's 'id'")  # kept as its correlation id
    return {"request": body, "columns": tensors.decode(body, binary)}


def _inputs(columns: dict[str, list[Any]], held: Loaded) -> dict[str, list[Any]]:
    """The decoded inputs when they are exactly the model's features; else the 400 naming the
    missing or unknown input."""
    from rung.core.suggest import did_you_mean

    features: list[str] = held.signature.get("features") or []
    takes = f"the model's inputs: {', '.join(features)} (GET /v2/models/{held.name})"
    for name in columns:
        if name not in features:
            raise TensorError(
                f"input {name!r} is not one of the model's inputs",
                did_you_mean(name, features, takes) or takes,
            )
    for name in features:
        if name not in columns:
            raise TensorError(f"input {name!r} is missing", f"send {takes}")
    return columns


def metadata(held: Loaded, versions: list[int]) -> dict[str, Any]:
    """The model metadata response of version ``held``: each feature's datatype from its
    column kind in the signature, each output's from the model (see :func:`outputs_of`);
    ``versions``: every version that answers requests (the champion's, a canary's)."""
    cols = held.signature.get("columns") or {}
    return {
        "name": held.name,
        "versions": [str(v) for v in versions],
        "platform": "rung_sklearn",
        "inputs": [
            {
                "name": f,
                "datatype": tensors.datatype_of(
                    ColumnKind.from_dict(cols[f]) if f in cols else None
                ),
                "shape": [-1],
            }
            for f in held.signature.get("features", [])
        ],
        "outputs": outputs_of(held),
    }


def outputs_of(held: Loaded) -> list[dict[str, Any]]:
    """The outputs of a version: ``predict`` [-1] typed by the classifier's classes (INT64 for
    integer classes, BOOL, BYTES for strings) or FP64 for a regressor; and, for a model with
    ``predict_proba``, ``predict_proba`` [-1, k] FP64, one column per class."""
    import numpy as np

    classes = getattr(held.final, "classes_", None)
    kind = "FP64" if classes is None else tensors.datatype_of_values(np.asarray(classes).dtype)
    out = [{"name": "predict", "datatype": kind, "shape": [-1]}]
    if hasattr(held.final, "predict_proba"):
        k = -1 if classes is None else len(classes)
        out.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, k]})
    return out


def requested(body: dict[str, Any], available: list[dict[str, Any]]) -> dict[str, bool]:
    """The outputs to answer, in order, each mapped to whether it goes as binary data
    (``parameters.binary_data`` of the output, else the request's
    ``parameters.binary_data_output``, else JSON). An unknown output is a 400."""
    from rung.core.suggest import did_you_mean

    params = body.get("parameters")
    params = {} if params is None else params  # other request parameters are hints: ignored
    if not isinstance(params, dict):
        raise TensorError("the request's 'parameters' must be an object", INFER_HINT)
    default = params.get("binary_data_output", False)
    if not isinstance(default, bool):
        raise TensorError("parameters.binary_data_output must be true or false", None)
    names = [o["name"] for o in available]
    wanted = body.get("outputs")
    if wanted is None:
        return dict.fromkeys(names, default)
    if not isinstance(wanted, list):
        raise TensorError("'outputs' must be a list of {name, parameters}", INFER_HINT)
    out: dict[str, bool] = {}
    for k, o in enumerate(wanted):
        if not isinstance(o, dict) or not isinstance(o.get("name"), str):
            raise TensorError(f"outputs[{k}] is not an output with a string 'name'", None)
        name = o["name"]
        if name not in names:
            listed = f"the model's outputs: {', '.join(names)}"
            raise TensorError(
                f"output {name!r} is not one of the model's outputs",
                did_you_mean(name, names, listed) or listed,
            )
        p = tensors.known_parameters(o.get("parameters"), ("binary_data",), f"output {name!r}")
        binary = p.get("binary_data", default)
        if not isinstance(binary, bool):
            raise TensorError(
                f"output {name!r}: parameters.binary_data must be true or false", None
            )
        out[name] = binary
    return out


def _outputs(held: Loaded, out: dict[str, Any]) -> list[dict[str, Any]]:
    """The prediction as output tensors, each in the datatype its metadata gives."""
    from rung.core.outputs import from_json

    meta = {o["name"]: o for o in outputs_of(held)}
    preds = from_json(out["predictions"])
    kind = meta["predict"]["datatype"]
    try:
        data = tensors.as_datatype(preds, kind)
    except (TypeError, ValueError):  # a model whose predictions are not its classes' type
        kind, data = "BYTES", tensors.as_datatype(preds, "BYTES")
    outputs = [{"name": "predict", "datatype": kind, "shape": [len(preds)], "data": data}]
    if "probabilities" in out:
        rows = out["probabilities"]
        k = len(rows[0]) if rows else max(meta["predict_proba"]["shape"][1], 0)
        flat = [float(v) for row in rows for v in row.values()]
        outputs.append(
            {"name": "predict_proba", "datatype": "FP64", "shape": [len(preds), k], "data": flat}
        )
    return outputs
