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
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.concurrency import run_in_threadpool

from rung.core.errors import InvalidInput, RungError
from rung.serving.log import PredictionLog
from rung.serving.payload import PayloadError, validate

MAX_BODY = 8 * 1024 * 1024


@dataclass(frozen=True)
class Loaded:
    """One version, ready to predict; swapped as a whole."""

    name: str
    version: int
    model: Any
    signature: dict[str, Any]


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


class Service:
    """The model holder, the alias follower and the log of one served alias."""

    def __init__(self, ws: Any, ref: str, poll_seconds: float = 1.0) -> None:
        self.ws = ws  # a rung.Workspace (passed in: serving sits below the workspace layer)
        self.ref = ref
        self.name, _, self.alias = ref.partition("@")
        self.poll_seconds = poll_seconds
        self.current = self._load(self.ws.models.get(ref).version)
        self.log = PredictionLog(self.ws.store)
        self._stop = threading.Event()
        self._follower = threading.Thread(
            target=self._follow, name="rung-alias-follower", daemon=True
        )
        self.metrics = _Metrics()
        self.metrics.version.labels(self.name).set(self.current.version)

    def start(self) -> None:
        self._follower.start()

    def stop(self) -> None:
        self._stop.set()
        self.log.close()

    def _load(self, version: int) -> Loaded:
        v, model = self.ws.models.load(f"{self.name}@{version}")  # verified bytes, safe formats
        if v.signature is None:
            raise InvalidInput(
                f"{v.ref} has no input signature", "register a model fitted on a DataFrame"
            )
        loaded = Loaded(v.name, v.version, model, v.signature)
        _warm(loaded)
        return loaded

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                target = self.ws.models.get(self.ref).version
                if target != self.current.version:
                    fresh = self._load(target)  # load and warm before anyone sees it
                    self.current = fresh  # the swap: one assignment
                    self.metrics.version.labels(self.name).set(fresh.version)
            except Exception:  # keep serving the current version; try again next poll
                continue

    def predict(self, frame: Any) -> tuple[Loaded, dict[str, Any]]:
        held = self.current  # one read: this request is answered by exactly this version
        pred = held.model.predict(frame)
        out: dict[str, Any] = {"predictions": _plain(pred)}
        if hasattr(held.model, "predict_proba"):
            proba = held.model.predict_proba(frame)
            classes = [str(c) for c in held.model.classes_]
            out["probabilities"] = [
                dict(zip(classes, map(float, row), strict=True)) for row in proba
            ]
        return held, out


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
        self.version = Gauge(
            "rung_model_version", "Model version being served", ["model"], registry=self.registry
        )


def _plain(values: Any) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in values]


def _warm(loaded: Loaded) -> None:
    """One prediction on a plausible row, so the first real request pays no lazy setup."""
    import pandas as pd

    row: dict[str, Any] = {}
    for name in loaded.signature.get("features", []):
        spec = loaded.signature.get("columns", {}).get(name, {})
        cats = spec.get("categories")
        row[name] = cats[0] if cats else 0.0
    loaded.model.predict(pd.DataFrame([row]))


def create_app(ws: Any, ref: str, poll_seconds: float = 1.0, max_body: int = MAX_BODY) -> FastAPI:
    """The ASGI app serving ``ref`` (NAME@ALIAS or NAME@VERSION) from workspace ``ws``."""
    from contextlib import asynccontextmanager

    service = Service(ws, ref, poll_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        service.start()
        yield
        service.stop()

    app = FastAPI(
        title=f"rung: {ref}",
        description="Predictions from a model version that follows its alias.",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(RungError)
    async def _rung_error(request: Request, exc: RungError) -> JSONResponse:
        service.metrics.errors.labels(request.url.path, type(exc).__name__).inc()
        return JSONResponse(error_body(exc), status_code=exc.status)

    async def _body(request: Request) -> Any:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body:
            raise _TooLarge(
                f"the body has {length} bytes, over the limit of {max_body}", "send smaller batches"
            )
        raw = await request.body()
        if len(raw) > max_body:
            raise _TooLarge(
                f"the body has {len(raw)} bytes, over the limit of {max_body}",
                "send smaller batches",
            )
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise PayloadError(
                f"the body is not JSON ({exc})", 'send {"records": [{...}]}'
            ) from exc

    async def _answer(request: Request, body: Any) -> tuple[Loaded, dict[str, Any], str]:
        started = time.perf_counter()
        frame = validate(body, service.current.signature)
        held, out = await run_in_threadpool(service.predict, frame)
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        latency = (time.perf_counter() - started) * 1000
        done = service.log.submit(
            {
                "request_id": request_id,
                "model": held.name,
                "version": held.version,
                "rows": len(frame),
                "inputs": frame.to_dict("records"),
                "outputs": out,
                "latency_ms": latency,
            }
        )
        await asyncio.wrap_future(done)  # durable before we answer
        service.metrics.rows.inc(len(frame))
        return held, out, request_id

    @app.middleware("http")
    async def _measure(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        service.metrics.requests.labels(request.url.path, str(response.status_code)).inc()
        service.metrics.latency.labels(request.url.path).observe(time.perf_counter() - started)
        return response

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        """Predict one row or a batch (records or columns form)."""
        held, out, request_id = await _answer(request, await _body(request))
        return {"model": held.name, "version": held.version, "request_id": request_id, **out}

    @app.post("/feedback")
    async def feedback(request: Request) -> dict[str, Any]:
        """Ground truth for earlier predictions, keyed by request id (single or batched)."""
        from rung.serving.feedback import record

        accepted = await run_in_threadpool(record, service.ws.store, await _body(request))
        return {"accepted": accepted}

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
    async def infer(name: str, request: Request) -> dict[str, Any]:
        _named(name)
        body = await _body(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(
            isinstance(i, dict) and "name" in i and "data" in i for i in inputs
        ):
            raise PayloadError(
                "'inputs' must be a list of {name, shape, datatype, data}",
                "see the Open Inference Protocol v2",
            )
        columns = {i["name"]: i["data"] for i in inputs}
        held, out, request_id = await _answer(request, {"columns": columns})
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
        return {
            "model_name": held.name,
            "model_version": str(held.version),
            "id": request_id,
            "outputs": outputs,
        }

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(
            generate_latest(service.metrics.registry), media_type="text/plain; version=0.0.4"
        )

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


class _TooLarge(RungError):
    status = 413


def _datatype(spec: dict[str, Any]) -> str:
    return {"numeric": "FP64", "boolean": "BOOL"}.get(spec.get("kind", ""), "BYTES")


def _pred_type(values: list[Any]) -> str:
    if values and all(isinstance(v, bool) for v in values):
        return "BOOL"
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "FP64"
    return "BYTES"
