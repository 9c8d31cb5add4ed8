"""The service's Prometheus metrics and the middleware that counts every request.

``rung_requests_total{path,status}``, ``rung_request_seconds{path}``,
``rung_errors_total{path,type}``, ``rung_rows_predicted_total``, ``rung_model_calls_total``,
``rung_shadow_total{outcome}`` and ``rung_model_version{model}``; route labels come from a bounded set (:func:`path_label`).
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

PATHS = frozenset(
    ("/predict", "/feedback", "/metrics", "/v2/health/live", "/v2/health/ready", "/openapi.json")
)


class Metrics:
    """The metrics of one service, in their own registry."""

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
        self.shadow = Counter(
            "rung_shadow_total",
            "Shadow predictions: logged, failed (logged with their status) or dropped (backlog)",
            ["outcome"],
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


class Measure:
    """Request count and latency per route, as a plain ASGI middleware (Starlette's
    ``@app.middleware("http")`` costs a task and a stream per request)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
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
            path = path_label(scope["path"])
            self.metrics.requests.labels(path, str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - started)


def path_label(path: str) -> str:
    """A bounded set of label values: the routes, never what a client typed."""
    if path in PATHS:
        return path
    if path.startswith("/predict/"):
        return "/predict/{name}"
    if path.startswith("/v2/models/"):
        tail = path.rstrip("/").split("/")[4:]
        if not tail:
            return "/v2/models/{name}"
        if tail == ["ready"] or tail == ["infer"]:
            return "/v2/models/{name}/" + tail[0]
    return "other"
