"""The serving service: one model alias behind a REST API, decoupled from the application.

``rung serve NAME@ALIAS`` serves whatever version the alias points to. Routes:

* ``POST /predict`` — records or columns, one row or a batch (see :mod:`rung.serving.payload`);
  the answer carries predictions, class probabilities when the model has them, the model
  version that answered and a request id;
* the Open Inference Protocol v2 paths — ``/v2/health/live``, ``/v2/health/ready``,
  ``/v2/models/{name}``, ``/v2/models/{name}/ready``, ``/v2/models/{name}/infer``;
* ``GET /metrics`` in Prometheus format.

Errors share one JSON body: ``{"error": {"type", "message", "hint", "fields"}}``. Bodies over
the size limit get 413. The service follows its alias: a background thread polls it, loads
and warms a new version, then swaps it in one assignment, so every response names the version
that computed it and no request fails during the swap. Every prediction is logged durably
before its response is sent (:mod:`rung.serving.log`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from rung.core import predlog
from rung.core.errors import InvalidInput, RungError
from rung.core.limits import REQUEST_ID, check_length, is_digits
from rung.serving.batching import Batcher
from rung.serving.log import PredictionLog
from rung.serving.payload import HINT as PREDICT_HINT
from rung.serving.payload import (
    PayloadError,
    check,
    expect_object,
    frame_of,
    not_json,
    unknown_fields,
)
from rung.serving.payload import loads as payload_loads
from rung.serving.predictor import Loaded, compute, ready

MAX_BODY = 8 * 1024 * 1024
_PATHS = frozenset(
    ("/predict", "/feedback", "/metrics", "/v2/health/live", "/v2/health/ready", "/openapi.json")
)


def error_body(exc: RungError) -> dict[str, Any]:
    """The one canonical JSON error body of the API."""
    fields = [e.to_dict() for e in getattr(exc, "errors", [])]
    return {
        "error": {
            "type": type(exc).__name__,
            "message": exc.message,
            "hint": exc.hint,
            "fields": fields,
        }
    }


_log = logging.getLogger("rung")


class Service:
    """The model holder, the alias follower and the log of one served alias."""

    def __init__(self, ws: Any, ref: str, poll_seconds: float = 1.0) -> None:
        self.ws = ws  # a rung.Workspace (passed in: serving sits below the workspace layer)
        self.ref = ref
        self.name, _, self.alias = ref.partition("@")
        if not 0.05 <= poll_seconds <= 86400:  # also False for NaN (a busy loop)
            raise InvalidInput(
                f"poll interval {poll_seconds!r} s is out of range 0.05..86400",
                "give the seconds between checks of the alias, e.g. --poll 1",
            )
        self.poll_seconds = poll_seconds
        self.current = self._load(self.ws.models.get(ref).version)
        self.log = PredictionLog(self.ws.store)
        self._stop = threading.Event()
        self._follower = threading.Thread(
            target=self._follow, name="rung-alias-follower", daemon=True
        )
        self.batcher = Batcher(self.predict)
        self.active = 0  # prediction requests being served (on the event loop: no lock)
        self.metrics = _Metrics()
        self.metrics.version.labels(self.name).set(self.current.version)

    def start(self) -> None:
        self._follower.start()

    def stop(self) -> None:
        self._stop.set()
        self.batcher.close()
        self.log.close()

    def _load(self, version: int) -> Loaded:
        from rung.registry.models import require_signature

        v, model = self.ws.models.load(f"{self.name}@{version}")  # verified bytes, safe formats
        return ready(v.name, v.version, model, require_signature(v))

    def _follow(self) -> None:
        refused: int | None = None  # a version that cannot be loaded: not retried every poll
        while not self._stop.wait(self.poll_seconds):
            try:
                target = self.ws.models.get(self.ref).version
                if target == self.current.version or target == refused:
                    continue
                try:
                    fresh = self._load(target)  # load and warm before anyone sees it
                except Exception as exc:  # untrusted, corrupt, unreadable: keep serving
                    refused = target
                    _log.warning(
                        "rung serve: %s moved to version %s, which cannot be served (%s);"
                        " still serving version %s",
                        self.ref,
                        target,
                        exc,
                        self.current.version,
                    )
                    continue
                self.current = fresh  # the swap: one assignment
                self.metrics.version.labels(self.name).set(fresh.version)
            except Exception:  # the store unreachable for a moment: try again next poll
                continue

    def predict(self, columns: dict[str, list[Any]]) -> tuple[Loaded, dict[str, Any]]:
        """The rows of one request, or of a batch of them (see :mod:`rung.serving.batching`)."""
        held = self.current  # one read: these rows are answered by exactly this version
        self.metrics.calls.inc()
        return held, compute(held, frame_of(columns, held.signature))


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rung_requests_total", "Requests", ["path", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "rung_request_seconds", "Request latency", ["path"], registry=self.registry
        )
        self.errors = Counter(
            "rung_errors_total", "Error responses", ["path", "type"], registry=self.registry
        )
        self.rows = Counter("rung_rows_predicted_total", "Rows predicted", registry=self.registry)
        self.calls = Counter(
            "rung_model_calls_total",
            "Calls to the model: fewer than requests when overlapping requests are batched",
            registry=self.registry,
        )
        self.version = Gauge(
            "rung_model_version",
            "Model version being served",
            ["model"],
            registry=self.registry,
            multiprocess_mode="liveall",  # with several workers: each worker's version
        )

    def exposition(self) -> bytes:
        """The Prometheus text: this process's metrics, or every worker's when several serve."""
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return bytes(generate_latest(self.registry))
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return bytes(generate_latest(merged))


INFER_HINT = (
    'send {"inputs": [{"name": "feature", "shape": [n], "datatype": "FP64", "data": [...]}]}'
    " (the Open Inference Protocol v2)"
)
INFER_FIELDS = ["id", "inputs", "outputs", "parameters"]  # an inference request's fields
INPUT_FIELDS = ["data", "datatype", "name", "parameters", "shape"]  # one input tensor's


def create_app(ws: Any, ref: str, poll_seconds: float = 1.0, max_body: int = MAX_BODY) -> FastAPI:
    """The ASGI app serving ``ref`` (NAME@ALIAS or NAME@VERSION) from workspace ``ws``."""
    from contextlib import asynccontextmanager

    service = Service(ws, ref, poll_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        service.start()
        yield
        service.stop()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())

    app = FastAPI(
        title=f"rung: {ref}",
        description="Predictions from a model version that follows its alias.",
        lifespan=lifespan,
    )
    app.state.service = service
    documented: dict[int, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        """FastAPI's document with /predict described by the served version's signature."""
        from fastapi.openapi.utils import get_openapi

        from rung.serving.openapi import document

        held = service.current
        if held.version not in documented:
            base = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            documented.clear()
            documented[held.version] = document(base, held.signature, held.name, held.version)
        return documented[held.version]

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(RungError)
    async def _rung_error(request: Request, exc: RungError) -> JSONResponse:
        service.metrics.errors.labels(_path_label(request.url.path), type(exc).__name__).inc()
        retry = getattr(exc, "retry_after", None)  # 503s: a full disk, the store unreachable
        headers = {"Retry-After": str(retry)} if retry else None
        return JSONResponse(error_body(exc), status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Unknown routes (404) and methods (405) in the one error shape too."""
        hint = "see /docs for the routes" if exc.status_code in (404, 405) else None
        body = error_body(RungError(f"{request.method} {request.url.path}: {exc.detail}", hint))
        body["error"]["type"] = {404: "NotFound", 405: "MethodNotAllowed"}.get(
            exc.status_code, "HTTPError"
        )
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        """A bug (a 500) still answers with the canonical body; the traceback goes to the log.
        A failure of the machine (a full disk) answers as its RungError (503, Retry-After)."""
        from rung.store.failures import explain

        known = explain(exc)
        if known is not None:
            return await _rung_error(request, known)
        service.metrics.errors.labels(_path_label(request.url.path), type(exc).__name__).inc()
        body = error_body(RungError(f"internal error: {type(exc).__name__}: {exc}", None))
        return JSONResponse(body, status_code=500)

    async def _body(request: Request, hint: str) -> Any:
        """The request's JSON body; a body over the limit is a 413, one that is not JSON a
        422 with the route's ``hint`` (what that route takes)."""
        length = request.headers.get("content-length")
        if length is not None and is_digits(length) and int(length) > max_body:
            raise PayloadTooLarge(
                f"the body has {length} bytes, over the limit of {max_body}", "send smaller batches"
            )
        raw = await request.body()
        if len(raw) > max_body:
            raise PayloadTooLarge(
                f"the body has {len(raw)} bytes, over the limit of {max_body}",
                "send smaller batches",
            )
        try:
            return payload_loads(raw)
        except ValueError as exc:  # orjson.JSONDecodeError, invalid UTF-8 included
            raise not_json(exc, hint) from exc

    async def _answer(
        request: Request, to_body: Callable[[Any], Any], hint: str = PREDICT_HINT
    ) -> tuple[Loaded, dict[str, Any], str]:
        """Check, predict and log one request; a failed one is logged too, with its status
        and no inputs (the error rate of monitoring comes from the same log). The request
        counts as load (``service.active``) from its arrival until its record is durable."""
        started = time.perf_counter()
        given = request.headers.get("x-request-id")
        try:  # HTTP hands header bytes over as Latin-1; clients send ids as UTF-8, as in JSON
            given = given.encode("latin-1").decode("utf-8") if given else given
            unreadable = False
        except UnicodeError:
            unreadable = True
        fits = given and not unreadable and len(given) <= REQUEST_ID
        request_id = given if given and fits else uuid.uuid4().hex

        def record(held: Loaded, inputs: Any, outputs: Any, status: int) -> Future[None]:
            return service.log.submit(
                predlog.record(
                    request_id=request_id,
                    model=held.name,
                    version=held.version,
                    inputs=inputs,
                    outputs=outputs,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    status=status,
                )
            )

        service.active += 1
        try:
            try:
                if unreadable:  # refused here, logged under a fresh id
                    raise InvalidInput(
                        f"X-Request-ID header {given!r} is not UTF-8 text",
                        "send the id as UTF-8 (or ASCII), or none (one is made)",
                    )
                if given and len(given) > REQUEST_ID:  # refused here, logged under a fresh id
                    check_length(
                        given,
                        REQUEST_ID,
                        "X-Request-ID header",
                        f"send an id of at most {REQUEST_ID} characters, or none (one is made)",
                    )
                body = to_body(await _body(request, hint))
                columns, rows = check(body, service.current.signature)
                held, out = await service.batcher.predict(columns, rows, alone=service.active == 1)
            except Exception as exc:
                # not awaited: an error answer does not wait for the disk
                status = exc.status if isinstance(exc, RungError) else 500
                record(service.current, {}, {"error": type(exc).__name__}, status)
                raise
            done = record(held, columns, out, 200)
            await asyncio.wrap_future(done)  # durable before we answer
        finally:
            service.active -= 1
        service.metrics.rows.inc(rows)
        return held, out, request_id

    app.add_middleware(_Measure, metrics=service.metrics)

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        """Predict one row or a batch (records or columns form)."""
        held, out, request_id = await _answer(request, lambda body: body)
        # encoded here: FastAPI would otherwise walk every value of a large batch
        return _json({"model": held.name, "version": held.version, "request_id": request_id, **out})

    @app.post("/feedback")
    async def feedback(request: Request) -> dict[str, int]:
        """Ground truth for earlier predictions, keyed by request id and row (single or
        batched), checked against the version that answered; ``{"accepted", "replaced"}``."""
        from rung.serving.feedback import HINT, record

        return await run_in_threadpool(record, service.ws.store, await _body(request, HINT))

    @app.get("/v2/health/live")
    async def live() -> dict[str, Any]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> dict[str, Any]:
        return {"ready": True}

    @app.get("/v2/models/{name}")
    async def model_metadata(name: str) -> dict[str, Any]:
        held = _named(name)
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

    @app.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> dict[str, Any]:
        _named(name)
        return {"name": name, "ready": True}

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Response:
        _named(name)

        def columns_of(body: Any) -> dict[str, Any]:
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
                raise PayloadError(
                    "'inputs' must be a list of {name, shape, datatype, data}", INFER_HINT
                )
            return {"columns": {i["name"]: i["data"] for i in inputs}}

        held, out, request_id = await _answer(request, columns_of, INFER_HINT)
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
        return _json(
            {
                "model_name": held.name,
                "model_version": str(held.version),
                "id": request_id,
                "outputs": outputs,
            }
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(service.metrics.exposition(), media_type="text/plain; version=0.0.4")

    def _named(name: str) -> Loaded:
        held = service.current
        if name != held.name:
            from rung.core.errors import NotFound

            raise NotFound(
                f"this service serves model {held.name!r}, not {name!r}",
                f"use /v2/models/{held.name}",
            )
        return held

    return app


class _Measure:
    """Request count and latency per route, as a plain ASGI middleware (Starlette's
    ``@app.middleware("http")`` costs a task and a stream per request)."""

    def __init__(self, app: Any, metrics: _Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            path = _path_label(scope["path"])
            self.metrics.requests.labels(path, str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - started)


def _path_label(path: str) -> str:
    """A bounded set of label values: the routes, never what a client typed."""
    if path in _PATHS:
        return path
    if path.startswith("/v2/models/"):
        tail = path.rstrip("/").split("/")[4:]
        if not tail:
            return "/v2/models/{name}"
        if tail == ["ready"] or tail == ["infer"]:
            return "/v2/models/{name}/" + tail[0]
    return "other"


class PayloadTooLarge(RungError):
    """The body is over the service's size limit (HTTP 413)."""

    status = 413


def _json(content: Any) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
    )


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
