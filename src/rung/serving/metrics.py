"""The service's Prometheus metrics and the one middleware that measures every request and
writes the access log.

``rung_requests_total{path,status}``, ``rung_request_seconds{path}``,
``rung_errors_total{path,type}`` (every 4xx and 5xx answer), ``rung_rows_predicted_total``,
``rung_model_calls_total``, ``rung_shadow_total{outcome}``; per arm of a served model (``role``:
``answer`` the champion, ``canary``, ``shadow``) ``rung_model_version{model,role}``,
``rung_alias_follow_failures_total{model,role}``,
``rung_predictions_total{model,version,role,status}`` (each prediction request an arm answered
or refused, and each shadow prediction) and ``rung_prediction_seconds{model,role}`` (answered
ones, from arrival to durable record). Route labels come from a bounded set
(:func:`path_label`); ``version`` takes the versions an arm served since the start.

The access log is one line per request on the ``rung.access`` logger (INFO)::

    2026-11-30T14:20:01.123Z POST /predict 200 3.21ms version=2 request_id=9f8e…

time (UTC, when the answer was complete), method, route, status, latency in milliseconds,
the model version that answered and the request id — both read from the answer's
``X-Model-Version`` and ``X-Request-ID`` headers (:func:`rung.serving.http.served_headers`),
``-`` when the route answered no prediction.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

PATHS = frozenset(
    (
        "/predict",
        "/feedback",
        "/metrics",
        "/v2",
        "/health",
        "/v2/health/live",
        "/v2/health/ready",
        "/openapi.json",
    )
)
access_log = logging.getLogger("rung.access")


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
            "Model version being served, per arm (role: answer, canary, shadow)",
            ["model", "role"],
            registry=self.registry,
            multiprocess_mode="liveall",  # with several workers: each worker's version
        )
        self.follow_failures = Counter(
            "rung_alias_follow_failures_total",
            "Versions the alias moved to that could not be loaded (each attempt), per arm",
            ["model", "role"],
            registry=self.registry,
        )
        self.predictions = Counter(
            "rung_predictions_total",
            "Prediction requests per arm (role: answer, canary, shadow), version and status",
            ["model", "version", "role", "status"],
            registry=self.registry,
        )
        self.prediction_latency = Histogram(
            "rung_prediction_seconds",
            "Latency of the answered predictions per arm, from arrival to durable record",
            ["model", "role"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The Prometheus text: this process's metrics, or every worker's when several serve."""
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return bytes(generate_latest(self.registry))
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return bytes(generate_latest(merged))


class Children:
    """The children of one labelled metric, each made once per label values: prometheus'
    ``labels()`` takes a lock and checks every value at each call, on the request path.
    The label values must come from a bounded set (routes, statuses, served versions)."""

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._made: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._made.get(values)
        if child is None:
            child = self._made[values] = self._metric.labels(*values)
        return child


class Measure:
    """Request count and latency per route, and the access log line (``access``), as a plain
    ASGI middleware (Starlette's ``@app.middleware("http")`` costs a task and a stream per
    request). It knows nothing of the routes: what answered is read from the response's
    headers. The outermost of rung's middlewares, it also routes ``HEAD`` as ``GET``."""

    def __init__(self, app: Any, metrics: Metrics, access: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.access = access
        self._requests = Children(metrics.requests)  # by route and status
        self._latency = Children(metrics.latency)  # by route

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        version = request_id = b"-"

        async def sending(message: Any) -> None:
            nonlocal status, version, request_id
            if message["type"] == "http.response.start":
                status = message["status"]
                for key, value in message.get("headers", ()):
                    if key == b"x-model-version":
                        version = value
                    elif key == b"x-request-id":
                        request_id = value
            await send(message)

        # HEAD is answered as GET is (RFC 9110 §9.3.2): routed as a GET, while uvicorn, which
        # keeps the request's own scope, sends no body. FastAPI's routes take only the methods
        # they name (a probe with HEAD got 405), and the OpenAPI document lists no HEAD
        inner = {**scope, "method": "GET"} if scope["method"] == "HEAD" else scope
        try:
            await self.app(inner, receive, sending)
        finally:
            path = path_label(scope["path"])
            seconds = time.perf_counter() - started
            self._requests(path, str(status)).inc()
            self._latency(path).observe(seconds)
            if self.access and access_log.isEnabledFor(logging.INFO):
                route = path if path != "other" else _printable(scope["path"])
                line = (
                    f"{utc_now()} {scope['method']} {route} {status} {seconds * 1000:.2f}ms"
                    f" version={version.decode('latin-1')}"
                    f" request_id={_printable(request_id.decode('utf-8', 'replace'))}"
                )
                # Logger.info would also look up the caller's frame: a third of its cost
                access_log.handle(
                    access_log.makeRecord(access_log.name, logging.INFO, "", 0, line, (), None)
                )


_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text


def utc_now() -> str:
    """The time now, ISO 8601 in UTC to the millisecond: ``2026-11-30T14:20:01.123Z``."""
    global _second
    now = time.time()
    cached = _second  # one read: another thread may replace it meanwhile
    if cached[0] != int(now):  # strftime once a second, not once a request
        cached = _second = (int(now), time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(now))))
    return f"{cached[1]}.{int(now % 1 * 1000):03d}Z"


def _printable(text: str, limit: int = 120) -> str:
    """What a client sent (a path, an id) as one line of the log: control characters and
    spaces escaped, at most ``limit`` characters."""
    if text.isprintable() and " " not in text and len(text) <= limit:
        return text
    escaped = text.encode("unicode_escape").decode("ascii").replace(" ", "\\x20")
    return escaped[:limit] + ("…" if len(escaped) > limit else "")


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
        if len(tail) in (2, 3) and tail[0] == "versions" and tail[2:] in ([], ["ready"], ["infer"]):
            return "/v2/models/{name}/versions/{version}" + "".join("/" + t for t in tail[2:])
    return "other"
