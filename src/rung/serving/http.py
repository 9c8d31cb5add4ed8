"""What every route of the service shares: the one JSON error body and its handlers, reading
a request's body within the size limit, and answering one prediction request (check,
predict, log durably, then answer).

Errors share one JSON body: ``{"error": {"type", "message", "hint", "fields"}}``. Bodies over
the size limit get 413.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from rung.core import predlog
from rung.core.errors import InvalidInput, RungError
from rung.core.limits import REQUEST_ID, check_length, is_digits
from rung.serving.metrics import Metrics, path_label
from rung.serving.payload import HINT as PREDICT_HINT
from rung.serving.payload import check, not_json
from rung.serving.payload import loads as payload_loads
from rung.serving.predictor import Loaded
from rung.serving.service import Service

MAX_BODY = 8 * 1024 * 1024


class PayloadTooLarge(RungError):
    """The body is over the service's size limit (HTTP 413)."""

    status = 413


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


def json_response(content: Any) -> Response:
    """``content`` encoded by orjson (numpy values included): FastAPI would otherwise walk
    every value of a large batch."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
    )


def install_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    """Every error the app raises answers in the one JSON shape and counts in
    ``rung_errors_total``."""

    @app.exception_handler(RungError)
    async def _rung_error(request: Request, exc: RungError) -> JSONResponse:
        metrics.errors.labels(path_label(request.url.path), type(exc).__name__).inc()
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
        metrics.errors.labels(path_label(request.url.path), type(exc).__name__).inc()
        body = error_body(RungError(f"internal error: {type(exc).__name__}: {exc}", None))
        return JSONResponse(body, status_code=500)


async def read_raw(request: Request, max_body: int = MAX_BODY) -> bytes:
    """The request's body bytes; a body over ``max_body`` bytes is a 413."""
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
    return raw


async def read_body(request: Request, hint: str, max_body: int = MAX_BODY) -> Any:
    """The request's JSON body (:func:`read_raw`); one that is not JSON is a 422 with the
    route's ``hint`` (what that route takes)."""
    raw = await read_raw(request, max_body)
    try:
        return payload_loads(raw)
    except ValueError as exc:  # orjson.JSONDecodeError, invalid UTF-8 included
        raise not_json(exc, hint) from exc


async def answer(
    service: Service,
    request: Request,
    to_body: Callable[[Any], Any],
    hint: str = PREDICT_HINT,
    max_body: int = MAX_BODY,
) -> tuple[Loaded, dict[str, Any], str]:
    """Check, predict and log one request: the version that answered, its outputs and the
    request id. A failed request is logged too, with its status and no inputs (the error rate
    of monitoring comes from the same log). The request counts as load (``service.active``)
    from its arrival until its record is durable, and is answered only once it is.

    With a canary, the request is answered by the arm its client key picks
    (:meth:`Service.arm`: the ``X-Canary-Key`` header, else the request id); with a shadow,
    the shadow is handed the request once its answer is durable (:meth:`Service.after`)."""
    started = time.perf_counter()
    given = request.headers.get("x-request-id")
    try:  # HTTP hands header bytes over as Latin-1; clients send ids as UTF-8, as in JSON
        given = given.encode("latin-1").decode("utf-8") if given else given
        unreadable = False
    except UnicodeError:
        unreadable = True
    fits = given and not unreadable and len(given) <= REQUEST_ID
    request_id = given if given and fits else uuid.uuid4().hex
    arm = service.arm(request.headers.get("x-canary-key") or request_id)

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
                role=arm.role,
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
            body = to_body(await read_body(request, hint, max_body))
            columns, rows = check(body, arm.current.signature)
            held, out = await arm.batcher.predict(columns, rows, alone=service.active == 1)
        except Exception as exc:
            # not awaited: an error answer does not wait for the disk
            status = exc.status if isinstance(exc, RungError) else 500
            record(arm.current, {}, {"error": type(exc).__name__}, status)
            raise
        done = record(held, columns, out, 200)
        await asyncio.wrap_future(done)  # durable before we answer
        if arm is service:
            service.after(body, columns, request_id, held.signature)  # the shadow's turn
    finally:
        service.active -= 1
    service.metrics.rows.inc(rows)
    return held, out, request_id
