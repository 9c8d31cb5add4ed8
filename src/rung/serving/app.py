"""The serving service: model aliases behind a REST API, decoupled from the application.

``rung serve NAME@ALIAS [NAME2@ALIAS ...]`` serves whatever version each alias points to
(:mod:`rung.serving.service`), each model under its own name, with its challengers in shadow
or as a canary (:mod:`rung.serving.fleet`). The app is composed here from:

* rung's own routes, ``POST /predict`` and ``POST /feedback`` (:mod:`rung.serving.v1`);
* the Open Inference Protocol v2 routes (:mod:`rung.serving.v2`);
* ``GET /metrics`` in Prometheus format and the middleware that counts every request
  (:mod:`rung.serving.metrics`);
* the one JSON error body and the body size limit (:mod:`rung.serving.http`);
* ``/openapi.json`` with ``/predict`` described by the served version's signature
  (:mod:`rung.serving.openapi`).

Every prediction is logged durably before its response is sent (:mod:`rung.serving.log`).
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from rung.serving import v1, v2
from rung.serving.fleet import Fleet
from rung.serving.http import MAX_BODY, install_error_handlers
from rung.serving.metrics import Measure


def create_app(
    ws: Any,
    ref: str | list[str],
    poll_seconds: float = 1.0,
    max_body: int = MAX_BODY,
    shadows: list[str] | None = None,
    canaries: list[str] | None = None,
) -> FastAPI:
    """The ASGI app serving ``ref`` (NAME@ALIAS or NAME@VERSION; a list for several models)
    from workspace ``ws``, with challengers ``shadows`` (``NAME@ALIAS[=SHARE%]``) and
    ``canaries`` (``NAME@ALIAS=SHARE%``); see :mod:`rung.serving.fleet`."""
    from contextlib import asynccontextmanager

    refs = [ref] if isinstance(ref, str) else list(ref)
    fleet = Fleet(ws, refs, poll_seconds, shadows or [], canaries or [])
    service = fleet.first  # the OpenAPI document describes the first model's /predict

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        fleet.start()
        yield
        fleet.stop()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())

    app = FastAPI(
        title=f"rung: {' '.join(refs)}",
        description="Predictions from a model version that follows its alias.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.fleet = fleet
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
    install_error_handlers(app, service.metrics)
    app.add_middleware(Measure, metrics=service.metrics)
    app.include_router(v1.router(fleet, max_body))
    app.include_router(v2.router(fleet, max_body))

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(service.metrics.exposition(), media_type="text/plain; version=0.0.4")

    return app
