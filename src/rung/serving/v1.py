"""rung's own routes: ``POST /predict`` (records or columns, one row or a batch; see
:mod:`rung.serving.payload`) and ``POST /feedback`` (ground truth for earlier predictions; see
:mod:`rung.serving.feedback`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from rung.serving.http import MAX_BODY, answer, json_response, read_body
from rung.serving.service import Service


def router(service: Service, max_body: int = MAX_BODY) -> APIRouter:
    """The routes of rung's own protocol, answering from ``service``."""
    routes = APIRouter()

    @routes.post("/predict")
    async def predict(request: Request) -> Response:
        """Predict one row or a batch (records or columns form)."""
        held, out, request_id = await answer(service, request, lambda body: body, max_body=max_body)
        return json_response(
            {"model": held.name, "version": held.version, "request_id": request_id, **out}
        )

    @routes.post("/feedback")
    async def feedback(request: Request) -> dict[str, int]:
        """Ground truth for earlier predictions, keyed by request id and row (single or
        batched), checked against the version that answered; ``{"accepted", "replaced"}``."""
        from rung.serving.feedback import HINT, record

        body = await read_body(request, HINT, max_body)
        return await run_in_threadpool(record, service.ws.store, body)

    return routes
