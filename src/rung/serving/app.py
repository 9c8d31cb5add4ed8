"""The serving service: model aliases behind a REST API, decoupled from the application.

``rung serve NAME@ALIAS [NAME2@ALIAS ...]`` serves whatever version each alias points to
(:mod:`rung.serving.service`), each model under its own name, with its challengers in shadow
or as a canary (:mod:`rung.serving.fleet`). The app is composed here from:

* rung's own routes, ``POST /predict`` and ``POST /feedback`` (:mod:`rung.serving.v1`);
* the Open Inference Protocol v2 routes (:mod:`rung.serving.v2`);
* ``GET /metrics`` in Prometheus format and the middleware that counts every request
  (:mod:`rung.serving.metrics`);
* the one JSON error body and the body size limit (:mod:`rung.serving.http`);
* the protection every request passes first: the ``Host`` allowlist and the JSON content
  type (:mod:`rung.serving.guards`), CORS for configured origins only, and tokens with
  scopes (:mod:`rung.serving.auth`);
* ``/openapi.json`` with each model's routes described by its served version's signature
  (:mod:`rung.serving.openapi`), and ``/docs`` and ``/redoc`` served from the package
  (:mod:`rung.serving.docs`).

Every prediction is logged durably before its response is sent (:mod:`rung.serving.log`).
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from rung.serving import v1, v2
from rung.serving.auth import Authorize, route_scope
from rung.serving.docs import install_docs
from rung.serving.fleet import Fleet
from rung.serving.guards import Guard, Protection
from rung.serving.http import MAX_BODY, RequestIds, install_error_handlers
from rung.serving.metrics import Measure


def create_app(
    ws: Any,
    ref: str | list[str],
    poll_seconds: float = 1.0,
    max_body: int = MAX_BODY,
    protection: Protection | None = None,
    access_log: bool = True,
    shadows: list[str] | None = None,
    canaries: list[str] | None = None,
) -> FastAPI:
    """The ASGI app serving ``ref`` (NAME@ALIAS or NAME@VERSION; a list for several models)
    from workspace ``ws``, with challengers ``shadows`` (``NAME@ALIAS[=SHARE%]``) and
    ``canaries`` (``NAME@ALIAS=SHARE%``; see :mod:`rung.serving.fleet`), protected as
    ``protection`` says (default: no tokens, loopback host names only); ``access_log``: one
    line per request on the ``rung.access`` logger (:class:`rung.serving.metrics.Measure`)."""
    from contextlib import asynccontextmanager

    protection = protection or Protection()
    refs = [ref] if isinstance(ref, str) else list(ref)
    fleet = Fleet(ws, refs, poll_seconds, shadows or [], canaries or [])
    service = fleet.first

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
        docs_url=None,  # served from the package, not a CDN (rung.serving.docs)
        redoc_url=None,
    )
    app.state.service = service
    app.state.fleet = fleet
    documented: dict[tuple[int, ...], dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        """FastAPI's document with each served model's routes described by its served
        version's signature (rebuilt when one of them moves)."""
        from fastapi.openapi.utils import get_openapi

        from rung.serving.openapi import document

        held = [s.current for s in fleet.services.values()]
        key = tuple(h.version for h in held)
        if key not in documented:
            base = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            documented.clear()
            scope_of = route_scope if protection.tokens else None
            first, others = held[0], [(h.signature, h.name, h.version) for h in held[1:]]
            documented[key] = document(
                base, first.signature, first.name, first.version, scope_of, others
            )
        return documented[key]

    app.openapi = openapi  # type: ignore[method-assign]
    install_error_handlers(app, fleet.metrics)
    # the last added runs first:
    # Measure → RequestIds → Guard (Host, content type) → CORS → Authorize → routes
    app.add_middleware(Authorize, tokens=protection.tokens, metrics=fleet.metrics)
    if protection.cors_origins:
        from rung.serving.guards import cors_middleware

        app.add_middleware(
            cors_middleware(fleet.metrics),
            allow_origins=list(protection.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-Canary-Key"],
            expose_headers=["X-Request-ID", "X-Correlation-ID", "X-Model-Version"],
        )
    app.add_middleware(Guard, allowed_hosts=protection.allowed_hosts, metrics=fleet.metrics)
    app.add_middleware(RequestIds)
    app.add_middleware(Measure, metrics=fleet.metrics, access=access_log)
    app.include_router(v1.router(fleet, max_body))
    app.include_router(v2.router(fleet, max_body))
    install_docs(app)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(fleet.metrics.exposition(), media_type="text/plain; version=0.0.4")

    return app
