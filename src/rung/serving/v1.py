"""rung's own routes: ``POST /predict`` and ``POST /predict/{name}`` (records or columns,
one row or a batch; see :mod:`rung.serving.payload`; plain ``/predict`` when one model is
served, :mod:`rung.serving.fleet`) and ``POST /feedback`` (ground truth for earlier predictions; see
:mod:`rung.serving.feedback`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from rung.serving.fleet import Fleet
from rung.serving.http import MAX_BODY, answer, json_response, read_body


def router(fleet: Fleet, max_body: int = MAX_BODY) -> APIRouter:
    """The routes of rung's own protocol, answering from the models of ``fleet``."""
    routes = APIRouter()

    async def predicted(name: str | None, request: Request) -> Response:
        service = fleet.named(name)
        held, out, request_id = await answer(service, request, lambda body: body, max_body=max_body)
        response = json_response(
            {"model": held.name, "version": held.version, "request_id": request_id, **out}
        )
        response.headers["X-Model-Version"] = f"{held.name}@{held.version}"
        return response

    @routes.post("/predict")
    async def predict(request: Request) -> Response:
        """Predict one row or a batch (records or columns form) with the one served model."""
        return await predicted(None, request)

    @routes.post("/predict/{name}")
    async def predict_named(name: str, request: Request) -> Response:
        """Predict one row or a batch with served model ``name``."""
        return await predicted(name, request)

    @routes.post("/feedback")
    async def feedback(request: Request) -> dict[str, int]:
        """Ground truth for earlier predictions, keyed by request id and row (single or
        batched), checked against the version that answered; ``{"accepted", "replaced"}``."""
        from rung.serving.feedback import HINT, record

        body = await read_body(request, HINT, max_body)
        return await run_in_threadpool(record, fleet.first.ws.store, body)

    return routes
