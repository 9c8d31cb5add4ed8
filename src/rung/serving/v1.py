"""rung's own routes: ``POST /predict`` and ``POST /predict/{name}`` (records or columns,
one row or a batch; see :mod:`rung.serving.payload`; plain ``/predict`` when one model is
served, :mod:`rung.serving.fleet`), ``POST /feedback`` (ground truth for earlier
predictions; see :mod:`rung.serving.feedback`) and ``GET /health`` (readiness with its
details: the version served, where the alias points, the follower's last error; see
:meth:`rung.serving.service.Service.health`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from rung.serving.fleet import Fleet
from rung.serving.http import MAX_BODY, answer, read_body, served_response


def router(fleet: Fleet, max_body: int = MAX_BODY) -> APIRouter:
    """The routes of rung's own protocol, answering from the models of ``fleet``."""
    routes = APIRouter()

    async def predicted(name: str | None, request: Request) -> Response:
        service = fleet.named(name)
        held, out, request_id = await answer(service, request, lambda body: body, max_body=max_body)
        return served_response(
            {"model": held.name, "version": held.version, "request_id": request_id, **out}, held
        )

    @routes.post("/predict")
    async def predict(request: Request) -> Response:
        """Predict one row or a batch (records or columns form) with the one served model."""
        return await predicted(None, request)

    @routes.post("/predict/{name}")
    async def predict_named(name: str, request: Request) -> Response:
        """Predict one row or a batch with served model ``name``."""
        return await predicted(name, request)

    @routes.get("/health")
    async def health() -> dict[str, Any]:
        """Readiness with details: ``{"ready", "model", "version", "alias", "alias_target",
        "last_error"}`` of the served model, and ``"challengers"`` (its shadow and canary, each
        with its role and share) when it has any; with several, ``{"ready", "models": [...]}``."""
        if len(fleet.services) == 1:
            return fleet.first.health()
        return {"ready": True, "models": [s.health() for s in fleet.services.values()]}

    @routes.post("/feedback")
    async def feedback(request: Request) -> dict[str, Any]:
        """Ground truth for earlier predictions, keyed by request id and row (single or
        batched), checked against the version that answered; ``{"accepted", "replaced"}``
        (and ``"unstored"``, ``"note"`` when labels were for rows a sampled record did not
        keep)."""
        from rung.serving.feedback import HINT, record

        body = await read_body(request, HINT, max_body)
        return await run_in_threadpool(record, fleet.first.ws.store, body)

    return routes
