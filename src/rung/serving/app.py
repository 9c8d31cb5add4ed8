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

import gc
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

# the routes every prediction takes: served without FastAPI's per-request machinery
HOT = frozenset(
    {
        ("POST", "/predict"),
        ("POST", "/predict/{name}"),
        ("POST", "/v2/models/{name}/infer"),
        ("POST", "/v2/models/{name}/versions/{version}/infer"),
    }
)


def direct(app: FastAPI, routes: list[Any], hot: frozenset[tuple[str, str]]) -> None:
    """Serve the ``hot`` routes (method, path) of ``routes`` as plain Starlette routes, tried
    before FastAPI's own, which stay for the OpenAPI document.

    FastAPI spends more on matching an included router's routes and solving an endpoint's
    dependencies than rung spends on a prediction's checks (a third of a request's CPU at
    concurrency 64, measured with py-spy). These endpoints take only path parameters and the
    ``Request``, so Starlette's route calls them with the same arguments; the app's exception
    handlers apply as before (Starlette's route wraps them the same way)."""
    import inspect

    from fastapi.routing import APIRoute
    from starlette.requests import Request
    from starlette.routing import Route

    fast = []
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        methods = sorted(route.methods or ())
        if not any((m, route.path) in hot for m in methods):
            continue
        params = set(inspect.signature(route.endpoint).parameters)
        if params != {*route.param_convertors, "request"}:  # more than the path: FastAPI's
            continue

        def call(endpoint: Any) -> Any:
            async def endpoint_of(request: Request) -> Any:
                return await endpoint(request=request, **request.path_params)

            return endpoint_of

        fast.append(
            Route(
                route.path,
                call(route.endpoint),
                methods=methods,
                include_in_schema=False,
            )
        )
    app.router.routes[0:0] = fast


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
        protection.tokens.start()  # a token file is followed while serving
        # the models, libraries and app are loaded: the collector need not walk them again
        # (a full collection walked ~190,000 objects; frozen, it walks what requests made)
        gc.freeze()
        yield
        protection.tokens.stop()
        fleet.stop()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())

    app = FastAPI(
        redirect_slashes=False,  # a 307 to http://localhost/... behind a proxy: 404 instead
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
    own, oip = v1.router(fleet, max_body), v2.router(fleet, max_body)
    app.include_router(own)
    app.include_router(oip)
    direct(app, [*own.routes, *oip.routes], HOT)
    install_docs(app)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(fleet.metrics.exposition(), media_type="text/plain; version=0.0.4")

    return app
